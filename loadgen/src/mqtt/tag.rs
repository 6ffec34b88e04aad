//! The sequence number in an MQTT body's stamp also names its publisher,
//! so a subscriber can credit the delivery to the publisher that sent it
//! (the closed loop paces each publisher on its own deliveries) whatever
//! topic it came on. The stamp layout stays the one of `crate::stamp`.
//!
//! High 24 bits: the publisher's index in the run. Low 40 bits: its
//! message count, enough for 10^12 messages per publisher.

/// Bits of the per-publisher count.
const COUNT_BITS: u32 = 40;
/// Publishers one run may have.
pub const PUBLISHERS_MAX: u64 = 1 << (64 - COUNT_BITS);

/// The stamp sequence number of publisher `publisher`'s `k`th message.
pub fn seq(publisher: u64, k: u64) -> u64 {
    debug_assert!(publisher < PUBLISHERS_MAX && k < 1 << COUNT_BITS);
    publisher << COUNT_BITS | (k & ((1 << COUNT_BITS) - 1))
}

/// The publisher a stamp sequence number names.
pub fn publisher(seq: u64) -> u64 {
    seq >> COUNT_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_survives_the_round_trip() {
        for (p, k) in [(0, 0), (1, 5), (PUBLISHERS_MAX - 1, (1 << COUNT_BITS) - 1)] {
            assert_eq!(publisher(seq(p, k)), p);
        }
        assert_ne!(seq(1, 0), seq(0, 1));
    }
}
