//! The wire machine (being built: see docs/architecture.md).
