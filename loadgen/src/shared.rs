//! State the tasks of one worker process share. The worker runs on one
//! thread, so plain `Cell`/`RefCell` suffice.

use std::cell::{Cell, RefCell};

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::tally::Tally;

/// The measured window: messages whose intended send time falls in
/// `[warm_ns, end_ns)` are counted; earlier ones are warm-up.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub go_ns: u64,
    pub warm_ns: u64,
    pub end_ns: u64,
}

impl Window {
    pub fn contains(&self, intended_ns: u64) -> bool {
        (self.warm_ns..self.end_ns).contains(&intended_ns)
    }
}

pub struct Shared {
    pub clock: Clock,
    /// Set once the start time is known; MQTT readers run before it.
    window: Cell<Window>,
    pub tally: RefCell<Tally>,
    /// When the last delivery arrived, to tell when draining is over.
    pub last_rx_ns: Cell<u64>,
    /// Deliveries seen by this process's subscribers, for the closed-loop
    /// fanout publisher.
    pub delivered: Cell<u64>,
    pub delivered_notify: Notify,
    errors_logged: Cell<u32>,
}

/// Errors described on stderr per process; the rest are only counted.
const ERRORS_LOGGED_MAX: u32 = 5;

impl Shared {
    pub fn new(clock: Clock, window: Window) -> Shared {
        Shared {
            clock,
            window: Cell::new(window),
            tally: RefCell::new(Tally::default()),
            last_rx_ns: Cell::new(0),
            delivered: Cell::new(0),
            delivered_notify: Notify::new(),
            errors_logged: Cell::new(0),
        }
    }

    pub fn window(&self) -> Window {
        self.window.get()
    }

    /// Sets the window of a `Shared` made before the start was known.
    pub fn set_window(&self, window: Window) {
        self.window.set(window);
    }

    /// Counts an error and describes the first few.
    pub fn error(&self, what: std::fmt::Arguments<'_>) {
        self.tally.borrow_mut().errors += 1;
        let n = self.errors_logged.get();
        if n < ERRORS_LOGGED_MAX {
            self.errors_logged.set(n + 1);
            eprintln!("switchboard-loadgen: {what}");
        }
    }

    /// Counts one message handed to the socket, due at `intended_ns`, on
    /// the high lane or not.
    pub fn sent(&self, intended_ns: u64, high: bool) {
        let mut t = self.tally.borrow_mut();
        t.sent_all += 1;
        if self.window.get().contains(intended_ns) {
            t.sent += 1;
            t.sent_high += u64::from(high);
        }
    }

    /// Counts one delivery of a message due at `intended_ns`, received at
    /// `now`, on the high lane or not.
    pub fn received(&self, intended_ns: u64, now: u64, high: bool) {
        let mut t = self.tally.borrow_mut();
        t.received_all += 1;
        if self.window.get().contains(intended_ns) {
            t.received += 1;
            let us = now.saturating_sub(intended_ns) / 1_000;
            if high {
                t.received_high += 1;
                t.record_high_latency_us(us);
            } else {
                t.record_latency_us(us);
            }
        }
        self.last_rx_ns.set(now);
    }

    /// Counts a delivery for the fanout publisher's window.
    pub fn delivered_one(&self) {
        self.delivered.set(self.delivered.get() + 1);
        self.delivered_notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_and_late_messages_are_not_counted() {
        let w = Window {
            go_ns: 0,
            warm_ns: 100,
            end_ns: 200,
        };
        let s = Shared::new(Clock::new(crate::clock::unix_ns()), w);
        for t in [50, 100, 150, 199, 200] {
            s.sent(t, false);
            s.received(t, t + 5_000, false);
        }
        let t = s.tally.borrow();
        assert_eq!(
            (t.sent, t.received, t.sent_all, t.received_all),
            (3, 3, 5, 5)
        );
        assert_eq!(t.hist.len(), 3);
        assert_eq!(t.hist.max(), 5);
    }
}
