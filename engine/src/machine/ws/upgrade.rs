//! The HTTP/1.1 upgrade: read the request (bounded in size; the time
//! bound is the machine's timer), pick the endpoint, subprotocol and
//! compression, answer 101 or an error.

use bytes::Bytes;
use wire::ws::{
    self, HandshakeError, HandshakeLimits, MessageReader, MessageWriter, ReaderLimits, Role,
};

use super::state::{Endpoint, OpenWs, OutForm, WsConn};
use crate::config::WebSocketConfig;

/// Subprotocol of the envelope endpoint with JSON text out.
pub const PROTOCOL_JSON: &str = "switchboard.v1.json";
/// Subprotocol of the envelope endpoint with `wire` binary out.
pub const PROTOCOL_BIN: &str = "switchboard.v1.bin";

/// Headers accepted in an upgrade request.
const MAX_HEADERS: usize = 32;

/// What the upgrade is decided with.
#[derive(Clone, Copy, Debug)]
pub struct UpgradeSettings<'a> {
    cfg: &'a WebSocketConfig,
    mqtt_enabled: bool,
}

impl<'a> UpgradeSettings<'a> {
    /// The `[websocket]` settings; whether the MQTT broker is served (its
    /// endpoint and subprotocol are refused otherwise).
    pub fn new(cfg: &'a WebSocketConfig, mqtt_enabled: bool) -> UpgradeSettings<'a> {
        UpgradeSettings { cfg, mqtt_enabled }
    }
}

/// What the upgrade request's bytes so far decide.
#[derive(Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// Incomplete: the bytes are kept; feed more.
    Pending,
    /// Upgraded (the machine is open): write `response` (the 101) first;
    /// `rest` is what followed the request, already WebSocket frames.
    Accepted {
        /// What the connection speaks now.
        endpoint: Endpoint,
        /// The 101 response.
        response: Bytes,
        /// Bytes read past the request.
        rest: Vec<u8>,
    },
    /// Refused (the machine is closing): write `response`, then close.
    Refused(Bytes),
}

impl WsConn {
    /// Bytes of the upgrade request arrived: decides the upgrade once the
    /// request is complete. Not expecting one: [`Upgrade::Pending`].
    pub fn handle_upgrade(&mut self, data: &[u8], s: UpgradeSettings<'_>) -> Upgrade {
        let limits = HandshakeLimits {
            max_request_bytes: s.cfg.max_request_bytes,
            max_headers: MAX_HEADERS,
        };
        let WsConn::ExpectUpgrade(buf) = self else {
            return Upgrade::Pending;
        };
        // The whole request usually arrives in one read: parse it in place.
        let parsed = if buf.is_empty() {
            ws::parse_upgrade(data, &limits)
        } else {
            buf.extend_from_slice(data);
            ws::parse_upgrade(buf, &limits)
        };
        let up = match parsed {
            Ok(None) => {
                if buf.is_empty() {
                    buf.extend_from_slice(data);
                }
                return Upgrade::Pending;
            }
            Err(e) => return Upgrade::Refused(self.refuse(&e)),
            Ok(Some(up)) => up,
        };
        let source: &[u8] = if buf.is_empty() { data } else { buf };
        let rest = source.get(up.consumed..).unwrap_or_default().to_vec();
        match accept(s, &up) {
            Ok((open, response)) => {
                let endpoint = open.endpoint;
                *self = WsConn::Open(open);
                Upgrade::Accepted {
                    endpoint,
                    response,
                    rest,
                }
            }
            Err(e) => Upgrade::Refused(self.refuse(&e)),
        }
    }

    /// The response refusing an upgrade; nothing more is read.
    pub(super) fn refuse(&mut self, e: &HandshakeError) -> Bytes {
        let mut out = Vec::new();
        e.write_response(&mut out);
        *self = WsConn::Closing(None);
        Bytes::from(out)
    }
}

/// The upgraded state and its 101 response, or why the request is
/// refused.
fn accept(s: UpgradeSettings<'_>, up: &ws::Upgrade) -> Result<(OpenWs, Bytes), HandshakeError> {
    let cfg = s.cfg;
    if let Some(origin) = &up.origin {
        let allowed = &cfg.allowed_origins;
        if !allowed.is_empty() && !allowed.iter().any(|a| a == origin) {
            return Err(status(403, "origin not allowed"));
        }
    }
    let (endpoint, protocol) = endpoint_of(s, up)?;
    let d = &cfg.deflate;
    let params = match (&up.extensions, d.enabled) {
        (Some(offers), true) => ws::negotiate(offers, &deflate_config(cfg)),
        _ => None,
    };
    let mut response = Vec::with_capacity(256);
    ws::write_accept(&mut response, &up.accept, protocol, params.as_ref());
    let limits = ReaderLimits {
        max_frame: cfg.max_frame_bytes,
        max_message: cfg.max_message_bytes,
    };
    let inflater = params
        .as_ref()
        .map(|p| ws::Inflater::new(p, Role::Server, cfg.max_message_bytes));
    let deflater = params
        .as_ref()
        .map(|p| ws::Deflater::new(p, Role::Server, d.level, d.min_compress_bytes));
    let open = OpenWs {
        endpoint,
        reader: Some(MessageReader::new(Role::Server, limits, inflater)),
        writer: MessageWriter::new(Role::Server, deflater),
        ping_sent: false,
    };
    Ok((open, Bytes::from(response)))
}

/// The endpoint the request's path and offered subprotocols choose, and
/// the subprotocol the response names.
fn endpoint_of(
    s: UpgradeSettings<'_>,
    up: &ws::Upgrade,
) -> Result<(Endpoint, Option<&'static str>), HandshakeError> {
    let cfg = s.cfg;
    let path = up.path.split('?').next().unwrap_or_default();
    let offered = |p: &str| up.protocols.iter().any(|o| o == p);
    if path == cfg.path {
        let chosen = if offered(PROTOCOL_JSON) {
            let out = OutForm::Json;
            (Endpoint::Envelope { out }, Some(PROTOCOL_JSON))
        } else if offered(PROTOCOL_BIN) {
            let out = OutForm::Binary;
            (Endpoint::Envelope { out }, Some(PROTOCOL_BIN))
        } else if offered("mqtt") && s.mqtt_enabled {
            // The `mqtt` subprotocol is MQTT on any path.
            (Endpoint::Mqtt, Some("mqtt"))
        } else {
            (Endpoint::Envelope { out: OutForm::Json }, None)
        };
        Ok(chosen)
    } else if cfg.echo && path == cfg.echo_path {
        Ok((Endpoint::Echo, None))
    } else if path == cfg.mqtt_path && s.mqtt_enabled {
        // MQTT §6.0: clients offer `mqtt`; older ones `mqttv3.1`.
        let protocol = ["mqtt", "mqttv3.1"].into_iter().find(|p| offered(p));
        Ok((Endpoint::Mqtt, protocol))
    } else {
        Err(status(404, "no WebSocket endpoint at this path"))
    }
}

pub(super) fn status(status: u16, reason: &'static str) -> HandshakeError {
    HandshakeError { status, reason }
}

/// The codec's view of the `[websocket.deflate]` settings.
pub fn deflate_config(cfg: &WebSocketConfig) -> ws::DeflateConfig {
    let d = &cfg.deflate;
    ws::DeflateConfig {
        enabled: d.enabled,
        server_no_context_takeover: d.server_no_context_takeover,
        client_no_context_takeover: d.client_no_context_takeover,
        server_max_window_bits: d.server_max_window_bits,
        client_max_window_bits: d.client_max_window_bits,
        min_compress_len: d.min_compress_bytes,
        level: d.level,
    }
}
