//! The HTTP/1.1 upgrade: read the request (bounded in size and time),
//! pick the endpoint, subprotocol and compression, answer 101 or an error.

use std::sync::Arc;

use bytes::Bytes;
use wire::ws::{
    self, HandshakeError, HandshakeLimits, MessageReader, MessageWriter, ReaderLimits, Role,
};

use super::{Endpoint, OpenWs, OutForm, WsConn};
use crate::config::WebSocketConfig;
use crate::conn::Phase;
use crate::core_state::CoreState;
use crate::metrics;
use crate::sys::Token;

/// Subprotocol of the envelope endpoint with JSON text out.
pub const PROTOCOL_JSON: &str = "switchboard.v1.json";
/// Subprotocol of the envelope endpoint with `wire` binary out.
pub const PROTOCOL_BIN: &str = "switchboard.v1.bin";

/// Headers accepted in an upgrade request.
const MAX_HEADERS: usize = 32;

impl CoreState {
    /// Bytes of an upgrade request arrived.
    pub(crate) fn on_ws_handshake(&mut self, token: Token, data: &[u8]) {
        let cfg = self.core.settings.websocket.clone();
        let limits = HandshakeLimits {
            max_request_bytes: cfg.max_request_bytes,
            max_headers: MAX_HEADERS,
        };
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        let Some(WsConn::Handshake(buf)) = conn.ws.as_deref_mut() else {
            return;
        };
        // The whole request usually arrives in one read: parse it in place.
        let parsed = if buf.is_empty() {
            ws::parse_upgrade(data, &limits)
        } else {
            buf.extend_from_slice(data);
            ws::parse_upgrade(buf, &limits)
        };
        match parsed {
            Ok(None) => {
                if buf.is_empty() {
                    buf.extend_from_slice(data);
                }
            }
            Err(e) => self.reject_upgrade(token, &e),
            Ok(Some(up)) => {
                let source: &[u8] = if buf.is_empty() { data } else { buf };
                let rest = source.get(up.consumed..).unwrap_or_default().to_vec();
                if let Err(e) = self.accept_upgrade(token, &cfg, &up) {
                    self.reject_upgrade(token, &e);
                    return;
                }
                if !rest.is_empty() {
                    self.on_ws_bytes(token, &rest);
                }
            }
        }
    }

    /// Answers an upgrade that cannot proceed and closes once written.
    pub(crate) fn reject_upgrade(&mut self, token: Token, e: &HandshakeError) {
        metrics::inc(&self.core.stats.ws_handshake_failures_total);
        let mut out = Vec::new();
        e.write_response(&mut out);
        self.core.queue_raw(token, Bytes::from(out));
        self.begin_close(token);
    }

    fn accept_upgrade(
        &mut self,
        token: Token,
        cfg: &Arc<WebSocketConfig>,
        up: &ws::Upgrade,
    ) -> Result<(), HandshakeError> {
        if let Some(origin) = &up.origin {
            let allowed = &cfg.allowed_origins;
            if !allowed.is_empty() && !allowed.iter().any(|a| a == origin) {
                return Err(status(403, "origin not allowed"));
            }
        }
        let path = up.path.split('?').next().unwrap_or_default();
        let (endpoint, protocol) = if path == cfg.path {
            let offered = |p: &str| up.protocols.iter().any(|o| o == p);
            if offered(PROTOCOL_JSON) {
                (
                    Endpoint::Envelope { out: OutForm::Json },
                    Some(PROTOCOL_JSON),
                )
            } else if offered(PROTOCOL_BIN) {
                (
                    Endpoint::Envelope {
                        out: OutForm::Binary,
                    },
                    Some(PROTOCOL_BIN),
                )
            } else if offered("mqtt") && self.mqtt.cfg().enabled {
                // The `mqtt` subprotocol is MQTT on any path.
                (Endpoint::Mqtt, Some("mqtt"))
            } else {
                (Endpoint::Envelope { out: OutForm::Json }, None)
            }
        } else if cfg.echo && path == cfg.echo_path {
            (Endpoint::Echo, None)
        } else if path == cfg.mqtt_path && self.mqtt.cfg().enabled {
            // MQTT §6.0: clients offer `mqtt`; older ones `mqttv3.1`.
            let offered = |p: &str| up.protocols.iter().any(|o| o == p);
            let protocol = ["mqtt", "mqttv3.1"].into_iter().find(|p| offered(p));
            (Endpoint::Mqtt, protocol)
        } else {
            return Err(status(404, "no WebSocket endpoint at this path"));
        };
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
            close_sent: false,
            ping_sent: false,
        };
        let clock = self.core.conn_clock();
        let Some(conn) = self.core.conns.get_mut(token) else {
            return Ok(());
        };
        conn.ws = Some(Box::new(WsConn::Open(open)));
        conn.last_active = clock;
        if endpoint == Endpoint::Echo {
            conn.phase = Phase::Open;
        }
        if endpoint == Endpoint::Mqtt {
            let max = self.mqtt.cfg().max_packet_bytes;
            conn.input = crate::conn::Input::Mqtt(crate::mqtt::MqttConn::new(max));
        }
        metrics::inc(&self.core.stats.ws_upgrades_total);
        self.core.queue_raw(token, Bytes::from(response));
        Ok(())
    }

    /// An upgrade request did not complete in time: 408, then close.
    pub(crate) fn ws_handshake_timeout(&mut self, token: Token) {
        metrics::inc(&self.core.stats.timeouts_total);
        self.reject_upgrade(token, &status(408, "upgrade request took too long"));
    }
}

fn status(status: u16, reason: &'static str) -> HandshakeError {
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
