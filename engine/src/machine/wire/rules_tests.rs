//! The session rules frame by frame, with no core: each case encodes a
//! client frame with `wire`'s encoder (or writes a raw payload), decodes
//! it as the server does and checks the [`Step`].

use bytes::BytesMut;
use wire::{ErrorCode, Flags, FrameDecoder, FrameHeader, FrameType, Target, TargetKind};

use super::*;
use crate::machine::wire::State;

fn header(t: FrameType, flags: Flags, message_id: u64) -> FrameHeader {
    let mut h = FrameHeader::new(t, 0);
    h.flags = flags;
    h.message_id = message_id;
    h.stream_id = 7;
    h
}

/// The step for the one frame in `bytes`, summarised as text.
fn step_of(state: State, bytes: &[u8]) -> String {
    let mut out = None;
    let mut d = FrameDecoder::new(1 << 20);
    d.feed(bytes, |f| {
        out = Some(summary(step(state, f)));
        wire::Control::Continue
    })
    .expect("one whole frame");
    out.expect("a frame")
}

fn summary(s: Step<'_>) -> String {
    match s {
        Step::Hello(_, h) => format!("hello {}", h.user_id),
        Step::Send(_, s) => format!("send {:?} {}", s.target.kind, s.target.id),
        Step::Subscribe(_, t, sub) => format!("subscribe={sub} {}", t.len()),
        Step::Ping(h, p) => format!("ping {:?} flags={} {}", h.frame_type, h.flags.0, p.len()),
        Step::PeerClose => "close".into(),
        Step::PeerError => "error".into(),
        Step::Nothing => "nothing".into(),
        Step::Refuse(r) => {
            let id = r.about.map(|h| (h.message_id, h.stream_id));
            format!("refuse {:?} {:?} {id:?} {}", r.code, r.counter, r.reason)
        }
    }
}

fn encode(f: impl FnOnce(&mut wire::Encoder, &mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut wire::Encoder::new(), &mut out);
    out.to_vec()
}

fn raw(t: FrameType, message_id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    wire::write_frame(&mut out, header(t, Flags::NONE, message_id), payload);
    out.to_vec()
}

fn hello(version: u16, user: &str) -> Vec<u8> {
    let m = wire::Hello {
        protocol_version: version,
        user_id: user,
        token: "",
        client_name: "t",
    };
    encode(|e, o| e.hello(o, header(FrameType::Hello, Flags::NONE, 3), &m))
}

fn send(message_id: u64) -> Vec<u8> {
    let m = wire::Send {
        target: Target {
            kind: TargetKind::User,
            id: "bob",
        },
        body: b"hi",
    };
    encode(|e, o| e.send(o, header(FrameType::Send, Flags::NONE, message_id), &m))
}

fn subscribe(topics: &[&str]) -> Vec<u8> {
    encode(|e, o| e.subscribe(o, header(FrameType::Subscribe, Flags::NONE, 9), topics))
}

#[test]
fn hello_is_checked_before_the_core_sees_it() {
    use State::ExpectHello;
    assert_eq!(step_of(ExpectHello, &hello(1, "ann")), "hello ann");
    assert_eq!(
        step_of(ExpectHello, &hello(2, "ann")),
        "refuse UnsupportedVersion Refused Some((3, 7)) protocol version 1 only"
    );
    let refused = "refuse Unauthorized Refused Some((3, 7)) user id must be 1..=256 bytes";
    assert_eq!(step_of(ExpectHello, &hello(1, "")), refused);
    assert_eq!(step_of(ExpectHello, &hello(1, &"u".repeat(257))), refused);
    assert_eq!(
        step_of(ExpectHello, &hello(1, &"u".repeat(256))),
        format!("hello {}", "u".repeat(256))
    );
    let garbage = step_of(ExpectHello, &raw(FrameType::Hello, 5, b"not flatbuffers"));
    assert!(
        garbage.starts_with("refuse BadFrame ProtocolError Some((5, 7)) bad envelope"),
        "{garbage}"
    );
}

#[test]
fn only_hello_ping_error_and_close_come_before_welcome() {
    use State::ExpectHello;
    let first = "refuse UnexpectedFrame UnexpectedFrame Some((4, 7)) HELLO must come first";
    assert_eq!(step_of(ExpectHello, &send(4)), first);
    for t in [FrameType::Pong, FrameType::Ack, FrameType::Subscribe] {
        let s = step_of(ExpectHello, &raw(t, 4, b""));
        assert_eq!(s, first, "{t:?}");
    }
    assert_eq!(
        step_of(ExpectHello, &raw(FrameType::Close, 0, b"")),
        "close"
    );
    assert_eq!(
        step_of(ExpectHello, &raw(FrameType::Error, 0, b"")),
        "error"
    );
}

#[test]
fn a_pong_takes_its_pings_lane_and_ids() {
    for state in [State::ExpectHello, State::Open] {
        let flags = Flags::HIGH_PRIORITY | Flags::ACK_REQUESTED;
        let ping = encode(|e, o| e.ping(o, header(FrameType::Ping, flags, 1), b"abc"));
        assert_eq!(step_of(state, &ping), "ping Pong flags=1 3");
        let plain = encode(|e, o| e.ping(o, header(FrameType::Ping, Flags::NONE, 1), b""));
        assert_eq!(step_of(state, &plain), "ping Pong flags=0 0");
    }
}

#[test]
fn open_sessions_route_and_refuse_what_is_not_theirs() {
    use State::Open;
    assert_eq!(step_of(Open, &send(4)), "send User bob");
    let bad = step_of(Open, &raw(FrameType::Send, 11, b"\x01\x02"));
    assert!(
        bad.starts_with("refuse BadFrame ProtocolError Some((11, 7)) bad envelope"),
        "{bad}"
    );
    assert_eq!(
        step_of(Open, &hello(1, "ann")),
        "refuse UnexpectedFrame UnexpectedFrame Some((3, 7)) HELLO was already received"
    );
    for t in [FrameType::Welcome, FrameType::Deliver, FrameType::Ack] {
        let s = step_of(Open, &raw(t, 8, b""));
        assert_eq!(
            s,
            "refuse UnexpectedFrame UnexpectedFrame Some((8, 7)) server-only frame type"
        );
    }
    assert_eq!(step_of(Open, &raw(FrameType::Pong, 0, b"")), "nothing");
    assert_eq!(step_of(Open, &raw(FrameType::Close, 0, b"")), "close");
    assert_eq!(step_of(Open, &raw(FrameType::Error, 0, b"")), "error");
}

#[test]
fn subscriptions_are_bounded_in_count_and_name_length() {
    use State::Open;
    assert_eq!(step_of(Open, &subscribe(&["a", "b/+"])), "subscribe=true 2");
    let unsub =
        encode(|e, o| e.unsubscribe(o, header(FrameType::Unsubscribe, Flags::NONE, 9), &["a"]));
    assert_eq!(step_of(Open, &unsub), "subscribe=false 1");
    let many: Vec<String> = (0..=TOPICS_PER_FRAME_MAX)
        .map(|i| format!("t{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        step_of(Open, &subscribe(&many)),
        "refuse BadFrame Refused Some((9, 7)) too many topics in one frame"
    );
    let long = "t".repeat(NAME_LEN_MAX + 1);
    for topics in [&["ok", ""][..], &["ok", &long][..]] {
        assert_eq!(
            step_of(Open, &subscribe(topics)),
            "refuse BadFrame Refused Some((9, 7)) topic must be 1..=256 bytes"
        );
    }
}

#[test]
fn a_stream_error_names_no_frame() {
    let e = wire::WireError::TooLarge { len: 10, max: 5 };
    let r = decode_error(None, &e);
    assert_eq!(
        (r.about, r.code, r.counter),
        (None, ErrorCode::TooLarge, Counter::Oversized)
    );
}
