//! The QoS 1 in-flight window of one publisher: which packet ids await
//! their PUBACK, and how many more may be sent.
//!
//! Ids are handed out in turn (1, 2, ... 65535, 1, ...), skipping any
//! still in flight, so a broker that acks in order always finds the next
//! one free. Membership is one bit per id: 8 KiB, allocated only by a
//! connection that publishes at QoS 1.

/// Packet ids are 1..=65535; bit 0 of word 0 (id 0) is never set.
const IDS: usize = 1 << 16;
const WORDS: usize = IDS / 64;

#[derive(Debug)]
pub struct Window {
    /// Most ids in flight at once (1..=65535).
    limit: u16,
    in_flight: u16,
    /// The id to try first.
    next: u16,
    /// One bit per id in flight; empty until the first `take`.
    bits: Vec<u64>,
}

impl Window {
    pub fn new(limit: u16) -> Window {
        assert!(limit > 0, "a window of at least one");
        Window {
            limit,
            in_flight: 0,
            next: 1,
            bits: Vec::new(),
        }
    }

    /// Lowers the limit (an MQTT 5 broker's Receive Maximum); ids already
    /// in flight stay so.
    pub fn cap(&mut self, limit: u16) {
        self.limit = self.limit.min(limit.max(1));
    }

    #[cfg(test)]
    pub fn limit(&self) -> u16 {
        self.limit
    }

    pub fn in_flight(&self) -> u16 {
        self.in_flight
    }

    pub fn is_full(&self) -> bool {
        self.in_flight >= self.limit
    }

    /// A free packet id, now in flight; `None` when the window is full.
    pub fn take(&mut self) -> Option<u16> {
        if self.is_full() {
            return None;
        }
        if self.bits.is_empty() {
            self.bits = vec![0; WORDS];
        }
        // At most `limit` < 65535 ids are in flight, so a free one is
        // found within `limit + 1` steps.
        loop {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            if !self.contains(id) {
                self.bits[usize::from(id) / 64] |= 1 << (id % 64);
                self.in_flight += 1;
                debug_assert!(self.in_flight <= self.limit);
                return Some(id);
            }
        }
    }

    /// Ends `id`'s flight. `false`: it was not in flight (a broker bug, or
    /// a duplicate PUBACK), and nothing changes.
    pub fn release(&mut self, id: u16) -> bool {
        if id == 0 || !self.contains(id) {
            return false;
        }
        self.bits[usize::from(id) / 64] &= !(1 << (id % 64));
        self.in_flight -= 1;
        true
    }

    fn contains(&self, id: u16) -> bool {
        self.bits
            .get(usize::from(id) / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_window_refuses_until_an_ack() {
        let mut w = Window::new(3);
        assert_eq!((w.take(), w.take(), w.take()), (Some(1), Some(2), Some(3)));
        assert!(w.is_full());
        assert_eq!(w.take(), None);
        assert!(w.release(2));
        assert_eq!(w.in_flight(), 2);
        assert_eq!(w.take(), Some(4));
        assert_eq!(w.take(), None);
    }

    #[test]
    fn unknown_and_repeated_acks_change_nothing() {
        let mut w = Window::new(2);
        assert!(!w.release(7), "nothing was taken yet");
        let id = w.take().unwrap();
        assert!(w.release(id));
        assert!(!w.release(id), "a second PUBACK for the same id");
        assert!(!w.release(0));
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn ids_wrap_past_65535_and_skip_those_in_flight() {
        let mut w = Window::new(2);
        let stuck = w.take().unwrap();
        assert_eq!(stuck, 1);
        for _ in 0..u16::MAX as usize {
            let id = w.take().unwrap();
            assert_ne!(id, stuck);
            assert_ne!(id, 0);
            assert!(w.release(id));
        }
        assert_eq!(w.in_flight(), 1);
    }

    #[test]
    fn cap_lowers_but_never_raises_or_zeroes() {
        let mut w = Window::new(64);
        w.cap(20);
        assert_eq!(w.limit(), 20);
        w.cap(100);
        assert_eq!(w.limit(), 20);
        w.cap(0);
        assert_eq!(w.limit(), 1);
    }
}
