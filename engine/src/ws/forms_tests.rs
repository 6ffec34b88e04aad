//! A frame queued to many WebSocket connections: every connection gets
//! exactly the bytes its own writer would have made of it, and those of
//! one output form share one encoding.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use wire::ws::{self, DeflateParams, Deflater, MessageWriter, OpCode, Role};

use crate::config::Config;
use crate::conn::Conn;
use crate::core_state::CoreState;
use crate::machine::ws::{Endpoint, OutForm, WsConn};
use crate::sys::Token;

/// What a receiver negotiated: its form, and (no context takeover,
/// window bits) if it compresses.
type Kind = (OutForm, Option<(bool, u8)>);

const KINDS: [Kind; 7] = [
    (OutForm::Json, None),
    (OutForm::Json, Some((true, 15))),
    (OutForm::Json, Some((true, 10))),
    (OutForm::Json, Some((false, 15))),
    (OutForm::Binary, None),
    (OutForm::Binary, Some((true, 15))),
    (OutForm::Binary, Some((false, 15))),
];

fn core() -> CoreState {
    crate::core_state::test_core(&Config::default())
}

/// A server writer as the upgrade makes it (level 1, 512-byte threshold:
/// the defaults).
fn writer((_, deflate): Kind) -> MessageWriter {
    let deflater = deflate.map(|(no_takeover, bits)| {
        let p = DeflateParams {
            server_no_context_takeover: no_takeover,
            client_no_context_takeover: true,
            server_max_window_bits: bits,
            client_max_window_bits: 15,
        };
        Deflater::new(&p, Role::Server, 1, 512)
    });
    MessageWriter::new(Role::Server, deflater)
}

fn open_conn(core: &mut CoreState, kind: Kind) -> Token {
    let mut conn = Conn::new(1 << 20, 0);
    let limits = ws::ReaderLimits {
        max_frame: 1 << 20,
        max_message: 1 << 20,
    };
    conn.set_ws(Some(Box::new(WsConn::opened(
        Endpoint::Envelope { out: kind.0 },
        ws::MessageReader::new(Role::Server, limits, None),
        writer(kind),
    ))));
    core.core_mut().conns_mut().insert(conn)
}

/// A DELIVER to a topic with a compressible body of `n` bytes.
fn deliver(core: &mut CoreState, n: usize) -> Bytes {
    let body: Vec<u8> = b"fan-out body, the same for everyone; "
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect();
    let d = wire::Deliver {
        sender: "publisher",
        target: wire::Target {
            kind: wire::TargetKind::Topic,
            id: "news",
        },
        body: &body,
    };
    let h = wire::FrameHeader::new(wire::FrameType::Deliver, 0);
    core.core_mut()
        .scratch()
        .encode_frame(|enc, out| enc.deliver(out, h, &d))
}

/// What a connection of `kind` gets for `frame`, written by `w` alone.
fn per_connection(w: &mut MessageWriter, kind: Kind, frame: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    match kind.0 {
        OutForm::Json => {
            let mut json = Vec::new();
            wire::json::frame_to_json(frame, &mut json).expect("a valid frame");
            w.write_message(&mut out, OpCode::Text, &json);
        }
        OutForm::Binary if w.compresses() => w.write_message(&mut out, OpCode::Binary, frame),
        OutForm::Binary => {
            let mut h = [0u8; ws::MAX_HEADER_LEN];
            let n = ws::encode_header(
                &mut h,
                true,
                false,
                OpCode::Binary,
                frame.len() as u64,
                None,
            );
            out.extend_from_slice(&h[..n]);
            out.extend_from_slice(frame);
        }
    }
    out.to_vec()
}

/// Takes what was queued to `token`, one `Bytes` per entry.
fn drain(core: &mut CoreState, token: Token) -> Vec<Bytes> {
    let conn = core.core_mut().conns_mut().get_mut(token).expect("open");
    std::iter::from_fn(|| conn.pop_queued()).collect()
}

#[test]
fn every_receiver_gets_its_own_writers_bytes_from_one_encoding_per_form() {
    let mut core = core();
    // Two receivers of each kind, interleaved as a topic's members are.
    let tokens: Vec<(Kind, Token)> = KINDS
        .iter()
        .chain(KINDS.iter())
        .map(|&k| (k, open_conn(&mut core, k)))
        .collect();
    let mut reference: Vec<MessageWriter> = tokens.iter().map(|(k, _)| writer(*k)).collect();
    // Large, again large (context takeover would now shrink it), small.
    for n in [4000, 4000, 100] {
        let frame = deliver(&mut core, n);
        for &(_, t) in &tokens {
            core.core_mut()
                .queue_in(t, crate::mesh::Lane::Normal, frame.clone());
        }
        core.core_mut().scratch().end_shared_forms();
        let mut first_of_kind: Vec<(Kind, Bytes)> = Vec::new();
        for (i, &(kind, t)) in tokens.iter().enumerate() {
            let queued = drain(&mut core, t);
            let got: Vec<u8> = queued.iter().flat_map(|b| b.iter().copied()).collect();
            let want = per_connection(&mut reference[i], kind, &frame);
            assert_eq!(got, want, "{kind:?}, {n}-byte body");
            let shareable = kind.1.is_none_or(|(no_takeover, _)| no_takeover);
            match first_of_kind.iter().find(|(k, _)| *k == kind) {
                // The same memory, not an equal copy.
                Some((_, first)) => {
                    assert_eq!(first.as_ptr() == queued[0].as_ptr(), shareable, "{kind:?}")
                }
                None => first_of_kind.push((kind, queued[0].clone())),
            }
        }
    }
    // Per frame, the second receiver of each of the 5 shareable kinds.
    let shared = core
        .core_mut()
        .stats()
        .ws_messages_shared_total
        .load(Ordering::Relaxed);
    assert_eq!(shared, 3 * 5);
    assert_eq!(core.core_mut().scratch().shared_forms_len(), 0);
}

#[test]
fn forms_of_another_frame_are_never_served() {
    let mut core = core();
    let t1 = open_conn(&mut core, KINDS[1]);
    let t2 = open_conn(&mut core, KINDS[1]);
    let a = deliver(&mut core, 3000);
    let b = deliver(&mut core, 3000);
    core.core_mut()
        .queue_in(t1, crate::mesh::Lane::Normal, a.clone());
    // No end() between: a different frame must not hit a's forms.
    core.core_mut()
        .queue_in(t2, crate::mesh::Lane::Normal, b.clone());
    let mut w = writer(KINDS[1]);
    let got: Vec<u8> = drain(&mut core, t2).concat();
    assert_eq!(got, per_connection(&mut w, KINDS[1], &b));
    assert_eq!(
        core.core_mut()
            .stats()
            .ws_messages_shared_total
            .load(Ordering::Relaxed),
        0
    );
}
