//! The `wire` crate's integration tests, one binary with a module per
//! concern.

mod corpus;
mod json;
mod model;
mod roundtrip;
mod vectors;
