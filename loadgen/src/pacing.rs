//! Open-loop send schedule.
//!
//! The offered rate is global: message `m` of the whole run (across every
//! sender in every process) is due at `go + m * 1e9 / rate`, and belongs to
//! sender `m % senders`. So sender `g` sends its `k`th message at
//! `go + (k * senders + g) * 1e9 / rate`: senders are evenly staggered and
//! the merged stream is evenly spaced. Latency is measured from these
//! intended times, so a late send (a slow server pushing back, or a busy
//! client) shows up as latency instead of silently lowering the load.
//!
//! Burst pacing keeps the rate but changes the arrival pattern: each due
//! time is rounded up to the next multiple of the burst interval after
//! `go`, so every sender writes what fell due once per interval, all at
//! the same instant. The same rate costs a server very different amounts
//! evenly spread (a wake-up per message) and in bursts (a wake-up per
//! burst, with batched reads and writes), so a fixed-rate result means
//! little without its pacing. Latency counts from the burst's time: the
//! wait for the burst is part of the pattern, not of the server's delay.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// When the first message is due, ns since the epoch.
    pub go_ns: u64,
    /// Total messages per second across all senders.
    pub rate: u64,
    /// Senders across all processes.
    pub senders: u64,
    /// Burst interval in ns; 0 for even pacing.
    pub burst_ns: u64,
}

impl Schedule {
    /// Intended send time of sender `g`'s `k`th message (both from 0).
    pub fn due(&self, g: u64, k: u64) -> u64 {
        let m = u128::from(k) * u128::from(self.senders) + u128::from(g);
        let mut offset = m * 1_000_000_000 / u128::from(self.rate);
        if self.burst_ns > 0 {
            let burst = u128::from(self.burst_ns);
            offset = offset.div_ceil(burst) * burst;
        }
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
            burst_ns: 0,
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
            burst_ns: 0,
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
            burst_ns: 0,
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
            burst_ns: 0,
        };
        assert_eq!(Walker::new(s, vec![]).peek(), None);
    }

    #[test]
    fn bursts_send_what_fell_due_once_per_interval() {
        // 20,000 msgs/s over 10 senders in 1 ms bursts: 20 messages per
        // burst, two from each sender, all at the burst's instant.
        let even = Schedule {
            go_ns: 5_000,
            rate: 20_000,
            senders: 10,
            burst_ns: 0,
        };
        let burst = Schedule {
            burst_ns: 1_000_000,
            ..even
        };
        // The first message goes at `go`; the rest of the first
        // millisecond's messages wait for its end.
        assert_eq!(burst.due(0, 0), 5_000);
        assert_eq!(burst.due(1, 0), 5_000 + 1_000_000);
        assert_eq!(burst.due(9, 1), 5_000 + 1_000_000);
        // A message due exactly on an edge goes in that edge's burst.
        assert_eq!(even.due(0, 2), 5_000 + 1_000_000);
        assert_eq!(burst.due(0, 2), 5_000 + 1_000_000);
        assert_eq!(burst.due(1, 2), 5_000 + 2_000_000);
        // Every message lands on an edge, never before its even time, and
        // less than one interval after it; the count per burst is the rate's.
        let mut per_burst = std::collections::BTreeMap::new();
        for k in 0..200 {
            for g in 0..10 {
                let (e, b) = (even.due(g, k), burst.due(g, k));
                assert_eq!((b - 5_000) % 1_000_000, 0);
                assert!(b >= e && b - e < 1_000_000, "{g} {k}: {e} -> {b}");
                *per_burst.entry(b).or_insert(0) += 1;
            }
        }
        let full: Vec<_> = per_burst.values().skip(1).take(90).collect();
        assert!(full.iter().all(|&&n| n == 20), "{per_burst:?}");
    }

    #[test]
    fn the_walker_keeps_time_order_in_bursts() {
        let s = Schedule {
            go_ns: 0,
            rate: 7_000,
            senders: 6,
            burst_ns: 1_000_000,
        };
        let mut w = Walker::new(s, vec![0, 2, 3, 5]);
        let mut last = 0;
        for _ in 0..1_000 {
            let (_, _, due) = w.peek().unwrap();
            assert!(due >= last);
            last = due;
            w.advance();
        }
    }
}
