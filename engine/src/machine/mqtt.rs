//! The mqtt machine (being built: see docs/architecture.md).
