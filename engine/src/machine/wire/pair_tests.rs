//! A [`Session`] driven against a client, with no core, no backend and no
//! clock: the client encodes with `wire::Encoder` and decodes what the
//! server answers with `wire::FrameDecoder`; a stand-in for the core
//! answers each step the way the `wire` stage does (WELCOME, PONG, ERROR
//! and CLOSE), and records what it was asked to do.

use bytes::BytesMut;
use wire::{
    Control, ErrorCode, Flags, FrameDecoder, FrameHeader, FrameType, Target, TargetKind, Welcome,
};

use super::{Session, State, Step, Timeouts};

/// The client and the server's session, and the bytes between them.
struct Pair {
    client: wire::Encoder,
    session: Session,
    /// What the stand-in core did, one line per step.
    steps: Vec<String>,
    /// Frames the server wrote, not yet read by the client.
    to_client: BytesMut,
    server: wire::Encoder,
    /// The client's decoder of the server's frames.
    decoder: FrameDecoder,
    /// The stand-in core pauses the session after this many steps.
    pause_after: Option<usize>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            client: wire::Encoder::new(),
            session: Session::new(1 << 16),
            steps: Vec::new(),
            to_client: BytesMut::new(),
            server: wire::Encoder::new(),
            decoder: FrameDecoder::new(1 << 20),
            pause_after: None,
        }
    }

    /// Encodes one client frame.
    fn frame(&mut self, f: impl FnOnce(&mut wire::Encoder, &mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut self.client, &mut out);
        out.to_vec()
    }

    /// Hands `bytes` to the session in pieces of `split` bytes and applies
    /// every step.
    fn drive(&mut self, bytes: &[u8], split: usize) {
        for piece in bytes.chunks(split.max(1)) {
            self.input(piece);
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        let (steps, out, server) = (&mut self.steps, &mut self.to_client, &mut self.server);
        let pause_after = self.pause_after;
        let r = self.session.handle_input(bytes, |step| {
            apply(step, steps, out, server);
            match pause_after {
                Some(n) if steps.len() >= n => Control::Pause,
                _ => Control::Continue,
            }
        });
        if let Err(r) = r {
            self.steps.push(format!("refuse stream {:?}", r.code));
        }
    }

    /// The server's frames the client can read now, summarised.
    fn read(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        let bytes = self.to_client.split();
        self.decoder
            .feed(&bytes, |f| {
                let h = f.header;
                let line = match h.frame_type {
                    FrameType::Welcome => {
                        let w = wire::decode_welcome(f.payload).expect("welcome");
                        format!("WELCOME max={}", w.max_payload_len)
                    }
                    FrameType::Error => {
                        let e = wire::decode_error(f.payload).expect("error");
                        format!("ERROR {:?} id={} {}", e.code, h.message_id, e.reason)
                    }
                    FrameType::Close => {
                        let c = wire::decode_close(f.payload).expect("close");
                        format!("CLOSE {}", c.code)
                    }
                    t => format!("{t:?} id={} {:?}", h.message_id, f.payload),
                };
                seen.push(line);
                Control::Continue
            })
            .expect("the server's frames decode");
        seen
    }
}

/// What the `wire` stage does with a step, reduced to the frames it
/// answers with.
fn apply(step: Step<'_>, steps: &mut Vec<String>, out: &mut BytesMut, enc: &mut wire::Encoder) {
    let close = |enc: &mut wire::Encoder, out: &mut BytesMut, code: u16| {
        let h = FrameHeader::new(FrameType::Close, 0);
        let reason = "";
        enc.close(out, h, &wire::Close { code, reason });
    };
    let line = match step {
        Step::Hello(_, hello) => {
            let w = Welcome {
                connection_id: 1,
                node_id: 0,
                server_name: "t",
                max_payload_len: 1 << 16,
                idle_timeout_ms: 0,
            };
            enc.welcome(out, FrameHeader::new(FrameType::Welcome, 0), &w);
            format!("welcome {}", hello.user_id)
        }
        Step::Send(h, send) => format!(
            "route {:?}:{} {:?} id={}",
            send.target.kind, send.target.id, send.body, h.message_id
        ),
        Step::Subscribe(_, topics, true) => {
            format!("subscribe {:?}", topics.iter().collect::<Vec<_>>())
        }
        Step::Subscribe(_, topics, false) => {
            format!("unsubscribe {:?}", topics.iter().collect::<Vec<_>>())
        }
        Step::Ping(pong, payload) => {
            enc.pong(out, pong, payload);
            "pong".into()
        }
        Step::PeerClose => {
            close(enc, out, 0);
            "close".into()
        }
        Step::PeerError => "peer error".into(),
        Step::Nothing => "nothing".into(),
        Step::Refuse(r) => {
            let mut h = FrameHeader::new(FrameType::Error, 0);
            if let Some(about) = r.about {
                h.message_id = about.message_id;
            }
            let e = wire::ErrorMsg {
                code: r.code,
                reason: &r.reason,
            };
            enc.error(out, h, &e);
            close(enc, out, r.code as u16);
            format!("refuse {:?} {:?}", r.code, r.counter)
        }
    };
    steps.push(line);
}

fn header(t: FrameType, message_id: u64) -> FrameHeader {
    let mut h = FrameHeader::new(t, 0);
    h.message_id = message_id;
    h
}

fn hello(p: &mut Pair, user: &str) -> Vec<u8> {
    let m = wire::Hello {
        protocol_version: 1,
        user_id: user,
        token: "",
        client_name: "pair",
    };
    p.frame(|e, o| e.hello(o, header(FrameType::Hello, 1), &m))
}

fn send(p: &mut Pair, id: u64, to: &str, body: &[u8]) -> Vec<u8> {
    let m = wire::Send {
        target: Target {
            kind: TargetKind::User,
            id: to,
        },
        body,
    };
    p.frame(|e, o| e.send(o, header(FrameType::Send, id), &m))
}

/// A whole session, in every split of its bytes: the same steps, the
/// same answers.
#[test]
fn a_session_runs_the_same_in_any_split() {
    for split in [1, 2, 7, 64, usize::MAX] {
        let mut p = Pair::new();
        let mut bytes = hello(&mut p, "ann");
        bytes.extend(send(&mut p, 5, "bob", b"hi"));
        bytes.extend(p.frame(|e, o| e.subscribe(o, header(FrameType::Subscribe, 6), &["a/+"])));
        bytes.extend(p.frame(|e, o| e.unsubscribe(o, header(FrameType::Unsubscribe, 7), &["a/+"])));
        bytes.extend(p.frame(|e, o| e.ping(o, header(FrameType::Ping, 8), b"x")));
        bytes.extend(p.frame(|e, o| {
            e.close(
                o,
                header(FrameType::Close, 0),
                &wire::Close {
                    code: 0,
                    reason: "",
                },
            )
        }));
        // After CLOSE nothing is read.
        bytes.extend(send(&mut p, 9, "bob", b"late"));
        p.drive(&bytes, split);
        assert_eq!(
            p.steps,
            [
                "welcome ann",
                "route User:bob [104, 105] id=5",
                "subscribe [\"a/+\"]",
                "unsubscribe [\"a/+\"]",
                "pong",
                "close",
            ],
            "split {split}"
        );
        assert_eq!(p.session.state(), State::Closing);
        assert_eq!(
            p.read(),
            ["WELCOME max=65536", "Pong id=8 [120]", "CLOSE 0"],
            "split {split}"
        );
    }
}

#[test]
fn a_frame_before_hello_is_refused_with_its_ids() {
    let mut p = Pair::new();
    let bytes = send(&mut p, 42, "bob", b"hi");
    p.drive(&bytes, usize::MAX);
    assert_eq!(p.steps, ["refuse UnexpectedFrame UnexpectedFrame"]);
    assert_eq!(
        p.read(),
        [
            "ERROR UnexpectedFrame id=42 HELLO must come first",
            &format!("CLOSE {}", ErrorCode::UnexpectedFrame as u16)
        ]
    );
    assert_eq!(p.session.state(), State::Closing);
    let more = hello(&mut p, "ann");
    p.drive(&more, usize::MAX);
    assert_eq!(p.steps.len(), 1, "a closing session reads nothing");
}

#[test]
fn a_stream_that_cannot_be_framed_is_refused_once() {
    let mut p = Pair::new();
    let mut bytes = hello(&mut p, "ann");
    // A header with an unknown frame type.
    let mut bad = [0xffu8; wire::HEADER_LEN];
    bad[..4].copy_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(&bad);
    p.drive(&bytes, usize::MAX);
    assert_eq!(p.steps.len(), 2, "{:?}", p.steps);
    assert!(p.steps[1].starts_with("refuse stream"), "{:?}", p.steps);
    assert_eq!(p.session.state(), State::Closing);
}

#[test]
fn a_pause_keeps_the_rest_for_the_resume() {
    let mut p = Pair::new();
    p.pause_after = Some(1);
    let mut bytes = hello(&mut p, "ann");
    bytes.extend(send(&mut p, 5, "bob", b"hi"));
    p.drive(&bytes, usize::MAX);
    assert_eq!(p.steps, ["welcome ann"]);
    assert!(p.session.buffered_len() > 0);
    p.pause_after = None;
    p.input(&[]);
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.session.buffered_len(), 0);
}

#[test]
fn a_pong_answers_a_ping_before_hello_with_its_lane() {
    let mut p = Pair::new();
    let mut h = header(FrameType::Ping, 3);
    h.flags = Flags::HIGH_PRIORITY | Flags::ACK_REQUESTED;
    let ping = p.frame(|e, o| e.ping(o, h, b""));
    p.drive(&ping, usize::MAX);
    assert_eq!(p.steps, ["pong"]);
    assert_eq!(p.session.state(), State::ExpectHello);
    let mut seen = Vec::new();
    let bytes = p.to_client.split();
    p.decoder
        .feed(&bytes, |f| {
            seen.push((f.header.frame_type, f.header.flags.0, f.header.message_id));
            Control::Continue
        })
        .expect("pong");
    assert_eq!(seen, [(FrameType::Pong, Flags::HIGH_PRIORITY.0, 3)]);
}

/// The HELLO and idle timeouts fire only past their interval, at every
/// alignment a coarse clock could have rounded differently.
#[test]
fn hello_and_idle_timeouts_fire_only_past_their_interval() {
    let t = Timeouts::new(100, 1_500);
    for since_ms in [0_u64, 1, 63, 64, 1_000, 4_294_967_290] {
        let since = crate::timers::conn_clock(since_ms);
        let at = |ms: u64| crate::timers::conn_clock(since_ms + ms);
        let mut s = Session::new(1024);
        assert_eq!(s.poll_timeout(since, t), Some(at(100)));
        assert!(s.handle_timeout(since, at(99), t).is_none());
        assert!(s.handle_timeout(since, at(100), t).is_none());
        let r = s.handle_timeout(since, at(101), t).expect("HELLO timeout");
        assert_eq!(
            (r.code, r.reason.as_str()),
            (ErrorCode::IdleTimeout, "no HELLO in time")
        );
        assert_eq!(s.state(), State::Closing);
        assert!(s.handle_timeout(since, at(1_000_000), t).is_none());
        assert_eq!(s.poll_timeout(since, t), None);

        let mut s = Session::new(1024);
        s.open();
        assert_eq!(s.poll_timeout(since, t), Some(at(1_500)));
        assert!(s.handle_timeout(since, at(1_499), t).is_none());
        assert!(s.handle_timeout(since, at(1_500), t).is_none());
        let r = s.handle_timeout(since, at(1_501), t).expect("idle timeout");
        assert_eq!(r.reason, "idle timeout");
    }
}
