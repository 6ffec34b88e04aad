//! The ws machine (being built: see docs/architecture.md).
