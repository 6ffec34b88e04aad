//! Wakers: each eventfd is watched by a multishot poll; a wake-up is
//! drained and reported as [`Completion::Woken`].
//!
//! A poll rather than a read: the eventfd is non-blocking (the epoll
//! backend needs that), and io_uring honours `O_NONBLOCK` on reads of
//! regular files and eventfds, so a read would complete at once with
//! EAGAIN instead of waiting.

use io_uring::{cqueue, opcode, types};

use super::{user_data, Completion, Cqe, Op, UringBackend, Waker};

impl UringBackend {
    pub(super) fn watch_waker_inner(&mut self, waker: &Waker) {
        let index = self.wakers.len();
        // Our clone keeps the eventfd open while the poll watches it.
        self.wakers.push(waker.clone());
        self.arm_wake(index);
    }

    fn arm_wake(&mut self, index: usize) {
        let Some(waker) = self.wakers.get(index) else {
            return;
        };
        let entry = opcode::PollAdd::new(types::Fd(waker.fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data(Op::Wake, index as u64));
        // SAFETY: a poll uses no memory of ours.
        unsafe { self.push(entry) };
    }

    pub(super) fn on_wake(&mut self, index: usize, cqe: Cqe, out: &mut Vec<Completion>) {
        let Some(waker) = self.wakers.get(index) else {
            return; // shutting down
        };
        if cqe.result >= 0 {
            // Reset the counter so the next wake is a new event.
            waker.drain();
            // Several wakes before this poll may post several CQEs; the
            // reactor needs to hear of them once.
            if !self.woken {
                self.woken = true;
                out.push(Completion::Woken);
            }
        }
        // The multishot ends on CQ overflow (re-arm) or on an error, which
        // for an eventfd we hold open means a cancel (leave it).
        if !cqueue::more(cqe.flags) && cqe.result >= 0 {
            self.arm_wake(index);
        }
    }
}
