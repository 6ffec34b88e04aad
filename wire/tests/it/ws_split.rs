//! Split invariance: what a reader hands out (events, and the close code
//! it fails with) depends on the byte stream only, never on how TCP cut
//! it into reads. Streams mix valid messages, compressed ones from a
//! peer that ignores the agreed window, raw frames with any header bits,
//! garbage and flipped bytes.

use bytes::BytesMut;
use proptest::prelude::*;
use wire::ws::{DeflateParams, Deflater, Inflater, MessageReader, MessageWriter, OpCode, Role};
use wire::Control;

use crate::ws_vectors::{raw, Ev, LIMITS, PARAMS};

/// What a reader made of a stream: its events, then its close code if it
/// failed.
type Outcome = (Vec<Ev>, Option<u16>);

/// The windows a reader may have agreed: none, the smallest without
/// context takeover, the smallest and the largest with it.
fn agreed(which: u8) -> Option<DeflateParams> {
    let bits = |b| DeflateParams {
        server_no_context_takeover: which == 1,
        client_no_context_takeover: which == 1,
        server_max_window_bits: b,
        client_max_window_bits: b,
    };
    match which % 4 {
        0 => None,
        1 | 2 => Some(bits(9)),
        _ => Some(PARAMS),
    }
}

fn opposite(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

/// Feeds `chunks` to a fresh reader for `role` under `params`.
fn outcome(role: Role, params: Option<DeflateParams>, chunks: &[&[u8]]) -> Outcome {
    let inflater = params.map(|p| Inflater::new(&p, role, LIMITS.max_message));
    let mut reader = MessageReader::new(role, LIMITS, inflater);
    let mut events = Vec::new();
    for chunk in chunks {
        let result = reader.feed(chunk, |e| {
            events.push(Ev::of(e));
            Control::Continue
        });
        if let Err(e) = result {
            return (events, Some(e.code));
        }
    }
    (events, None)
}

/// The stream whole, cut at `cuts` (taken modulo its length) and byte by
/// byte: all three must read the same. Returns the whole read.
fn same_in_every_split(
    role: Role,
    params: Option<DeflateParams>,
    bytes: &[u8],
    cuts: &[usize],
) -> Outcome {
    let whole = outcome(role, params, &[bytes]);
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[prev..a]);
        prev = a;
    }
    assert_eq!(outcome(role, params, &chunks), whole, "cut at {cuts:?}");
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(outcome(role, params, &bytewise), whole, "byte by byte");
    whole
}

/// Text that repeats itself 1,000 bytes back: a 15-bit compressor refers
/// to the first copy from the second, which a 9-bit (512-byte) window
/// does not reach.
fn far_repeating_text() -> String {
    let unit: String = (0..1000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    unit.repeat(3)
}

/// The minimized fuzz input of issue 10, and the case behind it: a peer
/// that agreed to 9 window bits but compresses with 15. Such a message
/// read whole was accepted, and read byte by byte failed with 1007
/// ("compressed data is corrupt"), because zlib checks a distance against
/// its window plus what the current call produced. The reader now always
/// inflates with a 15-bit window and accepts it in every split.
#[test]
fn a_peer_over_its_agreed_window_reads_the_same_in_any_split() {
    let text = far_repeating_text();
    let mut writer = MessageWriter::new(
        Role::Client,
        Some(Deflater::new(&PARAMS, Role::Client, 6, 0)),
    );
    let mut bytes = BytesMut::new();
    writer.write_message(&mut bytes, OpCode::Text, text.as_bytes());
    assert!(bytes.len() < 1500, "the second copy was compressed away");
    for which in [1, 2] {
        let got = same_in_every_split(Role::Server, agreed(which), &bytes, &[7, 100, 101]);
        assert_eq!(got, (vec![Ev::Text(text.clone())], None));
    }
}

/// One piece of a generated stream.
#[derive(Clone, Debug)]
enum Piece {
    /// A message (text when true) from a writer of the opposite role.
    Message(bool, Vec<u8>),
    /// A frame with any first byte, masked or not.
    Raw(u8, Vec<u8>, Option<[u8; 4]>),
    /// Bytes with no structure at all.
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let text = prop_oneof![
        ".{0,60}".prop_map(String::into_bytes),
        (0usize..3000).prop_map(|n| far_repeating_text().into_bytes()[..n].to_vec()),
    ];
    prop_oneof![
        4 => (any::<bool>(), text).prop_map(|(t, b)| Piece::Message(t, b)),
        2 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200), any::<Option<[u8; 4]>>())
            .prop_map(|(b0, p, m)| Piece::Raw(b0, p, m)),
        1 => proptest::collection::vec(any::<u8>(), 0..16).prop_map(Piece::Garbage),
    ]
}

/// Writes the pieces as the peer of `role` would (compressing, when
/// `compress`, with a 15-bit window whatever was agreed), then flips the
/// bytes at `flips` (positions modulo the length).
fn stream(role: Role, compress: bool, pieces: &[Piece], flips: &[(usize, u8)]) -> Vec<u8> {
    let peer = opposite(role);
    let deflater = compress.then(|| Deflater::new(&PARAMS, peer, 6, 0));
    let mut writer = MessageWriter::new(peer, deflater).with_mask_seed(7);
    let mut out = BytesMut::new();
    for p in pieces {
        match p {
            // The strategy's bytes are UTF-8 (ASCII or `.{0,60}`).
            Piece::Message(true, b) => writer.write_message(&mut out, OpCode::Text, b),
            Piece::Message(false, b) => writer.write_message(&mut out, OpCode::Binary, b),
            Piece::Raw(b0, payload, mask) => out.extend_from_slice(&raw(*b0, payload, *mask)),
            Piece::Garbage(b) => out.extend_from_slice(b),
        }
    }
    let mut bytes = out.to_vec();
    if !bytes.is_empty() {
        let len = bytes.len();
        for &(at, x) in flips {
            bytes[at % len] ^= x;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn events_and_errors_do_not_depend_on_the_split(
        server: bool,
        which in 0u8..4,
        pieces in proptest::collection::vec(piece(), 0..6),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let params = agreed(which);
        let bytes = stream(role, params.is_some(), &pieces, &flips);
        same_in_every_split(role, params, &bytes, &cuts);
    }
}
