//! Fuzz bodies, kept in the crate so `cargo test` runs them over the seed
//! corpus (`wire/fuzz/corpus/`) and `cargo fuzz` targets stay one line.
//!
//! Not part of the stable API: the functions panic on purpose when an
//! invariant breaks, which is what a fuzzer looks for.
#![doc(hidden)]

use bytes::BytesMut;

use crate::encode::Encoder;
use crate::error::WireError;
use crate::frame::{Control, FrameDecoder, FrameHeader, FrameType, HEADER_LEN};
use crate::message::{
    decode_ack, decode_close, decode_deliver, decode_error, decode_hello, decode_send,
    decode_topics, decode_welcome,
};

/// Payload limit for fuzzing: small, so garbage lengths hit `TooLarge`
/// early instead of making the fuzzer wait for megabytes.
const MAX_PAYLOAD_LEN: u32 = 64 * 1024;

/// Byte-at-a-time feeding is quadratic in nothing but slow in the
/// fuzzer's eyes; do it only for short inputs.
const BYTEWISE_MAX_LEN: usize = 4096;

/// What one pass over the input produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Each frame's header and payload, in order.
    frames: Vec<(FrameHeader, Vec<u8>)>,
    /// Whether the decoder refused the stream.
    failed: bool,
}

/// Feeds `data` to a [`FrameDecoder`] in several splits (the whole input,
/// chunk sizes read from the data itself, byte by byte, and with a pause
/// after every frame) and decodes each payload with the `decode_*`
/// function its frame type names.
///
/// Panics if a pass loses or invents bytes (frame bytes handed out plus
/// bytes buffered must equal bytes fed), if two passes disagree, or if a
/// payload that decodes does not survive an encode/decode round trip.
pub fn decode_stream(data: &[u8]) {
    let whole = run(data, &[data.len().max(1)], false);
    let chunks = chunk_sizes(data);
    assert_eq!(whole, run(data, &chunks, false), "chunked split differs");
    assert_eq!(whole, run(data, &chunks, true), "paused run differs");
    if data.len() <= BYTEWISE_MAX_LEN {
        assert_eq!(whole, run(data, &[1], false), "bytewise split differs");
    }
    for (header, payload) in &whole.frames {
        check_payload(header, payload);
    }
}

/// Chunk sizes 1..=64 taken from the data, so the fuzzer steers them.
fn chunk_sizes(data: &[u8]) -> Vec<usize> {
    let sizes: Vec<usize> = data
        .iter()
        .take(16)
        .map(|&b| usize::from(b % 64) + 1)
        .collect();
    if sizes.is_empty() {
        vec![1]
    } else {
        sizes
    }
}

/// One pass: feeds `data` in chunks of the given sizes (cycled), pausing
/// after every frame when `pause` is set.
fn run(data: &[u8], sizes: &[usize], pause: bool) -> Outcome {
    let mut decoder = FrameDecoder::new(MAX_PAYLOAD_LEN);
    let mut out = Outcome {
        frames: Vec::new(),
        failed: false,
    };
    let mut fed = 0usize;
    let mut handed_out = 0usize;
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() && !out.failed {
        let (chunk, tail) = rest.split_at(sizes[i % sizes.len()].min(rest.len()));
        rest = tail;
        i += 1;
        fed += chunk.len();
        let result = feed_all(&mut decoder, chunk, pause, &mut out.frames, &mut handed_out);
        if result.is_err() {
            out.failed = true;
            break;
        }
        assert_eq!(
            handed_out + decoder.buffered_len(),
            fed,
            "frame bytes out + bytes buffered != bytes in"
        );
    }
    out
}

/// Feeds one chunk, then keeps resuming while paused frames remain.
fn feed_all(
    decoder: &mut FrameDecoder,
    chunk: &[u8],
    pause: bool,
    frames: &mut Vec<(FrameHeader, Vec<u8>)>,
    handed_out: &mut usize,
) -> Result<(), WireError> {
    let control = if pause {
        Control::Pause
    } else {
        Control::Continue
    };
    let mut input = chunk;
    loop {
        let before = frames.len();
        let n = decoder.feed(input, |f| {
            *handed_out += HEADER_LEN + f.payload.len();
            frames.push((f.header, f.payload.to_vec()));
            control
        })?;
        assert_eq!(n, frames.len() - before, "feed miscounted its frames");
        input = &[];
        // A pause leaves whole frames behind; without one, feed took all.
        if !pause || n == 0 {
            return Ok(());
        }
    }
}

/// Decodes `payload` with `$decode`; if that works, re-encodes the value
/// with the `Encoder` method `$encode` and checks it decodes the same.
macro_rules! roundtrip {
    ($payload:expr, $header:expr, $decode:ident, $encode:ident) => {{
        if let Ok(m) = $decode($payload) {
            let mut out = BytesMut::new();
            Encoder::new().$encode(&mut out, $header, &m);
            let again = $decode(&out[HEADER_LEN..]).expect("re-encoded payload decodes");
            assert_eq!(m, again, "round trip changed the message");
        }
    }};
}

/// Decodes a payload by its frame type; whatever decodes must survive an
/// encode/decode round trip.
fn check_payload(header: &FrameHeader, payload: &[u8]) {
    let h = *header;
    match header.frame_type {
        FrameType::Hello => roundtrip!(payload, h, decode_hello, hello),
        FrameType::Welcome => roundtrip!(payload, h, decode_welcome, welcome),
        FrameType::Send => roundtrip!(payload, h, decode_send, send),
        FrameType::Deliver => roundtrip!(payload, h, decode_deliver, deliver),
        FrameType::Ack => roundtrip!(payload, h, decode_ack, ack),
        FrameType::Error => roundtrip!(payload, h, decode_error, error),
        FrameType::Close => roundtrip!(payload, h, decode_close, close),
        FrameType::Subscribe | FrameType::Unsubscribe => check_topics(h, payload),
        // PING and PONG payloads are opaque bytes.
        _ => {}
    }
}

fn check_topics(header: FrameHeader, payload: &[u8]) {
    if let Ok(topics) = decode_topics(payload) {
        let list: Vec<&str> = topics.iter().collect();
        let mut out = BytesMut::new();
        Encoder::new().subscribe(&mut out, header, &list);
        let again = decode_topics(&out[HEADER_LEN..]).expect("re-encoded topics decode");
        assert_eq!(topics, again, "topics round trip");
    }
}

/// Feeds `data`, if it is UTF-8, to [`json_to_frame`](crate::json::json_to_frame)
/// as a WebSocket text message.
///
/// Panics if an accepted message is not one whole frame that a
/// [`FrameDecoder`] takes and whose payload decodes, if
/// [`frame_to_json`](crate::json::frame_to_json) refuses it, or if that JSON
/// does not convert back to the same frame (the server's JSON is a fixed
/// point of the mapping). Refusals must carry BadFrame or TooLarge.
pub fn json_text(data: &[u8]) {
    use crate::error::ErrorCode;
    use crate::json::{frame_to_json, json_to_frame};

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mut enc, mut frame) = (Encoder::new(), BytesMut::new());
    if let Err(e) = json_to_frame(text, &mut enc, &mut frame, MAX_PAYLOAD_LEN) {
        assert!(
            matches!(e.code, ErrorCode::BadFrame | ErrorCode::TooLarge),
            "{e}"
        );
        assert!(frame.is_empty(), "a refused message wrote bytes");
        return;
    }
    let outcome = run(&frame, &[frame.len()], false);
    assert!(!outcome.failed, "the decoder refused a converted frame");
    assert_eq!(outcome.frames.len(), 1, "one message, one frame");
    let (header, payload) = &outcome.frames[0];
    check_payload(header, payload);
    let mut json = Vec::new();
    frame_to_json(&frame, &mut json).expect("a converted frame converts back");
    let json = std::str::from_utf8(&json).expect("JSON out is UTF-8");
    let mut again = BytesMut::new();
    json_to_frame(json, &mut enc, &mut again, MAX_PAYLOAD_LEN).expect("our JSON converts");
    assert_eq!(again, frame, "{json} is not the frame it came from");
}

/// Limits for the WebSocket fuzz bodies: small, so lengths from garbage
/// hit 1009 instead of waiting for megabytes.
const WS_MAX_MESSAGE: u64 = 64 * 1024;

/// One WebSocket pass: the events (owned), then the close code if the
/// reader failed.
#[derive(Debug, PartialEq, Eq)]
struct WsOutcome {
    events: Vec<(u8, Option<u16>, Vec<u8>)>,
    error: Option<u16>,
}

/// Feeds `data[1..]` to a [`crate::ws::MessageReader`] whose role and
/// deflate settings come from `data[0]`, in several splits (whole, chunk
/// sizes from the data, byte by byte, pausing after every event).
///
/// Panics if two passes disagree, if the reader holds more than its
/// limits allow between calls, if it holds anything once idle, or if a
/// message it hands out does not survive a writer/reader round trip.
pub fn ws_decode(data: &[u8]) {
    let Some((&config, stream)) = data.split_first() else {
        return;
    };
    let whole = ws_run(config, stream, &[stream.len().max(1)], false);
    let chunks = chunk_sizes(stream);
    assert_eq!(
        whole,
        ws_run(config, stream, &chunks, false),
        "chunked split differs"
    );
    assert_eq!(
        whole,
        ws_run(config, stream, &chunks, true),
        "paused run differs"
    );
    if stream.len() <= BYTEWISE_MAX_LEN {
        assert_eq!(
            whole,
            ws_run(config, stream, &[1], false),
            "bytewise split differs"
        );
    }
    ws_round_trip(config, &whole);
}

fn ws_params(config: u8) -> Option<crate::ws::DeflateParams> {
    (config & 2 != 0).then_some(crate::ws::DeflateParams {
        server_no_context_takeover: config & 4 != 0,
        client_no_context_takeover: config & 4 != 0,
        server_max_window_bits: 9 + (config >> 4) % 7,
        client_max_window_bits: 9 + (config >> 4) % 7,
    })
}

fn ws_reader(config: u8) -> crate::ws::MessageReader {
    use crate::ws::{Inflater, MessageReader, ReaderLimits, Role};
    let role = if config & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limits = ReaderLimits {
        // Room for a compressed message a little larger than its text.
        max_frame: 2 * WS_MAX_MESSAGE,
        max_message: WS_MAX_MESSAGE,
    };
    let inflater = ws_params(config).map(|p| Inflater::new(&p, role, WS_MAX_MESSAGE));
    MessageReader::new(role, limits, inflater)
}

fn ws_run(config: u8, data: &[u8], sizes: &[usize], pause: bool) -> WsOutcome {
    use crate::ws::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
    let mut reader = ws_reader(config);
    let mut out = WsOutcome {
        events: Vec::new(),
        error: None,
    };
    let control = if pause {
        Control::Pause
    } else {
        Control::Continue
    };
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() && out.error.is_none() {
        let (chunk, tail) = rest.split_at(sizes[i % sizes.len()].min(rest.len()));
        rest = tail;
        i += 1;
        let mut input = chunk;
        loop {
            let before = out.events.len();
            let result = reader.feed(input, |e| {
                out.events.push(ws_owned(e));
                control
            });
            input = &[];
            if let Err(e) = result {
                out.error = Some(e.code);
                break;
            }
            if !pause || out.events.len() == before {
                break;
            }
        }
        let bound = WS_MAX_MESSAGE as usize + 1 + MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;
        assert!(reader.buffered_len() <= bound, "reader holds too much");
    }
    out
}

fn ws_owned(e: crate::ws::WsEvent<'_>) -> (u8, Option<u16>, Vec<u8>) {
    use crate::ws::WsEvent;
    match e {
        WsEvent::Text(t) => (1, None, t.as_bytes().to_vec()),
        WsEvent::Binary(b) => (2, None, b.to_vec()),
        WsEvent::Close { code, reason } => (8, code, reason.as_bytes().to_vec()),
        WsEvent::Ping(b) => (9, None, b.to_vec()),
        WsEvent::Pong(b) => (10, None, b.to_vec()),
    }
}

/// Writes every event back with a [`crate::ws::MessageWriter`] of the
/// opposite role and reads it again: it must come out the same.
fn ws_round_trip(config: u8, outcome: &WsOutcome) {
    use crate::ws::{Deflater, MessageWriter, OpCode, Role};
    let writer_role = if config & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let deflater = ws_params(config).map(|p| Deflater::new(&p, writer_role, 6, 8));
    let mut writer = MessageWriter::new(writer_role, deflater).with_mask_seed(u64::from(config));
    let mut bytes = BytesMut::new();
    for (op, code, payload) in &outcome.events {
        match *op {
            1 => writer.write_message(&mut bytes, OpCode::Text, payload),
            2 => writer.write_message(&mut bytes, OpCode::Binary, payload),
            8 => writer.write_close(
                &mut bytes,
                *code,
                std::str::from_utf8(payload).expect("reason"),
            ),
            9 => writer.write_control(&mut bytes, OpCode::Ping, payload),
            _ => writer.write_control(&mut bytes, OpCode::Pong, payload),
        }
    }
    let again = ws_run(config, &bytes, &[bytes.len().max(1)], false);
    assert_eq!(again.error, None, "written frames were refused");
    assert_eq!(
        again.events, outcome.events,
        "round trip changed the events"
    );
}

/// Parses `data` as an upgrade request and as an upgrade response; panics
/// if a success is inconsistent (consumed past the input, or a complete
/// head whose prefix is not reported incomplete).
pub fn ws_handshake(data: &[u8]) {
    use crate::ws::{handshake, negotiate, parse_response, DeflateConfig, HandshakeLimits};
    let limits = HandshakeLimits::default();
    let mut out = Vec::new();
    match handshake::parse_upgrade(data, &limits) {
        Ok(Some(up)) => {
            assert!(up.consumed <= data.len());
            let prefix = &data[..up.consumed - 1];
            assert_eq!(handshake::parse_upgrade(prefix, &limits), Ok(None));
            let params = up
                .extensions
                .as_deref()
                .and_then(|e| negotiate(e, &DeflateConfig::default()));
            handshake::write_accept(&mut out, &up.accept, None, params.as_ref());
        }
        Ok(None) => assert!(data.len() < limits.max_request_bytes),
        Err(e) => e.write_response(&mut out),
    }
    let cfg = DeflateConfig::default();
    if let Ok(Some(hs)) = parse_response(data, "dGhlIHNhbXBsZSBub25jZQ==", Some(&cfg), &limits) {
        assert!(hs.consumed <= data.len());
    }
}

/// What one MQTT decoding pass produced: each packet's debug form and
/// the error, if any.
#[derive(Debug, PartialEq, Eq)]
struct MqttOutcome {
    packets: Vec<String>,
    error: Option<crate::mqtt::MqttError>,
}

fn mqtt_decoder(config: u8) -> crate::mqtt::PacketDecoder {
    use crate::mqtt::{PacketDecoder, ProtocolVersion};
    match config % 3 {
        0 => PacketDecoder::server(MAX_PAYLOAD_LEN),
        1 => PacketDecoder::client(ProtocolVersion::V311, MAX_PAYLOAD_LEN),
        _ => PacketDecoder::client(ProtocolVersion::V5, MAX_PAYLOAD_LEN),
    }
}

fn mqtt_run(config: u8, stream: &[u8], chunks: &[usize], pause: bool) -> MqttOutcome {
    let mut dec = mqtt_decoder(config);
    let mut packets = Vec::new();
    let mut on_packet = |p: crate::mqtt::Packet<'_>| {
        packets.push(format!("{p:?}"));
        if pause {
            Control::Pause
        } else {
            Control::Continue
        }
    };
    let mut error = None;
    let mut rest = stream;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() && error.is_none() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        error = dec.feed(chunk, &mut on_packet).err();
    }
    // Drain what the pauses left: each resume hands out at most one packet.
    while error.is_none() && dec.buffered_len() > 0 {
        match dec.feed(&[], &mut on_packet) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => error = Some(e),
        }
    }
    MqttOutcome { packets, error }
}

/// Feeds `data[1..]` to an MQTT [`crate::mqtt::PacketDecoder`] (role and
/// version from `data[0]`) whole, in chunks read from the data, byte by
/// byte and with a pause after every packet; panics if the passes
/// disagree, or if a decoded packet does not survive encode and decode.
pub fn mqtt_decode(data: &[u8]) {
    let Some((&config, stream)) = data.split_first() else {
        return;
    };
    let whole = mqtt_run(config, stream, &[stream.len().max(1)], false);
    let chunks = chunk_sizes(stream);
    assert_eq!(whole, mqtt_run(config, stream, &chunks, false), "chunked");
    assert_eq!(whole, mqtt_run(config, stream, &chunks, true), "paused");
    if stream.len() <= BYTEWISE_MAX_LEN {
        assert_eq!(whole, mqtt_run(config, stream, &[1], false), "bytewise");
    }
    // Re-encode every packet and decode it again.
    let mut dec = mqtt_decoder(config);
    let mut version = if config % 3 == 1 {
        crate::mqtt::ProtocolVersion::V311
    } else {
        crate::mqtt::ProtocolVersion::V5
    };
    let _ = dec.feed(stream, |p| {
        let is_connect = matches!(p, crate::mqtt::Packet::Connect(_));
        if let crate::mqtt::Packet::Connect(c) = &p {
            version = c.version;
        }
        let mut buf = Vec::new();
        crate::mqtt::encode(&p, version, &mut buf).expect("decoded packet encodes");
        let mut d2 = if is_connect {
            crate::mqtt::PacketDecoder::server(u32::MAX)
        } else {
            crate::mqtt::PacketDecoder::client(version, u32::MAX)
        };
        let mut n = 0;
        d2.feed(&buf, |q| {
            assert_eq!(format!("{p:?}"), format!("{q:?}"), "round trip");
            n += 1;
            Control::Continue
        })
        .expect("re-encoded packet decodes");
        assert_eq!(n, 1);
        Control::Continue
    });
}
