//! [`MessageWriter`]: whole messages and control frames out, one frame
//! each, compressed and masked as the connection requires.
//!
//! Masks come from an xorshift generator seeded by the caller: `wire` has
//! no clock and no randomness source. RFC 6455 §5.3 wants masks a proxy
//! cannot predict; a client facing untrusted intermediaries should seed
//! from a real random source.

use bytes::{BufMut, BytesMut};

use super::close::encode_close;
use super::deflate::{DeflateKey, Deflater};
use super::frame::{apply_mask, encode_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use super::reader::Role;

/// What a [`MessageWriter`]'s bytes for a message depend on besides the
/// message; see [`MessageWriter::output_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutputKey {
    /// `None`: messages go out uncompressed.
    deflate: Option<DeflateKey>,
}

impl OutputKey {
    /// Whether messages may go out compressed.
    pub fn compresses(&self) -> bool {
        self.deflate.is_some()
    }
}

/// Writes frames for one connection.
#[derive(Debug)]
pub struct MessageWriter {
    /// Boxed: most connections never compress, and a server keeps one
    /// writer per idle connection.
    deflater: Option<Box<Deflater>>,
    /// xorshift64 state; never 0.
    mask_state: u64,
    role: Role,
}

impl MessageWriter {
    /// A writer for `role`; `deflater` when permessage-deflate was agreed.
    pub fn new(role: Role, deflater: Option<Deflater>) -> Self {
        MessageWriter {
            deflater: deflater.map(Box::new),
            mask_state: 0x9E37_79B9_7F4A_7C15,
            role,
        }
    }

    /// Seeds the mask generator (client role); 0 is replaced by a constant.
    pub fn with_mask_seed(mut self, seed: u64) -> Self {
        self.mask_state = if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        };
        self
    }

    /// Whether messages may go out compressed.
    pub fn compresses(&self) -> bool {
        self.deflater.is_some()
    }

    /// A key when this writer's bytes for a message depend only on the
    /// message and the key: writers with equal keys write the same bytes
    /// for the same message and opcode, so a server sending one message
    /// to many connections can write it once for all writers with one key.
    /// `None` when the bytes depend on what was written before (compression
    /// with context takeover) or on a fresh mask (client role).
    pub fn output_key(&self) -> Option<OutputKey> {
        if self.role == Role::Client {
            return None;
        }
        let deflate = match &self.deflater {
            None => None,
            Some(d) => Some(d.stateless_key()?),
        };
        Some(OutputKey { deflate })
    }

    /// Whether a zlib deflate context is held now.
    pub fn holds_deflate_context(&self) -> bool {
        self.deflater.as_ref().is_some_and(|d| d.holds_context())
    }

    /// Appends one whole message as a single frame: compressed (RSV1)
    /// when a deflater is present and the payload reaches its threshold,
    /// masked in client role.
    pub fn write_message(&mut self, out: &mut BytesMut, op: OpCode, payload: &[u8]) {
        let mask = self.next_mask();
        if let Some(d) = self
            .deflater
            .as_mut()
            .filter(|d| d.compresses(payload.len()))
        {
            // Compress behind a gap as long as the longest header, then
            // close the gap: no second buffer.
            let start = out.len();
            out.put_bytes(0, MAX_HEADER_LEN);
            if d.compress(payload, out) {
                let body = start + MAX_HEADER_LEN;
                let len = out.len() - body;
                let mut h = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut h, true, true, op, len as u64, mask);
                out[body - n..body].copy_from_slice(&h[..n]);
                out.copy_within(body - n.., start);
                out.truncate(start + n + len);
                if let Some(m) = mask {
                    apply_mask(&mut out[start + n..], m, 0);
                }
                return;
            }
            out.truncate(start);
        }
        write_frame(out, op, payload, mask);
    }

    /// Appends a Close frame; no code means an empty payload. The reason
    /// is cut to fit 125 bytes.
    pub fn write_close(&mut self, out: &mut BytesMut, code: Option<u16>, reason: &str) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let n = encode_close(&mut payload, code, reason);
        let mask = self.next_mask();
        write_frame(out, OpCode::Close, &payload[..n], mask);
    }

    /// Appends a Ping or Pong (any control opcode); payloads over 125
    /// bytes are cut, as the protocol allows no more.
    pub fn write_control(&mut self, out: &mut BytesMut, op: OpCode, payload: &[u8]) {
        let mask = self.next_mask();
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        write_frame(out, op, payload, mask);
    }

    /// A fresh mask in client role, `None` in server role.
    fn next_mask(&mut self) -> Option<[u8; 4]> {
        if self.role == Role::Server {
            return None;
        }
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        Some(((x >> 32) as u32).to_be_bytes())
    }
}

/// Appends one uncompressed frame with FIN set.
fn write_frame(out: &mut BytesMut, op: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let mut h = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut h, true, false, op, payload.len() as u64, mask);
    out.reserve(n + payload.len());
    out.put_slice(&h[..n]);
    let start = out.len();
    out.put_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m, 0);
    }
}
