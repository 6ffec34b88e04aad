//! The client side of the opening handshake (RFC 6455 §4.1), used by the
//! load generator: write the upgrade request, check the 101 response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::deflate::{accept_response, offer_value, DeflateConfig, DeflateParams};
use super::handshake::{
    accept_key, find_unique, has_token, HandshakeError, HandshakeLimits, HEADERS_CAP,
};

/// What the server agreed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHandshake {
    /// Bytes of the response head; what follows is WebSocket frames.
    pub consumed: usize,
    /// The subprotocol the server picked (the caller checks it was
    /// offered).
    pub protocol: Option<String>,
    /// permessage-deflate parameters, if the server accepted the offer.
    pub deflate: Option<DeflateParams>,
}

/// A `Sec-WebSocket-Key` from 16 caller-chosen bytes (`wire` has no
/// randomness source).
pub fn key_from_bytes(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

/// Appends the upgrade request.
pub fn write_request(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    key: &str,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) {
    out.extend_from_slice(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        .as_bytes(),
    );
    if !protocols.is_empty() {
        out.extend_from_slice(
            format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(", ")).as_bytes(),
        );
    }
    if let Some(cfg) = deflate.filter(|c| c.enabled) {
        out.extend_from_slice(
            format!("Sec-WebSocket-Extensions: {}\r\n", offer_value(cfg)).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// Parses the server's response to a request sent with `key` and the
/// `deflate` offer. `Ok(None)`: incomplete, feed more bytes.
pub fn parse_response(
    buf: &[u8],
    key: &str,
    deflate: Option<&DeflateConfig>,
    limits: &HandshakeLimits,
) -> Result<Option<ClientHandshake>, HandshakeError> {
    let bad = |reason| HandshakeError {
        status: 101,
        reason,
    };
    let mut storage = [httparse::EMPTY_HEADER; HEADERS_CAP];
    let mut res = httparse::Response::new(&mut storage[..limits.max_headers.min(HEADERS_CAP)]);
    let consumed = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= limits.max_request_bytes => n,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_request_bytes => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError {
                status: 431,
                reason: "response head too large",
            })
        }
        Err(_) => {
            return Err(HandshakeError {
                status: 400,
                reason: "malformed HTTP response",
            })
        }
    };
    match res.code {
        Some(101) => {}
        Some(status) => {
            return Err(HandshakeError {
                status,
                reason: "server refused the upgrade",
            })
        }
        None => return Err(bad("response without a status")),
    }
    let h = res.headers;
    if !find_unique(h, "upgrade")?.is_some_and(|v| has_token(v, "websocket")) {
        return Err(bad("Upgrade is not websocket"));
    }
    if !h
        .iter()
        .any(|x| x.name.eq_ignore_ascii_case("connection") && has_token(x.value, "upgrade"))
    {
        return Err(bad("Connection lacks upgrade"));
    }
    let accept =
        find_unique(h, "sec-websocket-accept")?.ok_or(bad("missing Sec-WebSocket-Accept"))?;
    if accept.trim_ascii() != accept_key(key).as_bytes() {
        return Err(bad("wrong Sec-WebSocket-Accept"));
    }
    let protocol = match find_unique(h, "sec-websocket-protocol")? {
        Some(v) => Some(
            std::str::from_utf8(v.trim_ascii())
                .map_err(|_| bad("protocol is not UTF-8"))?
                .to_owned(),
        ),
        None => None,
    };
    let deflate = match super::handshake::headers_joined(h, "sec-websocket-extensions")? {
        None => None,
        Some(value) => {
            let cfg = deflate.ok_or(bad("server enabled an extension we did not offer"))?;
            Some(accept_response(&value, cfg)?)
        }
    };
    Ok(Some(ClientHandshake {
        consumed,
        protocol,
        deflate,
    }))
}
