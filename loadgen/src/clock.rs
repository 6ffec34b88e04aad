//! Nanoseconds since a shared epoch, comparable across worker processes.
//!
//! The epoch is the parent's start time in Unix nanoseconds. Each process
//! reads the wall clock once, next to a monotonic `Instant`, and from then
//! on counts monotonic time: timestamps from different processes agree to
//! within the gap between those two reads, and a wall-clock step during
//! the run cannot make latencies jump.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    /// Nanoseconds from the epoch to `base`.
    base_ns: u64,
}

/// The wall clock in Unix nanoseconds.
pub fn unix_ns() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(d.as_nanos()).expect("year < 2554")
}

impl Clock {
    /// A clock counting from `epoch_unix_ns`, which must not be in the future.
    pub fn new(epoch_unix_ns: u64) -> Clock {
        let base = Instant::now();
        let base_ns = unix_ns().saturating_sub(epoch_unix_ns);
        Clock { base, base_ns }
    }

    /// Nanoseconds since the epoch.
    pub fn now(&self) -> u64 {
        self.base_ns + self.base.elapsed().as_nanos() as u64
    }

    /// The `Instant` at which `now()` reads `ns`, for timers.
    pub fn instant_at(&self, ns: u64) -> Instant {
        if ns >= self.base_ns {
            self.base + std::time::Duration::from_nanos(ns - self.base_ns)
        } else {
            self.base
        }
    }
}
