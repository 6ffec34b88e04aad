//! What a worker process's readers tell its publishers: deliveries of
//! each local publisher's messages to local subscribers (the closed loop
//! paces on them), PUBACKs (a full QoS 1 window may open), and how many
//! messages the open-loop pacer still owes because a window was full.
//!
//! The process's publishers are a contiguous range of global publisher
//! indices (see `layout`), so a publisher's slot is its index minus the
//! first one. The worker runs on one thread: `Cell` and `Notify` suffice.

use std::cell::Cell;
use std::ops::Range;

use tokio::sync::Notify;

struct Slot {
    delivered: Cell<u64>,
    /// Wakes the closed-loop publisher: a delivery or a PUBACK.
    wake: Notify,
}

pub struct Feedback {
    first: u64,
    slots: Vec<Slot>,
    /// Local deliveries each message of a local publisher makes.
    pub local_deliveries_per_message: u64,
    /// Whether closed-loop publishers wait on deliveries.
    closed_loop: bool,
    /// Woken on every PUBACK, for the open-loop pacer's owed messages.
    pub acked: Notify,
    /// Messages due in the window not yet sent because a window was full.
    pub owed: Cell<u64>,
}

impl Feedback {
    pub fn new(
        publishers: Range<u64>,
        local_deliveries_per_message: u64,
        closed_loop: bool,
    ) -> Feedback {
        Feedback {
            first: publishers.start,
            slots: publishers
                .map(|_| Slot {
                    delivered: Cell::new(0),
                    wake: Notify::new(),
                })
                .collect(),
            local_deliveries_per_message,
            closed_loop,
            acked: Notify::new(),
            owed: Cell::new(0),
        }
    }

    fn slot(&self, publisher: u64) -> Option<&Slot> {
        let i = usize::try_from(publisher.checked_sub(self.first)?).ok()?;
        self.slots.get(i)
    }

    /// A local subscriber received a message of `publisher` (any process's).
    pub fn delivered(&self, publisher: u64) {
        if !self.closed_loop {
            return;
        }
        if let Some(s) = self.slot(publisher) {
            s.delivered.set(s.delivered.get() + 1);
            s.wake.notify_one();
        }
    }

    /// Local deliveries of `publisher`'s messages so far.
    pub fn delivered_count(&self, publisher: u64) -> u64 {
        self.slot(publisher).map_or(0, |s| s.delivered.get())
    }

    /// `publisher` (a local one) got a PUBACK.
    pub fn acked(&self, publisher: u64) {
        if let Some(s) = self.slot(publisher) {
            s.wake.notify_one();
        }
        self.acked.notify_one();
    }

    /// Waits for the next delivery to or PUBACK of `publisher`, or returns
    /// at once if one came since the last wait.
    pub async fn wait(&self, publisher: u64) {
        match self.slot(publisher) {
            Some(s) => s.wake.notified().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_publishers_are_credited() {
        let f = Feedback::new(10..12, 3, true);
        f.delivered(11);
        f.delivered(11);
        f.delivered(9);
        f.delivered(12);
        assert_eq!(
            (
                f.delivered_count(10),
                f.delivered_count(11),
                f.delivered_count(12)
            ),
            (0, 2, 0)
        );
        let open = Feedback::new(0..1, 1, false);
        open.delivered(0);
        assert_eq!(open.delivered_count(0), 0, "the open loop does not count");
    }
}
