//! Encode -> decode round trips, whole and split anywhere.

use bytes::BytesMut;
use proptest::prelude::*;
use wire::{Control, Encoder, FrameDecoder, FrameHeader, HEADER_LEN};

use crate::model::{header, msg, Msg};

/// Decodes `stream` fed in pieces cut at `cuts` (sorted, deduplicated).
fn decode_split(stream: &[u8], cuts: &[usize]) -> Vec<(FrameHeader, Msg)> {
    let mut decoder = FrameDecoder::new(1 << 20);
    let mut seen = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        decoder
            .feed(&stream[start..end], |f| {
                let m = Msg::decode(f.header.frame_type, f.payload).expect("payload decodes");
                seen.push((f.header, m));
                Control::Continue
            })
            .expect("stream decodes");
        start = end;
    }
    assert_eq!(decoder.buffered_len(), 0, "whole stream consumed");
    seen
}

proptest! {
    #[test]
    fn every_message_round_trips(m in msg(), h in header()) {
        let mut out = BytesMut::new();
        Encoder::new().encode_one(&m, &mut out, h);
        let got = decode_split(&out, &[]);
        prop_assert_eq!(got.len(), 1);
        let (gh, gm) = &got[0];
        prop_assert_eq!(gh.flags, h.flags);
        prop_assert_eq!(gh.stream_id, h.stream_id);
        prop_assert_eq!(gh.message_id, h.message_id);
        prop_assert_eq!(gh.payload_len as usize, out.len() - HEADER_LEN);
        prop_assert_eq!(gm, &m);
    }

    #[test]
    fn a_stream_split_anywhere_decodes_the_same(
        msgs in proptest::collection::vec((msg(), header()), 1..8),
        cut_seeds in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut enc = Encoder::new();
        let mut stream = BytesMut::new();
        for (m, h) in &msgs {
            enc.encode_one(m, &mut stream, *h);
        }
        let mut cuts: Vec<usize> = cut_seeds.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let got = decode_split(&stream, &cuts);
        let want: Vec<&Msg> = msgs.iter().map(|(m, _)| m).collect();
        let got_msgs: Vec<&Msg> = got.iter().map(|(_, m)| m).collect();
        prop_assert_eq!(got_msgs, want);
        for ((gh, _), (_, h)) in got.iter().zip(&msgs) {
            prop_assert_eq!(gh.message_id, h.message_id);
        }
    }

    #[test]
    fn a_reused_encoder_writes_the_same_bytes_as_a_fresh_one(
        first in msg(), m in msg(), h in header(),
    ) {
        let mut used = Encoder::new();
        let mut scratch = BytesMut::new();
        used.encode_one(&first, &mut scratch, h);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        used.encode_one(&m, &mut a, h);
        Encoder::new().encode_one(&m, &mut b, h);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn a_corrupted_stream_never_panics(
        msgs in proptest::collection::vec((msg(), header()), 1..4),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut enc = Encoder::new();
        let mut stream = BytesMut::new();
        for (m, h) in &msgs {
            enc.encode_one(m, &mut stream, *h);
        }
        for (at, xor) in flips {
            // Past the first header, so most flips land in payloads.
            let i = HEADER_LEN.min(stream.len() - 1) + at.index(stream.len() - HEADER_LEN.min(stream.len() - 1));
            stream[i] ^= xor;
        }
        wire::fuzzing::decode_stream(&stream);
    }

    #[test]
    fn the_fuzz_body_accepts_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        wire::fuzzing::decode_stream(&data);
    }
}

/// Lets the tests above say `enc.encode_one(..)`.
trait EncodeOne {
    fn encode_one(&mut self, m: &Msg, out: &mut BytesMut, h: FrameHeader);
}

impl EncodeOne for Encoder {
    fn encode_one(&mut self, m: &Msg, out: &mut BytesMut, h: FrameHeader) {
        m.encode(self, out, h);
    }
}

fn target_kind() -> impl Strategy<Value = wire::TargetKind> {
    prop_oneof![
        Just(wire::TargetKind::User),
        Just(wire::TargetKind::Connection),
        Just(wire::TargetKind::Conversation),
        Just(wire::TargetKind::Topic),
    ]
}

proptest! {
    /// The hand-laid DELIVER writer must produce the builder's bytes, for
    /// every length (padding differs with each length modulo 4).
    #[test]
    fn fast_deliver_is_byte_identical_to_the_builder(
        sender in ".{0,40}",
        id in ".{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        kind in target_kind(),
        h in header(),
    ) {
        let m = wire::Deliver {
            sender: &sender,
            target: wire::Target { kind, id: &id },
            body: &body,
        };
        let mut enc = Encoder::new();
        let (mut fast, mut slow) = (BytesMut::new(), BytesMut::new());
        // Twice each: a reused encoder must not carry state over.
        for _ in 0..2 {
            fast.clear();
            slow.clear();
            enc.deliver(&mut fast, h, &m);
            enc.deliver_with_builder(&mut slow, h, &m);
            prop_assert_eq!(&fast[..], &slow[..]);
        }
    }
}
