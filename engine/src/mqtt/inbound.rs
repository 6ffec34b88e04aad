//! A connection's MQTT events, applied: its machine decodes and checks
//! each packet (`crate::machine::mqtt`), the broker does what the event
//! asks; and the ways a connection ends with a reason (DISCONNECT in
//! MQTT 5, a plain close in 3.1.1).

use std::sync::atomic::AtomicU64;

use wire::mqtt::ReasonCode;
use wire::Control;

use super::connection::{close, session_of};
use super::Broker;
use crate::conn::{Conn, Phase};
use crate::core::Core;
use crate::machine::mqtt::reason::Counter;
use crate::machine::mqtt::{Close, Event, Host, Limits, MqttConn};
use crate::metrics;
use crate::sys::Token;

pub use crate::machine::mqtt::reason;

impl Broker {
    /// Feeds `data` to the connection's MQTT machine and applies what it
    /// returns; pauses a client over its send watermark.
    pub fn feed(&mut self, core: &mut Core, token: Token, data: &[u8]) {
        let limits = Limits::new(self.cfg());
        let mut fed = Fed {
            core,
            broker: self,
            token,
        };
        MqttConn::handle_input(&mut fed, data, &limits);
        let high = core.settings().limits.send_queue_high_bytes;
        if core
            .conns()
            .get(token)
            .is_some_and(|c| c.queued_bytes() > high)
        {
            core.pause_for_own_queue(token);
        }
    }

    fn on_event(&mut self, core: &mut Core, token: Token, event: Event<'_>) -> Control {
        match event {
            Event::Connect {
                packet,
                server_keep_alive,
            } => self.on_connect(core, token, &packet, server_keep_alive),
            Event::Publish(p) => self.on_publish(core, token, &p),
            Event::Ack(a, got) => self.on_ack_in(core, token, &a, got),
            Event::Pubrel(a) => self.on_pubrel(core, token, &a),
            Event::Subscribe(s) => self.on_subscribe(core, token, &s),
            Event::Unsubscribe(u) => self.on_unsubscribe(core, token, &u),
            Event::Disconnect {
                keep_will,
                expiry_s,
            } => self.on_disconnect(core, token, keep_will, expiry_s),
            Event::Transmit(bytes) => super::outbound::send_raw(core, token, bytes),
            Event::Close(close) => self.end(core, token, close),
        }
        match core.conns().get(token) {
            Some(c) if c.phase() != Phase::Closing && !c.is_paused() => Control::Continue,
            _ => Control::Pause,
        }
    }

    /// Ends the connection as its machine asked: counted, then a
    /// DISCONNECT (when one is owed) or a plain close.
    pub fn end(&mut self, core: &mut Core, token: Token, c: Close) {
        metrics::inc(counter(core, c.counter));
        match c.reason {
            Some(reason) => self.hub.outbox.disconnect(core, token, reason, c.what),
            None => close(core, token, Some(c.ws_code), c.what),
        }
    }

    /// Ends the connection for a protocol reason: DISCONNECT with `reason`
    /// in MQTT 5 once connected, a plain close otherwise; counted.
    pub fn fail(&mut self, core: &mut Core, token: Token, reason: ReasonCode, what: &str) {
        metrics::inc(counter(core, Counter::of(reason)));
        self.hub.outbox.disconnect(core, token, reason, what);
    }

    /// Ends an MQTT connection for an engine reason (drain, overload):
    /// DISCONNECT with the matching MQTT 5 code.
    pub fn close_for(&mut self, core: &mut Core, token: Token, code: u16) {
        use wire::ErrorCode as E;
        let r = match code {
            c if c == E::GoingAway as u16 => reason::SHUTTING_DOWN,
            c if c == E::IdleTimeout as u16 => reason::KEEP_ALIVE_TIMEOUT,
            c if c == E::Overload as u16 => reason::QUOTA_EXCEEDED,
            0 => reason::NORMAL,
            _ => reason::UNSPECIFIED,
        };
        self.hub
            .outbox
            .disconnect(core, token, r, "closed by the server");
    }

    /// Keep-alive and CONNECT timeouts of one MQTT connection, last read
    /// at `since` (connection clock) and swept at `now`. Returns false for
    /// other connections, which the generic idle timeout then covers.
    pub fn sweep_conn(&mut self, core: &mut Core, token: Token, since: u32, now: u32) -> bool {
        let Some(conn) = core.conns().get(token) else {
            return false;
        };
        let Some(m) = conn.mqtt_ref() else {
            return false;
        };
        // A connection closing for another reason has no timer left.
        if conn.phase().takes_input() {
            let limits = Limits::new(self.cfg());
            if let Some(close) = m.handle_timeout(since, now, &limits) {
                self.end(core, token, close);
            }
        }
        true
    }

    fn on_disconnect(
        &mut self,
        core: &mut Core,
        token: Token,
        keep_will: bool,
        expiry: Option<u32>,
    ) {
        let key = session_of(core, token);
        let max_expiry = self.cfg().max_session_expiry_s;
        if let Some(s) = key.and_then(|k| self.hub.sessions.get_mut(k)) {
            if !s.on_disconnect(keep_will, expiry, max_expiry) {
                // §3.14.2.2.2: a session that was to end cannot be made
                // persistent at DISCONNECT.
                return self.fail(
                    core,
                    token,
                    ReasonCode::PROTOCOL_ERROR,
                    "session expiry was 0",
                );
            }
        }
        close(core, token, Some(1000), "client disconnected");
    }
}

/// The counter a close is counted in.
fn counter(core: &Core, c: Counter) -> &AtomicU64 {
    let stats = &core.stats();
    match c {
        Counter::Malformed => &stats.mqtt_malformed_packets_total,
        Counter::Oversized => &stats.mqtt_oversized_packets_total,
        Counter::ReceiveMaximum => &stats.mqtt_receive_maximum_exceeded_total,
        Counter::Protocol => &stats.mqtt_protocol_errors_total,
        Counter::ConnectRefused => &stats.mqtt_connects_refused_total,
        Counter::KeepAlive => &stats.mqtt_keepalive_timeouts_total,
    }
}

/// The machine's host while one connection's bytes are read: the core
/// and the broker, and the connection they came from.
struct Fed<'a> {
    core: &'a mut Core,
    broker: &'a mut Broker,
    token: Token,
}

impl Host for Fed<'_> {
    fn machine(&mut self) -> Option<&mut MqttConn> {
        self.core
            .conns_mut()
            .get_mut(self.token)
            .and_then(Conn::mqtt)
    }

    fn begin_packet(&mut self) -> bool {
        let clock = self.core.clock().conn_clock();
        let Some(conn) = self.core.conns_mut().get_mut(self.token) else {
            return false;
        };
        if conn.phase() == Phase::Closing {
            return false;
        }
        conn.touch(clock);
        true
    }

    fn apply(&mut self, event: Event<'_>) -> Control {
        self.broker.on_event(self.core, self.token, event)
    }
}
