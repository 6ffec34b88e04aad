//! Typed views of frame payloads, read in place from the FlatBuffers
//! envelope (`wire/schema/envelope.fbs`).
//!
//! Every `decode_*` function verifies the payload with bounded verifier
//! options before reading it, so a hostile payload yields
//! [`WireError::BadEnvelope`] and never a panic. Decoding borrows strings
//! and bodies from the payload and does not allocate when it succeeds.
//!
//! Semantics carried by the frame header rather than the payload:
//! - SEND `message_id` is the client's id; the server echoes it in the
//!   `message_id` of the ACK or ERROR that answers the SEND.
//! - DELIVER `message_id` is the server's snowflake id (time, node,
//!   sequence), the same id an ACK carries in `server_message_id`.
//! - [`Flags::HIGH_PRIORITY`](crate::Flags::HIGH_PRIORITY) picks the high
//!   lane; [`Flags::ACK_REQUESTED`](crate::Flags::ACK_REQUESTED) asks for an
//!   ACK once the message is queued.
//!
//! This module owns the payload layout only: framing is in
//! [`frame`](crate::frame), encoding in [`Encoder`](crate::Encoder).

use std::fmt;

use flatbuffers::{ForwardsUOffset, Vector};

use crate::envelope::switchboard::wire as fb;
use crate::error::{ErrorCode, WireError};
use crate::verify::root;

/// What a [`Target`] id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Every connection of a user.
    User,
    /// One connection, by its id.
    Connection,
    /// Every member of a conversation.
    Conversation,
    /// Every subscriber of a topic.
    Topic,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// What `id` names.
    pub kind: TargetKind,
    /// The user, connection, conversation or topic id.
    pub id: &'a str,
}

/// HELLO: the client's first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello<'a> {
    /// The envelope version the client speaks (1 for this crate).
    pub protocol_version: u16,
    /// Who the client claims to be.
    pub user_id: &'a str,
    /// Credential proving `user_id` (a JWT, or whatever the auth callback takes).
    pub token: &'a str,
    /// Free-form client name and version, for logs.
    pub client_name: &'a str,
}

/// WELCOME: the server accepted a HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Welcome<'a> {
    /// The id the server gave this connection (a `Connection` target id).
    pub connection_id: u64,
    /// The node that holds the connection.
    pub node_id: u16,
    /// Free-form server name and version, for logs.
    pub server_name: &'a str,
    /// The largest payload the server accepts from this client.
    pub max_payload_len: u32,
    /// The client must send something (a PING at least) within this period.
    pub idle_timeout_ms: u32,
}

/// SEND: a client's message to a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send<'a> {
    /// Where the message goes.
    pub target: Target<'a>,
    /// Opaque application bytes.
    pub body: &'a [u8],
}

/// DELIVER: a message handed to a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deliver<'a> {
    /// The user id of the sender.
    pub sender: &'a str,
    /// The target the sender addressed (tells a recipient which
    /// conversation or topic the message belongs to).
    pub target: Target<'a>,
    /// Opaque application bytes, as sent.
    pub body: &'a [u8],
}

/// ACK: the server queued a SEND.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The server's snowflake id for the message (DELIVER's `message_id`).
    pub server_message_id: u64,
    /// How many connections the message was queued to.
    pub recipients: u32,
}

/// ERROR: a numbered error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMsg<'a> {
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable detail, for logs; may be empty.
    pub reason: &'a str,
}

/// CLOSE: the last frame on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close<'a> {
    /// 0 for a normal close, else an [`ErrorCode`] number.
    pub code: u16,
    /// Human-readable detail, for logs; may be empty.
    pub reason: &'a str,
}

/// Topics of a SUBSCRIBE/UNSUBSCRIBE payload, read in place.
#[derive(Clone, Copy)]
pub struct Topics<'a> {
    list: Vector<'a, ForwardsUOffset<&'a str>>,
}

impl<'a> Topics<'a> {
    /// Number of topics.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The `i`th topic.
    ///
    /// # Panics
    ///
    /// When `i >= self.len()`; the caller chooses `i`, the peer does not.
    pub fn get(&self, i: usize) -> &'a str {
        assert!(i < self.len(), "topic index {i} out of {}", self.len());
        self.list.get(i)
    }

    /// The topics in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.list.iter()
    }
}

impl fmt::Debug for Topics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Topics<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Topics<'_> {}

fn target_kind(k: fb::TargetKind) -> Result<TargetKind, WireError> {
    Ok(match k {
        fb::TargetKind::User => TargetKind::User,
        fb::TargetKind::Connection => TargetKind::Connection,
        fb::TargetKind::Conversation => TargetKind::Conversation,
        fb::TargetKind::Topic => TargetKind::Topic,
        _ => return Err(WireError::BadEnvelope("unknown target kind")),
    })
}

fn target(t: fb::Target<'_>) -> Result<Target<'_>, WireError> {
    Ok(Target {
        kind: target_kind(t.kind())?,
        id: t.id(),
    })
}

/// Decodes a HELLO payload.
pub fn decode_hello(payload: &[u8]) -> Result<Hello<'_>, WireError> {
    let h = root::<fb::Hello>(payload, None)?;
    Ok(Hello {
        protocol_version: h.protocol_version(),
        user_id: h.user_id(),
        token: h.token(),
        client_name: h.client_name().unwrap_or(""),
    })
}

/// Decodes a WELCOME payload.
pub fn decode_welcome(payload: &[u8]) -> Result<Welcome<'_>, WireError> {
    let w = root::<fb::Welcome>(payload, None)?;
    Ok(Welcome {
        connection_id: w.connection_id(),
        node_id: w.node_id(),
        server_name: w.server_name().unwrap_or(""),
        max_payload_len: w.max_payload_len(),
        idle_timeout_ms: w.idle_timeout_ms(),
    })
}

/// Decodes a SEND payload.
pub fn decode_send(payload: &[u8]) -> Result<Send<'_>, WireError> {
    let s = root::<fb::Send>(payload, Some(fb::Send::VT_TARGET))?;
    Ok(Send {
        target: target(s.target())?,
        body: s.body(),
    })
}

/// Decodes a DELIVER payload.
pub fn decode_deliver(payload: &[u8]) -> Result<Deliver<'_>, WireError> {
    let d = root::<fb::Deliver>(payload, Some(fb::Deliver::VT_TARGET))?;
    Ok(Deliver {
        sender: d.sender(),
        target: target(d.target())?,
        body: d.body(),
    })
}

/// Decodes an ACK payload.
pub fn decode_ack(payload: &[u8]) -> Result<Ack, WireError> {
    let a = root::<fb::Ack>(payload, None)?;
    Ok(Ack {
        server_message_id: a.server_message_id(),
        recipients: a.recipients(),
    })
}

/// Decodes an ERROR payload; a code number this crate does not know is
/// [`WireError::BadEnvelope`].
pub fn decode_error(payload: &[u8]) -> Result<ErrorMsg<'_>, WireError> {
    let e = root::<fb::Error>(payload, None)?;
    let code = ErrorCode::from_u16(e.code()).ok_or(WireError::BadEnvelope("unknown error code"))?;
    Ok(ErrorMsg {
        code,
        reason: e.reason().unwrap_or(""),
    })
}

/// Decodes a SUBSCRIBE or UNSUBSCRIBE payload.
pub fn decode_topics(payload: &[u8]) -> Result<Topics<'_>, WireError> {
    let s = root::<fb::Subscribe>(payload, None)?;
    Ok(Topics { list: s.topics() })
}

/// Decodes a CLOSE payload. The code is returned as sent: 0 is a normal
/// close, other numbers are [`ErrorCode`]s, possibly ones newer than this
/// crate (a closing peer is not worth failing over).
pub fn decode_close(payload: &[u8]) -> Result<Close<'_>, WireError> {
    let c = root::<fb::Close>(payload, None)?;
    Ok(Close {
        code: c.code(),
        reason: c.reason().unwrap_or(""),
    })
}

#[cfg(test)]
mod tests {
    use flatbuffers::FlatBufferBuilder;

    use super::*;

    fn bad(r: Result<impl fmt::Debug, WireError>) -> &'static str {
        match r {
            Err(WireError::BadEnvelope(why)) => why,
            other => panic!("expected BadEnvelope, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_short_payloads_are_bad_envelopes() {
        for p in [&[][..], &[0], &[1, 2, 3], &[0xff; 4], &[0xff; 64]] {
            bad(decode_hello(p));
            bad(decode_send(p));
            bad(decode_deliver(p));
            bad(decode_topics(p));
            bad(decode_ack(p));
        }
    }

    #[test]
    fn missing_required_field_is_refused() {
        // The builder refuses to finish a table without its required
        // fields, so borrow a CLOSE: its fields 0 and 1 line up with
        // HELLO's protocol_version and user_id, and HELLO's token is absent.
        let mut fbb = FlatBufferBuilder::new();
        let reason = fbb.create_string("u");
        let args = fb::CloseArgs {
            code: 1,
            reason: Some(reason),
        };
        let root = fb::Close::create(&mut fbb, &args);
        fbb.finish_minimal(root);
        assert_eq!(
            bad(decode_hello(fbb.finished_data())),
            "missing required field"
        );
    }

    #[test]
    fn optional_strings_default_to_empty() {
        let mut fbb = FlatBufferBuilder::new();
        let root = fb::Close::create(&mut fbb, &fb::CloseArgs::default());
        fbb.finish_minimal(root);
        let c = decode_close(fbb.finished_data()).unwrap();
        assert_eq!(
            c,
            Close {
                code: 0,
                reason: ""
            }
        );
    }

    #[test]
    fn unknown_target_kind_is_refused() {
        let mut fbb = FlatBufferBuilder::new();
        let id = fbb.create_string("x");
        let t = fb::Target::create(
            &mut fbb,
            &fb::TargetArgs {
                kind: fb::TargetKind(9),
                id: Some(id),
            },
        );
        let body = fbb.create_vector::<u8>(&[]);
        let args = fb::SendArgs {
            target: Some(t),
            body: Some(body),
        };
        let root = fb::Send::create(&mut fbb, &args);
        fbb.finish_minimal(root);
        assert_eq!(bad(decode_send(fbb.finished_data())), "unknown target kind");
    }

    #[test]
    fn unknown_error_code_is_refused() {
        let mut fbb = FlatBufferBuilder::new();
        let args = fb::ErrorArgs {
            code: 999,
            reason: None,
        };
        let root = fb::Error::create(&mut fbb, &args);
        fbb.finish_minimal(root);
        assert_eq!(bad(decode_error(fbb.finished_data())), "unknown error code");
    }

    #[test]
    fn topics_read_in_place() {
        let mut fbb = FlatBufferBuilder::new();
        let a = fbb.create_string("news");
        let b = fbb.create_string("");
        let list = fbb.create_vector(&[a, b]);
        let root = fb::Subscribe::create(&mut fbb, &fb::SubscribeArgs { topics: Some(list) });
        fbb.finish_minimal(root);
        let t = decode_topics(fbb.finished_data()).unwrap();
        assert_eq!(t.len(), 2);
        assert!(!t.is_empty());
        assert_eq!(t.get(0), "news");
        assert_eq!(t.get(1), "");
        assert_eq!(t.iter().collect::<Vec<_>>(), ["news", ""]);
        assert_eq!(format!("{t:?}"), r#"["news", ""]"#);
    }
}
