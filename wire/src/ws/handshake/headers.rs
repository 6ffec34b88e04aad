//! Header lookups shared by the server and client handshakes.

use super::{err, HandshakeError};

/// The most header lines ever parsed (a stack array of this many).
pub(crate) const HEADERS_CAP: usize = 64;

/// The value of header `name`, failing (400) if it appears twice.
pub(crate) fn find_unique<'a>(
    headers: &[httparse::Header<'a>],
    name: &str,
) -> Result<Option<&'a [u8]>, HandshakeError> {
    let mut found = headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (Some(_), Some(_)) => Err(err(400, "duplicate handshake header")),
        (first, _) => Ok(first.map(|h| h.value)),
    }
}

/// Whether a comma-separated header value contains `token`
/// (case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Every non-empty item of every `name` header, in order.
pub(crate) fn list(
    headers: &[httparse::Header<'_>],
    name: &str,
) -> Result<Vec<String>, HandshakeError> {
    let mut out = Vec::new();
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
        let v = std::str::from_utf8(h.value).map_err(|_| err(400, "header is not UTF-8"))?;
        out.extend(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(out)
}

/// Every `name` header joined with ", ", or `None` if absent.
pub(crate) fn joined(
    headers: &[httparse::Header<'_>],
    name: &str,
) -> Result<Option<String>, HandshakeError> {
    let mut out: Option<String> = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
        let v = std::str::from_utf8(h.value).map_err(|_| err(400, "header is not UTF-8"))?;
        match out.as_mut() {
            Some(s) => {
                s.push_str(", ");
                s.push_str(v.trim());
            }
            None => out = Some(v.trim().to_owned()),
        }
    }
    Ok(out)
}
