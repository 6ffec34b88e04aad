//! Frames to JSON text: the engine's side of the mapping, written by hand
//! straight into the caller's vector (no intermediate value).

use base64::Engine as _;

use crate::error::{ErrorCode, WireError};
use crate::frame::{Flags, FrameHeader, FrameType, HEADER_LEN};
use crate::message::{
    decode_ack, decode_close, decode_deliver, decode_error, decode_hello, decode_send,
    decode_topics, decode_welcome, Target, TargetKind,
};

use super::{type_name, BASE64};

/// Appends one JSON text for a complete frame (header and payload, as the
/// engine queues it) to `out`.
///
/// The frame is checked as a decoder would: a bad header, a length that
/// does not match the header's, or a payload that does not verify is an
/// error, and `out` is left as it was.
pub fn frame_to_json(frame: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let Some((h, payload)) = frame.split_first_chunk::<HEADER_LEN>() else {
        return Err(WireError::BadEnvelope("frame shorter than its header"));
    };
    let header = FrameHeader::decode(h)?;
    if payload.len() != header.payload_len as usize {
        return Err(WireError::BadEnvelope(
            "frame length does not match its header",
        ));
    }
    let start = out.len();
    let result = write_message(header, payload, &mut JsonOut::new(out, header));
    match result {
        Ok(()) => out.push(b'}'),
        Err(_) => out.truncate(start),
    }
    result
}

/// Decodes the payload and writes its fields; the header fields are
/// already written.
fn write_message(h: FrameHeader, p: &[u8], o: &mut JsonOut<'_>) -> Result<(), WireError> {
    match h.frame_type {
        FrameType::Hello => {
            let m = decode_hello(p)?;
            o.num("version", u64::from(m.protocol_version));
            o.str("user", m.user_id);
            o.str("token", m.token);
            o.str("client", m.client_name);
        }
        FrameType::Welcome => {
            let m = decode_welcome(p)?;
            o.id("connection", m.connection_id);
            o.num("node", u64::from(m.node_id));
            o.str("server", m.server_name);
            o.num("max_payload_len", u64::from(m.max_payload_len));
            o.num("idle_timeout_ms", u64::from(m.idle_timeout_ms));
        }
        FrameType::Send => {
            let m = decode_send(p)?;
            o.target(m.target);
            o.bytes(("body", "body_b64"), m.body);
        }
        FrameType::Deliver => {
            let m = decode_deliver(p)?;
            o.str("from", m.sender);
            o.target(m.target);
            o.bytes(("body", "body_b64"), m.body);
        }
        FrameType::Ack => {
            let m = decode_ack(p)?;
            o.id("server_id", m.server_message_id);
            o.num("recipients", u64::from(m.recipients));
        }
        FrameType::Error => {
            let m = decode_error(p)?;
            o.num("code", m.code as u64);
            o.str("name", m.code.as_str());
            o.str("reason", m.reason);
        }
        FrameType::Subscribe | FrameType::Unsubscribe => {
            let topics = decode_topics(p)?;
            o.key("topics");
            o.list(topics.iter());
        }
        FrameType::Ping | FrameType::Pong => {
            if !p.is_empty() {
                o.bytes(("data", "data_b64"), p);
            }
        }
        FrameType::Close => {
            let m = decode_close(p)?;
            o.num("code", u64::from(m.code));
            match m.code {
                0 => o.str("name", "normal"),
                n => {
                    if let Some(code) = ErrorCode::from_u16(n) {
                        o.str("name", code.as_str());
                    }
                }
            }
            o.str("reason", m.reason);
        }
    }
    Ok(())
}

/// A hand-rolled JSON object writer: keys are ours (plain ASCII), values
/// are escaped. Writes the opening brace and header fields on creation;
/// the caller closes the object.
struct JsonOut<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> JsonOut<'a> {
    fn new(out: &'a mut Vec<u8>, h: FrameHeader) -> Self {
        // Room for the header fields and a short message; a body's escapes
        // or base64 may still grow it.
        out.reserve(128 + h.payload_len as usize);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(type_name(h.frame_type).as_bytes());
        out.push(b'"');
        let mut o = JsonOut { out };
        if h.message_id != 0 {
            o.id("id", h.message_id);
        }
        if h.stream_id != 0 {
            o.num("stream", u64::from(h.stream_id));
        }
        if h.flags.contains(Flags::HIGH_PRIORITY) {
            o.str("priority", "high");
        }
        if h.flags.contains(Flags::ACK_REQUESTED) {
            o.raw("ack", "true");
        }
        if h.flags.contains(Flags::DROPPABLE) {
            o.raw("droppable", "true");
        }
        o
    }

    fn key(&mut self, k: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.extend_from_slice(v.as_bytes());
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_escaped(self.out, v);
    }

    fn num(&mut self, k: &str, n: u64) {
        self.key(k);
        write_u64(self.out, n);
    }

    /// A u64 as a decimal string, safe from JavaScript's 2^53.
    fn id(&mut self, k: &str, n: u64) {
        self.key(k);
        self.out.push(b'"');
        write_u64(self.out, n);
        self.out.push(b'"');
    }

    fn target(&mut self, t: Target<'_>) {
        let kind = match t.kind {
            TargetKind::User => "user",
            TargetKind::Connection => "connection",
            TargetKind::Conversation => "conversation",
            TargetKind::Topic => "topic",
        };
        self.key("to");
        self.out.extend_from_slice(b"{\"");
        self.out.extend_from_slice(kind.as_bytes());
        self.out.extend_from_slice(b"\":");
        write_escaped(self.out, t.id);
        self.out.push(b'}');
    }

    /// Bytes as text when they are UTF-8, else as base64 under the second name.
    fn bytes(&mut self, names: (&str, &str), b: &[u8]) {
        match std::str::from_utf8(b) {
            Ok(text) => self.str(names.0, text),
            Err(_) => {
                self.key(names.1);
                self.out.push(b'"');
                let start = self.out.len();
                let len = base64::encoded_len(b.len(), true).expect("length of a slice, encoded");
                self.out.resize(start + len, 0);
                let written = BASE64
                    .encode_slice(b, &mut self.out[start..])
                    .expect("sized by encoded_len");
                debug_assert_eq!(written, len);
                self.out.push(b'"');
            }
        }
    }

    fn list<'s>(&mut self, items: impl Iterator<Item = &'s str>) {
        self.out.push(b'[');
        for (i, s) in items.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_escaped(self.out, s);
        }
        self.out.push(b']');
    }
}

/// Bytes a JSON string may not hold raw: control characters, `"`, `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Writes `s` as a JSON string: quotes, backslashes and control
/// characters escaped, everything else (UTF-8 included) copied in runs.
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, s);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn escaping_agrees_with_serde_json() {
        for s in [
            "",
            "plain",
            "q\"b\\s/",
            "\n\r\t\u{0}\u{1f}\u{7f}",
            "é😀\u{2028}",
        ] {
            let ours = escaped(s);
            let back: String = serde_json::from_str(&ours).expect("valid JSON string");
            assert_eq!(back, s);
        }
        assert_eq!(escaped("a\u{1}b"), r#""a\u0001b""#);
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 1 << 53, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
