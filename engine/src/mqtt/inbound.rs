//! A connection's MQTT packets: decoded by `wire::mqtt`, dispatched here;
//! and the ways a connection ends with a reason (DISCONNECT in MQTT 5,
//! a plain close in 3.1.1).

use wire::mqtt::{Disconnect, MqttError, Packet, PacketDecoder, ReasonCode};
use wire::Control;

use super::session::AwaitAck;
use crate::conn::{Conn, Phase};
use crate::core_state::CoreState;
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

/// MQTT 5 reason codes the broker sends besides the codec's.
pub mod reason {
    use wire::mqtt::ReasonCode;
    /// Normal disconnection.
    pub const NORMAL: ReasonCode = ReasonCode(0x00);
    /// Disconnect with Will Message (client to server).
    pub const WITH_WILL: ReasonCode = ReasonCode(0x04);
    /// Unspecified error.
    pub const UNSPECIFIED: ReasonCode = ReasonCode(0x80);
    /// Implementation specific error.
    pub const IMPLEMENTATION: ReasonCode = ReasonCode(0x83);
    /// Client Identifier not valid.
    pub const CLIENT_ID_INVALID: ReasonCode = ReasonCode(0x85);
    /// Bad User Name or Password.
    pub const BAD_CREDENTIALS: ReasonCode = ReasonCode(0x86);
    /// Not authorized.
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    /// Server unavailable.
    pub const UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    /// Server shutting down.
    pub const SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
    /// Bad authentication method.
    pub const BAD_AUTH_METHOD: ReasonCode = ReasonCode(0x8C);
    /// Keep Alive timeout.
    pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
    /// Session taken over.
    pub const TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    /// Topic Filter invalid.
    pub const FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
    /// Packet Identifier not found.
    pub const PACKET_ID_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    /// Receive Maximum exceeded.
    pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
    /// Topic Alias invalid.
    pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
}

impl CoreState {
    /// Decodes `data` as MQTT packets and handles each; pauses a client
    /// over its send watermark.
    pub(crate) fn feed_mqtt(&mut self, token: Token, data: &[u8]) {
        let Some(m) = self.core.conns.get_mut(token).and_then(Conn::mqtt) else {
            return;
        };
        let mut decoder = std::mem::replace(&mut m.decoder, PacketDecoder::server(0));
        let result = decoder.feed(data, |packet| self.on_packet(token, packet));
        let Some(m) = self.core.conns.get_mut(token).and_then(Conn::mqtt) else {
            return;
        };
        m.decoder = decoder;
        if let Err(e) = result {
            return self.on_mqtt_decode_error(token, &e);
        }
        let high = self.core.settings.limits.send_queue_high_bytes;
        if self
            .core
            .conns
            .get(token)
            .is_some_and(|c| c.queued_bytes() > high)
        {
            self.core.pause_for_own_queue(token);
        }
    }

    fn on_mqtt_decode_error(&mut self, token: Token, e: &MqttError) {
        let connected = self
            .core
            .conns
            .get(token)
            .is_some_and(|c| c.phase == Phase::Open);
        if !connected && e.reason == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION {
            // The version is unknown, so answer the 3.1.1 way (§3.1.4):
            // return code 1, unacceptable protocol level.
            metrics::inc(&self.core.stats.mqtt_connects_refused_total);
            self.mqtt_send_raw(token, &[0x20, 0x02, 0x00, 0x01]);
            return self.mqtt_close(token, None, e.what);
        }
        self.mqtt_fail(token, e.reason, e.what);
    }

    fn on_packet(&mut self, token: Token, packet: Packet<'_>) -> Control {
        let clock = self.core.conn_clock();
        let Some(conn) = self.core.conns.get_mut(token) else {
            return Control::Pause;
        };
        if conn.phase == Phase::Closing {
            return Control::Pause;
        }
        conn.last_active = clock;
        let connected = conn.phase == Phase::Open;
        match packet {
            Packet::Connect(c) => self.on_connect(token, &c),
            _ if !connected => self.mqtt_fail(token, ReasonCode::PROTOCOL_ERROR, "not connected"),
            Packet::Publish(p) => self.on_publish(token, &p),
            Packet::Puback(a) => self.on_ack_in(token, &a, AwaitAck::Puback),
            Packet::Pubrec(a) => self.on_ack_in(token, &a, AwaitAck::Pubrec),
            Packet::Pubcomp(a) => self.on_ack_in(token, &a, AwaitAck::Pubcomp),
            Packet::Pubrel(a) => self.on_pubrel(token, &a),
            Packet::Subscribe(s) => self.on_mqtt_subscribe(token, &s),
            Packet::Unsubscribe(u) => self.on_mqtt_unsubscribe(token, &u),
            Packet::Pingreq => self.mqtt_send(token, &Packet::Pingresp),
            Packet::Disconnect(d) => self.on_disconnect_packet(token, &d),
            Packet::Auth(_) => self.mqtt_fail(token, reason::BAD_AUTH_METHOD, "AUTH not supported"),
            _ => self.mqtt_fail(token, ReasonCode::PROTOCOL_ERROR, "server-only packet"),
        }
        match self.core.conns.get(token) {
            Some(c) if c.phase != Phase::Closing && !c.is_paused() => Control::Continue,
            _ => Control::Pause,
        }
    }

    /// Ends the connection for a protocol reason: DISCONNECT with `reason`
    /// in MQTT 5 once connected, a plain close otherwise; counted.
    pub(crate) fn mqtt_fail(&mut self, token: Token, reason: ReasonCode, what: &str) {
        let counter = match reason.0 {
            0x81 => &self.core.stats.mqtt_malformed_packets_total,
            0x95 => &self.core.stats.mqtt_oversized_packets_total,
            0x93 => &self.core.stats.mqtt_receive_maximum_exceeded_total,
            _ => &self.core.stats.mqtt_protocol_errors_total,
        };
        metrics::inc(counter);
        self.mqtt_disconnect(token, reason, what);
    }

    /// Sends DISCONNECT (MQTT 5, connected clients only) and closes.
    pub(crate) fn mqtt_disconnect(&mut self, token: Token, reason: ReasonCode, what: &str) {
        let Some(conn) = self.core.conns.get(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            return;
        }
        let v5 = conn.mqtt_ref().is_some_and(|m| m.version.is_v5());
        if v5 && conn.phase == Phase::Open {
            let mut props = wire::mqtt::PropertiesBuf::new();
            props.push(
                wire::mqtt::PropertyId::REASON_STRING,
                wire::mqtt::PropertyValue::Str(what),
            );
            let d = Disconnect {
                reason,
                properties: props.as_properties(),
            };
            self.mqtt_send(token, &Packet::Disconnect(d));
        }
        let ws_code = if reason.0 < 0x80 { 1000 } else { 1002 };
        self.mqtt_close(token, Some(ws_code), what);
    }

    /// Closes once queued packets are written (with a WebSocket close
    /// frame first on the `mqtt` endpoint).
    pub(crate) fn mqtt_close(&mut self, token: Token, ws_code: Option<u16>, what: &str) {
        if self.core.conns.get(token).is_some_and(|c| c.ws.is_some()) {
            self.core
                .ws_close(token, Some(ws_code.unwrap_or(1000)), what);
        }
        self.begin_close(token);
    }

    /// Queues bytes already in MQTT form.
    pub(crate) fn mqtt_send_raw(&mut self, token: Token, bytes: &[u8]) {
        let b = self.core.arena_bytes(bytes);
        self.core.queue_in(token, Lane::Normal, b);
    }

    fn on_disconnect_packet(&mut self, token: Token, d: &Disconnect<'_>) {
        use wire::mqtt::{PropertyId, PropertyValue};
        let key = self.session_of(token);
        let expiry = match d.properties.get(PropertyId::SESSION_EXPIRY_INTERVAL) {
            Some(PropertyValue::U32(e)) => Some(e),
            _ => None,
        };
        let max_expiry = self.mqtt.cfg().max_session_expiry_s;
        if let Some(s) = key.and_then(|k| self.mqtt.sessions.get_mut(k)) {
            if d.reason != reason::WITH_WILL {
                s.will = None;
            }
            if let Some(e) = expiry {
                if s.expiry_s == 0 && e != 0 {
                    // §3.14.2.2.2: a session that was to end cannot be
                    // made persistent at DISCONNECT.
                    return self.mqtt_fail(
                        token,
                        ReasonCode::PROTOCOL_ERROR,
                        "session expiry was 0",
                    );
                }
                s.expiry_s = e.min(max_expiry);
            }
        }
        self.mqtt_close(token, Some(1000), "client disconnected");
    }

    /// The session key of a connected MQTT connection.
    pub(crate) fn session_of(&self, token: Token) -> Option<usize> {
        self.core
            .conns
            .get(token)?
            .mqtt_ref()?
            .session
            .map(|k| k as usize)
    }
}
