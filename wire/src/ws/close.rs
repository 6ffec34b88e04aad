//! Close frame payloads (RFC 6455 §5.5.1, §7.4): which status codes may
//! appear on the wire, and parsing/encoding of `code + reason`.

use super::frame::MAX_CONTROL_PAYLOAD;
use super::reader::WsError;

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A data type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// A text message (or close reason) was not valid UTF-8, or a compressed
/// message did not inflate.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A message violated the endpoint's policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame or message was larger than the endpoint accepts.
pub const TOO_BIG: u16 = 1009;
/// The server had an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// Whether `code` may be sent in a Close frame.
///
/// 1004 is reserved, 1005/1006/1015 are for local reporting only, the
/// rest of 0-2999 is unassigned or reserved for future RFCs, 3000-3999
/// are registered by libraries and 4000-4999 are private. 1012-1014
/// (service restart, try again later, bad gateway) were registered with
/// IANA after RFC 6455; servers send them (we send 1013 under overload),
/// so they are accepted. Autobahn's 7.9.* cases do not test them.
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a received close payload: empty, or a valid code followed by a
/// UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), WsError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(WsError::protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_code(code) {
                return Err(WsError::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| WsError::new(INVALID_PAYLOAD, "close reason is not UTF-8"))?;
            Ok((Some(code), reason))
        }
    }
}

/// Writes a close payload into `out`; returns its length. No code means
/// an empty payload. The reason is cut at a character boundary to fit the
/// 125-byte control frame limit.
pub fn encode_close(out: &mut [u8; MAX_CONTROL_PAYLOAD], code: Option<u16>, reason: &str) -> usize {
    let Some(code) = code else { return 0 };
    out[..2].copy_from_slice(&code.to_be_bytes());
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    2 + end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        let reason = "é".repeat(100);
        let mut out = [0u8; MAX_CONTROL_PAYLOAD];
        let n = encode_close(&mut out, Some(NORMAL), &reason);
        assert_eq!(n, 124);
        assert_eq!(parse_close(&out[..n]).unwrap().1, "é".repeat(61));
    }
}
