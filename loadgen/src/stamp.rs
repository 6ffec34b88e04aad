//! The first 16 bytes of every message body: when it was meant to be sent
//! and its sequence number. The rest of the body is padding up to `--size`.
//! Text messages (`ws --text`) must be UTF-8, so there the stamp is the
//! same two numbers as 32 hex digits.

/// Bytes of the stamp at the start of every body.
pub const STAMP_LEN: usize = 16;
/// Bytes of the stamp at the start of every text body.
pub const TEXT_STAMP_LEN: usize = 32;
/// What text bodies are padded with.
pub const TEXT_PAD: u8 = b'.';

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

/// Writes the text stamp into the front of `body` (at least `TEXT_STAMP_LEN` long).
pub fn write_text(body: &mut [u8], intended_ns: u64, seq: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (half, v) in body[..TEXT_STAMP_LEN]
        .chunks_mut(16)
        .zip([intended_ns, seq])
    {
        for (i, b) in half.iter_mut().enumerate() {
            *b = HEX[(v >> (60 - 4 * i)) as usize & 0xf];
        }
    }
}

/// Reads the text stamp, or `None` for a body that is not ours.
pub fn read_text(body: &str) -> Option<(u64, u64)> {
    let t = u64::from_str_radix(body.get(..16)?, 16).ok()?;
    let s = u64::from_str_radix(body.get(16..TEXT_STAMP_LEN)?, 16).ok()?;
    Some((t, s))
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

    #[test]
    fn text_round_trip() {
        let mut b = [super::TEXT_PAD; 40];
        super::write_text(&mut b, u64::MAX - 3, 7);
        let s = std::str::from_utf8(&b).unwrap();
        assert_eq!(super::read_text(s), Some((u64::MAX - 3, 7)));
        assert_eq!(super::read_text(&s[..31]), None);
    }
}
