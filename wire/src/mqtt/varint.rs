//! Variable Byte Integer (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3): 7 bits a byte,
//! least significant first, the top bit saying "more follows".
//!
//! At most 4 bytes, so at most 268,435,455. A fourth byte with its top
//! bit set can only mean a fifth byte, which is malformed, so it is
//! refused as soon as it arrives rather than after waiting for more.

/// The largest value four bytes can carry.
pub const MAX: u32 = 268_435_455;

/// The most bytes an encoding takes.
pub const MAX_LEN: usize = 4;

/// Why bytes are not a Variable Byte Integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarIntError {
    /// The fourth byte says a fifth follows.
    TooLong,
    /// More bytes than needed (e.g. `0x80 0x00` for 0); the spec says the
    /// minimum number of bytes MUST be used [MQTT-1.5.5-1].
    NotMinimal,
}

/// Decodes the integer at the front of `buf`: `Ok(None)` when `buf` ends
/// before the integer does, else the value and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(u32, usize)>, VarIntError> {
    let mut value: u32 = 0;
    for (i, &b) in buf.iter().take(MAX_LEN).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(VarIntError::NotMinimal);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= MAX_LEN {
        return Err(VarIntError::TooLong);
    }
    Ok(None)
}

/// How many bytes `value` takes (1 to 4); values over [`MAX`] count 4 but
/// [`encode`] refuses them.
pub const fn len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` into `out`; `None` if it exceeds [`MAX`]. Returns the
/// bytes and how many of them are used.
pub fn encode(value: u32) -> Option<([u8; MAX_LEN], usize)> {
    if value > MAX {
        return None;
    }
    let mut out = [0u8; MAX_LEN];
    let mut v = value;
    let mut n = 0;
    loop {
        let mut b = (v & 0x7f) as u8;
        v >>= 7;
        if v > 0 {
            b |= 0x80;
        }
        out[n] = b;
        n += 1;
        if v == 0 {
            return Some((out, n));
        }
    }
}

/// Appends `value` to `out`; `false` (and nothing written) past [`MAX`].
pub fn write(value: u32, out: &mut Vec<u8>) -> bool {
    match encode(value) {
        Some((bytes, n)) => {
            out.extend_from_slice(&bytes[..n]);
            true
        }
        None => false,
    }
}
