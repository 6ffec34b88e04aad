//! Errors a decoder reports, and the numbered codes carried in ERROR frames.

use std::fmt;

/// Numbered error codes carried in ERROR frames (and CLOSE frames).
///
/// The numbers are part of the protocol (`docs/wire-protocol.md`); never
/// renumber a variant.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// The frame header or payload is malformed.
    BadFrame = 1,
    /// The frame's payload is longer than the receiver's maximum.
    TooLarge = 2,
    /// The protocol version is not supported.
    UnsupportedVersion = 3,
    /// HELLO is missing, repeated, or its credentials were refused.
    Unauthorized = 4,
    /// The target of a SEND has no live connection.
    NoSuchTarget = 5,
    /// The server cannot take the message now; retry later.
    Overload = 6,
    /// A frame type that is not valid in the current state.
    UnexpectedFrame = 7,
    /// The server is shutting down.
    GoingAway = 8,
    /// The connection was idle past its keep-alive.
    IdleTimeout = 9,
    /// An error inside the server.
    Internal = 10,
}

impl ErrorCode {
    /// Maps a code number read from the wire; unknown numbers give `None`.
    pub fn from_u16(n: u16) -> Option<Self> {
        use ErrorCode::*;
        Some(match n {
            1 => BadFrame,
            2 => TooLarge,
            3 => UnsupportedVersion,
            4 => Unauthorized,
            5 => NoSuchTarget,
            6 => Overload,
            7 => UnexpectedFrame,
            8 => GoingAway,
            9 => IdleTimeout,
            10 => Internal,
            _ => return None,
        })
    }

    /// A short lowercase name, used in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadFrame => "bad_frame",
            TooLarge => "too_large",
            UnsupportedVersion => "unsupported_version",
            Unauthorized => "unauthorized",
            NoSuchTarget => "no_such_target",
            Overload => "overload",
            UnexpectedFrame => "unexpected_frame",
            GoingAway => "going_away",
            IdleTimeout => "idle_timeout",
            Internal => "internal",
        }
    }
}

/// Why a byte stream could not be decoded. After any of these the stream
/// is unusable: the peer gets an ERROR frame with [`WireError::code`] and
/// the connection closes.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The first two bytes of a header are not the magic `SB`.
    BadMagic([u8; 2]),
    /// The header names a protocol version this decoder does not speak.
    UnsupportedVersion(u8),
    /// The header's frame type byte is not a known frame type.
    UnknownFrameType(u8),
    /// Flag bits that v1 reserves are set.
    ReservedFlags(u16),
    /// The reserved header bytes are not zero.
    ReservedBytes(u16),
    /// The payload length exceeds the configured maximum.
    TooLarge {
        /// Length announced by the header.
        len: u32,
        /// Largest payload this decoder accepts.
        max: u32,
    },
    /// A payload that should hold a FlatBuffers table does not verify.
    BadEnvelope(&'static str),
}

impl WireError {
    /// The ERROR frame code the peer is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            WireError::TooLarge { .. } => ErrorCode::TooLarge,
            _ => ErrorCode::BadFrame,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadMagic(m) => write!(f, "bad magic {:02x}{:02x}", m[0], m[1]),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            WireError::UnknownFrameType(t) => write!(f, "unknown frame type {t}"),
            WireError::ReservedFlags(b) => write!(f, "reserved flag bits set: {b:#06x}"),
            WireError::ReservedBytes(b) => write!(f, "reserved header bytes not zero: {b:#06x}"),
            WireError::TooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds maximum {max}")
            }
            WireError::BadEnvelope(why) => write!(f, "bad envelope: {why}"),
        }
    }
}

impl std::error::Error for WireError {}
