//! RFC 6455 §5.7 and RFC 7692 §7.2.3 examples, every split point, and
//! each way a peer can fail the connection, with its close code.

use bytes::BytesMut;
use wire::ws::{
    DeflateParams, Deflater, Inflater, MessageReader, MessageWriter, OpCode, ReaderLimits, Role,
    WsError, WsEvent,
};
use wire::Control;

/// An owned [`WsEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl Ev {
    pub fn of(e: WsEvent<'_>) -> Ev {
        match e {
            WsEvent::Text(t) => Ev::Text(t.to_owned()),
            WsEvent::Binary(b) => Ev::Binary(b.to_vec()),
            WsEvent::Ping(b) => Ev::Ping(b.to_vec()),
            WsEvent::Pong(b) => Ev::Pong(b.to_vec()),
            WsEvent::Close { code, reason } => Ev::Close(code, reason.to_owned()),
        }
    }
}

pub const LIMITS: ReaderLimits = ReaderLimits {
    max_frame: 1 << 20,
    max_message: 1 << 20,
};

pub const PARAMS: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

/// Feeds `chunks` in order; the events, and the first error.
pub fn read(reader: &mut MessageReader, chunks: &[&[u8]]) -> (Vec<Ev>, Result<(), WsError>) {
    let mut events = Vec::new();
    for chunk in chunks {
        if let Err(e) = reader.feed(chunk, |e| {
            events.push(Ev::of(e));
            Control::Continue
        }) {
            return (events, Err(e));
        }
    }
    (events, Ok(()))
}

pub fn reader(role: Role) -> MessageReader {
    MessageReader::new(role, LIMITS, None)
}

/// A raw frame, any bits: `b0` is FIN/RSV/opcode.
pub fn raw(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    if let Some(k) = mask {
        out.extend(k);
    }
    let body = out.len();
    out.extend(payload);
    if let Some(k) = mask {
        wire::ws::apply_mask(&mut out[body..], k, 0);
    }
    out
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const HELLO_MASKED: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc6455_examples() {
    let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let (ev, r) = read(&mut reader(Role::Client), &[&hello]);
    assert_eq!((ev, r), (vec![Ev::Text("Hello".into())], Ok(())));

    let (ev, r) = read(&mut reader(Role::Server), &[&HELLO_MASKED]);
    assert_eq!((ev, r), (vec![Ev::Text("Hello".into())], Ok(())));
    assert_eq!(raw(0x81, b"Hello", Some(MASK)), HELLO_MASKED);

    let frag = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let (ev, _) = read(&mut reader(Role::Client), &[&frag]);
    assert_eq!(ev, vec![Ev::Text("Hello".into())]);

    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let (ev, _) = read(&mut reader(Role::Client), &[&ping]);
    assert_eq!(ev, vec![Ev::Ping(b"Hello".to_vec())]);
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (ev, _) = read(&mut reader(Role::Server), &[&pong]);
    assert_eq!(ev, vec![Ev::Pong(b"Hello".to_vec())]);

    for (len, head) in [
        (256usize, vec![0x82, 0x7e, 0x01, 0x00]),
        (65536, vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let frame = raw(0x82, &payload, None);
        assert_eq!(frame[..head.len()], head[..]);
        let (ev, _) = read(&mut reader(Role::Client), &[&frame]);
        assert_eq!(ev, vec![Ev::Binary(payload.clone())]);
        let mut out = BytesMut::new();
        MessageWriter::new(Role::Server, None).write_message(&mut out, OpCode::Binary, &payload);
        assert_eq!(&out[..], &frame[..]);
    }
}

#[test]
fn rfc7692_examples() {
    let first = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let second = [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut r = MessageReader::new(
        Role::Client,
        LIMITS,
        Some(Inflater::new(&PARAMS, Role::Client, 1 << 20)),
    );
    let (ev, res) = read(&mut r, &[&first, &second]);
    assert_eq!(res, Ok(()));
    assert_eq!(ev, vec![Ev::Text("Hello".into()), Ev::Text("Hello".into())]);

    let mut w = MessageWriter::new(
        Role::Server,
        Some(Deflater::new(&PARAMS, Role::Server, 6, 0)),
    );
    let mut out = BytesMut::new();
    w.write_message(&mut out, OpCode::Text, b"Hello");
    assert_eq!(&out[..], &first[..]);
    out.clear();
    w.write_message(&mut out, OpCode::Text, b"Hello");
    assert_eq!(&out[..], &second[..]);
}

/// Masked client frames: text, fragmented text with a ping inside, a
/// 300-byte binary, a close.
fn stream() -> (Vec<u8>, Vec<Ev>) {
    let mut s = HELLO_MASKED.to_vec();
    s.extend(raw(0x01, "héllo ".as_bytes(), Some([1, 2, 3, 4])));
    s.extend(raw(0x89, b"p", Some([5, 6, 7, 8])));
    s.extend(raw(0x00, "wör".as_bytes(), Some([9, 9, 9, 9])));
    s.extend(raw(0x80, "ld".as_bytes(), Some([0xff, 0, 0xff, 0])));
    s.extend(raw(0x82, &[7u8; 300], Some(MASK)));
    s.extend(raw(0x88, &[0x03, 0xe8, b'o', b'k'], Some(MASK)));
    let events = vec![
        Ev::Text("Hello".into()),
        Ev::Ping(b"p".to_vec()),
        Ev::Text("héllo wörld".into()),
        Ev::Binary(vec![7; 300]),
        Ev::Close(Some(1000), "ok".into()),
    ];
    (s, events)
}

#[test]
fn every_split_point_gives_the_same_events() {
    let (s, want) = stream();
    for split in 0..=s.len() {
        let mut r = reader(Role::Server);
        let (ev, res) = read(&mut r, &[&s[..split], &s[split..]]);
        assert_eq!((ev, res), (want.clone(), Ok(())), "split at {split}");
        assert_eq!(r.buffered_len(), 0);
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    let (ev, res) = read(&mut reader(Role::Server), &bytes);
    assert_eq!((ev, res), (want, Ok(())));
}

#[test]
fn pause_stashes_the_rest_and_resumes() {
    let (s, want) = stream();
    let mut r = reader(Role::Server);
    let mut seen = Vec::new();
    let mut input: &[u8] = &s;
    for _ in 0..20 {
        r.feed(input, |e| {
            seen.push(Ev::of(e));
            Control::Pause
        })
        .unwrap();
        input = &[];
    }
    assert_eq!(seen, want);
    assert_eq!(r.buffered_len(), 0);
}

fn server_error(frames: &[Vec<u8>]) -> u16 {
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut r = MessageReader::new(
        Role::Server,
        ReaderLimits {
            max_frame: 1000,
            max_message: 1500,
        },
        Some(Inflater::new(&PARAMS, Role::Server, 1500)),
    );
    read(&mut r, &chunks).1.expect_err("must fail").code
}

#[test]
fn every_error_class_has_its_close_code() {
    let m = Some(MASK);
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("unmasked client frame", vec![raw(0x81, b"hi", None)], 1002),
        ("RSV2", vec![raw(0xa1, b"", m)], 1002),
        ("RSV3", vec![raw(0x91, b"", m)], 1002),
        (
            "RSV1 on a continuation",
            vec![raw(0x01, b"a", m), raw(0xc0, b"", m)],
            1002,
        ),
        ("RSV1 on a ping", vec![raw(0xc9, b"", m)], 1002),
        ("opcode 3", vec![raw(0x83, b"", m)], 1002),
        ("opcode 11", vec![raw(0x8b, b"", m)], 1002),
        ("ping over 125", vec![raw(0x89, &[0; 126], m)], 1002),
        ("fragmented ping", vec![raw(0x09, b"", m)], 1002),
        ("lone continuation", vec![raw(0x80, b"x", m)], 1002),
        (
            "text inside text",
            vec![raw(0x01, b"a", m), raw(0x81, b"b", m)],
            1002,
        ),
        (
            "binary inside text",
            vec![raw(0x01, b"a", m), raw(0x02, b"b", m)],
            1002,
        ),
        (
            "length top bit",
            vec![vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]],
            1002,
        ),
        ("frame too big", vec![raw(0x82, &[0; 1001], m)], 1009),
        (
            "message too big",
            vec![raw(0x02, &[0; 1000], m), raw(0x80, &[0; 501], m)],
            1009,
        ),
        ("bad UTF-8", vec![raw(0x81, &[0xff], m)], 1007),
        ("surrogate", vec![raw(0x81, &[0xed, 0xa0, 0x80], m)], 1007),
        (
            "cut character at FIN",
            vec![raw(0x01, &[0xe2, 0x82], m), raw(0x80, b"", m)],
            1007,
        ),
        ("close of one byte", vec![raw(0x88, &[3], m)], 1002),
        ("close 1005", vec![raw(0x88, &[0x03, 0xed], m)], 1002),
        ("close 999", vec![raw(0x88, &[0x03, 0xe7], m)], 1002),
        ("close 1004", vec![raw(0x88, &[0x03, 0xec], m)], 1002),
        ("close 1015", vec![raw(0x88, &[0x03, 0xf7], m)], 1002),
        ("close 5000", vec![raw(0x88, &[0x13, 0x88], m)], 1002),
        (
            "close reason not UTF-8",
            vec![raw(0x88, &[0x03, 0xe8, 0xff], m)],
            1007,
        ),
        ("corrupt deflate", vec![raw(0xc2, &[0xff; 20], m)], 1007),
    ];
    for (name, frames, code) in cases {
        assert_eq!(server_error(&frames), code, "{name}");
        // The same bytes one at a time fail the same way.
        let bytes: Vec<Vec<u8>> = frames.concat().chunks(1).map(<[u8]>::to_vec).collect();
        assert_eq!(server_error(&bytes), code, "{name}, bytewise");
    }
}

#[test]
fn masked_frames_fail_a_client() {
    let (_, r) = read(&mut reader(Role::Client), &[&HELLO_MASKED]);
    assert_eq!(r.unwrap_err().code, 1002);
}

#[test]
fn valid_close_payloads_are_accepted() {
    for (payload, want) in [
        (vec![], Ev::Close(None, String::new())),
        (vec![0x0b, 0xb8], Ev::Close(Some(3000), String::new())),
        (vec![0x13, 0x87, b'x'], Ev::Close(Some(4999), "x".into())),
        (vec![0x03, 0xf3], Ev::Close(Some(1011), String::new())),
    ] {
        let (ev, r) = read(
            &mut reader(Role::Server),
            &[&raw(0x88, &payload, Some(MASK))],
        );
        assert_eq!((ev, r), (vec![want], Ok(())));
    }
}

#[test]
fn invalid_text_fails_before_the_message_ends() {
    // Fragment 1 holds an impossible byte; no FIN yet.
    let mut r = reader(Role::Server);
    let (_, res) = read(&mut r, &[&raw(0x01, &[b'a', 0xc0], Some(MASK))]);
    assert_eq!(res.unwrap_err().code, 1007);
    // One frame, cut in the middle of its payload.
    let frame = raw(0x81, &[b'a', b'b', 0xf5, b'c', b'd'], Some(MASK));
    let mut r = reader(Role::Server);
    let (_, res) = read(&mut r, &[&frame[..9]]);
    assert_eq!(res.unwrap_err().code, 1007);
}

#[test]
fn a_deflate_bomb_stops_at_the_message_limit() {
    let mut w = MessageWriter::new(
        Role::Client,
        Some(Deflater::new(&PARAMS, Role::Client, 9, 0)),
    );
    let mut out = BytesMut::new();
    w.write_message(&mut out, OpCode::Binary, &vec![0u8; 1 << 20]);
    assert!(out.len() < 2000, "compressed {} bytes", out.len());
    let mut r = MessageReader::new(
        Role::Server,
        ReaderLimits {
            max_frame: 1 << 20,
            max_message: 64 * 1024,
        },
        Some(Inflater::new(&PARAMS, Role::Server, 64 * 1024)),
    );
    let (_, res) = read(&mut r, &[&out]);
    assert_eq!(res.unwrap_err().code, 1009);
}

#[test]
fn an_idle_reader_holds_nothing() {
    let mut r = reader(Role::Server);
    let (s, _) = stream();
    read(&mut r, &[&s[..s.len() - 3]]).1.unwrap();
    assert!(r.buffered_len() > 0);
    read(&mut r, &[&s[s.len() - 3..]]).1.unwrap();
    assert_eq!(r.buffered_len(), 0);
}

#[test]
fn no_context_takeover_drops_contexts_between_messages() {
    let params = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..PARAMS
    };
    let mut w = MessageWriter::new(
        Role::Client,
        Some(Deflater::new(&params, Role::Client, 6, 0)),
    );
    let mut r = MessageReader::new(
        Role::Server,
        LIMITS,
        Some(Inflater::new(&params, Role::Server, 1 << 20)),
    );
    for _ in 0..3 {
        let mut out = BytesMut::new();
        w.write_message(&mut out, OpCode::Text, "hello hello hello".as_bytes());
        assert!(!w.holds_deflate_context());
        let (ev, _) = read(&mut r, &[&out]);
        assert_eq!(ev, vec![Ev::Text("hello hello hello".into())]);
        assert!(!r.holds_inflate_context());
    }
}

#[test]
fn an_empty_message_compresses_to_one_byte() {
    // RFC 7692 §7.2.3.6: an empty stored block, tail stripped: 0x00.
    let mut w = MessageWriter::new(
        Role::Server,
        Some(Deflater::new(&PARAMS, Role::Server, 6, 0)),
    );
    let mut out = BytesMut::new();
    w.write_message(&mut out, OpCode::Text, b"");
    assert_eq!(&out[..], &[0xc1, 0x01, 0x00]);
    let mut r = MessageReader::new(
        Role::Client,
        LIMITS,
        Some(Inflater::new(&PARAMS, Role::Client, 1 << 20)),
    );
    let (ev, res) = read(&mut r, &[&out, &[0xc1, 0x01, 0x00]]);
    assert_eq!(
        (ev, res),
        (
            vec![Ev::Text(String::new()), Ev::Text(String::new())],
            Ok(())
        )
    );
}

#[test]
fn window_bits_8_means_no_compression_on_send() {
    let params = DeflateParams {
        server_max_window_bits: 8,
        ..PARAMS
    };
    let mut w = MessageWriter::new(
        Role::Server,
        Some(Deflater::new(&params, Role::Server, 6, 0)),
    );
    let mut out = BytesMut::new();
    w.write_message(&mut out, OpCode::Text, b"Hello");
    assert_eq!(&out[..], &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    // A client told to use 8 still reads what a 9-bit (or 8-bit) peer sends.
    let mut r = MessageReader::new(
        Role::Client,
        LIMITS,
        Some(Inflater::new(&params, Role::Client, 1 << 20)),
    );
    let (ev, _) = read(
        &mut r,
        &[&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]],
    );
    assert_eq!(ev, vec![Ev::Text("Hello".into())]);
}
