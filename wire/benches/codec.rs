//! Encode and decode one DELIVER envelope three ways, side by side:
//! - `wire`: our 24-byte frame header + FlatBuffers payload, decoded in
//!   place (borrowed strings and body, no allocation);
//! - `json`: serde_json with the same fields; the body as a base64 string
//!   (JSON has no byte type), so decoding allocates the body; strings are
//!   borrowed where they need no unescaping;
//! - `prost`: a hand-written `prost::Message` with the same fields
//!   (owned `String`/`Vec<u8>`, prost's defaults).
//!
//! Each is timed for a 64-byte and a 1 KiB body.
//!
//! The `ws_json` group times the WebSocket JSON mapping (`wire::json`) for
//! a text body: `frame_to_json` of a DELIVER with its hand-rolled writer,
//! beside the same JSON written by `serde_json::to_writer` from a derived
//! `Serialize` struct; and `json_to_frame` of a SEND. The JSON and protobuf
//! encodings are bare payloads: a stream would also need a length prefix,
//! which our encoding already contains. Every encoder writes into a reused
//! buffer, so growth is not measured.

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use wire::{decode_deliver, Deliver, Encoder, Flags, FrameHeader, FrameType, Target, TargetKind};

const SENDER: &str = "visitor-3f2a9c";
const TARGET_ID: &str = "agent-0042";
const MESSAGE_ID: u64 = 0x01d5_ec4b_0000_1403;

/// The JSON shape of the same envelope.
#[derive(Serialize, Deserialize)]
struct JsonDeliver<'a> {
    message_id: u64,
    flags: u16,
    sender: &'a str,
    target_kind: u8,
    target_id: &'a str,
    #[serde(serialize_with = "to_base64")]
    body: &'a [u8],
}

/// What the JSON decoder produces: the body base64-decoded into a vector.
#[derive(Deserialize)]
struct JsonDeliverIn<'a> {
    message_id: u64,
    flags: u16,
    sender: &'a str,
    target_kind: u8,
    target_id: &'a str,
    body: &'a str,
}

fn to_base64<S: serde::Serializer>(body: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&BASE64.encode(body))
}

/// The protobuf shape of the same envelope.
#[derive(Clone, PartialEq, prost::Message)]
struct PbDeliver {
    #[prost(fixed64, tag = "1")]
    message_id: u64,
    #[prost(uint32, tag = "2")]
    flags: u32,
    #[prost(string, tag = "3")]
    sender: String,
    #[prost(uint32, tag = "4")]
    target_kind: u32,
    #[prost(string, tag = "5")]
    target_id: String,
    #[prost(bytes = "vec", tag = "6")]
    body: Vec<u8>,
}

fn header() -> FrameHeader {
    let mut h = FrameHeader::new(FrameType::Deliver, 0);
    h.flags = Flags::HIGH_PRIORITY;
    h.message_id = MESSAGE_ID;
    h
}

fn deliver(body: &[u8]) -> Deliver<'_> {
    Deliver {
        sender: SENDER,
        target: Target {
            kind: TargetKind::User,
            id: TARGET_ID,
        },
        body,
    }
}

fn json(body: &[u8]) -> JsonDeliver<'_> {
    JsonDeliver {
        message_id: MESSAGE_ID,
        flags: Flags::HIGH_PRIORITY.0,
        sender: SENDER,
        target_kind: 0,
        target_id: TARGET_ID,
        body,
    }
}

fn pb(body: &[u8]) -> PbDeliver {
    PbDeliver {
        message_id: MESSAGE_ID,
        flags: u32::from(Flags::HIGH_PRIORITY.0),
        sender: SENDER.to_owned(),
        target_kind: 0,
        target_id: TARGET_ID.to_owned(),
        body: body.to_vec(),
    }
}

fn encode_group(c: &mut Criterion, body: &[u8]) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let n = body.len();
    let (mut enc, mut out) = (Encoder::new(), BytesMut::with_capacity(4096));
    let m = deliver(body);
    g.bench_with_input(BenchmarkId::new("wire", n), &m, |b, m| {
        b.iter(|| {
            out.clear();
            enc.deliver(&mut out, header(), black_box(m));
            black_box(out.len())
        })
    });
    let (j, mut buf) = (json(body), Vec::with_capacity(4096));
    g.bench_with_input(BenchmarkId::new("json", n), &j, |b, j| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(j)).expect("serializes");
            black_box(buf.len())
        })
    });
    let (p, mut pbuf) = (pb(body), BytesMut::with_capacity(4096));
    g.bench_with_input(BenchmarkId::new("prost", n), &p, |b, p| {
        b.iter(|| {
            pbuf.clear();
            prost::Message::encode(black_box(p), &mut pbuf).expect("fits");
            black_box(pbuf.len())
        })
    });
    g.finish();
}

fn decode_group(c: &mut Criterion, body: &[u8]) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let n = body.len();
    let mut frame = BytesMut::new();
    Encoder::new().deliver(&mut frame, header(), &deliver(body));
    g.bench_with_input(BenchmarkId::new("wire", n), &frame[..], |b, f| {
        b.iter(|| {
            let (h, payload) = black_box(f)
                .split_first_chunk::<{ wire::HEADER_LEN }>()
                .expect("header");
            let h = FrameHeader::decode(h).expect("header decodes");
            let d = decode_deliver(payload).expect("payload decodes");
            black_box((
                h.message_id,
                d.sender.len(),
                d.target.id.len(),
                d.body.len(),
            ))
        })
    });
    let text = serde_json::to_vec(&json(body)).expect("serializes");
    g.bench_with_input(BenchmarkId::new("json", n), &text[..], |b, t| {
        b.iter(|| {
            let d: JsonDeliverIn<'_> = serde_json::from_slice(black_box(t)).expect("parses");
            let body = BASE64.decode(d.body).expect("base64");
            black_box((
                d.message_id,
                d.flags,
                d.sender.len(),
                d.target_kind,
                d.target_id.len(),
                body.len(),
            ))
        })
    });
    let bin = prost::Message::encode_to_vec(&pb(body));
    g.bench_with_input(BenchmarkId::new("prost", n), &bin[..], |b, bin| {
        b.iter(|| {
            let d: PbDeliver = prost::Message::decode(black_box(bin)).expect("decodes");
            black_box((
                d.message_id,
                d.sender.len(),
                d.target_id.len(),
                d.body.len(),
            ))
        })
    });
    g.finish();
}

/// Prints each encoding's size once, for the results file.
fn sizes(body: &[u8]) {
    let mut frame = BytesMut::new();
    Encoder::new().deliver(&mut frame, header(), &deliver(body));
    let json_len = serde_json::to_vec(&json(body)).expect("serializes").len();
    let pb_len = prost::Message::encoded_len(&pb(body));
    println!(
        "sizes body={}: wire={} (24 header + {} payload) json={} prost={}",
        body.len(),
        frame.len(),
        frame.len() - wire::HEADER_LEN,
        json_len,
        pb_len
    );
}

/// The DELIVER JSON of `wire::json`, written through serde instead.
#[derive(Serialize)]
struct JsonDeliverOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(serialize_with = "decimal")]
    id: u64,
    priority: &'static str,
    from: &'a str,
    to: JsonTo<'a>,
    body: &'a str,
}

#[derive(Serialize)]
struct JsonTo<'a> {
    user: &'a str,
}

fn decimal<S: serde::Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

fn ws_json_group(c: &mut Criterion, body: &str) {
    let mut g = c.benchmark_group("ws_json");
    g.throughput(Throughput::Elements(1));
    let n = body.len();
    let mut frame = BytesMut::new();
    Encoder::new().deliver(&mut frame, header(), &deliver(body.as_bytes()));
    let mut out = Vec::with_capacity(4096);
    g.bench_with_input(BenchmarkId::new("frame_to_json", n), &frame[..], |b, f| {
        b.iter(|| {
            out.clear();
            wire::json::frame_to_json(black_box(f), &mut out).expect("converts");
            black_box(out.len())
        })
    });
    let ours = out.clone();
    g.bench_with_input(
        BenchmarkId::new("frame_to_json_serde", n),
        &frame[..],
        |b, f| {
            b.iter(|| {
                out.clear();
                let (h, payload) = black_box(f)
                    .split_first_chunk::<{ wire::HEADER_LEN }>()
                    .expect("header");
                let h = FrameHeader::decode(h).expect("header decodes");
                let d = decode_deliver(payload).expect("payload decodes");
                let j = JsonDeliverOut {
                    kind: "deliver",
                    id: h.message_id,
                    priority: "high",
                    from: d.sender,
                    to: JsonTo { user: d.target.id },
                    body: std::str::from_utf8(d.body).expect("text"),
                };
                serde_json::to_writer(&mut out, &j).expect("serializes");
                black_box(out.len())
            })
        },
    );
    assert_eq!(out, ours, "both write the same JSON");
    let send = format!(
        r#"{{"type":"send","id":"{MESSAGE_ID}","priority":"high","to":{{"user":"{TARGET_ID}"}},"body":"{body}"}}"#
    );
    let (mut enc, mut frames) = (Encoder::new(), BytesMut::with_capacity(4096));
    g.bench_with_input(BenchmarkId::new("json_to_frame", n), &send[..], |b, t| {
        b.iter(|| {
            frames.clear();
            wire::json::json_to_frame(black_box(t), &mut enc, &mut frames, 1 << 20)
                .expect("converts");
            black_box(frames.len())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    for n in [64usize, 1024] {
        // Not all one byte value, so base64 and varints see ordinary data.
        let body: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        sizes(&body);
        encode_group(c, &body);
        decode_group(c, &body);
        // Printable ASCII without quotes or backslashes: a chat message.
        let text: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        ws_json_group(c, &text);
    }
}

criterion_group!(codec, benches);
criterion_main!(codec);
