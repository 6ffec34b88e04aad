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

use io_uring::{cqueue, opcode, types};

use super::buf_ring::BUF_GROUP;
use super::ring::Cqe;
use super::slots::{Slots, ARMED, DETACHING, RECV_DONE, STARVED, WANT_RECV};
use super::user_data::{user_data, Op};
use super::UringBackend;
use crate::sys::{Completion, RecvBuf, Token};

impl UringBackend {
    /// Arms a multishot recv for an owned connection that has none.
    pub(super) fn arm_recv(&mut self, token: Token) {
        let Some(slot) = self.slots.get_mut(token) else {
            return;
        };
        debug_assert!(!slot.has_any(ARMED | RECV_DONE | STARVED));
        slot.set(ARMED);
        let entry = opcode::RecvMulti::new(types::Fd(slot.raw_fd()), BUF_GROUP)
            .build()
            .user_data(user_data(Op::Recv, token));
        // SAFETY: the recv writes only into buffers of the registered ring,
        // which `Drop` keeps alive until every recv's final CQE.
        unsafe { self.ring.push(entry) };
        self.in_flight += 1;
    }

    pub(super) fn pause_recv_inner(&mut self, token: Token) {
        let Some(slot) = self.slots.get_mut(token) else {
            return;
        };
        slot.clear(WANT_RECV);
        if slot.has_any(ARMED) {
            self.ring.push_cancel(user_data(Op::Recv, token));
        }
    }

    pub(super) fn resume_recv_inner(&mut self, token: Token) {
        let Some(slot) = self.slots.get_mut(token) else {
            return;
        };
        slot.set(WANT_RECV);
        // If armed, the cancelled recv's final CQE re-arms; if starved,
        // buffers coming back do.
        if !slot.has_any(ARMED | RECV_DONE | STARVED) {
            self.arm_recv(token);
        }
    }

    pub(super) fn detach_inner(&mut self, token: Token) {
        let Some(slot) = self.slots.get_mut(token) else {
            return;
        };
        slot.clear(WANT_RECV);
        slot.set(DETACHING);
        if slot.has_any(ARMED) {
            // The recv's final CQE hands the socket over (`on_recv`).
            self.ring.push_cancel(user_data(Op::Recv, token));
        } else {
            hand_over(&mut self.slots, token, &mut self.done);
        }
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
        let Some(slot) = self.slots.get_mut(token) else {
            return; // closed since: nothing to re-arm or report
        };
        slot.clear(ARMED);
        if slot.has_any(DETACHING) {
            // Whatever ended the recv (the cancel, EOF, an error) stays
            // with the socket for its next owner to read.
            return hand_over(&mut self.slots, token, out);
        }
        let wanted = slot.has_any(WANT_RECV);
        match cqe.result {
            0 => {
                slot.set(RECV_DONE);
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
                    slot.set(STARVED);
                    self.slots.push_starved(token);
                }
            }
            r => {
                slot.set(RECV_DONE);
                let error = Some(io::Error::from_raw_os_error(-r));
                out.push(Completion::RecvClosed { token, error });
            }
        }
    }

    /// Re-arms starved connections, at most one per free buffer: each then
    /// gets at least one buffer of data, and the rest wait rather than
    /// fail at once with ENOBUFS again (a herd of CQEs for nothing).
    pub(super) fn rearm_starved(&mut self) {
        let n = self.bufs.available().min(self.slots.starved_len());
        for _ in 0..n {
            let Some(token) = self.slots.pop_starved() else {
                break;
            };
            let Some(slot) = self.slots.get_mut(token) else {
                continue; // closed while starved
            };
            slot.clear(STARVED);
            if slot.has_any(WANT_RECV) && !slot.has_any(ARMED | RECV_DONE) {
                self.arm_recv(token);
            }
        }
    }
}

/// Frees the slot and reports the socket, which no op uses any more.
fn hand_over(slots: &mut Slots, token: Token, out: &mut Vec<Completion>) {
    if let Some(fd) = slots.remove(token) {
        let stream = std::net::TcpStream::from(fd);
        out.push(Completion::Detached { token, stream });
    }
}
