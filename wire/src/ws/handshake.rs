//! The server side of the opening handshake (RFC 6455 §4.2): parse the
//! upgrade request, answer 101 or an HTTP error.
//!
//! Status choices: a request with no `Upgrade` header at all is a plain
//! HTTP request to a WebSocket endpoint and gets 426 Upgrade Required
//! (with `Upgrade: websocket`); a present but wrong `Upgrade`, a missing
//! `upgrade` token in `Connection`, a missing `Host`, HTTP/1.0, or a bad
//! key gets 400; a missing or wrong version gets 426 with
//! `Sec-WebSocket-Version: 13`; any method but GET gets 405 with
//! `Allow: GET`; a request over the size or header limits gets 431.
//! Whether the path exists (404) is the engine's decision.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::deflate::DeflateParams;

mod headers;

pub(crate) use headers::{find_unique, has_token, joined as headers_joined, HEADERS_CAP};

/// RFC 6455's magic GUID, appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Bounds on a handshake; a request over them gets 431.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Largest request head, request line to blank line (e.g. 8192).
    pub max_request_bytes: usize,
    /// Most header lines (e.g. 32; at most 64 are ever parsed).
    pub max_headers: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            max_request_bytes: 8192,
            max_headers: 32,
        }
    }
}

/// A valid upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    /// Bytes of the request head; what follows is WebSocket frames.
    pub consumed: usize,
    /// The request target, as sent.
    pub path: String,
    /// The `Sec-WebSocket-Accept` value to answer with.
    pub accept: String,
    /// Subprotocols offered, in the client's order.
    pub protocols: Vec<String>,
    /// The `Origin` header, for the engine's policy.
    pub origin: Option<String>,
    /// Every `Sec-WebSocket-Extensions` value, joined with ", ".
    pub extensions: Option<String>,
}

/// The handshake failed; answer with `status` and close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// HTTP status. On the client side: the server's status (101 when the
    /// 101 response itself was unacceptable).
    pub status: u16,
    /// For logs and the response body.
    pub reason: &'static str,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "handshake failed ({}): {}", self.status, self.reason)
    }
}

impl std::error::Error for HandshakeError {}

const fn err(status: u16, reason: &'static str) -> HandshakeError {
    HandshakeError { status, reason }
}

impl HandshakeError {
    /// Appends the whole HTTP/1.1 error response (the connection closes).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let phrase = match self.status {
            400 => "Bad Request",
            405 => "Method Not Allowed",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let extra = match self.status {
            405 => "Allow: GET\r\n",
            426 => "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            _ => "",
        };
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {phrase}\r\nConnection: close\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{extra}\r\n{}\n",
                self.status,
                self.reason.len() + 1,
                self.reason
            )
            .as_bytes(),
        );
    }
}

/// `base64(sha1(key + GUID))`, the `Sec-WebSocket-Accept` value.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Parses an upgrade request from the front of `buf`. `Ok(None)`: the
/// head is incomplete, feed more bytes.
pub fn parse_upgrade(
    buf: &[u8],
    limits: &HandshakeLimits,
) -> Result<Option<Upgrade>, HandshakeError> {
    let too_large = err(431, "request head too large");
    let mut storage = [httparse::EMPTY_HEADER; HEADERS_CAP];
    let mut req = httparse::Request::new(&mut storage[..limits.max_headers.min(HEADERS_CAP)]);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= limits.max_request_bytes => n,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_request_bytes => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(_) => return Err(err(400, "malformed HTTP request")),
    };
    if req.method != Some("GET") {
        return Err(err(405, "method not allowed"));
    }
    if req.version != Some(1) {
        return Err(err(400, "HTTP/1.1 required"));
    }
    let h = req.headers;
    find_unique(h, "host")?.ok_or(err(400, "missing Host"))?;
    match find_unique(h, "upgrade")? {
        None => return Err(err(426, "WebSocket upgrade required")),
        Some(v) if !has_token(v, "websocket") => return Err(err(400, "Upgrade is not websocket")),
        Some(_) => {}
    }
    if !h
        .iter()
        .any(|x| x.name.eq_ignore_ascii_case("connection") && has_token(x.value, "upgrade"))
    {
        return Err(err(400, "Connection lacks upgrade"));
    }
    if find_unique(h, "sec-websocket-version")?.map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(err(426, "unsupported WebSocket version"));
    }
    let key = find_unique(h, "sec-websocket-key")?.ok_or(err(400, "missing Sec-WebSocket-Key"))?;
    let key =
        std::str::from_utf8(key.trim_ascii()).map_err(|_| err(400, "bad Sec-WebSocket-Key"))?;
    if STANDARD.decode(key).map(|k| k.len()) != Ok(16) {
        return Err(err(400, "Sec-WebSocket-Key is not 16 bytes of base64"));
    }
    Ok(Some(Upgrade {
        consumed,
        path: req.path.unwrap_or("/").to_owned(),
        accept: accept_key(key),
        protocols: headers::list(h, "sec-websocket-protocol")?,
        origin: find_unique(h, "origin")?.map(|v| String::from_utf8_lossy(v).into_owned()),
        extensions: headers::joined(h, "sec-websocket-extensions")?,
    }))
}

/// Appends the 101 Switching Protocols response.
pub fn write_accept(
    out: &mut Vec<u8>,
    accept: &str,
    protocol: Option<&str>,
    extension: Option<&DeflateParams>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    out.extend_from_slice(format!("Sec-WebSocket-Accept: {accept}\r\n").as_bytes());
    if let Some(p) = protocol {
        out.extend_from_slice(format!("Sec-WebSocket-Protocol: {p}\r\n").as_bytes());
    }
    if let Some(params) = extension {
        out.extend_from_slice(
            format!("Sec-WebSocket-Extensions: {}\r\n", params.header_value()).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
}
