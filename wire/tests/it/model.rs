//! Owned mirrors of the borrowed message types, so proptest can generate
//! them and tests can compare what came out of a byte stream.

use bytes::BytesMut;
use proptest::prelude::*;
use wire::{
    decode_ack, decode_close, decode_deliver, decode_error, decode_hello, decode_send,
    decode_topics, decode_welcome, Ack, Close, Deliver, Encoder, ErrorCode, ErrorMsg, Flags,
    FrameHeader, FrameType, Hello, Send, Target, TargetKind, Welcome,
};

/// One message of any frame type, owning its strings and bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Hello(u16, String, String, String),
    Welcome(u64, u16, String, u32, u32),
    Send(TargetKind, String, Vec<u8>),
    Deliver(String, TargetKind, String, Vec<u8>),
    Ack(u64, u32),
    Error(ErrorCode, String),
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    Close(u16, String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn target(kind: TargetKind, id: &str) -> Target<'_> {
    Target { kind, id }
}

impl Msg {
    /// Appends this message as one frame.
    pub fn encode(&self, enc: &mut Encoder, out: &mut BytesMut, h: FrameHeader) {
        match self {
            Msg::Hello(v, u, t, c) => enc.hello(out, h, &hello(*v, u, t, c)),
            Msg::Welcome(id, node, name, max, idle) => {
                let m = Welcome {
                    connection_id: *id,
                    node_id: *node,
                    server_name: name,
                    max_payload_len: *max,
                    idle_timeout_ms: *idle,
                };
                enc.welcome(out, h, &m)
            }
            Msg::Send(k, id, body) => enc.send(
                out,
                h,
                &Send {
                    target: target(*k, id),
                    body,
                },
            ),
            Msg::Deliver(s, k, id, body) => {
                let m = Deliver {
                    sender: s,
                    target: target(*k, id),
                    body,
                };
                enc.deliver(out, h, &m)
            }
            Msg::Ack(id, n) => enc.ack(
                out,
                h,
                &Ack {
                    server_message_id: *id,
                    recipients: *n,
                },
            ),
            Msg::Error(code, reason) => enc.error(
                out,
                h,
                &ErrorMsg {
                    code: *code,
                    reason,
                },
            ),
            Msg::Subscribe(t) => enc.subscribe(out, h, &strs(t)),
            Msg::Unsubscribe(t) => enc.unsubscribe(out, h, &strs(t)),
            Msg::Close(code, reason) => enc.close(
                out,
                h,
                &Close {
                    code: *code,
                    reason,
                },
            ),
            Msg::Ping(p) => enc.ping(out, h, p),
            Msg::Pong(p) => enc.pong(out, h, p),
        }
    }

    /// Decodes a frame's payload back into an owned message.
    pub fn decode(frame_type: FrameType, p: &[u8]) -> Result<Msg, wire::WireError> {
        Ok(match frame_type {
            FrameType::Hello => {
                let m = decode_hello(p)?;
                Msg::Hello(
                    m.protocol_version,
                    m.user_id.into(),
                    m.token.into(),
                    m.client_name.into(),
                )
            }
            FrameType::Welcome => {
                let m = decode_welcome(p)?;
                let name = m.server_name.into();
                Msg::Welcome(
                    m.connection_id,
                    m.node_id,
                    name,
                    m.max_payload_len,
                    m.idle_timeout_ms,
                )
            }
            FrameType::Send => {
                let m = decode_send(p)?;
                Msg::Send(m.target.kind, m.target.id.into(), m.body.into())
            }
            FrameType::Deliver => {
                let m = decode_deliver(p)?;
                Msg::Deliver(
                    m.sender.into(),
                    m.target.kind,
                    m.target.id.into(),
                    m.body.into(),
                )
            }
            FrameType::Ack => {
                let m = decode_ack(p)?;
                Msg::Ack(m.server_message_id, m.recipients)
            }
            FrameType::Error => {
                let m = decode_error(p)?;
                Msg::Error(m.code, m.reason.into())
            }
            FrameType::Subscribe => Msg::Subscribe(owned(decode_topics(p)?.iter())),
            FrameType::Unsubscribe => Msg::Unsubscribe(owned(decode_topics(p)?.iter())),
            FrameType::Close => {
                let m = decode_close(p)?;
                Msg::Close(m.code, m.reason.into())
            }
            FrameType::Ping => Msg::Ping(p.into()),
            FrameType::Pong => Msg::Pong(p.into()),
            other => panic!("no model for {other:?}"),
        })
    }
}

fn hello<'a>(v: u16, u: &'a str, t: &'a str, c: &'a str) -> Hello<'a> {
    Hello {
        protocol_version: v,
        user_id: u,
        token: t,
        client_name: c,
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn owned<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    it.map(str::to_owned).collect()
}

const CODES: [ErrorCode; 10] = [
    ErrorCode::BadFrame,
    ErrorCode::TooLarge,
    ErrorCode::UnsupportedVersion,
    ErrorCode::Unauthorized,
    ErrorCode::NoSuchTarget,
    ErrorCode::Overload,
    ErrorCode::UnexpectedFrame,
    ErrorCode::GoingAway,
    ErrorCode::IdleTimeout,
    ErrorCode::Internal,
];

fn kind() -> impl Strategy<Value = TargetKind> {
    prop_oneof![
        Just(TargetKind::User),
        Just(TargetKind::Connection),
        Just(TargetKind::Conversation),
        Just(TargetKind::Topic),
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Any chars, NUL and astral planes included: FlatBuffers strings are
    // length-prefixed, so an interior NUL must survive.
    proptest::collection::vec(any::<char>(), 0..24).prop_map(|c| c.into_iter().collect())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

fn topics() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..8)
}

/// Any message.
pub fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (any::<u16>(), text(), text(), text()).prop_map(|(v, u, t, c)| Msg::Hello(v, u, t, c)),
        (
            any::<u64>(),
            any::<u16>(),
            text(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(a, b, c, d, e)| Msg::Welcome(a, b, c, d, e)),
        (kind(), text(), bytes()).prop_map(|(k, id, b)| Msg::Send(k, id, b)),
        (text(), kind(), text(), bytes()).prop_map(|(s, k, id, b)| Msg::Deliver(s, k, id, b)),
        (any::<u64>(), any::<u32>()).prop_map(|(id, n)| Msg::Ack(id, n)),
        (0..CODES.len(), text()).prop_map(|(i, r)| Msg::Error(CODES[i], r)),
        topics().prop_map(Msg::Subscribe),
        topics().prop_map(Msg::Unsubscribe),
        (any::<u16>(), text()).prop_map(|(c, r)| Msg::Close(c, r)),
        bytes().prop_map(Msg::Ping),
        bytes().prop_map(Msg::Pong),
    ]
}

/// Any header fields the encoder takes from its caller.
pub fn header() -> impl Strategy<Value = FrameHeader> {
    (0u16..8, any::<u32>(), any::<u64>()).prop_map(|(flags, stream_id, message_id)| {
        let mut h = FrameHeader::new(FrameType::Ping, 0);
        h.flags = Flags(flags);
        h.stream_id = stream_id;
        h.message_id = message_id;
        h
    })
}
