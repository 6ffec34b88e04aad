//! The first 16 bytes of every message body: when it was meant to be sent
//! and its sequence number. The rest of the body is padding up to `--size`.

/// Bytes of the stamp at the start of every body.
pub const STAMP_LEN: usize = 16;

/// Writes the stamp into the front of `body` (at least `STAMP_LEN` long).
pub fn write(body: &mut [u8], intended_ns: u64, seq: u64) {
    body[..8].copy_from_slice(&intended_ns.to_le_bytes());
    body[8..STAMP_LEN].copy_from_slice(&seq.to_le_bytes());
}

/// Reads `(intended_ns, seq)`, or `None` for a body too short to be ours.
pub fn read(body: &[u8]) -> Option<(u64, u64)> {
    let t = body.get(..8)?.try_into().ok()?;
    let s = body.get(8..STAMP_LEN)?.try_into().ok()?;
    Some((u64::from_le_bytes(t), u64::from_le_bytes(s)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_short_bodies() {
        let mut b = [0u8; 20];
        super::write(&mut b, 123_456_789, 42);
        assert_eq!(super::read(&b), Some((123_456_789, 42)));
        assert_eq!(super::read(&b[..15]), None);
    }
}
