//! [`Wakers`]: each eventfd is watched by a multishot poll; a wake-up is
//! drained and reported as [`Completion::Woken`].
//!
//! A poll rather than a read: the eventfd is non-blocking (the epoll
//! backend needs that), and io_uring honours `O_NONBLOCK` on reads of
//! regular files and eventfds, so a read would complete at once with
//! EAGAIN instead of waiting.

use io_uring::{cqueue, opcode, types};

use super::ring::{Cqe, Ring};
use super::user_data::{user_data, Op};
use crate::sys::{Completion, Waker};

/// The watched wakers by index (the poll's payload).
#[derive(Default)]
pub(super) struct Wakers {
    /// Our clones keep the eventfds open while the polls watch them.
    wakers: Vec<Waker>,
    /// `Woken` was reported by this `poll` already.
    woken: bool,
}

impl Wakers {
    pub(super) fn watch(&mut self, ring: &mut Ring, waker: &Waker) {
        let index = self.wakers.len();
        self.wakers.push(waker.clone());
        self.arm(ring, index);
    }

    fn arm(&self, ring: &mut Ring, index: usize) {
        let Some(waker) = self.wakers.get(index) else {
            return;
        };
        let entry = opcode::PollAdd::new(types::Fd(waker.fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data(Op::Wake, index as u64));
        // SAFETY: a poll uses no memory of ours.
        unsafe { ring.push(entry) };
    }

    pub(super) fn on_wake(
        &mut self,
        ring: &mut Ring,
        index: usize,
        cqe: Cqe,
        out: &mut Vec<Completion>,
    ) {
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
            self.arm(ring, index);
        }
    }

    /// A new `poll` begins: the next wake-up is reported again.
    pub(super) fn new_poll(&mut self) {
        self.woken = false;
    }

    /// Stops watching (the backend is going away): polls still in the
    /// ring find no waker and are not re-armed.
    pub(super) fn clear(&mut self) {
        self.wakers.clear();
    }
}
