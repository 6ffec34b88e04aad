//! The fuzz body over the checked-in seed corpus, so every `cargo test`
//! runs what `cargo fuzz` starts from.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use wire::{Encoder, ErrorCode, Flags, FrameHeader, FrameType, TargetKind};

use crate::model::Msg;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode")
}

/// The seeds: one valid frame of each type, and one stream of several.
fn seeds() -> Vec<(&'static str, Vec<Msg>)> {
    let s = |v: &str| v.to_owned();
    vec![
        (
            "hello",
            vec![Msg::Hello(1, s("alice"), s("tok"), s("sdk/1"))],
        ),
        (
            "welcome",
            vec![Msg::Welcome(42, 3, s("sb"), 1 << 20, 30_000)],
        ),
        (
            "send-user",
            vec![Msg::Send(TargetKind::User, s("bob"), b"hi".to_vec())],
        ),
        (
            "deliver",
            vec![Msg::Deliver(
                s("alice"),
                TargetKind::Conversation,
                s("c1"),
                b"hi".to_vec(),
            )],
        ),
        ("ack", vec![Msg::Ack(7, 2)]),
        (
            "error",
            vec![Msg::Error(ErrorCode::NoSuchTarget, s("bob is offline"))],
        ),
        (
            "subscribe",
            vec![Msg::Subscribe(vec![s("news"), s("sports")])],
        ),
        ("unsubscribe", vec![Msg::Unsubscribe(vec![s("news")])]),
        ("close", vec![Msg::Close(0, s("bye"))]),
        ("ping", vec![Msg::Ping(b"t=1".to_vec())]),
        (
            "stream",
            vec![
                Msg::Hello(1, s("a"), s("t"), s("")),
                Msg::Send(TargetKind::Topic, s("news"), vec![0; 40]),
                Msg::Pong(Vec::new()),
                Msg::Close(8, s("")),
            ],
        ),
    ]
}

fn seed_bytes(msgs: &[Msg]) -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut out = BytesMut::new();
    for (i, m) in msgs.iter().enumerate() {
        let mut h = FrameHeader::new(FrameType::Ping, 0);
        h.flags = Flags::ACK_REQUESTED;
        h.message_id = i as u64 + 1;
        m.encode(&mut enc, &mut out, h);
    }
    out.to_vec()
}

#[test]
fn every_corpus_file_passes_the_fuzz_body() {
    let mut seeds_seen = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        wire::fuzzing::decode_stream(&data);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        seeds_seen += usize::from(name.starts_with("seed-"));
    }
    assert_eq!(
        seeds_seen,
        seeds().len(),
        "a seed is missing: run write_seed_corpus"
    );
}

#[test]
fn seeds_match_the_encoder() {
    for (name, msgs) in seeds() {
        let path = corpus_dir().join(format!("seed-{name}"));
        let on_disk = std::fs::read(&path).expect("seed file");
        assert_eq!(on_disk, seed_bytes(&msgs), "{name}: run write_seed_corpus");
    }
}

/// Rewrites the seeds after a deliberate change to the encoding:
/// `cargo test -p wire --test it -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes files; run by hand after changing the protocol"]
fn write_seed_corpus() {
    std::fs::create_dir_all(corpus_dir()).expect("corpus dir");
    for (name, msgs) in seeds() {
        let path = corpus_dir().join(format!("seed-{name}"));
        std::fs::write(path, seed_bytes(&msgs)).expect("write seed");
    }
}
