//! Snowflake message ids: time, sequence and node in one `u64`, strictly
//! increasing per node.
//!
//! ```text
//! bits 63..22  milliseconds since 2025-01-01T00:00:00Z (42 bits, ~139 years)
//! bits 21..10  sequence within the millisecond (12 bits)
//! bits  9..0   node id (10 bits)
//! ```
//!
//! The node id sits in the low bits so that a sequence overflow carries into
//! the time field instead of corrupting the node: under a burst of more than
//! 4096 ids in one millisecond the clock field runs ahead briefly and the
//! ids stay unique and ordered. All cores of a node share one generator
//! (one atomic compare-and-swap per message) so ids are monotonic per node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2025-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_735_689_600_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;

/// Largest node id that fits the layout.
pub const NODE_ID_MAX: u16 = (1 << NODE_BITS) - 1;

/// A per-node id generator, shared by every core.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    /// The last (time << SEQ_BITS | seq) handed out.
    last: AtomicU64,
}

impl IdGenerator {
    /// A generator for `node` (at most [`NODE_ID_MAX`]).
    pub fn new(node: u16) -> Self {
        assert!(node <= NODE_ID_MAX, "node id {node} exceeds {NODE_ID_MAX}");
        IdGenerator {
            node: u64::from(node),
            last: AtomicU64::new(0),
        }
    }

    /// The next id, strictly greater than every id this generator issued.
    pub fn next_id(&self) -> u64 {
        self.next_id_at(unix_ms())
    }

    /// Like [`IdGenerator::next_id`], with the caller's reading of the
    /// clock (Unix milliseconds): a reactor reads the clock once per tick,
    /// not once per message. A stale reading only lets the sequence field
    /// run ahead; ids stay unique and increasing.
    pub fn next_id_at(&self, unix_ms: u64) -> u64 {
        let floor = unix_ms.saturating_sub(EPOCH_MS) << SEQ_BITS;
        let prev = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(floor.max(last + 1))
            })
            .expect("closure always returns Some");
        let time_seq = floor.max(prev + 1);
        (time_seq << NODE_BITS) | self.node
    }
}

/// Splits an id into (milliseconds since the Unix epoch, sequence, node).
pub fn parts(id: u64) -> (u64, u16, u16) {
    let node = (id & u64::from(NODE_ID_MAX)) as u16;
    let seq = ((id >> NODE_BITS) & ((1 << SEQ_BITS) - 1)) as u16;
    let ms = (id >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS;
    (ms, seq, node)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    since.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_carry_the_node() {
        let g = IdGenerator::new(7);
        let mut prev = 0;
        for _ in 0..20_000 {
            let id = g.next_id();
            assert!(id > prev);
            assert_eq!(parts(id).2, 7);
            prev = id;
        }
        let (ms, _, _) = parts(prev);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(ms + 60_000 > now && ms < now + 60_000);
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let g = std::sync::Arc::new(IdGenerator::new(1));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..10_000).map(|_| g.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
