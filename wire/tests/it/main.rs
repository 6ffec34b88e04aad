//! The `wire` crate's integration tests, one binary with a module per
//! concern.

mod corpus;
mod json;
mod model;
mod mqtt;
mod roundtrip;
mod vectors;
mod ws_corpus;
mod ws_deflate;
mod ws_handshake;
mod ws_output_key;
mod ws_props;
mod ws_split;
mod ws_vectors;
