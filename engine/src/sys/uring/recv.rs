//! Multishot recv into the provided-buffer ring, with pause, resume and
//! the re-arming of connections starved of buffers.
//!
//! Per connection, at most one recv is live in the kernel (`ARMED` until
//! its final CQE). `WANT_RECV` is what the reactor asked for; the two
//! differ briefly after a pause (a cancel is on its way) or a resume (the
//! cancelled recv has not reported back yet). Every final CQE reconciles
//! them: a recv that ended while still wanted is armed again, or, if it
//! ended for lack of buffers, queued on the starved list.

use std::io;

use io_uring::{cqueue, opcode, squeue, types};

use super::buf_ring::BUF_GROUP;
use super::{
    user_data, Completion, Cqe, Op, UringBackend, ARMED, DETACHING, RECV_DONE, STARVED, WANT_RECV,
};
use crate::sys::{RecvBuf, Token};

impl UringBackend {
    /// Arms a multishot recv for an owned connection that has none.
    pub(super) fn arm_recv(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        debug_assert_eq!(slot.tag & (ARMED | RECV_DONE | STARVED), 0);
        slot.tag |= ARMED;
        let entry = opcode::RecvMulti::new(types::Fd(slot.raw_fd()), BUF_GROUP)
            .build()
            .user_data(user_data(Op::Recv, token));
        // SAFETY: the recv writes only into buffers of the registered ring,
        // which `Drop` keeps alive until every recv's final CQE.
        unsafe { self.push(entry) };
        self.in_flight += 1;
    }

    pub(super) fn pause_recv_inner(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        slot.tag &= !WANT_RECV;
        if slot.tag & ARMED != 0 {
            self.push_cancel(user_data(Op::Recv, token));
        }
    }

    pub(super) fn resume_recv_inner(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        slot.tag |= WANT_RECV;
        // If armed, the cancelled recv's final CQE re-arms; if starved,
        // buffers coming back do.
        if slot.tag & (ARMED | RECV_DONE | STARVED) == 0 {
            self.arm_recv(token);
        }
    }

    pub(super) fn detach_inner(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        slot.tag = (slot.tag & !WANT_RECV) | DETACHING;
        if slot.tag & ARMED != 0 {
            // The recv's final CQE hands the socket over (`on_recv`).
            self.push_cancel(user_data(Op::Recv, token));
        } else {
            let mut done = std::mem::take(&mut self.done);
            self.hand_over(token, &mut done);
            self.done = done;
        }
    }

    /// Frees the slot and reports the socket, which no op uses any more.
    fn hand_over(&mut self, token: Token, out: &mut Vec<Completion>) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        let fd = slot.fd.take();
        *slot = super::Slot::FREE;
        if let Some(fd) = fd {
            let stream = std::net::TcpStream::from(fd);
            out.push(Completion::Detached { token, stream });
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

    pub(super) fn on_recv(&mut self, token: Token, cqe: Cqe, out: &mut Vec<Completion>) {
        let more = cqueue::more(cqe.flags);
        if !more {
            self.in_flight -= 1;
        }
        // A buffer goes to the reactor even when the token is stale: the
        // reactor releases what it cannot use.
        if let Some(id) = cqueue::buffer_select(cqe.flags) {
            self.bufs.lend(id);
            if cqe.result > 0 {
                let buf = RecvBuf {
                    id,
                    len: cqe.result as u32,
                };
                out.push(Completion::Recv { token, buf });
            } else {
                self.bufs.recycle(id);
            }
        }
        if more {
            return;
        }
        let Some(slot) = self.slot_mut(token) else {
            return; // closed since: nothing to re-arm or report
        };
        slot.tag &= !ARMED;
        if slot.tag & DETACHING != 0 {
            // Whatever ended the recv (the cancel, EOF, an error) stays
            // with the socket for its next owner to read.
            return self.hand_over(token, out);
        }
        let wanted = slot.tag & WANT_RECV != 0;
        match cqe.result {
            0 => {
                slot.tag |= RECV_DONE;
                out.push(Completion::RecvClosed { token, error: None });
            }
            r if r > 0 || r == -libc::ECANCELED => {
                // Ended by CQ overflow, or a pause undone by a resume
                // before the cancel landed.
                if wanted {
                    self.arm_recv(token);
                }
            }
            r if r == -libc::ENOBUFS => {
                if wanted {
                    slot.tag |= STARVED;
                    self.starved.push_back(token);
                }
            }
            r => {
                slot.tag |= RECV_DONE;
                let error = Some(io::Error::from_raw_os_error(-r));
                out.push(Completion::RecvClosed { token, error });
            }
        }
    }

    /// Re-arms starved connections, at most one per free buffer: each then
    /// gets at least one buffer of data, and the rest wait rather than
    /// fail at once with ENOBUFS again (a herd of CQEs for nothing).
    pub(super) fn rearm_starved(&mut self) {
        let n = self.bufs.available().min(self.starved.len());
        for _ in 0..n {
            let Some(token) = self.starved.pop_front() else {
                break;
            };
            let Some(slot) = self.slot_mut(token) else {
                continue; // closed while starved
            };
            slot.tag &= !STARVED;
            if slot.tag & WANT_RECV != 0 && slot.tag & (ARMED | RECV_DONE) == 0 {
                self.arm_recv(token);
            }
        }
    }
}
