//! The RFC 6455 §5.2 frame header: opcodes, header encoding and parsing,
//! and payload masking.
//!
//! ```text
//!  0               1               2               3
//!  F R R R opcode  M len7          extended length (0, 2 or 8 bytes)
//!  ...             masking key (0 or 4 bytes)      payload
//! ```
//!
//! This module owns the byte layout only. Which frames are allowed when
//! (masking per role, RSV bits, fragmentation) is [`super::reader`]'s job.

/// What a frame carries; the numbers are RFC 6455's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// Continues the data message started by a Text or Binary frame.
    Continuation = 0,
    /// First frame of a UTF-8 text message.
    Text = 1,
    /// First frame of a binary message.
    Binary = 2,
    /// Starts the closing handshake.
    Close = 8,
    /// Liveness probe; answered by a Pong with the same payload.
    Ping = 9,
    /// Answer to a Ping (or an unsolicited heartbeat).
    Pong = 10,
}

impl OpCode {
    /// Maps the 4-bit opcode; reserved values (3-7, 11-15) give `None`.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, Ping and Pong: at most 125 bytes, never fragmented.
    pub fn is_control(self) -> bool {
        self as u8 >= 8
    }
}

/// The longest header: 2 fixed bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;
/// Control frames carry at most this many payload bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Writes a frame header into `out`; returns its length (2 to 14).
/// `mask` is `Some` for frames a client sends.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    rsv1: bool,
    op: OpCode,
    payload_len: u64,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | op as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut len = if payload_len < 126 {
        out[1] = mask_bit | payload_len as u8;
        2
    } else if let Ok(short) = u16::try_from(payload_len) {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&payload_len.to_be_bytes());
        10
    };
    if let Some(m) = mask {
        out[len..len + 4].copy_from_slice(&m);
        len += 4;
    }
    len
}

/// XORs `data` with `mask`, where `data` starts `offset` bytes into the
/// payload (so a payload split across reads unmasks piece by piece).
///
/// Works a `u64` at a time: the mask repeats every 4 bytes, so an 8-byte
/// word of the rotated mask applies to every aligned 8-byte chunk.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = [0u8; 8];
    for (i, b) in m.iter_mut().enumerate() {
        *b = mask[(offset + i) % 4];
    }
    let word = u64::from_ne_bytes(m);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i];
    }
}

/// A parsed header, before the reader's rules are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub fin: bool,
    /// The three RSV bits, RSV1 highest (0b100).
    pub rsv: u8,
    /// The raw 4-bit opcode (may be reserved).
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// Why a header cannot be parsed at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// A 64-bit length with the most significant bit set (§5.2).
    LengthTopBit,
}

/// How many header bytes a frame whose second byte is `b1` has.
pub(crate) fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// Parses a header from the front of `buf`; `Ok(None)` if more bytes are
/// needed. Returns the header and its length.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, HeaderError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let len = header_len(b1);
    let Some(h) = buf.get(..len) else {
        return Ok(None);
    };
    let (payload_len, at) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[2..10]);
            let n = u64::from_be_bytes(b);
            if n >> 63 != 0 {
                return Err(HeaderError::LengthTopBit);
            }
            (n, 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = (b1 & 0x80 != 0).then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let header = Header {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0b111,
        opcode: b0 & 0x0f,
        mask,
        payload_len,
    };
    Ok(Some((header, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_in_pieces_equals_masking_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        for split in [1, 3, 7, 8, 9, 500, 999] {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, mask, 0);
            apply_mask(b, mask, split);
            assert_eq!(parts, whole, "split at {split}");
        }
        for (i, (&w, &d)) in whole.iter().zip(&data).enumerate() {
            assert_eq!(w, d ^ mask[i % 4]);
        }
    }

    #[test]
    fn header_round_trips_every_length_class() {
        for len in [0u64, 125, 126, 65535, 65536, u64::MAX >> 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut out, true, false, OpCode::Binary, len, mask);
                let (h, m) = parse_header(&out[..n]).unwrap().unwrap();
                assert_eq!((h.payload_len, h.mask, m), (len, mask, n));
                assert_eq!(parse_header(&out[..n - 1]), Ok(None));
            }
        }
    }

    #[test]
    fn length_with_top_bit_is_refused() {
        let mut b = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_header(&b), Err(HeaderError::LengthTopBit));
        b[2] = 0x7f;
        assert!(parse_header(&b).unwrap().is_some());
    }
}
