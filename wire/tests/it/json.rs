//! The JSON form of the envelope (`wire::json`): round trips against the
//! encoder, the examples in `docs/websocket.md`, and hostile input.

use bytes::BytesMut;
use proptest::prelude::*;
use wire::json::{frame_to_json, json_to_frame, JsonError};
use wire::{
    decode_send, Encoder, ErrorCode, Flags, FrameDecoder, FrameHeader, FrameType, TargetKind,
    HEADER_LEN,
};

use crate::model::{header, msg, Msg};
use crate::vectors::{document_frames, fenced, read_doc};

const MAX: u32 = 1 << 20;

fn to_frame(text: &str) -> Result<Vec<u8>, JsonError> {
    let mut out = BytesMut::new();
    json_to_frame(text, &mut Encoder::new(), &mut out, MAX)?;
    Ok(out.to_vec())
}

fn to_json(frame: &[u8]) -> String {
    let mut out = Vec::new();
    frame_to_json(frame, &mut out).expect("frame converts");
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn encoded(m: &Msg, h: FrameHeader) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut Encoder::new(), &mut out, h);
    out.to_vec()
}

fn hdr(flags: u16, stream_id: u32, message_id: u64) -> FrameHeader {
    let mut h = FrameHeader::new(FrameType::Ping, 0);
    h.flags = Flags(flags);
    h.stream_id = stream_id;
    h.message_id = message_id;
    h
}

fn err_code(text: &str) -> ErrorCode {
    match to_frame(text) {
        Err(e) => e.code,
        Ok(f) => panic!("{text} was accepted as {f:02x?}"),
    }
}

/// One message of every frame type, as JSON and as the encoder's call.
fn every_type() -> Vec<(&'static str, Msg, FrameHeader)> {
    use Msg::*;
    let s = String::from;
    vec![
        (
            r#"{"type":"hello","user":"alice","token":"t","client":"web"}"#,
            Hello(1, s("alice"), s("t"), s("web")),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"welcome","connection":"9","node":2,"server":"sb","max_payload_len":100,"idle_timeout_ms":5}"#,
            Welcome(9, 2, s("sb"), 100, 5),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"send","id":"5","stream":3,"priority":"high","ack":true,"droppable":true,"to":{"topic":"t"},"body":"hi"}"#,
            Send(TargetKind::Topic, s("t"), b"hi".to_vec()),
            hdr(7, 3, 5),
        ),
        (
            r#"{"type":"deliver","id":77,"from":"bob","to":{"connection":"12"},"body":""}"#,
            Deliver(s("bob"), TargetKind::Connection, s("12"), vec![]),
            hdr(0, 0, 77),
        ),
        (
            r#"{"type":"ack","id":"5","server_id":"99","recipients":3}"#,
            Ack(99, 3),
            hdr(0, 0, 5),
        ),
        (
            r#"{"type":"error","id":"5","code":6,"reason":"busy"}"#,
            Error(ErrorCode::Overload, s("busy")),
            hdr(0, 0, 5),
        ),
        (
            r#"{"type":"subscribe","topics":["a","b"]}"#,
            Subscribe(vec![s("a"), s("b")]),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"unsubscribe","topics":[]}"#,
            Unsubscribe(vec![]),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"ping","data":"1700000000"}"#,
            Ping(b"1700000000".to_vec()),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"pong","data_b64":"AP8="}"#,
            Pong(vec![0, 0xff]),
            hdr(0, 0, 0),
        ),
        (
            r#"{"type":"close","code":8,"reason":"bye"}"#,
            Close(8, s("bye")),
            hdr(0, 0, 0),
        ),
    ]
}

#[test]
fn json_frames_are_byte_identical_to_the_encoders() {
    let all = every_type();
    assert_eq!(all.len(), 11, "one per frame type");
    for (text, m, h) in all {
        assert_eq!(to_frame(text).unwrap(), encoded(&m, h), "{text}");
    }
}

#[test]
fn every_frame_type_round_trips_json_frame_json() {
    for (text, ..) in every_type() {
        let json = to_json(&to_frame(text).unwrap());
        // The canonical text converts back to the same frame and text.
        let frame = to_frame(&json).unwrap();
        assert_eq!(to_json(&frame), json);
        assert_eq!(frame, to_frame(text).unwrap(), "{text} vs {json}");
        let _: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    }
}

proptest! {
    #[test]
    fn any_frame_round_trips_through_json(m in msg(), h in header()) {
        let frame = encoded(&m, h);
        let json = to_json(&frame);
        let _: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let back = to_frame(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        prop_assert_eq!(&back, &frame, "{}", json);
    }

    #[test]
    fn the_fuzz_body_holds_for_the_json_of_any_frame(m in msg(), h in header()) {
        wire::fuzzing::json_text(to_json(&encoded(&m, h)).as_bytes());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = to_frame(&text);
        wire::fuzzing::json_text(text.as_bytes());
    }

    #[test]
    fn json_shaped_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"),
                Just("\"type\""), Just("\"send\""), Just("\"to\""), Just("\"user\""),
                Just("\"body\""), Just("\"body_b64\""), Just("\"id\""), Just("\"topics\""),
                Just("\"ping\""), Just("\"data_b64\""), Just("\"AP8=\""), Just("1"),
                Just("-1"), Just("1e400"), Just("null"), Just("true"), Just("\"\\u0000\""),
            ],
            0..40,
        )
    ) {
        wire::fuzzing::json_text(parts.concat().as_bytes());
    }
}

#[test]
fn the_fuzz_body_holds_for_the_test_messages_and_doc_examples() {
    for (text, ..) in every_type() {
        wire::fuzzing::json_text(text.as_bytes());
    }
    for ex in examples() {
        wire::fuzzing::json_text(ex.json.as_bytes());
        for input in &ex.inputs {
            wire::fuzzing::json_text(input.as_bytes());
        }
    }
    wire::fuzzing::json_text(&[0xff, b'{']);
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    for (text, ..) in every_type() {
        for end in 0..text.len() {
            assert_eq!(
                err_code(&text[..end]),
                ErrorCode::BadFrame,
                "{}",
                &text[..end]
            );
        }
    }
}

#[test]
fn ids_above_2_pow_53_survive() {
    for id in [(1u64 << 53) + 1, u64::MAX] {
        let as_string = format!(r#"{{"type":"send","id":"{id}","to":{{"user":"b"}},"body":""}}"#);
        let as_number = format!(r#"{{"type":"send","id":{id},"to":{{"user":"b"}},"body":""}}"#);
        let frame = to_frame(&as_string).unwrap();
        assert_eq!(to_frame(&as_number).unwrap(), frame);
        let h = FrameHeader::decode(frame[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(h.message_id, id);
        assert!(to_json(&frame).contains(&format!(r#""id":"{id}""#)));
    }
    let ack = encoded(&Msg::Ack(u64::MAX, 1), hdr(0, 0, u64::MAX - 1));
    let json = to_json(&ack);
    assert_eq!(
        json,
        r#"{"type":"ack","id":"18446744073709551614","server_id":"18446744073709551615","recipients":1}"#
    );
    let welcome = encoded(
        &Msg::Welcome(u64::MAX, 0, String::new(), 0, 0),
        hdr(0, 0, 0),
    );
    assert!(to_json(&welcome).contains(r#""connection":"18446744073709551615""#));
}

#[test]
fn binary_bodies_go_out_as_base64_and_come_back() {
    let body = vec![0xff, 0x00, b'h', 0xc3];
    let m = Msg::Deliver("a".into(), TargetKind::User, "b".into(), body.clone());
    let frame = encoded(&m, hdr(0, 0, 1));
    let json = to_json(&frame);
    assert_eq!(
        json,
        r#"{"type":"deliver","id":"1","from":"a","to":{"user":"b"},"body_b64":"/wBoww=="}"#
    );
    assert_eq!(to_frame(&json).unwrap(), frame);
    // Padding is optional on input.
    assert_eq!(to_frame(&json.replace("==", "")).unwrap(), frame);
    // Text bodies stay text, escapes and all.
    let text = Msg::Send(TargetKind::User, "b".into(), "é \"q\"\n\u{0}".into());
    let frame = encoded(&text, hdr(0, 0, 0));
    let json = to_json(&frame);
    assert_eq!(
        json,
        r#"{"type":"send","to":{"user":"b"},"body":"é \"q\"\n\u0000"}"#
    );
    assert_eq!(to_frame(&json).unwrap(), frame);
}

#[test]
fn malformed_inputs_are_bad_frames() {
    let cases = [
        "",
        "   ",
        "not json",
        "[\"send\"]",
        "\"send\"",
        "null",
        "{}",
        r#"{"type":"shout"}"#,
        r#"{"type":"SEND","to":{"user":"b"},"body":""}"#,
        r#"{"type":5}"#,
        r#"{"type":"send","body":"x"}"#,
        r#"{"type":"send","to":{"user":"b"}}"#,
        r#"{"type":"send","to":{},"body":""}"#,
        r#"{"type":"send","to":{"user":"a","topic":"b"},"body":""}"#,
        r#"{"type":"send","to":{"user":5},"body":""}"#,
        r#"{"type":"send","to":"bob","body":""}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"x","body_b64":"eA=="}"#,
        r#"{"type":"send","to":{"user":"b"},"body_b64":"***"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":[1,2]}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":-1}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":1.5}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":"+1"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":""}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":"18446744073709551616"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","id":18446744073709551616}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","stream":-1}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","priority":"urgent"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","ack":"yes"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":"","type":"send"}"#,
        r#"{"type":"send","to":{"user":"b"},"body":""} trailing"#,
        r#"{"type":"hello","user":"a"}"#,
        r#"{"type":"hello","token":"t"}"#,
        r#"{"type":"hello","user":"a","token":"t","version":70000}"#,
        r#"{"type":"deliver","to":{"user":"b"},"body":""}"#,
        r#"{"type":"error","reason":"x"}"#,
        r#"{"type":"error","code":0}"#,
        r#"{"type":"error","code":99}"#,
        r#"{"type":"subscribe"}"#,
        r#"{"type":"subscribe","topics":"a"}"#,
        r#"{"type":"subscribe","topics":["a",1]}"#,
        r#"{"type":"ping","data":"x","data_b64":"eA=="}"#,
        r#"{"type":"ping","data":"\ud800"}"#,
    ];
    for text in cases {
        let mut out = BytesMut::from(&b"kept"[..]);
        let e = json_to_frame(text, &mut Encoder::new(), &mut out, MAX).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadFrame, "{text}: {e}");
        assert!(!e.reason.is_empty());
        assert_eq!(&out[..], b"kept", "{text}: output untouched");
    }
}

#[test]
fn unknown_fields_are_ignored_and_escapes_are_read() {
    let plain = to_frame(r#"{"type":"send","to":{"user":"bob"},"body":"hi"}"#).unwrap();
    let noisy = r#" { "v" : [1, {"x": null}], "type" : "s\u0065nd", "to" : {"user":"b\u006fb", "extra": 1},
        "body" : "h\u0069", "from": "me", "topics": [] } "#;
    assert_eq!(to_frame(noisy).unwrap(), plain);
    // A field this format defines keeps its JSON type on every message type.
    let e = to_frame(r#"{"type":"send","to":{"user":"bob"},"body":"hi","from":3}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadFrame);
}

#[test]
fn payloads_over_the_maximum_are_too_large() {
    let max = 64;
    let convert = |text: &str| {
        let mut out = BytesMut::new();
        json_to_frame(text, &mut Encoder::new(), &mut out, max).map(|()| out)
    };
    let send = |body: &str| format!(r#"{{"type":"send","to":{{"user":"b"}},"body":"{body}"}}"#);
    // A body over the maximum, as text or base64.
    let e = convert(&send(&"x".repeat(65))).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    let big_b64 = format!(
        r#"{{"type":"send","to":{{"user":"b"}},"body_b64":"{}"}}"#,
        "AAAA".repeat(100)
    );
    assert_eq!(convert(&big_b64).unwrap_err().code, ErrorCode::TooLarge);
    let ping = format!(r#"{{"type":"ping","data":"{}"}}"#, "p".repeat(65));
    assert_eq!(convert(&ping).unwrap_err().code, ErrorCode::TooLarge);
    // Accepted exactly when a TCP decoder with the same maximum accepts
    // the frame: the envelope counts, not only the body.
    for n in 0..=64 {
        let text = send(&"x".repeat(n));
        let frame = to_frame(&text).unwrap();
        let tcp_ok = FrameDecoder::new(max)
            .feed(&frame, |_| wire::Control::Continue)
            .is_ok();
        match convert(&text) {
            Ok(out) => {
                assert!(tcp_ok, "body {n}");
                assert_eq!(&out[..], &frame[..]);
            }
            Err(e) => {
                assert!(!tcp_ok, "body {n}");
                assert_eq!(e.code, ErrorCode::TooLarge);
            }
        }
    }
}

#[test]
fn bad_frames_give_wire_errors_and_write_nothing() {
    let good = encoded(&Msg::Ack(1, 2), hdr(0, 0, 1));
    let mut wrong_len = good.clone();
    wrong_len.push(0);
    let mut bad_payload = good.clone();
    bad_payload[HEADER_LEN..].fill(0xff);
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    let cases: [&[u8]; 5] = [
        &[],
        &good[..HEADER_LEN - 1],
        &wrong_len,
        &bad_payload,
        &bad_magic,
    ];
    for frame in cases {
        let mut out = b"kept".to_vec();
        assert!(frame_to_json(frame, &mut out).is_err(), "{frame:02x?}");
        assert_eq!(out, b"kept");
    }
}

#[test]
fn output_appends() {
    let frame = encoded(&Msg::Ping(vec![]), hdr(0, 0, 0));
    let mut out = b"x".to_vec();
    frame_to_json(&frame, &mut out).unwrap();
    frame_to_json(&frame, &mut out).unwrap();
    assert_eq!(out, br#"x{"type":"ping"}{"type":"ping"}"#);
    let mut frames = BytesMut::from(&b"y"[..]);
    let mut enc = Encoder::new();
    json_to_frame(r#"{"type":"ping"}"#, &mut enc, &mut frames, MAX).unwrap();
    json_to_frame(r#"{"type":"pong"}"#, &mut enc, &mut frames, MAX).unwrap();
    assert_eq!(frames.len(), 1 + 2 * HEADER_LEN);
}

#[test]
fn a_send_body_is_the_text_bytes() {
    let frame = to_frame(r#"{"type":"send","to":{"conversation":"c"},"body":"日本"}"#).unwrap();
    let m = decode_send(&frame[HEADER_LEN..]).unwrap();
    assert_eq!(m.body, "日本".as_bytes());
    assert_eq!(m.target.kind, TargetKind::Conversation);
}

/// One `### Example: NAME` of the "JSON messages" section.
struct Example {
    name: String,
    /// The canonical text: what `frame_to_json` writes.
    json: String,
    /// Other accepted spellings of the same frame.
    inputs: Vec<String>,
}

fn examples() -> Vec<Example> {
    let doc = read_doc("websocket.md");
    let start = doc
        .find("\n## JSON messages\n")
        .expect("docs/websocket.md has a \"JSON messages\" section");
    let section = &doc[start + 1..];
    let section = section[3..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 3]);
    let mut out = Vec::new();
    for part in section.split("\n### Example: ").skip(1) {
        let (name, body) = part.split_once('\n').expect("heading line");
        let body = body.split("\n#").next().unwrap_or(body);
        let json = fenced(body, "json");
        assert_eq!(json.len(), 1, "{name}: one json block");
        out.push(Example {
            name: name.trim().to_owned(),
            json: json[0].trim().to_owned(),
            inputs: fenced(body, "json-input")
                .iter()
                .map(|s| s.trim().to_owned())
                .collect(),
        });
    }
    out
}

#[test]
fn websocket_doc_examples_are_what_the_code_does() {
    let examples = examples();
    let vectors = document_frames();
    let mut types = Vec::new();
    for ex in &examples {
        let frame = to_frame(&ex.json).unwrap_or_else(|e| panic!("{}: {e}", ex.name));
        assert_eq!(to_json(&frame), ex.json, "{}: not canonical", ex.name);
        for input in &ex.inputs {
            let f = to_frame(input).unwrap_or_else(|e| panic!("{}: {input}: {e}", ex.name));
            assert_eq!(f, frame, "{}: {input}", ex.name);
        }
        if let Some((_, bytes)) = vectors.iter().find(|(n, _)| *n == ex.name) {
            assert_eq!(
                &frame, bytes,
                "{}: not the wire-protocol.md vector",
                ex.name
            );
        }
        types.push(frame[3]);
    }
    for (name, bytes) in &vectors {
        let ex = examples.iter().find(|e| e.name == *name);
        let ex = ex.unwrap_or_else(|| panic!("no JSON example for the vector {name}"));
        assert_eq!(to_json(bytes), ex.json, "{name}");
    }
    for t in 1..=11u8 {
        assert!(types.contains(&t), "no JSON example of frame type {t}");
    }
}
