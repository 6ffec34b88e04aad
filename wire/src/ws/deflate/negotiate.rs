//! RFC 7692 §7.1: the `permessage-deflate` offer, the server's choice,
//! and the client's check of the server's answer.

use super::{DeflateConfig, DeflateParams};
use crate::ws::handshake::HandshakeError;

const NAME: &str = "permessage-deflate";

/// The parameters of one offer or response, each seen at most once.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// Parses `permessage-deflate; p1; p2=v` (one comma-separated element);
/// `None` if it names another extension or any parameter is unknown,
/// repeated or out of range.
fn parse_element(element: &str) -> Option<Params> {
    let mut parts = element.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut p = Params::default();
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (part, None),
        };
        let name = name.to_ascii_lowercase();
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) if !p.server_no_context_takeover => {
                p.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !p.client_no_context_takeover => {
                p.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if p.server_max_window_bits.is_none() => {
                p.server_max_window_bits = Some(parse_bits(v)?);
            }
            ("client_max_window_bits", v) if p.client_max_window_bits.is_none() => {
                p.client_max_window_bits = Some(match v {
                    Some(v) => Some(parse_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// A value may be a quoted string (RFC 6455 §9.1); the quotes go.
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"'),
        None => Some(v),
    }
}

/// Window bits: exactly "8" to "15", no sign, no leading zero (§7.1.2.1).
fn parse_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Server: accepts the first acceptable offer in `offers` (the joined
/// `Sec-WebSocket-Extensions` values), or `None` to go uncompressed.
///
/// A window limit in `cfg` is applied to the server's own compressor
/// always, and to the client's only if the client said it can limit it
/// (`client_max_window_bits` in its offer); otherwise the client keeps 15.
pub fn negotiate(offers: &str, cfg: &DeflateConfig) -> Option<DeflateParams> {
    if !cfg.enabled {
        return None;
    }
    let server_cap = cfg.server_max_window_bits.clamp(8, 15);
    let client_cap = cfg.client_max_window_bits.clamp(8, 15);
    offers
        .split(',')
        .find_map(parse_element)
        .map(|p| DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover
                || cfg.server_no_context_takeover,
            // Saying yes when the client offered it lets us drop our inflater
            // between messages.
            client_no_context_takeover: p.client_no_context_takeover
                || cfg.client_no_context_takeover,
            server_max_window_bits: p.server_max_window_bits.unwrap_or(15).min(server_cap),
            client_max_window_bits: match p.client_max_window_bits {
                Some(v) => v.unwrap_or(15).min(client_cap),
                None => 15,
            },
        })
}

/// Client: the `Sec-WebSocket-Extensions` value offering `cfg`.
pub fn offer_value(cfg: &DeflateConfig) -> String {
    let mut v = String::from(NAME);
    if cfg.server_no_context_takeover {
        v.push_str("; server_no_context_takeover");
    }
    if cfg.client_no_context_takeover {
        v.push_str("; client_no_context_takeover");
    }
    let server_bits = cfg.server_max_window_bits.clamp(8, 15);
    if server_bits < 15 {
        v.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    match cfg.client_max_window_bits.clamp(8, 15) {
        15 => v.push_str("; client_max_window_bits"),
        bits => v.push_str(&format!("; client_max_window_bits={bits}")),
    }
    v
}

/// Client: checks the server's `Sec-WebSocket-Extensions` answer against
/// the offer `cfg` produced (via [`offer_value`]).
pub fn accept_response(value: &str, cfg: &DeflateConfig) -> Result<DeflateParams, HandshakeError> {
    let fail = |reason| {
        Err(HandshakeError {
            status: 101,
            reason,
        })
    };
    if !cfg.enabled {
        return fail("server enabled an extension we did not offer");
    }
    let mut elements = value.split(',');
    let (Some(element), None) = (elements.next(), elements.next()) else {
        return fail("server answered with several extensions");
    };
    let Some(p) = parse_element(element) else {
        return fail("server's permessage-deflate answer is invalid");
    };
    let server_cap = cfg.server_max_window_bits.clamp(8, 15);
    let server_bits = p.server_max_window_bits.unwrap_or(15);
    if server_bits > server_cap {
        return fail("server ignored our server_max_window_bits");
    }
    if cfg.server_no_context_takeover && !p.server_no_context_takeover {
        return fail("server ignored our server_no_context_takeover");
    }
    let client_bits = match p.client_max_window_bits {
        Some(Some(bits)) => bits,
        Some(None) => return fail("client_max_window_bits without a value"),
        None => 15,
    };
    Ok(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover || cfg.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits.min(cfg.client_max_window_bits.clamp(8, 15)),
    })
}
