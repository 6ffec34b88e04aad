//! One client connection's MQTT state, sans-IO: no socket and no clock
//! (`now` is a parameter, ns on the run's clock). Bytes from the broker go
//! in through [`Session::handle_input`]; what to send comes out of
//! [`Session::transmit`], what happened out of [`Session::poll_event`],
//! and [`Session::poll_timeout`] says when [`Session::handle_timeout`]
//! must run (keep-alive pings).
//!
//! It owns the client's duties: CONNECT and its CONNACK, SUBSCRIBE and
//! its SUBACK, a PUBACK for every QoS 1 delivery, the QoS 1 in-flight
//! window of its own PUBLISHes, and PINGREQ on time. Packets are read and
//! written by `wire::mqtt`; nothing is parsed here.
//!
//! Not here: sockets and timers (`link`, `reader`), what the stamps mean
//! for the tally (`reader`), when to publish (`pacer`, `closed`).

use std::collections::VecDeque;
use std::fmt;

use wire::mqtt::{
    encode, Ack, Connect, Packet, PacketDecoder, PacketType, Properties, PropertiesBuf, PropertyId,
    PropertyValue, ProtocolVersion, Publish, QoS, Subscribe, Subscription, SubscriptionOptions,
};
use wire::Control;

use super::keepalive::{Due, KeepAlive};
use super::window::Window;
use crate::stamp;

/// The packet id of the one SUBSCRIBE, sent before any PUBLISH so it
/// cannot collide with the window's ids.
const SUBSCRIBE_ID: u16 = 1;
/// Largest packet accepted from the broker beyond the body: topic,
/// properties and headers.
const PACKET_OVERHEAD_MAX: usize = 64 * 1024;

/// How to open the session.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    pub version: ProtocolVersion,
    pub client_id: &'a str,
    pub keep_alive_s: u16,
    /// QoS of PUBLISHes and of the subscription.
    pub qos: QoS,
    /// QoS 1 PUBLISHes awaiting PUBACK at most.
    pub inflight: u16,
    /// Bytes of each published body (the stamp and padding).
    pub body_len: usize,
    /// `None`: Clean Start, the session ends with the connection. `Some(s)`:
    /// Clean Start 0, so a session left by an earlier connection is taken
    /// over, and on MQTT 5 a Session Expiry Interval of `s` seconds.
    pub session_expiry_s: Option<u32>,
}

/// Where the session is; named after what comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// CONNECT is queued; the broker's CONNACK is next.
    ExpectConnack,
    /// Connected: publish, subscribe, deliveries.
    Open,
    /// A fatal error or DISCONNECT; nothing more is read or sent.
    Closed,
}

/// What happened, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected,
    /// SUBACK granted the subscription at the QoS asked for.
    Subscribed,
    /// A PUBLISH arrived (and, at QoS 1, its PUBACK is queued).
    Delivery { intended_ns: u64, seq: u64 },
    /// A PUBACK ended one of this client's PUBLISHes' flight.
    Acked,
    /// PINGRESP.
    Pong,
    /// Something went wrong; see [`SessionError::is_fatal`].
    Error(SessionError),
}

/// What can go wrong on the broker's side of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The broker's bytes broke the packet grammar.
    Decode(wire::mqtt::MqttError),
    /// CONNACK with this failure code.
    ConnectRefused(u8),
    /// An MQTT 5 broker's Maximum QoS is below the QoS asked for.
    QosUnsupported(u8),
    /// SUBACK refused the subscription or granted a lower QoS (the code).
    SubscribeRefused(u8),
    /// The broker sent DISCONNECT with this reason.
    Disconnected(u8),
    /// The broker's first packet was not CONNACK.
    NoConnack(PacketType),
    /// A packet the broker has no reason to send this client.
    Unexpected(PacketType),
    /// PUBACK for a packet id that was not in flight.
    UnknownAck(u16),
    /// MQTT 5 PUBACK with this failure reason.
    AckFailed(u8),
    /// A delivery too short to carry a stamp.
    NoStamp,
    /// A PINGREQ went unanswered until the next was due.
    PingLate,
}

impl SessionError {
    /// Whether the session is over: it is then [`Phase::Closed`].
    pub fn is_fatal(&self) -> bool {
        use SessionError::*;
        matches!(
            self,
            Decode(_)
                | ConnectRefused(_)
                | QosUnsupported(_)
                | SubscribeRefused(_)
                | Disconnected(_)
                | NoConnack(_)
        )
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SessionError::*;
        match self {
            Decode(e) => write!(f, "undecodable bytes from the broker: {e}"),
            ConnectRefused(c) => write!(f, "CONNACK refused the connection (code 0x{c:02x})"),
            QosUnsupported(q) => write!(f, "the broker's Maximum QoS is {q}"),
            SubscribeRefused(c) => write!(f, "SUBACK code 0x{c:02x} (refused or downgraded)"),
            Disconnected(c) => write!(f, "the broker sent DISCONNECT (reason 0x{c:02x})"),
            NoConnack(t) => write!(f, "{t:?} came before CONNACK"),
            Unexpected(t) => write!(f, "unexpected {t:?} from the broker"),
            UnknownAck(id) => write!(f, "PUBACK for packet id {id}, which was not in flight"),
            AckFailed(c) => write!(f, "PUBACK with failure reason 0x{c:02x}"),
            NoStamp => f.write_str("a delivery too short to carry a stamp"),
            PingLate => f.write_str("no PINGRESP before the next PINGREQ was due"),
        }
    }
}

/// Why [`Session::publish`] queued nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The QoS 1 window is full: wait for a PUBACK.
    WindowFull,
    /// The session is not open (it failed, or was never connected).
    Closed,
}

pub struct Session {
    decoder: PacketDecoder,
    state: State,
}

/// Everything but the decoder, so the decoder's callback can borrow it.
struct State {
    version: ProtocolVersion,
    qos: QoS,
    phase: Phase,
    /// Bytes for the broker; `transmit` hands them out.
    out: Vec<u8>,
    events: VecDeque<Event>,
    window: Window,
    keep_alive: KeepAlive,
    /// The body of every PUBLISH, re-stamped each time.
    body: Vec<u8>,
    /// The SUBSCRIBE awaiting its SUBACK.
    suback_pending: bool,
}

impl Session {
    /// A session with its CONNECT queued.
    pub fn new(cfg: &Config<'_>, now: u64) -> Session {
        let max_packet = cfg.body_len + PACKET_OVERHEAD_MAX;
        let mut state = State {
            version: cfg.version,
            qos: cfg.qos,
            phase: Phase::ExpectConnack,
            out: Vec::new(),
            events: VecDeque::new(),
            window: Window::new(cfg.inflight),
            keep_alive: KeepAlive::new(cfg.keep_alive_s, now),
            body: vec![0; cfg.body_len],
            suback_pending: false,
        };
        let mut props = PropertiesBuf::new();
        if let (Some(s), ProtocolVersion::V5) = (cfg.session_expiry_s, cfg.version) {
            props.push(PropertyId::SESSION_EXPIRY_INTERVAL, PropertyValue::U32(s));
        }
        let connect = Connect {
            version: cfg.version,
            clean_start: cfg.session_expiry_s.is_none(),
            keep_alive: cfg.keep_alive_s,
            properties: props.as_properties(),
            client_id: cfg.client_id,
            will: None,
            username: None,
            password: None,
        };
        state.queue(&Packet::Connect(connect), now);
        Session {
            decoder: PacketDecoder::client(
                cfg.version,
                u32::try_from(max_packet).unwrap_or(u32::MAX),
            ),
            state,
        }
    }

    pub fn phase(&self) -> Phase {
        self.state.phase
    }

    /// Queues SUBSCRIBE to `filter` at the session's QoS; [`Event::Subscribed`]
    /// follows its SUBACK. Once per session, before any PUBLISH.
    pub fn subscribe(&mut self, filter: &str, now: u64) {
        debug_assert_eq!(self.state.window.in_flight(), 0);
        debug_assert!(!self.state.suback_pending);
        let s = Subscribe {
            packet_id: SUBSCRIBE_ID,
            properties: Properties::EMPTY,
            filters: vec![Subscription {
                filter,
                options: SubscriptionOptions::new(self.state.qos),
            }],
        };
        self.state.suback_pending = true;
        self.state.queue(&Packet::Subscribe(s), now);
    }

    /// Queues a PUBLISH to `topic` whose body is stamped `(intended_ns,
    /// seq)`. At QoS 1 it takes a slot of the window, or is refused.
    pub fn publish(
        &mut self,
        now: u64,
        topic: &str,
        intended_ns: u64,
        seq: u64,
    ) -> Result<(), Refused> {
        let s = &mut self.state;
        if s.phase != Phase::Open {
            return Err(Refused::Closed);
        }
        let packet_id = match s.qos {
            QoS::AtMostOnce => None,
            _ => Some(s.window.take().ok_or(Refused::WindowFull)?),
        };
        stamp::write(&mut s.body, intended_ns, seq);
        let p = Publish {
            dup: false,
            qos: s.qos,
            retain: false,
            topic,
            packet_id,
            properties: Properties::EMPTY,
            payload: &s.body,
        };
        // Topics are checked at start-up and bodies are far below the
        // Remaining Length limit, so encoding cannot fail.
        encode(&Packet::Publish(p), s.version, &mut s.out).expect("a valid PUBLISH");
        s.keep_alive.on_tx(now);
        Ok(())
    }

    /// Whether a QoS 1 PUBLISH would be refused now.
    #[cfg(test)]
    pub fn window_full(&self) -> bool {
        self.state.qos != QoS::AtMostOnce && self.state.window.is_full()
    }

    /// QoS 1 PUBLISHes awaiting their PUBACK.
    #[cfg(test)]
    pub fn in_flight(&self) -> u16 {
        self.state.window.in_flight()
    }

    /// The window's limit (after an MQTT 5 broker's Receive Maximum).
    #[cfg(test)]
    pub fn window_limit(&self) -> u16 {
        self.state.window.limit()
    }

    /// Queues DISCONNECT (normal disconnection); the session is then closed.
    pub fn disconnect(&mut self, now: u64) {
        if self.state.phase == Phase::Open {
            let d = Packet::Disconnect(wire::mqtt::Disconnect::default());
            self.state.queue(&d, now);
        }
        self.state.phase = Phase::Closed;
    }

    /// Reads the broker's bytes (any split); their effects become events
    /// and queued output.
    pub fn handle_input(&mut self, now: u64, input: &[u8]) {
        if self.state.phase == Phase::Closed {
            return;
        }
        let state = &mut self.state;
        let fed = self.decoder.feed(input, |p| {
            state.on_packet(p, now);
            if state.phase == Phase::Closed {
                Control::Pause
            } else {
                Control::Continue
            }
        });
        if let Err(e) = fed {
            self.state.fail(SessionError::Decode(e));
        }
    }

    /// When `handle_timeout` has work next, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state.phase {
            Phase::Open => self.state.keep_alive.next_due(),
            _ => None,
        }
    }

    /// Sends PINGREQ when the keep-alive says so.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.state.phase != Phase::Open {
            return;
        }
        let due = self.state.keep_alive.on_timeout(now);
        if due == Due::PingLate {
            self.state
                .events
                .push_back(Event::Error(SessionError::PingLate));
        }
        if due != Due::Nothing {
            self.state.queue(&Packet::Pingreq, now);
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.state.events.pop_front()
    }

    /// Bytes waiting for the broker.
    pub fn transmit(&self) -> &[u8] {
        &self.state.out
    }

    /// The first `n` bytes of [`Session::transmit`] were written.
    pub fn advance(&mut self, n: usize) {
        let out = &mut self.state.out;
        debug_assert!(n <= out.len());
        if n >= out.len() {
            out.clear();
        } else {
            // Only after a short write: the socket was full.
            out.drain(..n);
        }
    }
}

impl State {
    fn queue(&mut self, p: &Packet<'_>, now: u64) {
        // Only this module's own packets come here, all well formed.
        encode(p, self.version, &mut self.out).expect("a valid packet");
        self.keep_alive.on_tx(now);
    }

    fn fail(&mut self, e: SessionError) {
        debug_assert!(e.is_fatal());
        self.phase = Phase::Closed;
        self.events.push_back(Event::Error(e));
    }

    fn error(&mut self, e: SessionError) {
        self.events.push_back(Event::Error(e));
    }

    fn on_packet(&mut self, p: Packet<'_>, now: u64) {
        if self.phase == Phase::ExpectConnack {
            return match p {
                Packet::Connack(c) => self.on_connack(c),
                Packet::Disconnect(d) => self.fail(SessionError::Disconnected(d.reason.0)),
                other => self.fail(SessionError::NoConnack(other.packet_type())),
            };
        }
        match p {
            Packet::Publish(p) => self.on_publish(&p, now),
            Packet::Puback(a) => self.on_puback(&a),
            Packet::Suback(s) if self.suback_pending && s.packet_id == SUBSCRIBE_ID => {
                self.suback_pending = false;
                match s.reasons.first() {
                    Some(&code) if code == self.qos as u8 => {
                        self.events.push_back(Event::Subscribed)
                    }
                    Some(&code) => self.fail(SessionError::SubscribeRefused(code)),
                    None => self.fail(SessionError::SubscribeRefused(0x80)),
                }
            }
            Packet::Pingresp => {
                self.keep_alive.on_pingresp();
                self.events.push_back(Event::Pong);
            }
            Packet::Disconnect(d) => self.fail(SessionError::Disconnected(d.reason.0)),
            other => self.error(SessionError::Unexpected(other.packet_type())),
        }
    }

    fn on_connack(&mut self, c: wire::mqtt::Connack<'_>) {
        if c.reason.0 != 0 {
            return self.fail(SessionError::ConnectRefused(c.reason.0));
        }
        for prop in c.properties.iter() {
            match (prop.id, prop.value) {
                (PropertyId::RECEIVE_MAXIMUM, PropertyValue::U16(n)) => self.window.cap(n),
                (PropertyId::SERVER_KEEP_ALIVE, PropertyValue::U16(s)) => {
                    self.keep_alive.set_interval(s)
                }
                (PropertyId::MAXIMUM_QOS, PropertyValue::Byte(q)) if q < self.qos as u8 => {
                    return self.fail(SessionError::QosUnsupported(q));
                }
                _ => {}
            }
        }
        self.phase = Phase::Open;
        self.events.push_back(Event::Connected);
    }

    fn on_publish(&mut self, p: &Publish<'_>, now: u64) {
        match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) => {}
            (QoS::AtLeastOnce, Some(id)) => self.queue(&Packet::Puback(Ack::new(id)), now),
            // Nothing here subscribes at QoS 2.
            _ => return self.error(SessionError::Unexpected(PacketType::Publish)),
        }
        match stamp::read(p.payload) {
            Some((intended_ns, seq)) => self.events.push_back(Event::Delivery { intended_ns, seq }),
            None => self.error(SessionError::NoStamp),
        }
    }

    fn on_puback(&mut self, a: &Ack<'_>) {
        if !self.window.release(a.packet_id) {
            return self.error(SessionError::UnknownAck(a.packet_id));
        }
        // 0x10 No matching subscribers is a success (below 0x80).
        if a.reason.0 >= 0x80 {
            self.error(SessionError::AckFailed(a.reason.0));
        }
        self.events.push_back(Event::Acked);
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
