//! A connection's MQTT packets: decoded by `wire::mqtt`, dispatched here;
//! and the ways a connection ends with a reason (DISCONNECT in MQTT 5,
//! a plain close in 3.1.1).

use wire::mqtt::ReasonCode;
use wire::Control;

use crate::conn::{Conn, Phase};
use crate::core_state::CoreState;
use crate::machine::mqtt::reason::Counter;
use crate::machine::mqtt::{ws_code, Close, Event, Host, Limits, MqttConn};
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

pub use crate::machine::mqtt::reason;

impl CoreState {
    /// Feeds `data` to the connection's MQTT machine and applies what it
    /// returns; pauses a client over its send watermark.
    pub(crate) fn feed_mqtt(&mut self, token: Token, data: &[u8]) {
        let limits = Limits::new(self.mqtt.cfg());
        MqttConn::handle_input(&mut Fed { s: self, token }, data, &limits);
        let high = self.core.settings.limits.send_queue_high_bytes;
        if self
            .core
            .conns
            .get(token)
            .is_some_and(|c| c.queued_bytes > high)
        {
            self.core.pause_for_own_queue(token);
        }
    }

    fn on_event(&mut self, token: Token, event: Event<'_>) -> Control {
        match event {
            Event::Connect {
                packet,
                server_keep_alive,
            } => self.on_connect(token, &packet, server_keep_alive),
            Event::Publish(p) => self.on_publish(token, &p),
            Event::Ack(a, got) => self.on_ack_in(token, &a, got),
            Event::Pubrel(a) => self.on_pubrel(token, &a),
            Event::Subscribe(s) => self.on_mqtt_subscribe(token, &s),
            Event::Unsubscribe(u) => self.on_mqtt_unsubscribe(token, &u),
            Event::Disconnect {
                keep_will,
                expiry_s,
            } => self.on_disconnect_packet(token, keep_will, expiry_s),
            Event::Transmit(bytes) => self.mqtt_send_raw(token, bytes),
            Event::Close(close) => self.mqtt_end(token, close),
        }
        match self.core.conns.get(token) {
            Some(c) if c.phase != Phase::Closing && !c.paused => Control::Continue,
            _ => Control::Pause,
        }
    }

    /// Ends the connection as the machine asked: counted, DISCONNECT
    /// (when one is owed) or a plain close.
    pub(crate) fn mqtt_end(&mut self, token: Token, close: Close) {
        metrics::inc(self.counter(close.counter));
        match close.reason {
            Some(reason) => self.mqtt_disconnect(token, reason, close.what),
            None => self.mqtt_close(token, Some(close.ws_code), close.what),
        }
    }

    fn counter(&self, c: Counter) -> &std::sync::atomic::AtomicU64 {
        let stats = &self.core.stats;
        match c {
            Counter::Malformed => &stats.mqtt_malformed_packets_total,
            Counter::Oversized => &stats.mqtt_oversized_packets_total,
            Counter::ReceiveMaximum => &stats.mqtt_receive_maximum_exceeded_total,
            Counter::Protocol => &stats.mqtt_protocol_errors_total,
            Counter::ConnectRefused => &stats.mqtt_connects_refused_total,
            Counter::KeepAlive => &stats.mqtt_keepalive_timeouts_total,
        }
    }

    /// Ends the connection for a protocol reason: DISCONNECT with `reason`
    /// in MQTT 5 once connected, a plain close otherwise; counted.
    pub(crate) fn mqtt_fail(&mut self, token: Token, reason: ReasonCode, what: &str) {
        metrics::inc(self.counter(Counter::of(reason)));
        self.mqtt_disconnect(token, reason, what);
    }

    /// Sends DISCONNECT (MQTT 5, connected clients only) and closes.
    pub(crate) fn mqtt_disconnect(&mut self, token: Token, reason: ReasonCode, what: &str) {
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            return;
        }
        let Some(m) = conn.mqtt() else {
            return;
        };
        let mut out = std::mem::take(&mut self.mqtt.out);
        out.clear();
        if m.close(reason, what, &mut out) {
            let b = self.core.arena_bytes(&out);
            self.core.queue_in(token, Lane::Normal, b);
        }
        self.mqtt.out = out;
        self.mqtt_close(token, Some(ws_code(reason)), what);
    }

    /// Closes once queued packets are written (with a WebSocket close
    /// frame first on the `mqtt` endpoint).
    pub(crate) fn mqtt_close(&mut self, token: Token, ws_code: Option<u16>, what: &str) {
        if let Some(m) = self.core.conns.get_mut(token).and_then(Conn::mqtt) {
            m.shut();
        }
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

    fn on_disconnect_packet(&mut self, token: Token, keep_will: bool, expiry: Option<u32>) {
        let key = self.session_of(token);
        let max_expiry = self.mqtt.cfg().max_session_expiry_s;
        if let Some(s) = key.and_then(|k| self.mqtt.sessions.get_mut(k)) {
            if !keep_will {
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
            .session()
            .map(|k| k as usize)
    }
}

/// The machine's host while one connection's bytes are read: the core's
/// state, and the connection they came from.
struct Fed<'a> {
    s: &'a mut CoreState,
    token: Token,
}

impl Host for Fed<'_> {
    fn machine(&mut self) -> Option<&mut MqttConn> {
        self.s.core.conns.get_mut(self.token).and_then(Conn::mqtt)
    }

    fn begin_packet(&mut self) -> bool {
        let clock = self.s.core.conn_clock();
        let Some(conn) = self.s.core.conns.get_mut(self.token) else {
            return false;
        };
        if conn.phase == Phase::Closing {
            return false;
        }
        conn.last_active = clock;
        true
    }

    fn apply(&mut self, event: Event<'_>) -> Control {
        self.s.on_event(self.token, event)
    }
}
