//! The hex test vectors in `docs/wire-protocol.md`, checked both ways:
//! the bytes decode to the stated fields, and encoding the stated fields
//! yields exactly the bytes.
//!
//! A vector is a `### Vector: NAME` heading followed, before the next
//! heading, by a fenced `fields` block (`key = value` lines) and a fenced
//! `hex` block (whitespace-separated byte pairs).

use std::collections::HashMap;
use std::path::Path;

use bytes::BytesMut;
use wire::{Control, Encoder, ErrorCode, Flags, FrameDecoder, FrameHeader, FrameType, TargetKind};

use crate::model::Msg;

/// The vectors the document must contain, at least.
const REQUIRED: [&str; 6] = ["PING", "HELLO", "SEND", "DELIVER", "ACK", "ERROR"];

/// Named vectors for the answers a client written from the document must
/// recognise (section 6 ERROR, section 7's table): each pins the message
/// id an error echoes and the code it carries.
const REQUIRED_NAMED: [&str; 4] = [
    "ERROR TooLarge answering a SEND whose DELIVER would be too long",
    "ERROR UnexpectedFrame answering a client's ACK (message id 8)",
    "CLOSE UnexpectedFrame",
    "ERROR from a client that could not decode a frame",
];

struct Vector {
    name: String,
    fields: HashMap<String, String>,
    bytes: Vec<u8>,
}

/// The text of a document under `docs/`.
pub(crate) fn read_doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn doc() -> String {
    read_doc("wire-protocol.md")
}

/// Every vector in `docs/wire-protocol.md` as (name, frame bytes).
pub(crate) fn document_frames() -> Vec<(String, Vec<u8>)> {
    parse_vectors(&doc())
        .into_iter()
        .map(|v| (v.name, v.bytes))
        .collect()
}

/// The contents of every fenced block with the given language tag.
pub(crate) fn fenced<'a>(section: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find("```").expect("unterminated fenced block");
        blocks.push(&body[..end]);
        rest = &body[end..];
    }
    blocks
}

fn parse_vectors(doc: &str) -> Vec<Vector> {
    let mut vectors = Vec::new();
    for part in doc.split("\n### Vector: ").skip(1) {
        let (name, body) = part.split_once('\n').expect("heading line");
        let section = body.split("\n#").next().unwrap_or(body);
        let fields = fenced(section, "fields");
        let hex = fenced(section, "hex");
        assert_eq!(
            (fields.len(), hex.len()),
            (1, 1),
            "{name}: one fields and one hex block"
        );
        vectors.push(Vector {
            name: name.trim().to_owned(),
            fields: parse_fields(fields[0]),
            bytes: parse_hex(hex[0]),
        });
    }
    vectors
}

fn parse_fields(block: &str) -> HashMap<String, String> {
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("not key = value: {l}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn parse_hex(block: &str) -> Vec<u8> {
    block
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex byte {b}")))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    let lines: Vec<String> = bytes
        .chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.join("\n")
}

/// Reads the stated fields of one vector.
struct Fields<'a>(&'a Vector);

impl Fields<'_> {
    fn raw(&self, key: &str) -> &str {
        let v = &self.0;
        v.fields
            .get(key)
            .unwrap_or_else(|| panic!("{}: no field {key}", v.name))
    }

    fn int(&self, key: &str) -> u64 {
        let s = self.raw(key).replace('_', "");
        let n = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        n.unwrap_or_else(|_| panic!("{}: {key} is not a number", self.0.name))
    }

    fn num<T: TryFrom<u64>>(&self, key: &str) -> T {
        T::try_from(self.int(key)).unwrap_or_else(|_| panic!("{key} out of range"))
    }

    fn text(&self, key: &str) -> String {
        let s = self.raw(key);
        let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
        inner
            .unwrap_or_else(|| panic!("{key} is not quoted"))
            .to_owned()
    }

    fn bytes(&self, key: &str) -> Vec<u8> {
        let s = self.raw(key);
        let inner = s.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
        parse_hex(inner.unwrap_or_else(|| panic!("{key} is not [hex bytes]")))
    }

    fn texts(&self, key: &str) -> Vec<String> {
        let s = self.raw(key);
        let inner = s
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .expect("list");
        inner
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.trim_matches('"').to_owned())
            .collect()
    }

    fn kind(&self) -> TargetKind {
        match self.raw("target.kind") {
            "User" => TargetKind::User,
            "Connection" => TargetKind::Connection,
            "Conversation" => TargetKind::Conversation,
            "Topic" => TargetKind::Topic,
            other => panic!("unknown target kind {other}"),
        }
    }

    fn frame_type(&self) -> FrameType {
        const NAMES: [&str; 11] = [
            "HELLO",
            "WELCOME",
            "SEND",
            "DELIVER",
            "ACK",
            "ERROR",
            "SUBSCRIBE",
            "UNSUBSCRIBE",
            "PING",
            "PONG",
            "CLOSE",
        ];
        let t = self.raw("type");
        let i = NAMES.iter().position(|n| *n == t).expect("frame type name");
        FrameType::from_u8(i as u8 + 1).expect("frame type")
    }

    fn header(&self) -> FrameHeader {
        let mut h = FrameHeader::new(self.frame_type(), self.num("payload_len"));
        h.flags = Flags(self.num("flags"));
        h.stream_id = self.num("stream_id");
        h.message_id = self.int("message_id");
        h
    }

    fn msg(&self) -> Msg {
        let f = self;
        match f.frame_type() {
            FrameType::Hello => Msg::Hello(
                f.num("protocol_version"),
                f.text("user_id"),
                f.text("token"),
                f.text("client_name"),
            ),
            FrameType::Welcome => Msg::Welcome(
                f.int("connection_id"),
                f.num("node_id"),
                f.text("server_name"),
                f.num("max_payload_len"),
                f.num("idle_timeout_ms"),
            ),
            FrameType::Send => Msg::Send(f.kind(), f.text("target.id"), f.bytes("body")),
            FrameType::Deliver => Msg::Deliver(
                f.text("sender"),
                f.kind(),
                f.text("target.id"),
                f.bytes("body"),
            ),
            FrameType::Ack => Msg::Ack(f.int("server_message_id"), f.num("recipients")),
            FrameType::Error => {
                let code = ErrorCode::from_u16(f.num("code")).expect("known error code");
                Msg::Error(code, f.text("reason"))
            }
            FrameType::Subscribe => Msg::Subscribe(f.texts("topics")),
            FrameType::Unsubscribe => Msg::Unsubscribe(f.texts("topics")),
            FrameType::Close => Msg::Close(f.num("code"), f.text("reason")),
            FrameType::Ping => Msg::Ping(f.bytes("payload")),
            FrameType::Pong => Msg::Pong(f.bytes("payload")),
            other => panic!("no vector format for {other:?}"),
        }
    }
}

fn check(v: &Vector) {
    let f = Fields(v);
    let (header, msg) = (f.header(), f.msg());

    let mut out = BytesMut::new();
    msg.encode(&mut Encoder::new(), &mut out, header);
    assert!(
        out[..] == v.bytes[..],
        "{}: encoding the fields gives\n{}\nbut the document says\n{}",
        v.name,
        to_hex(&out),
        to_hex(&v.bytes)
    );

    let mut frames = Vec::new();
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder
        .feed(&v.bytes, |fr| {
            frames.push((fr.header, Msg::decode(fr.header.frame_type, fr.payload)));
            Control::Continue
        })
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
    assert_eq!(decoder.buffered_len(), 0, "{}: trailing bytes", v.name);
    assert_eq!(frames.len(), 1, "{}: one frame", v.name);
    assert_eq!(frames[0].0, header, "{}: header", v.name);
    assert_eq!(frames[0].1, Ok(msg), "{}: payload", v.name);
}

#[test]
fn document_vectors_decode_and_encode_exactly() {
    let vectors = parse_vectors(&doc());
    for name in REQUIRED {
        assert!(
            vectors
                .iter()
                .any(|v| v.fields.get("type").map(String::as_str) == Some(name)),
            "no {name} vector in docs/wire-protocol.md"
        );
    }
    for name in REQUIRED_NAMED {
        assert!(
            vectors.iter().any(|v| v.name == name),
            "no vector {name:?} in docs/wire-protocol.md"
        );
    }
    for v in &vectors {
        check(v);
    }
}

#[test]
fn document_quotes_the_schema_verbatim() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/envelope.fbs");
    let schema = std::fs::read_to_string(path).expect("schema");
    let doc = doc();
    let quoted = fenced(&doc, "fbs");
    assert_eq!(quoted.len(), 1, "one fbs block in the document");
    assert_eq!(
        quoted[0], schema,
        "docs/wire-protocol.md quotes an old schema"
    );
}
