//! Building frames as bytes, and owned copies of received frames with
//! typed accessors. Everything goes through the `wire` crate's encoder and
//! decoders, the same code the engine uses.

use std::fmt;

use bytes::BytesMut;
use wire::{ErrorCode, Flags, FrameHeader, FrameType, Target, TargetKind};

/// The frame bytes a closure writes with a fresh encoder.
fn encode(f: impl FnOnce(&mut wire::Encoder, &mut BytesMut)) -> Vec<u8> {
    let mut enc = wire::Encoder::new();
    let mut out = BytesMut::new();
    f(&mut enc, &mut out);
    out.to_vec()
}

fn header(flags: Flags, message_id: u64) -> FrameHeader {
    let mut h = FrameHeader::new(FrameType::Ping, 0);
    h.flags = flags;
    h.message_id = message_id;
    h
}

/// HELLO for `user_id` speaking envelope version `protocol_version`.
pub fn hello_v(user_id: &str, protocol_version: u16) -> Vec<u8> {
    let m = wire::Hello {
        protocol_version,
        user_id,
        token: "e2e-token",
        client_name: "switchboard-e2e",
    };
    encode(|e, o| e.hello(o, header(Flags::NONE, 0), &m))
}

/// HELLO for `user_id` with protocol version 1.
pub fn hello(user_id: &str) -> Vec<u8> {
    hello_v(user_id, 1)
}

/// SEND of `body` to `target`.
pub fn send(target: Target<'_>, body: &[u8], flags: Flags, message_id: u64) -> Vec<u8> {
    let m = wire::Send { target, body };
    encode(|e, o| e.send(o, header(flags, message_id), &m))
}

/// SEND of `body` to every connection of `user`.
pub fn send_to_user(user: &str, body: &[u8], flags: Flags, message_id: u64) -> Vec<u8> {
    send(user_target(user), body, flags, message_id)
}

/// SUBSCRIBE to `topics`.
pub fn subscribe(topics: &[&str], flags: Flags, message_id: u64) -> Vec<u8> {
    encode(|e, o| e.subscribe(o, header(flags, message_id), topics))
}

/// UNSUBSCRIBE from `topics`.
pub fn unsubscribe(topics: &[&str], flags: Flags, message_id: u64) -> Vec<u8> {
    encode(|e, o| e.unsubscribe(o, header(flags, message_id), topics))
}

/// PING carrying `payload`.
pub fn ping(payload: &[u8], message_id: u64) -> Vec<u8> {
    encode(|e, o| e.ping(o, header(Flags::NONE, message_id), payload))
}

/// CLOSE with `code`.
pub fn close(code: u16) -> Vec<u8> {
    let m = wire::Close { code, reason: "" };
    encode(|e, o| e.close(o, header(Flags::NONE, 0), &m))
}

/// A header followed by `payload`, exactly as given (for frames the
/// encoder would not write, such as a client-sent DELIVER).
pub fn raw(frame_type: FrameType, message_id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut h = FrameHeader::new(frame_type, 0);
    h.message_id = message_id;
    wire::write_frame(&mut out, h, payload);
    out.to_vec()
}

/// A `User` target.
pub fn user_target(id: &str) -> Target<'_> {
    Target {
        kind: TargetKind::User,
        id,
    }
}

/// A `Topic` target.
pub fn topic_target(id: &str) -> Target<'_> {
    Target {
        kind: TargetKind::Topic,
        id,
    }
}

/// A `Connection` target (`id` is the decimal connection id).
pub fn connection_target(id: &str) -> Target<'_> {
    Target {
        kind: TargetKind::Connection,
        id,
    }
}

/// The core a connection lives on: the top byte of its connection id.
pub fn core_of(connection_id: u64) -> u64 {
    connection_id >> 56
}

/// A received frame, owning its payload.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    /// The frame header.
    pub header: FrameHeader,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// A decoded DELIVER, owning its strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The server's message id (header).
    pub message_id: u64,
    /// The sending user.
    pub sender: String,
    /// What the sender addressed.
    pub target_kind: TargetKind,
    /// The target id as the sender wrote it.
    pub target_id: String,
    /// The body, unchanged.
    pub body: Vec<u8>,
}

impl OwnedFrame {
    /// The frame type.
    pub fn frame_type(&self) -> FrameType {
        self.header.frame_type
    }

    /// Panics unless this frame has type `t`.
    pub fn expect_type(&self, t: FrameType) -> &Self {
        assert_eq!(self.frame_type(), t, "expected {t:?}, got {self:?}");
        self
    }

    /// The WELCOME payload (panics if this is not a valid WELCOME).
    pub fn welcome(&self) -> wire::Welcome<'_> {
        self.expect_type(FrameType::Welcome);
        wire::decode_welcome(&self.payload).expect("valid WELCOME payload")
    }

    /// The ERROR payload's code and reason.
    pub fn error(&self) -> (ErrorCode, String) {
        self.expect_type(FrameType::Error);
        let e = wire::decode_error(&self.payload).expect("valid ERROR payload");
        (e.code, e.reason.to_string())
    }

    /// The CLOSE payload's code.
    pub fn close_code(&self) -> u16 {
        self.expect_type(FrameType::Close);
        wire::decode_close(&self.payload)
            .expect("valid CLOSE payload")
            .code
    }

    /// The ACK payload.
    pub fn ack(&self) -> wire::Ack {
        self.expect_type(FrameType::Ack);
        wire::decode_ack(&self.payload).expect("valid ACK payload")
    }

    /// The DELIVER payload, owned.
    pub fn deliver(&self) -> Delivered {
        self.expect_type(FrameType::Deliver);
        let d = wire::decode_deliver(&self.payload).expect("valid DELIVER payload");
        Delivered {
            message_id: self.header.message_id,
            sender: d.sender.to_string(),
            target_kind: d.target.kind,
            target_id: d.target.id.to_string(),
            body: d.body.to_vec(),
        }
    }
}

impl fmt::Debug for OwnedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        write!(
            f,
            "{:?}(flags={:#x} stream={} id={} len={}",
            h.frame_type, h.flags.0, h.stream_id, h.message_id, h.payload_len
        )?;
        let p = &self.payload;
        match h.frame_type {
            FrameType::Error => write!(f, " {:?}", wire::decode_error(p))?,
            FrameType::Close => write!(f, " {:?}", wire::decode_close(p))?,
            FrameType::Welcome => write!(f, " {:?}", wire::decode_welcome(p))?,
            FrameType::Ack => write!(f, " {:?}", wire::decode_ack(p))?,
            FrameType::Deliver => match wire::decode_deliver(p) {
                Ok(d) => write!(
                    f,
                    " from={:?} to={:?}:{:?} body_len={}",
                    d.sender,
                    d.target.kind,
                    d.target.id,
                    d.body.len()
                )?,
                Err(e) => write!(f, " {e:?}")?,
            },
            _ => {}
        }
        f.write_str(")")
    }
}
