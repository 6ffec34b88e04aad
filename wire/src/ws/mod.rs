//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692), sans-IO, for
//! both roles: the engine is the server, the load generator the client.
//!
//! - [`handshake`] / [`client`]: the HTTP upgrade, each side.
//! - [`frame`]: header layout, opcodes, masking.
//! - [`reader`]: [`MessageReader`], bytes in, messages and control frames
//!   out, enforcing every RFC 6455 rule that can fail a connection.
//! - [`writer`]: [`MessageWriter`], one frame per message out.
//! - [`deflate`]: negotiation and the zlib contexts, created lazily and
//!   dropped after each message where no context takeover was agreed.
//! - [`utf8`]: incremental, fail-fast UTF-8 validation.
//! - [`close`]: close codes and close payloads.
//!
//! Not here: timers (ping intervals, close timeouts), the closing
//! handshake's sequencing, and routing by path or subprotocol; those are
//! the engine's.

pub mod client;
pub mod close;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod reader;
pub mod utf8;
pub mod writer;

pub use client::{key_from_bytes, parse_response, write_request, ClientHandshake};
pub use deflate::{
    accept_response, negotiate, DeflateConfig, DeflateKey, DeflateParams, Deflater, Inflater,
};
pub use frame::{apply_mask, encode_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use handshake::{
    accept_key, parse_upgrade, write_accept, HandshakeError, HandshakeLimits, Upgrade,
};
pub use reader::{MessageReader, ReaderLimits, Role, WsError, WsEvent};
pub use utf8::Utf8Validator;
pub use writer::{MessageWriter, OutputKey};
