//! When a protocol timer is due. Every timer the engine keeps (the `wire`
//! HELLO and idle timeouts, the WebSocket handshake timeout and keep-alive
//! ping, MQTT's CONNECT timeout, keep-alive, Will Delay, Session Expiry and
//! Message Expiry) decides through these functions, with the clock passed
//! in, so that each is tested at its edges without sockets or sleeps.
//!
//! The clock: a reactor reads the monotonic clock once per tick, right
//! after its wait returns, in whole milliseconds since the process epoch
//! (truncated). Whatever a tick handles happened before that reading, so a
//! start recorded from it is never earlier than the event. Two truncated
//! readings that differ by exactly `interval` ms can be up to 1 ms less
//! than `interval` apart, so an interval counts as over only when the
//! readings differ by *more* than it: a timer never fires early, and the
//! rounding makes it at most 1 ms late.
//!
//! The deciding happens in the reactor's sweep (every 250 ms): per-core
//! timers (delayed wills, session expiry) at every sweep, per-connection
//! ones (timeouts, keep-alive, pings) when the sweep's cursor reaches the
//! connection, once per four sweeps. A timer therefore fires between its
//! interval and its interval plus one second; message expiry is checked
//! whenever a message is about to be delivered.

/// A core's two clocks, read together once per tick and handed around by
/// value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Monotonic clock, in milliseconds since the process epoch.
    pub now_ms: u64,
    /// Wall clock in Unix milliseconds: the epoch's wall clock plus
    /// `now_ms`, so it never steps and agrees between cores (message ids,
    /// wills, session and message expiry).
    pub unix_ms: u64,
}

impl Clock {
    /// The reading in the form connections store it ([`conn_clock`]).
    #[inline]
    pub fn conn_clock(self) -> u32 {
        conn_clock(self.now_ms)
    }
}

/// Whether more than `interval_ms` has passed from `since_ms` to `now_ms`
/// (readings of the same clock; a `since_ms` after `now_ms` has not
/// passed anything).
pub fn passed(since_ms: u64, now_ms: u64, interval_ms: u64) -> bool {
    now_ms.saturating_sub(since_ms) > interval_ms
}

/// Whether the deadline `deadline_ms` (a reading plus an interval) is over
/// at `now_ms`.
pub fn due(deadline_ms: u64, now_ms: u64) -> bool {
    now_ms > deadline_ms
}

/// The connection clock: the low 32 bits of the millisecond clock, which
/// is what a connection stores of its last activity (4 bytes, not 8).
/// It wraps every 49.7 days; see [`conn_passed`].
pub fn conn_clock(now_ms: u64) -> u32 {
    now_ms as u32
}

/// [`passed`] on the connection clock. A connection silent for longer than
/// the clock's wrap (49.7 days, which no configured timeout reaches before
/// the sweep has acted) would look younger than it is: the wrap can make a
/// timer late, never early.
pub fn conn_passed(since: u32, now: u32, interval_ms: u64) -> bool {
    u64::from(now.wrapping_sub(since)) > interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_is_over_only_past_its_last_millisecond() {
        let start = 1_700_000_000_123;
        assert!(!passed(start, start + 1_999, 2_000));
        assert!(!passed(start, start + 2_000, 2_000));
        assert!(passed(start, start + 2_001, 2_000));
        assert!(!passed(start + 5, start, 0));
        assert!(!due(start + 2_000, start + 2_000));
        assert!(due(start + 2_000, start + 2_001));
    }

    #[test]
    fn the_connection_clock_survives_its_wrap() {
        let since = conn_clock(u64::from(u32::MAX) - 10);
        let at = |ms: u64| conn_clock(u64::from(u32::MAX) - 10 + ms);
        assert!(!conn_passed(since, at(99), 100));
        assert!(!conn_passed(since, at(100), 100));
        assert!(conn_passed(since, at(101), 100));
    }
}
