//! The `wire` protocol's session rules: what a client's frame means in
//! the state its session is in (docs/wire-protocol.md sections 6 and 7).
//!
//! [`step`] takes the session's state and one decoded frame and returns
//! a [`Step`]: what the frame asks the core to do, with its payload
//! decoded and checked, or why it is refused. Every rule about which
//! frame is valid when, and which payload is acceptable, lives here, and
//! is unit tested here frame by frame.

use wire::{ErrorCode, Flags, Frame, FrameHeader, FrameType, Hello, Send, Topics, WireError};

/// Where a `wire` session is, named after what comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Accepted; HELLO (or PING, ERROR, CLOSE) expected.
    ExpectHello,
    /// Welcomed (or being welcomed); routing frames flow.
    Open,
    /// Refused or closed: nothing more is read.
    Closing,
}

/// Longest user id or topic name accepted, in bytes.
pub const NAME_LEN_MAX: usize = 256;
/// Most topics in one SUBSCRIBE.
pub const TOPICS_PER_FRAME_MAX: usize = 64;

/// What one client frame asks of the core.
#[derive(Debug)]
pub enum Step<'a> {
    /// A valid HELLO (with its header): admit `hello.user_id` (unless
    /// the server is draining) and answer WELCOME.
    Hello(FrameHeader, Hello<'a>),
    /// A SEND (with its header) with a valid envelope, to route to its
    /// decoded target.
    Send(FrameHeader, Send<'a>),
    /// SUBSCRIBE (`true`) or UNSUBSCRIBE (with its header) to topics of
    /// valid lengths.
    Subscribe(FrameHeader, Topics<'a>, bool),
    /// A PING: answer PONG with this header (the PING's ids, and its
    /// HIGH_PRIORITY flag: a PONG takes its PING's lane) and payload.
    Ping(FrameHeader, &'a [u8]),
    /// The client closes: answer CLOSE 0 and close.
    PeerClose,
    /// The client reports a frame of ours it could not use (section 8):
    /// counted; the CLOSE it sends next ends the connection.
    PeerError,
    /// Nothing to do (a PONG answering a PING of ours).
    Nothing,
    /// Refused: ERROR (with `about`'s ids) and CLOSE with `code`.
    Refuse(Refusal),
}

/// Why a frame ends the session, and how the core counts it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The frame refused (its ids go into the ERROR); `None` for a
    /// stream that cannot be framed.
    pub about: Option<FrameHeader>,
    /// The error code of ERROR and CLOSE.
    pub code: ErrorCode,
    /// The reason they carry.
    pub reason: String,
    /// The counter it moves.
    pub counter: Counter,
}

/// The metric a refusal counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// A frame type not valid in the session's state.
    UnexpectedFrame,
    /// A payload that does not decode or breaks a rule.
    ProtocolError,
    /// A payload over a size bound.
    Oversized,
    /// A payload that decoded but asks for something not allowed (a
    /// protocol version, a name length): counted with its answer only.
    Refused,
    /// The HELLO or idle timeout ran out.
    Timeout,
}

/// What `frame`, received in `state`, asks of the core.
pub fn step(state: State, frame: Frame<'_>) -> Step<'_> {
    let h = frame.header;
    match (state, h.frame_type) {
        (State::ExpectHello, FrameType::Hello) => hello(h, frame.payload),
        (State::Open, FrameType::Send) => match wire::decode_send(frame.payload) {
            Ok(send) => Step::Send(h, send),
            Err(e) => Step::Refuse(decode_error(Some(h), &e)),
        },
        (State::Open, FrameType::Subscribe) => topics(h, frame.payload, true),
        (State::Open, FrameType::Unsubscribe) => topics(h, frame.payload, false),
        (_, FrameType::Ping) => {
            let mut pong = h;
            pong.frame_type = FrameType::Pong;
            pong.flags = Flags(h.flags.0 & Flags::HIGH_PRIORITY.0);
            Step::Ping(pong, frame.payload)
        }
        (_, FrameType::Close) => Step::PeerClose,
        (_, FrameType::Error) => Step::PeerError,
        // Answers a PING of ours; there is none before WELCOME.
        (State::Open, FrameType::Pong) => Step::Nothing,
        (state, t) => {
            let reason = if state == State::ExpectHello {
                "HELLO must come first"
            } else {
                unexpected_reason(t)
            };
            refuse(
                Some(h),
                ErrorCode::UnexpectedFrame,
                reason,
                Counter::UnexpectedFrame,
            )
        }
    }
}

/// Why a malformed stream (`about` `None`), or a payload of the frame
/// `about` that did not decode, ends the session.
pub fn decode_error(about: Option<FrameHeader>, e: &WireError) -> Refusal {
    let counter = match e {
        WireError::TooLarge { .. } => Counter::Oversized,
        _ => Counter::ProtocolError,
    };
    Refusal {
        about,
        code: e.code(),
        reason: e.to_string(),
        counter,
    }
}

fn refuse(
    about: Option<FrameHeader>,
    code: ErrorCode,
    reason: &str,
    counter: Counter,
) -> Step<'static> {
    Step::Refuse(Refusal {
        about,
        code,
        reason: reason.to_string(),
        counter,
    })
}

/// HELLO: any token is accepted (docs/wire-protocol.md section 6).
fn hello(h: FrameHeader, payload: &[u8]) -> Step<'_> {
    let hello = match wire::decode_hello(payload) {
        Ok(hello) => hello,
        Err(e) => return Step::Refuse(decode_error(Some(h), &e)),
    };
    if hello.protocol_version != u16::from(wire::VERSION) {
        let reason = "protocol version 1 only";
        return refuse(
            Some(h),
            ErrorCode::UnsupportedVersion,
            reason,
            Counter::Refused,
        );
    }
    if hello.user_id.is_empty() || hello.user_id.len() > NAME_LEN_MAX {
        let reason = "user id must be 1..=256 bytes";
        return refuse(Some(h), ErrorCode::Unauthorized, reason, Counter::Refused);
    }
    Step::Hello(h, hello)
}

fn topics(h: FrameHeader, payload: &[u8], subscribe: bool) -> Step<'_> {
    let topics = match wire::decode_topics(payload) {
        Ok(t) => t,
        Err(e) => return Step::Refuse(decode_error(Some(h), &e)),
    };
    if topics.len() > TOPICS_PER_FRAME_MAX {
        let reason = "too many topics in one frame";
        return refuse(Some(h), ErrorCode::BadFrame, reason, Counter::Refused);
    }
    if topics
        .iter()
        .any(|t| t.is_empty() || t.len() > NAME_LEN_MAX)
    {
        let reason = "topic must be 1..=256 bytes";
        return refuse(Some(h), ErrorCode::BadFrame, reason, Counter::Refused);
    }
    Step::Subscribe(h, topics, subscribe)
}

fn unexpected_reason(t: FrameType) -> &'static str {
    match t {
        FrameType::Hello => "HELLO was already received",
        FrameType::Welcome | FrameType::Deliver | FrameType::Ack => "server-only frame type",
        _ => "frame type not valid now",
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
