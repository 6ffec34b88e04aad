//! Closing connections: a shutdown, then the fd closed through the ring.
//!
//! The fd is closed by an io_uring `CLOSE` queued behind every SQE that
//! names it (`Ring::push_close`). SQEs are issued in order and each op
//! takes its own reference to the socket when issued, so when the close
//! runs, nothing queued still needs the fd *number*, and ops already
//! running keep the socket itself alive until they end. Closing with
//! `libc::close` instead would free the number at once: another thread's
//! accept could reuse it, and a send still queued in our SQ would then
//! write to the wrong connection.

use std::net::Shutdown;
use std::os::fd::IntoRawFd;

use super::ring::Ring;
use super::slots::{Slot, Slots};
use crate::sys::Token;

/// Shuts `token`'s socket down both ways and closes its fd behind every
/// queued SQE; the slot is freed.
pub(super) fn close(slots: &mut Slots, ring: &mut Ring, token: Token) {
    let Some(slot) = slots.get(token) else {
        return;
    };
    if let Some(fd) = slot.fd() {
        // Shutdown ends the armed recv (it completes with EOF) and any
        // send waiting for socket space (EPIPE), and sends the FIN now
        // rather than when the last op lets go of the socket. A
        // synchronous call: as an io_uring op it would always be punted
        // to a worker thread. It fails (ENOTCONN) only when the peer
        // already reset the connection, which ended those ops.
        let _ = socket2::SockRef::from(fd).shutdown(Shutdown::Both);
    }
    if let Some(fd) = slots.remove(token) {
        ring.push_close(fd.into_raw_fd());
    }
}

/// Sends `token`'s FIN and keeps reading.
pub(super) fn shutdown_write(slots: &Slots, token: Token) {
    if let Some(fd) = slots.get(token).and_then(Slot::fd) {
        // Synchronous, as in `close`. No send is in flight (the
        // contract), so the FIN follows every byte already sent. The
        // armed recv is untouched and goes on reading. ENOTCONN means
        // the peer reset, which ends the recv and so the linger.
        let _ = socket2::SockRef::from(fd).shutdown(Shutdown::Write);
    }
}
