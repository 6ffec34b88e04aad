//! [`Ring`]: the io_uring itself. Queues SQEs (submitting early when the
//! SQ is full), enters the kernel to submit and wait, and copies CQEs out
//! for `dispatch` (`mod.rs`). Besides the ops' own SQEs it builds the
//! fire-and-forget ones every op file needs (cancel, close) and owns the
//! wake-up timer (`timer.rs`) that bounds its waits.
//!
//! It owns none of the memory the ops use: the owner of each op (buffer
//! ring, send slots, timer) keeps it valid as [`Ring::push`] requires.

use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::timer::WakeTimer;
use super::user_data::{user_data, Op};

/// A reaped CQE, copied out so handlers may use the ring.
#[derive(Clone, Copy)]
pub(super) struct Cqe {
    pub(super) user_data: u64,
    pub(super) result: i32,
    pub(super) flags: u32,
}

/// The ring and what goes in and out of it; see the module docs.
pub(super) struct Ring {
    ring: IoUring,
    /// CQEs reaped and not yet dispatched: `cqes[cqes_next..]`.
    cqes: Vec<Cqe>,
    cqes_next: usize,
    /// A submit failure that `poll` must report.
    fatal: Option<io::Error>,
    /// Ends waits at the reactor's deadline.
    timer: WakeTimer,
}

impl Ring {
    pub(super) fn new(ring: IoUring) -> Ring {
        let cq_entries = ring.params().cq_entries() as usize;
        Ring {
            ring,
            // One full CQ per poll is the usual most; more grows it once.
            cqes: Vec::with_capacity(cq_entries),
            cqes_next: 0,
            fatal: None,
            timer: WakeTimer::default(),
        }
    }

    /// Queues an SQE, submitting what is queued when the SQ is full.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` (buffers, msghdr, iovecs) must stay valid
    /// until the op's final CQE is reaped (or the ring is gone).
    pub(super) unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the caller keeps the entry's memory valid as required.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                match e.raw_os_error() {
                    // CQ overflowing or the kernel short of memory: take
                    // completions off the CQ (dispatched by the next poll),
                    // then try again.
                    Some(libc::EBUSY | libc::EAGAIN | libc::EINTR) => self.reap(),
                    _ => {
                        // The ring is broken; `poll` reports it and the
                        // reactor stops. Dropping the entry is then moot.
                        self.fatal = Some(e);
                        return;
                    }
                }
            }
        }
    }

    /// Cancels the op with this `user_data`, if it is still running.
    pub(super) fn push_cancel(&mut self, target: u64) {
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(user_data(Op::Ignore, 0));
        // SAFETY: a cancel uses no memory of ours.
        unsafe { self.push(entry) };
    }

    /// Cancels every op in the ring (the backend is going away).
    pub(super) fn push_cancel_all(&mut self) {
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(user_data(Op::Ignore, 0));
        // SAFETY: a cancel uses no memory of ours.
        unsafe { self.push(entry) };
    }

    /// Closes `fd` behind every SQE queued before (why through the ring:
    /// `close.rs`).
    pub(super) fn push_close(&mut self, fd: i32) {
        let entry = opcode::Close::new(types::Fd(fd))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(user_data(Op::Ignore, 0));
        // SAFETY: a close uses no memory of ours. The caller gave up the
        // fd, so nothing else closes it.
        unsafe { self.push(entry) };
    }

    /// Submits queued SQEs and waits up to `timeout` for one completion.
    /// A zero timeout only collects what is there; a longer one is a
    /// timeout op in the ring (`timer`), so the wait itself has none.
    pub(super) fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let result = match timeout {
            Some(t) if t.is_zero() => {
                let ts = types::Timespec::new();
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            Some(t) => {
                if let Some(entry) = self.timer.arm(t) {
                    // SAFETY: the entry points at the timespec in
                    // `self.timer`, which stays until the next arm; that
                    // happens only after a wait, i.e. after this SQE was
                    // submitted (the kernel copies it at submission). If
                    // an enter failed and left it queued, a newer deadline
                    // is read instead, which is the one wanted.
                    unsafe { self.push(entry) };
                }
                self.ring.submit_and_wait(1)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            // Timed out, interrupted, the CQ needs reaping first, or the
            // kernel was briefly short of memory for requests: all are a
            // normal return from `poll`; queued SQEs go in with the next.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Copies every available CQE out of the CQ.
    pub(super) fn reap(&mut self) {
        for cqe in self.ring.completion() {
            self.cqes.push(Cqe {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }

    /// The next reaped CQE, oldest first; `None` once all are taken. CQEs
    /// reaped meanwhile (a handler's push found the SQ full) come too.
    pub(super) fn next_cqe(&mut self) -> Option<Cqe> {
        let cqe = self.cqes.get(self.cqes_next).copied();
        if cqe.is_some() {
            self.cqes_next += 1;
        } else {
            self.cqes.clear();
            self.cqes_next = 0;
        }
        cqe
    }

    /// Completions are waiting, reaped or still in the CQ.
    pub(super) fn has_completions(&mut self) -> bool {
        self.cqes_next < self.cqes.len() || !self.ring.completion().is_empty()
    }

    /// SQEs are queued and not yet submitted.
    pub(super) fn has_submissions(&mut self) -> bool {
        !self.ring.submission().is_empty()
    }

    /// The submit failure to report, if any.
    pub(super) fn take_fatal(&mut self) -> Option<io::Error> {
        self.fatal.take()
    }

    /// A wake-up timer op completed (expired or cancelled).
    pub(super) fn on_wake_timer(&mut self, generation: u32) {
        self.timer.on_complete(generation);
    }
}
