//! Property tests: writer to reader in both directions, with and without
//! deflate, split anywhere; hand-fragmented messages; the UTF-8 validator
//! against `std::str::from_utf8`.

use bytes::BytesMut;
use proptest::prelude::*;
use wire::ws::{
    DeflateParams, Deflater, Inflater, MessageReader, MessageWriter, OpCode, Role, Utf8Validator,
};

use crate::ws_vectors::{raw, read, Ev, LIMITS, PARAMS};

fn message() -> impl Strategy<Value = Ev> {
    prop_oneof![
        ".{0,200}".prop_map(Ev::Text),
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(Ev::Binary),
        proptest::collection::vec(0u8..4, 0..3000).prop_map(Ev::Binary),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Ev::Ping),
    ]
}

/// Cuts `bytes` at the given fractions.
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([bytes.len()]) {
        out.push(&bytes[prev..a]);
        prev = a;
    }
    out
}

fn round_trip(
    sender: Role,
    deflate: Option<DeflateParams>,
    msgs: &[Ev],
    cuts: &[usize],
    seed: u64,
) {
    let receiver = if sender == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let mut w = MessageWriter::new(sender, deflate.map(|p| Deflater::new(&p, sender, 6, 16)))
        .with_mask_seed(seed);
    let mut r = MessageReader::new(
        receiver,
        LIMITS,
        deflate.map(|p| Inflater::new(&p, receiver, 1 << 20)),
    );
    let mut out = BytesMut::new();
    for m in msgs {
        match m {
            Ev::Text(t) => w.write_message(&mut out, OpCode::Text, t.as_bytes()),
            Ev::Binary(b) => w.write_message(&mut out, OpCode::Binary, b),
            Ev::Ping(b) => w.write_control(&mut out, OpCode::Ping, b),
            _ => unreachable!(),
        }
    }
    let (ev, res) = read(&mut r, &split(&out, cuts));
    assert_eq!(res, Ok(()));
    assert_eq!(ev, msgs);
    assert_eq!(r.buffered_len(), 0);
}

const NO_TAKEOVER: DeflateParams = DeflateParams {
    server_no_context_takeover: true,
    client_no_context_takeover: true,
    server_max_window_bits: 9,
    client_max_window_bits: 10,
};

proptest! {
    #[test]
    fn client_to_server(msgs in proptest::collection::vec(message(), 0..8),
                        cuts in proptest::collection::vec(any::<usize>(), 0..6), seed: u64) {
        round_trip(Role::Client, None, &msgs, &cuts, seed);
        round_trip(Role::Client, Some(PARAMS), &msgs, &cuts, seed);
        round_trip(Role::Client, Some(NO_TAKEOVER), &msgs, &cuts, seed);
    }

    #[test]
    fn server_to_client(msgs in proptest::collection::vec(message(), 0..8),
                        cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        round_trip(Role::Server, None, &msgs, &cuts, 1);
        round_trip(Role::Server, Some(PARAMS), &msgs, &cuts, 1);
        round_trip(Role::Server, Some(NO_TAKEOVER), &msgs, &cuts, 1);
    }

    /// A text message cut into fragments with pings between them.
    #[test]
    fn fragmented_text(text in ".{0,100}", frag_cuts in proptest::collection::vec(any::<usize>(), 0..5),
                       cuts in proptest::collection::vec(any::<usize>(), 0..6), mask: [u8; 4]) {
        let parts = split(text.as_bytes(), &frag_cuts);
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let op = if i == 0 { 0x01 } else { 0x00 };
            let fin = if i + 1 == parts.len() { 0x80 } else { 0 };
            bytes.extend(raw(fin | op, part, Some(mask)));
            if fin == 0 {
                bytes.extend(raw(0x89, &[i as u8], Some(mask)));
                want.push(Ev::Ping(vec![i as u8]));
            }
        }
        want.push(Ev::Text(text.clone()));
        let mut r = MessageReader::new(Role::Server, LIMITS, None);
        let (ev, res) = read(&mut r, &split(&bytes, &cuts));
        prop_assert_eq!(res, Ok(()));
        prop_assert_eq!(ev, want);
    }

    /// Valid iff std says so; fails on the first piece after which std
    /// already sees an error (not just an unfinished character).
    #[test]
    fn utf8_matches_std(bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            ".{0,20}".prop_map(String::into_bytes),
            (".{0,10}", any::<u8>(), ".{0,10}").prop_map(|(a, b, c)| [a.as_bytes(), &[b], c.as_bytes()].concat()),
        ],
        cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut v = Utf8Validator::new();
        let mut seen = 0;
        let mut failed_at = None;
        for piece in split(&bytes, &cuts) {
            seen += piece.len();
            if v.feed(piece).is_err() {
                failed_at = Some(seen);
                break;
            }
            let std_err = std::str::from_utf8(&bytes[..seen]).err().and_then(|e| e.error_len());
            prop_assert!(std_err.is_none(), "std saw the error by {}", seen);
        }
        let valid = failed_at.is_none() && v.finish().is_ok();
        prop_assert_eq!(valid, std::str::from_utf8(&bytes).is_ok());
        if let Some(at) = failed_at {
            let e = std::str::from_utf8(&bytes[..at]).unwrap_err();
            prop_assert!(e.error_len().is_some());
        }
    }
}
