//! Closing connections and listeners, and cancelling everything on drop.
//!
//! The fd is closed by an io_uring `CLOSE` queued behind every SQE that
//! names it. SQEs are issued in order and each op takes its own reference
//! to the socket when issued, so when the close runs, nothing queued still
//! needs the fd *number*, and ops already running keep the socket itself
//! alive until they end. Closing with `libc::close` instead would free the
//! number at once: another thread's accept could reuse it, and a send
//! still queued in our SQ would then write to the wrong connection.

use std::net::Shutdown;
use std::os::fd::IntoRawFd;

use io_uring::{opcode, squeue, types};

use super::{user_data, Op, UringBackend, WANT_RECV};
use crate::sys::Token;

impl UringBackend {
    pub(super) fn close_inner(&mut self, token: Token) {
        let Some(slot) = self.slot(token) else {
            return;
        };
        if let Some(fd) = &slot.fd {
            // Shutdown ends the armed recv (it completes with EOF) and any
            // send waiting for socket space (EPIPE), and sends the FIN now
            // rather than when the last op lets go of the socket. A
            // synchronous call: as an io_uring op it would always be
            // punted to a worker thread. It fails (ENOTCONN) only when the
            // peer already reset the connection, which ended those ops.
            let _ = socket2::SockRef::from(fd).shutdown(Shutdown::Both);
        }
        if let Some(fd) = self.take_fd(token) {
            self.push_close(fd);
        }
    }

    pub(super) fn shutdown_write_inner(&mut self, token: Token) {
        if let Some(fd) = self.slot(token).and_then(|s| s.fd.as_ref()) {
            // Synchronous, as in `close_inner`. No send is in flight (the
            // contract), so the FIN follows every byte already sent. The
            // armed recv is untouched and goes on reading. ENOTCONN means
            // the peer reset, which ends the recv and so the linger.
            let _ = socket2::SockRef::from(fd).shutdown(Shutdown::Write);
        }
    }

    pub(super) fn close_listeners_inner(&mut self) {
        for index in 0..self.listeners.len() {
            if let Some(listener) = self.listeners[index].take() {
                // The accept holds the socket open: cancel it (and any
                // backoff timer), then close the fd behind them.
                self.push_cancel(user_data(Op::Accept, index as u64));
                self.push_cancel(user_data(Op::AcceptRetry, index as u64));
                self.push_close(listener.into_raw_fd());
            }
        }
    }

    fn push_close(&mut self, fd: i32) {
        let entry = opcode::Close::new(types::Fd(fd))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(user_data(Op::Ignore, 0));
        // SAFETY: a close uses no memory of ours. We gave up the fd, so
        // nothing else closes it.
        unsafe { self.push(entry) };
    }

    /// Stops everything before the backend goes away: no re-arming, and
    /// every op in the ring cancelled.
    pub(super) fn cancel_all(&mut self) {
        for slot in &mut self.slots {
            slot.tag &= !WANT_RECV;
        }
        self.starved.clear();
        self.close_listeners_inner();
        self.wakers.clear();
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(user_data(Op::Ignore, 0));
        // SAFETY: a cancel uses no memory of ours.
        unsafe { self.push(entry) };
    }
}
