//! The WebSocket fuzz bodies over their seed corpora
//! (`wire/fuzz/corpus/ws_decode`, `ws_handshake`), so `cargo test` runs
//! what `cargo fuzz` starts from.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use wire::ws::{
    write_request, DeflateConfig, DeflateParams, Deflater, MessageWriter, OpCode, Role,
};

use crate::ws_vectors::raw;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name)
}

/// `ws_decode` seeds: a config byte (bit 0 client role, bit 1 deflate,
/// bit 2 no context takeover), then frames.
fn decode_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let m = Some([1, 2, 3, 4]);
    let mut masked = vec![0u8];
    masked.extend(raw(0x81, b"Hello", m));
    masked.extend(raw(0x01, "wö".as_bytes(), m));
    masked.extend(raw(0x89, b"p", m));
    masked.extend(raw(0x80, b"rld", m));
    masked.extend(raw(0x82, &[7; 300], m));
    masked.extend(raw(0x88, &[0x03, 0xe8, b'k'], m));
    let mut rfc7692 = vec![3u8];
    rfc7692.extend([0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    rfc7692.extend([0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    let params = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 9,
        client_max_window_bits: 9,
    };
    let mut w = MessageWriter::new(
        Role::Client,
        Some(Deflater::new(&params, Role::Client, 6, 0)),
    );
    let mut out = BytesMut::new();
    w.write_message(
        &mut out,
        OpCode::Text,
        "compress me, compress me, compress me".as_bytes(),
    );
    w.write_message(&mut out, OpCode::Binary, &[0; 2000]);
    w.write_control(&mut out, OpCode::Pong, b"");
    let mut deflated = vec![6u8];
    deflated.extend_from_slice(&out);
    vec![
        ("masked", masked),
        ("rfc7692", rfc7692),
        ("deflate-client", deflated),
    ]
}

fn handshake_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut req = Vec::new();
    let cfg = DeflateConfig::default();
    write_request(
        &mut req,
        "h",
        "/ws",
        "dGhlIHNhbXBsZSBub25jZQ==",
        &["chat"],
        Some(&cfg),
    );
    let res = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    vec![("request", req), ("response", res.to_vec())]
}

fn run_dir(name: &str, seeds: usize, body: fn(&[u8])) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir(name)).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        body(&std::fs::read(&path).expect("corpus file"));
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        seen += usize::from(file.starts_with("seed-"));
    }
    assert_eq!(
        seen, seeds,
        "{name}: a seed is missing: run write_ws_seed_corpus"
    );
}

#[test]
fn every_ws_corpus_file_passes_its_fuzz_body() {
    run_dir("ws_decode", decode_seeds().len(), wire::fuzzing::ws_decode);
    run_dir(
        "ws_handshake",
        handshake_seeds().len(),
        wire::fuzzing::ws_handshake,
    );
}

#[test]
fn every_config_byte_passes_on_the_seeds() {
    for (_, seed) in decode_seeds() {
        for config in 0..=255u8 {
            let mut data = seed.clone();
            data[0] = config;
            wire::fuzzing::ws_decode(&data);
        }
    }
}

/// `cargo test -p wire --test it -- --ignored write_ws_seed_corpus`
#[test]
#[ignore = "writes files; run by hand after changing the seeds"]
fn write_ws_seed_corpus() {
    for (name, seeds) in [
        ("ws_decode", decode_seeds()),
        ("ws_handshake", handshake_seeds()),
    ] {
        std::fs::create_dir_all(dir(name)).expect("corpus dir");
        for (seed, bytes) in seeds {
            std::fs::write(dir(name).join(format!("seed-{seed}")), bytes).expect("write seed");
        }
    }
}
