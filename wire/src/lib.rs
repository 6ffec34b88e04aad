//! Sans-IO codecs shared by the Switchboard engine and its load generator.
//!
//! No sockets, no clocks, no threads: bytes go in, frames and events come
//! out. The engine's reactor and the load generator drive the same code.
#![forbid(unsafe_code)]

pub mod error;
pub mod frame;

pub use error::{ErrorCode, WireError};
pub use frame::{Flags, Frame, FrameDecoder, FrameHeader, FrameType, HEADER_LEN, MAGIC, VERSION};
