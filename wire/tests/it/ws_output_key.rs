//! `MessageWriter::output_key`: writers with equal keys write the same
//! bytes for a message whatever they wrote before, which is what lets the
//! engine encode a fan-out message once for all of its receivers.

use bytes::BytesMut;
use wire::ws::{DeflateParams, Deflater, MessageWriter, OpCode, Role};

fn params(no_takeover: bool, bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_takeover,
        client_no_context_takeover: no_takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    }
}

fn server_writer(deflate: Option<DeflateParams>) -> MessageWriter {
    let deflater = deflate.map(|p| Deflater::new(&p, Role::Server, 1, 64));
    MessageWriter::new(Role::Server, deflater)
}

fn write(w: &mut MessageWriter, op: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    w.write_message(&mut out, op, payload);
    out.to_vec()
}

/// Compressible messages above and below the 64-byte threshold.
fn messages() -> Vec<Vec<u8>> {
    let line = b"the quick brown fox jumps over the lazy dog; ";
    [10usize, 63, 64, 500, 5000, 70_000]
        .iter()
        .map(|&n| line.iter().copied().cycle().take(n).collect())
        .collect()
}

#[test]
fn equal_keys_write_equal_bytes_whatever_came_before() {
    for deflate in [None, Some(params(true, 15)), Some(params(true, 10))] {
        let mut used = server_writer(deflate);
        // History that would change the output of a writer with context
        // takeover.
        for m in messages() {
            write(&mut used, OpCode::Text, &m);
        }
        for m in messages() {
            for op in [OpCode::Text, OpCode::Binary] {
                let mut fresh = server_writer(deflate);
                assert_eq!(fresh.output_key(), used.output_key());
                assert!(fresh.output_key().is_some());
                let a = write(&mut fresh, op, &m);
                let b = write(&mut used, op, &m);
                assert_eq!(a, b, "{deflate:?} {op:?} {} bytes", m.len());
            }
        }
    }
}

#[test]
fn keys_tell_apart_what_changes_the_bytes() {
    let plain = server_writer(None).output_key();
    let w15 = server_writer(Some(params(true, 15))).output_key();
    let w10 = server_writer(Some(params(true, 10))).output_key();
    assert!(plain.is_some_and(|k| !k.compresses()));
    assert!(w15.is_some_and(|k| k.compresses()));
    assert_ne!(plain, w15);
    assert_ne!(w15, w10);
    let level9 = Deflater::new(&params(true, 15), Role::Server, 9, 64);
    let level9 = MessageWriter::new(Role::Server, Some(level9)).output_key();
    assert_ne!(w15, level9);
}

#[test]
fn context_takeover_and_masks_have_no_key() {
    let mut takeover = server_writer(Some(params(false, 15)));
    assert_eq!(takeover.output_key(), None);
    // Why: the same message compresses to other bytes the second time.
    let m = &messages()[4];
    let first = write(&mut takeover, OpCode::Text, m);
    let second = write(&mut takeover, OpCode::Text, m);
    assert_ne!(first, second);
    let client = MessageWriter::new(Role::Client, None);
    assert_eq!(client.output_key(), None);
}
