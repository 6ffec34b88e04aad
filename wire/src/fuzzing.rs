//! Fuzz bodies (placeholder until the stream fuzzer lands).
#![doc(hidden)]

/// Feeds `data` to a decoder in several splits; never panics.
pub fn decode_stream(_data: &[u8]) {}
