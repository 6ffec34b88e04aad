//! Open-loop send schedule.
//!
//! The offered rate is global: message `m` of the whole run (across every
//! sender in every process) is due at `go + m * 1e9 / rate`, and belongs to
//! sender `m % senders`. So sender `g` sends its `k`th message at
//! `go + (k * senders + g) * 1e9 / rate`: senders are evenly staggered and
//! the merged stream is evenly spaced. Latency is measured from these
//! intended times, so a late send (a slow server pushing back, or a busy
//! client) shows up as latency instead of silently lowering the load.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// When the first message is due, ns since the epoch.
    pub go_ns: u64,
    /// Total messages per second across all senders.
    pub rate: u64,
    /// Senders across all processes.
    pub senders: u64,
}

impl Schedule {
    /// Intended send time of sender `g`'s `k`th message (both from 0).
    pub fn due(&self, g: u64, k: u64) -> u64 {
        let m = u128::from(k) * u128::from(self.senders) + u128::from(g);
        let offset = m * 1_000_000_000 / u128::from(self.rate);
        self.go_ns + u64::try_from(offset).expect("schedule within u64 ns")
    }
}

/// Walks a process's own senders in time order: they are sorted by global
/// index, and each one's offset is below the per-sender interval, so
/// round-robin over them (bumping `k` on wrap) is exactly time order.
#[derive(Debug)]
pub struct Walker {
    schedule: Schedule,
    /// Global sender indices of this process, ascending.
    globals: Vec<u64>,
    pos: usize,
    k: u64,
}

impl Walker {
    /// `globals` must be ascending: position `i` is the caller's `i`th sender.
    pub fn new(schedule: Schedule, globals: Vec<u64>) -> Walker {
        assert!(globals.is_sorted(), "senders in schedule order");
        Walker {
            schedule,
            globals,
            pos: 0,
            k: 0,
        }
    }

    /// `(local sender position, sequence k, due ns)` of the next message.
    pub fn peek(&self) -> Option<(usize, u64, u64)> {
        let g = *self.globals.get(self.pos)?;
        Some((self.pos, self.k, self.schedule.due(g, self.k)))
    }

    pub fn advance(&mut self) {
        self.pos += 1;
        if self.pos == self.globals.len() {
            self.pos = 0;
            self.k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_stream_is_evenly_spaced() {
        let s = Schedule {
            go_ns: 1_000,
            rate: 10_000,
            senders: 4,
        };
        // Each sender every 400 µs, staggered by 100 µs.
        assert_eq!(s.due(0, 0), 1_000);
        assert_eq!(s.due(1, 0), 101_000);
        assert_eq!(s.due(3, 0), 301_000);
        assert_eq!(s.due(0, 1), 401_000);
        assert_eq!(s.due(2, 10), 1_000 + 42 * 100_000);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        // 3 msgs/s: 333,333,333.3 ns apart; after 3 million messages the
        // schedule must land on exactly one million seconds.
        let s = Schedule {
            go_ns: 0,
            rate: 3,
            senders: 1,
        };
        assert_eq!(s.due(0, 3_000_000), 1_000_000 * 1_000_000_000);
        assert_eq!(s.due(0, 1), 333_333_333);
    }

    #[test]
    fn walker_visits_local_senders_in_time_order() {
        let s = Schedule {
            go_ns: 0,
            rate: 1_000,
            senders: 5,
        };
        // This process holds senders 1 and 3 of 5.
        let mut w = Walker::new(s, vec![1, 3]);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(w.peek().unwrap());
            w.advance();
        }
        assert_eq!(
            seen,
            vec![
                (0, 0, 1_000_000),
                (1, 0, 3_000_000),
                (0, 1, 6_000_000),
                (1, 1, 8_000_000),
            ]
        );
        assert!(seen.windows(2).all(|p| p[0].2 < p[1].2));
    }

    #[test]
    fn walker_without_senders_yields_nothing() {
        let s = Schedule {
            go_ns: 0,
            rate: 1,
            senders: 1,
        };
        assert_eq!(Walker::new(s, vec![]).peek(), None);
    }
}
