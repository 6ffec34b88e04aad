//! The reactor's sleep deadline as a timeout op in the ring.
//!
//! A wait with a timeout argument makes the kernel arm a timer on every
//! `io_uring_enter` that sleeps and cancel it on every wake-up. The
//! reactor's deadline (the next sweep) moves only every 250 ms, so one
//! absolute timeout op per deadline serves every sleep until it: the wait
//! itself then carries no timer. On a VM this measured about 7 % of the
//! server's CPU per message at 10,000 msgs/s (docs/benchmarks.md).
//!
//! A deadline earlier than the armed one arms another op; the older one
//! still fires later, is recognised as stale and only ends a wait early
//! (the reactor then sleeps again). Timeout ops are older than every
//! other op this backend needs (Linux 5.4), so no fallback exists.
//!
//! [`WakeTimer`] builds the op; the ring (`ring.rs`), which owns it,
//! pushes it before a wait.

use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::user_data::{user_data, Op};
use crate::sys::deadline_to_arm;

/// The wake-up timer's state.
#[derive(Default)]
pub(super) struct WakeTimer {
    /// The armed op's deadline (CLOCK_MONOTONIC ns), if one is in flight.
    armed_ns: Option<u64>,
    /// Identifies the newest op; older ops' CQEs are stale.
    generation: u32,
    /// The newest op's deadline; the kernel reads it when the op is
    /// submitted, which may be at the next enter.
    ts: types::Timespec,
}

impl WakeTimer {
    /// The timeout op that ends the next wait no later than `after` from
    /// now, or `None` if one already in flight does. The entry points at
    /// `self.ts`, which holds until the next call.
    pub(super) fn arm(&mut self, after: Duration) -> Option<squeue::Entry> {
        let deadline = deadline_to_arm(self.armed_ns, after)?;
        self.generation = self.generation.wrapping_add(1);
        self.armed_ns = Some(deadline);
        self.ts = types::Timespec::new()
            .sec(deadline / 1_000_000_000)
            .nsec((deadline % 1_000_000_000) as u32);
        let entry = opcode::Timeout::new(&self.ts)
            .flags(types::TimeoutFlags::ABS)
            .build()
            .user_data(user_data(Op::WakeTimer, u64::from(self.generation)));
        Some(entry)
    }

    /// A wake-up timer op completed (expired or cancelled).
    pub(super) fn on_complete(&mut self, generation: u32) {
        if generation == self.generation {
            self.armed_ns = None;
        }
    }
}
