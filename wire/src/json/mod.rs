//! The JSON form of the wire envelope, carried in WebSocket text messages.
//!
//! Browsers speak JSON; TCP clients speak wire frames; both meet in the same
//! routing. [`json_to_frame`] turns one JSON text message into exactly the
//! frame a TCP client would have sent (through [`Encoder`], so the bytes are
//! the same), and [`frame_to_json`] turns one frame into one JSON text. The
//! shape is specified in `docs/websocket.md`, section "JSON messages".
//!
//! This module owns the mapping only. It does not know which frame types a
//! side may send in which state (the engine answers UnexpectedFrame), nor
//! the engine's limits on topics and names; it bounds body size, and its
//! input is already bounded by the WebSocket maximum message size.
//!
//! Cost per message: parsing borrows every string from the input unless it
//! holds JSON escapes; a `body_b64` or `data_b64` is decoded into a scratch
//! vector, and a topic list is collected into one. Output is written by hand
//! straight into the caller's vector.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::BytesMut;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

use crate::encode::Encoder;
use crate::error::ErrorCode;
use crate::frame::{Flags, FrameHeader, FrameType, HEADER_LEN, VERSION};
use crate::message::{Ack, Close, Deliver, ErrorMsg, Hello, Send, Target, TargetKind, Welcome};

mod write;

pub use write::frame_to_json;

/// Standard alphabet; padding written on output, optional on input.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a JSON text message could not become a frame. The engine answers
/// the client with an ERROR carrying `code` (and, for a malformed stream,
/// closes), exactly as for a bad frame on TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// [`ErrorCode::BadFrame`] for text that is not a valid message
    /// (malformed JSON, a wrong field type, a missing field, an unknown
    /// `type`); [`ErrorCode::TooLarge`] for a payload over the maximum.
    pub code: ErrorCode,
    /// Human-readable detail, for logs and the ERROR's reason.
    pub reason: String,
}

impl JsonError {
    fn bad(reason: impl Into<String>) -> Self {
        JsonError {
            code: ErrorCode::BadFrame,
            reason: reason.into(),
        }
    }

    fn too_large(len: usize, max: u32) -> Self {
        JsonError {
            code: ErrorCode::TooLarge,
            reason: format!("payload of {len} bytes exceeds maximum {max}"),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.reason)
    }
}

impl std::error::Error for JsonError {}

/// A u64 given as a decimal string (JavaScript numbers lose precision
/// above 2^53) or as a non-negative integer number.
#[derive(Clone, Copy, Debug, Default)]
struct Id(u64);

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a u64 as a decimal string or an integer")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(Id(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
        u64::try_from(v)
            .map(Id)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        // `parse` alone would also take a leading '+'.
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        match v.parse() {
            Ok(n) if digits => Ok(Id(n)),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

/// `"to"`: exactly one of the four target kinds.
#[derive(Deserialize)]
struct To<'a> {
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    connection: Option<Cow<'a, str>>,
    #[serde(borrow)]
    conversation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    topic: Option<Cow<'a, str>>,
}

impl To<'_> {
    fn target(&self) -> Result<Target<'_>, JsonError> {
        let mut found = None;
        for (kind, id) in [
            (TargetKind::User, &self.user),
            (TargetKind::Connection, &self.connection),
            (TargetKind::Conversation, &self.conversation),
            (TargetKind::Topic, &self.topic),
        ] {
            if let Some(id) = id {
                if found.is_some() {
                    return Err(JsonError::bad("\"to\" names more than one target"));
                }
                found = Some(Target { kind, id });
            }
        }
        found.ok_or_else(|| {
            JsonError::bad("\"to\" needs one of user, connection, conversation, topic")
        })
    }
}

/// Every field any message type uses; each type reads its own and
/// ignores the rest, like unknown fields. Strings borrow from the input
/// unless they hold escapes.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    // Header.
    id: Option<Id>,
    stream: Option<u32>,
    #[serde(borrow)]
    priority: Option<Cow<'a, str>>,
    ack: Option<bool>,
    droppable: Option<bool>,
    // HELLO.
    version: Option<u16>,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client: Option<Cow<'a, str>>,
    // WELCOME.
    connection: Option<Id>,
    node: Option<u16>,
    #[serde(borrow)]
    server: Option<Cow<'a, str>>,
    max_payload_len: Option<u32>,
    idle_timeout_ms: Option<u32>,
    // SEND, DELIVER.
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to: Option<To<'a>>,
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow)]
    body_b64: Option<Cow<'a, str>>,
    // ACK.
    server_id: Option<Id>,
    recipients: Option<u32>,
    // ERROR, CLOSE.
    code: Option<u16>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    // SUBSCRIBE, UNSUBSCRIBE.
    #[serde(borrow)]
    topics: Option<Vec<Cow<'a, str>>>,
    // PING, PONG.
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data_b64: Option<Cow<'a, str>>,
}

/// The JSON `type` name of each frame type, in frame type order.
const TYPE_NAMES: [&str; 11] = [
    "hello",
    "welcome",
    "send",
    "deliver",
    "ack",
    "error",
    "subscribe",
    "unsubscribe",
    "ping",
    "pong",
    "close",
];

fn type_name(t: FrameType) -> &'static str {
    TYPE_NAMES[t as usize - 1]
}

fn frame_type(name: &str) -> Option<FrameType> {
    let i = TYPE_NAMES.iter().position(|n| *n == name)?;
    FrameType::from_u8(u8::try_from(i + 1).ok()?)
}

fn required<'m, T: ?Sized>(field: Option<&'m T>, name: &str) -> Result<&'m T, JsonError> {
    field.ok_or_else(|| JsonError::bad(format!("missing field \"{name}\"")))
}

/// Bytes given as UTF-8 text (`name`) or base64 (`name_b64`), at most one
/// of them; base64 is decoded into `scratch`.
fn bytes_field<'a>(
    text: Option<&'a str>,
    b64: Option<&str>,
    names: (&str, &str),
    scratch: &'a mut Vec<u8>,
    max_payload: u32,
) -> Result<Option<&'a [u8]>, JsonError> {
    match (text, b64) {
        (Some(_), Some(_)) => Err(JsonError::bad(format!(
            "give \"{}\" or \"{}\", not both",
            names.0, names.1
        ))),
        (Some(t), None) => Ok(Some(t.as_bytes())),
        (None, Some(b)) => {
            // Refuse before decoding what could never fit.
            let decoded_len_min = b.len() / 4 * 3;
            if decoded_len_min > max_payload as usize + 3 {
                return Err(JsonError::too_large(decoded_len_min, max_payload));
            }
            BASE64
                .decode_vec(b, scratch)
                .map_err(|e| JsonError::bad(format!("\"{}\": {e}", names.1)))?;
            Ok(Some(scratch))
        }
        (None, None) => Ok(None),
    }
}

/// The body of a SEND or DELIVER (required), as text or base64.
fn body<'s>(
    m: &'s Message<'_>,
    scratch: &'s mut Vec<u8>,
    max_payload: u32,
) -> Result<&'s [u8], JsonError> {
    let (text, b64) = (m.body.as_deref(), m.body_b64.as_deref());
    let body = bytes_field(text, b64, ("body", "body_b64"), scratch, max_payload)?;
    let body = required(body, "body")?;
    // The payload is longer still; refuse before encoding.
    if body.len() > max_payload as usize {
        return Err(JsonError::too_large(body.len(), max_payload));
    }
    Ok(body)
}

fn header(m: &Message<'_>, frame_type: FrameType) -> Result<FrameHeader, JsonError> {
    let mut flags = Flags::NONE;
    match m.priority.as_deref() {
        None | Some("normal") => {}
        Some("high") => flags = flags | Flags::HIGH_PRIORITY,
        Some(other) => {
            return Err(JsonError::bad(format!(
                "\"priority\" is \"high\" or \"normal\", not {other:?}"
            )))
        }
    }
    if m.ack == Some(true) {
        flags = flags | Flags::ACK_REQUESTED;
    }
    if m.droppable == Some(true) {
        flags = flags | Flags::DROPPABLE;
    }
    let mut h = FrameHeader::new(frame_type, 0);
    h.flags = flags;
    h.stream_id = m.stream.unwrap_or(0);
    h.message_id = m.id.unwrap_or_default().0;
    Ok(h)
}

/// Parses one JSON text message and appends the wire frame (24-byte header
/// and FlatBuffers payload) a TCP client would have sent for it to `out`,
/// encoded with `enc`, so the bytes are identical.
///
/// A frame whose payload would exceed `max_payload` is refused with
/// [`ErrorCode::TooLarge`], as the TCP decoder refuses it. On error `out`
/// is left as it was.
pub fn json_to_frame(
    text: &str,
    enc: &mut Encoder,
    out: &mut BytesMut,
    max_payload: u32,
) -> Result<(), JsonError> {
    // serde would also read a struct from an array of its fields.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(JsonError::bad("not a JSON object"));
    }
    let m: Message<'_> =
        serde_json::from_str(text).map_err(|e| JsonError::bad(format!("JSON: {e}")))?;
    let frame_type = frame_type(&m.kind)
        .ok_or_else(|| JsonError::bad(format!("unknown message type {:?}", m.kind)))?;
    let h = header(&m, frame_type)?;
    let start = out.len();
    encode(&m, h, enc, out, max_payload)?;
    let payload_len = out.len() - start - HEADER_LEN;
    if payload_len > max_payload as usize {
        out.truncate(start);
        return Err(JsonError::too_large(payload_len, max_payload));
    }
    Ok(())
}

/// Encodes the message `m` of the type in `h`; writes nothing on error.
fn encode(
    m: &Message<'_>,
    h: FrameHeader,
    enc: &mut Encoder,
    out: &mut BytesMut,
    max_payload: u32,
) -> Result<(), JsonError> {
    let mut scratch = Vec::new();
    match h.frame_type {
        FrameType::Hello => {
            let msg = Hello {
                protocol_version: m.version.unwrap_or(u16::from(VERSION)),
                user_id: required(m.user.as_deref(), "user")?,
                token: required(m.token.as_deref(), "token")?,
                client_name: m.client.as_deref().unwrap_or(""),
            };
            enc.hello(out, h, &msg);
        }
        FrameType::Welcome => {
            let msg = Welcome {
                connection_id: m.connection.unwrap_or_default().0,
                node_id: m.node.unwrap_or(0),
                server_name: m.server.as_deref().unwrap_or(""),
                max_payload_len: m.max_payload_len.unwrap_or(0),
                idle_timeout_ms: m.idle_timeout_ms.unwrap_or(0),
            };
            enc.welcome(out, h, &msg);
        }
        FrameType::Send => {
            let target = required(m.to.as_ref(), "to")?.target()?;
            let body = body(m, &mut scratch, max_payload)?;
            enc.send(out, h, &Send { target, body });
        }
        FrameType::Deliver => {
            let sender = required(m.from.as_deref(), "from")?;
            let target = required(m.to.as_ref(), "to")?.target()?;
            let body = body(m, &mut scratch, max_payload)?;
            let msg = Deliver {
                sender,
                target,
                body,
            };
            enc.deliver(out, h, &msg);
        }
        FrameType::Ack => {
            let msg = Ack {
                server_message_id: m.server_id.unwrap_or_default().0,
                recipients: m.recipients.unwrap_or(0),
            };
            enc.ack(out, h, &msg);
        }
        FrameType::Error => {
            let n = *required(m.code.as_ref(), "code")?;
            let code = ErrorCode::from_u16(n)
                .ok_or_else(|| JsonError::bad(format!("unknown error code {n}")))?;
            let reason = m.reason.as_deref().unwrap_or("");
            enc.error(out, h, &ErrorMsg { code, reason });
        }
        FrameType::Subscribe | FrameType::Unsubscribe => {
            let topics = required(m.topics.as_ref(), "topics")?;
            let topics: Vec<&str> = topics.iter().map(|t| &**t).collect();
            if h.frame_type == FrameType::Subscribe {
                enc.subscribe(out, h, &topics);
            } else {
                enc.unsubscribe(out, h, &topics);
            }
        }
        FrameType::Ping | FrameType::Pong => {
            let (text, b64) = (m.data.as_deref(), m.data_b64.as_deref());
            let names = ("data", "data_b64");
            let data = bytes_field(text, b64, names, &mut scratch, max_payload)?;
            let data = data.unwrap_or_default();
            if h.frame_type == FrameType::Ping {
                enc.ping(out, h, data);
            } else {
                enc.pong(out, h, data);
            }
        }
        FrameType::Close => {
            let msg = Close {
                code: m.code.unwrap_or(0),
                reason: m.reason.as_deref().unwrap_or(""),
            };
            enc.close(out, h, &msg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_follow_frame_type_numbers() {
        for (i, name) in TYPE_NAMES.iter().enumerate() {
            let t = frame_type(name).expect("known");
            assert_eq!(t as usize, i + 1);
            assert_eq!(type_name(t), *name);
        }
        assert_eq!(frame_type("Hello"), None);
    }
}
