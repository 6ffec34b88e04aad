//! The `user_data` every SQE carries and its CQE returns: the op kind
//! ([`Op`]) in the top 8 bits, and in the low 56 the reactor's token
//! (recv), a listener index (accept), a send slot index (send), a waker
//! index (wake) or a timer generation (wake timer).
//!
//! Owns the encoding only; which handler a kind goes to is `dispatch` in
//! `mod.rs`.

use crate::sys::TOKEN_BITS;

/// What a CQE completes; the top 8 bits of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    /// Start-up probe; never seen after `new`.
    Probe = 0,
    Accept = 1,
    Recv = 2,
    Send = 3,
    Wake = 4,
    /// Shutdown, cancel and close: fire and forget, their CQEs (only on
    /// failure, with `SKIP_SUCCESS`) are dropped.
    Ignore = 5,
    /// The backoff timer before re-arming a failed accept.
    AcceptRetry = 6,
    /// The timeout op that ends a wait at the reactor's deadline.
    WakeTimer = 7,
}

/// The payload bits of a `user_data`.
pub(super) const PAYLOAD_MASK: u64 = (1 << TOKEN_BITS) - 1;

pub(super) fn user_data(op: Op, payload: u64) -> u64 {
    debug_assert_eq!(payload & !PAYLOAD_MASK, 0);
    (op as u64) << TOKEN_BITS | payload
}

pub(super) fn op_of(user_data: u64) -> Option<Op> {
    Some(match user_data >> TOKEN_BITS {
        0 => Op::Probe,
        1 => Op::Accept,
        2 => Op::Recv,
        3 => Op::Send,
        4 => Op::Wake,
        5 => Op::Ignore,
        6 => Op::AcceptRetry,
        7 => Op::WakeTimer,
        _ => return None,
    })
}
