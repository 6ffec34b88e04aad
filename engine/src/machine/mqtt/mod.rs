//! One MQTT connection, sans-IO: the packet decoder and the rules that
//! hold per connection, whatever the broker does with its packets.
//!
//! What it owns: the decoder (bytes in any split, packets out), where the
//! connection is (its `State`: CONNECT next, the broker's answer next,
//! connected, closing), the protocol version, the keep-alive (how long
//! the client may stay silent, and when that is over), the topic aliases
//! the client set, the client's Maximum Packet Size, the aliases towards
//! the client, and the session (a key of the broker's table) it is
//! attached to. What it decides: CONNECT first and once, nothing before
//! it, topic aliases resolved (or refused), server-only packets and AUTH
//! refused, PINGREQ answered, DISCONNECT read, every decoding error
//! mapped to its reason code (and the 3.1.1 answer to an unknown
//! version). What it leaves to the broker: sessions, QoS flows,
//! subscriptions, authentication, everything that spans connections.
//!
//! It is driven like quinn-proto's `Connection`: [`MqttConn::handle_input`]
//! is handed the bytes read and hands each packet's [`Event`] to its
//! [`Host`] (the broker, or a test's client), which applies it;
//! [`MqttConn::handle_timeout`] is handed the clock. Bytes the machine
//! answers by itself come out as [`Event::Transmit`] (constant packets)
//! or from [`MqttConn::close`] (the DISCONNECT), in order with what the
//! host sends. It imports nothing of the engine but the settings and the
//! timer helpers, so its tests (`tests.rs`) drive it against a real
//! client codec with no core, no backend and no clock.

pub mod alias;
pub mod message;
pub mod reason;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use wire::mqtt::{
    Ack, Connect, Disconnect, MqttError, Packet, PacketDecoder, PropertiesBuf, PropertyId,
    PropertyValue, ProtocolVersion, Publish, ReasonCode, Subscribe, Unsubscribe,
};
use wire::Control;

use crate::config::MqttConfig;
use crate::timers;
pub use alias::{AliasUse, OutboundAliases};
pub use message::{Message, Meta, Parts};
use reason::Counter;

/// Most aliases the server uses towards one client, whatever larger
/// maximum the client allows: each costs the connection a topic handle.
const ALIASES_OUT_MAX: u16 = 32;

/// PINGRESP: the same two bytes in 3.1.1 and 5.0.
const PINGRESP: &[u8] = &[0xD0, 0x00];

/// The 3.1.1 CONNACK with return code 1, unacceptable protocol level
/// (§3.1.4): the answer to a CONNECT of a level the server does not
/// speak, whose own version is therefore unknown.
const CONNACK_UNSUPPORTED: &[u8] = &[0x20, 0x02, 0x00, 0x01];

/// The settings a connection's rules need, copied out of the `[mqtt]`
/// section for each call (a handful of integers: the machine does not
/// keep them, so an idle connection does not pay for them).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    topic_alias_maximum: u16,
    max_keep_alive_s: u16,
    connect_timeout_ms: u64,
}

impl Limits {
    /// From the `[mqtt]` section.
    pub fn new(cfg: &MqttConfig) -> Limits {
        Limits {
            topic_alias_maximum: cfg.topic_alias_maximum,
            max_keep_alive_s: cfg.max_keep_alive_s,
            connect_timeout_ms: cfg.connect_timeout_ms,
        }
    }
}

/// Where an outgoing QoS 1 or 2 message is in its handshake, and which
/// acknowledgement a packet from the client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwaitAck {
    /// QoS 1: PUBLISH sent, PUBACK next.
    Puback,
    /// QoS 2: PUBLISH sent, PUBREC next.
    Pubrec,
    /// QoS 2: PUBREL sent, PUBCOMP next.
    Pubcomp,
}

/// What the connection waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Accepted: only CONNECT is valid, within the CONNECT timeout.
    ExpectConnect,
    /// CONNECT went to the broker: its CONNACK (then [`MqttConn::accept`])
    /// or its refusal comes next; no packet is acted on meanwhile.
    ExpectAccept,
    /// CONNACK sent: packets flow, attached to this session.
    Connected { session: u32 },
    /// Ending: a reason was sent (or none is owed); no packet is acted
    /// on. Keeps the session until the connection leaves the table, which
    /// then leaves the session behind.
    Closing { session: Option<u32> },
}

/// What one packet (or the end of the input) asks of the host.
#[derive(Debug)]
pub enum Event<'p> {
    /// The first CONNECT: the host authenticates it and attaches a session
    /// ([`MqttConn::accept`]) or refuses it. Version, keep-alive, the
    /// client's Maximum Packet Size and Topic Alias Maximum are taken.
    Connect {
        /// The packet.
        packet: Connect<'p>,
        /// Server Keep Alive to announce in CONNACK (MQTT 5), if the
        /// client's keep-alive was capped.
        server_keep_alive: Option<u16>,
    },
    /// A PUBLISH, its topic resolved through the client's aliases.
    Publish(PublishIn<'p>),
    /// PUBACK, PUBREC or PUBCOMP for a message the server sent.
    Ack(Ack<'p>, AwaitAck),
    /// PUBREL for a QoS 2 message the client sent.
    Pubrel(Ack<'p>),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'p>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'p>),
    /// DISCONNECT from the client: the connection ends normally.
    Disconnect {
        /// Reason 0x04: the will is published all the same.
        keep_will: bool,
        /// A new Session Expiry Interval (MQTT 5), if one came.
        expiry_s: Option<u32>,
    },
    /// Bytes for the client, queued in order with what the host sends.
    Transmit(&'static [u8]),
    /// End the connection: count it, send the reason ([`MqttConn::close`])
    /// and close.
    Close(Close),
}

/// A PUBLISH from the client with its topic resolved.
#[derive(Debug)]
pub struct PublishIn<'p> {
    packet: Publish<'p>,
    /// The topic an alias stood for (a shared handle: no copy per use).
    aliased: Option<Bytes>,
}

impl<'p> PublishIn<'p> {
    /// The packet as read (its topic may be empty: see [`Self::topic`]).
    pub fn packet(&self) -> &Publish<'p> {
        &self.packet
    }

    /// The topic, through the aliases.
    pub fn topic(&self) -> &str {
        match &self.aliased {
            // Aliased topics are copied from a `&str`, so this holds.
            Some(b) => std::str::from_utf8(b).unwrap_or(""),
            None => self.packet.topic,
        }
    }
}

/// Why and how a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    /// The reason for a DISCONNECT (sent in MQTT 5 to a connected
    /// client); `None` closes without one.
    pub reason: Option<ReasonCode>,
    /// What happened, for the Reason String and logs.
    pub what: &'static str,
    /// Where it is counted.
    pub counter: Counter,
    /// The WebSocket close code on the `mqtt` endpoint.
    pub ws_code: u16,
}

impl Close {
    /// A protocol failure with `reason`, counted by its code.
    pub fn failure(reason: ReasonCode, what: &'static str) -> Close {
        Close::disconnect(reason, what, Counter::of(reason))
    }

    /// A DISCONNECT with `reason`, counted in `counter`.
    pub fn disconnect(reason: ReasonCode, what: &'static str, counter: Counter) -> Close {
        Close {
            reason: Some(reason),
            what,
            counter,
            ws_code: ws_code(reason),
        }
    }
}

/// The WebSocket close code that goes with a DISCONNECT reason.
pub fn ws_code(reason: ReasonCode) -> u16 {
    if reason.0 < 0x80 {
        1000
    } else {
        1002
    }
}

/// Where the machine lives while it reads: the broker's connection
/// table, or a test's pair. The machine is reached through the host for
/// each packet, so that applying one packet may touch the machine too
/// (CONNECT attaches a session, a publish may come back to this
/// connection).
pub trait Host {
    /// The machine, if the connection is still there.
    fn machine(&mut self) -> Option<&mut MqttConn>;
    /// A packet was read: false if the connection no longer acts on
    /// packets (the host closed it). The host stamps its clock here.
    fn begin_packet(&mut self) -> bool;
    /// Applies one event; [`Control::Pause`] stops reading after it.
    fn apply(&mut self, event: Event<'_>) -> Control;
}

/// An MQTT connection's state beside its slot.
#[derive(Debug)]
pub struct MqttConn {
    /// Incremental packet decoder; holds bytes only mid-packet.
    decoder: PacketDecoder,
    state: State,
    /// Protocol version, from CONNECT.
    version: ProtocolVersion,
    /// How long the client may stay silent: 1.5 times its keep-alive, in
    /// ms (at most 98,302,500); 0 for no limit.
    silence_max_ms: u32,
    /// The client's Maximum Packet Size (MQTT 5); 0 for none.
    max_packet_out: u32,
    /// Topic aliases the client set (MQTT 5), by alias - 1; allocated
    /// when the client first sets one.
    aliases_in: Option<Box<[Option<Bytes>]>>,
    /// Aliases towards the client, if it allows any.
    aliases_out: Option<Box<OutboundAliases>>,
}

impl MqttConn {
    /// A fresh connection expecting CONNECT; packets over
    /// `max_packet_bytes` are refused before their body is read.
    pub fn new(max_packet_bytes: u32) -> Box<MqttConn> {
        Box::new(MqttConn {
            decoder: PacketDecoder::server(max_packet_bytes),
            state: State::ExpectConnect,
            version: ProtocolVersion::V311,
            silence_max_ms: 0,
            max_packet_out: 0,
            aliases_in: None,
            aliases_out: None,
        })
    }

    /// Decodes `data` (after whatever was held) and hands each packet's
    /// event to `host`; a decoding error ends with its [`Event::Close`].
    /// Packets borrow from `data` (or the held bytes): nothing is copied.
    pub fn handle_input<H: Host>(host: &mut H, data: &[u8], limits: &Limits) {
        let Some(m) = host.machine() else {
            return;
        };
        // The decoder is taken out while its packets are applied (a
        // zero-size stand-in allocates nothing), so that the host may
        // reach the rest of the machine meanwhile.
        let mut decoder = std::mem::replace(&mut m.decoder, PacketDecoder::server(0));
        let result = decoder.feed(data, |packet| {
            if !host.begin_packet() {
                return Control::Pause;
            }
            let Some(m) = host.machine() else {
                return Control::Pause;
            };
            let event = m.on_packet(packet, limits);
            host.apply(event)
        });
        let Some(m) = host.machine() else {
            return;
        };
        m.decoder = decoder;
        if let Err(e) = result {
            let (answer, close) = m.on_decode_error(&e);
            if let Some(bytes) = answer {
                host.apply(Event::Transmit(bytes));
            }
            host.apply(Event::Close(close));
        }
    }

    fn on_packet<'p>(&mut self, packet: Packet<'p>, limits: &Limits) -> Event<'p> {
        let connected = matches!(self.state, State::Connected { .. });
        match packet {
            Packet::Connect(c) => self.on_connect(c, limits),
            _ if !connected => {
                Event::Close(Close::failure(ReasonCode::PROTOCOL_ERROR, "not connected"))
            }
            Packet::Publish(p) => match self.resolve_alias(&p, limits) {
                Ok(aliased) => Event::Publish(PublishIn { packet: p, aliased }),
                Err(close) => Event::Close(close),
            },
            Packet::Puback(a) => Event::Ack(a, AwaitAck::Puback),
            Packet::Pubrec(a) => Event::Ack(a, AwaitAck::Pubrec),
            Packet::Pubcomp(a) => Event::Ack(a, AwaitAck::Pubcomp),
            Packet::Pubrel(a) => Event::Pubrel(a),
            Packet::Subscribe(s) => Event::Subscribe(s),
            Packet::Unsubscribe(u) => Event::Unsubscribe(u),
            Packet::Pingreq => Event::Transmit(PINGRESP),
            Packet::Disconnect(d) => disconnect_event(&d),
            Packet::Auth(_) => Event::Close(Close::failure(
                reason::BAD_AUTH_METHOD,
                "AUTH not supported",
            )),
            _ => Event::Close(Close::failure(
                ReasonCode::PROTOCOL_ERROR,
                "server-only packet",
            )),
        }
    }

    /// CONNECT: its version, keep-alive (capped at `max_keep_alive_s`,
    /// which is then announced), the client's Maximum Packet Size and
    /// Topic Alias Maximum are this connection's from here on.
    fn on_connect<'p>(&mut self, c: Connect<'p>, limits: &Limits) -> Event<'p> {
        if self.state != State::ExpectConnect {
            // The decoder refuses a second CONNECT already; this keeps the
            // rule true whatever decoder feeds the machine.
            return Event::Close(Close::failure(ReasonCode::PROTOCOL_ERROR, "second CONNECT"));
        }
        self.version = c.version;
        let max_ka = limits.max_keep_alive_s;
        let mut keep_alive = c.keep_alive;
        let mut server_keep_alive = None;
        if max_ka > 0 && (keep_alive == 0 || keep_alive > max_ka) {
            keep_alive = max_ka;
            server_keep_alive = Some(max_ka);
        }
        // §3.1.2.10: 1.5 times the keep-alive.
        self.silence_max_ms = u32::from(keep_alive) * 1500;
        self.max_packet_out = match c.properties.get(PropertyId::MAXIMUM_PACKET_SIZE) {
            Some(PropertyValue::U32(n)) => n,
            _ => 0,
        };
        self.aliases_out = match c.properties.get(PropertyId::TOPIC_ALIAS_MAXIMUM) {
            Some(PropertyValue::U16(n)) if n > 0 => {
                Some(Box::new(OutboundAliases::new(n.min(ALIASES_OUT_MAX))))
            }
            _ => None,
        };
        self.state = State::ExpectAccept;
        Event::Connect {
            packet: c,
            server_keep_alive,
        }
    }

    /// The topic of a PUBLISH, through the connection's topic aliases
    /// (MQTT 5 §3.3.2.3.4): `Some` when an alias stood for it.
    fn resolve_alias(&mut self, p: &Publish<'_>, limits: &Limits) -> Result<Option<Bytes>, Close> {
        // Most PUBLISHes carry no properties at all: skip the lookup.
        if p.properties.is_empty() {
            return Ok(None);
        }
        let Some(PropertyValue::U16(alias)) = p.properties.get(PropertyId::TOPIC_ALIAS) else {
            return Ok(None);
        };
        let max = limits.topic_alias_maximum;
        if alias == 0 || alias > max {
            return Err(Close::failure(
                reason::TOPIC_ALIAS_INVALID,
                "topic alias out of range",
            ));
        }
        let slot = usize::from(alias - 1);
        let table = self
            .aliases_in
            .get_or_insert_with(|| vec![None; usize::from(max)].into_boxed_slice());
        if p.topic.is_empty() {
            return match &table[slot] {
                Some(t) => Ok(Some(t.clone())),
                None => Err(Close::failure(
                    ReasonCode::PROTOCOL_ERROR,
                    "unknown topic alias",
                )),
            };
        }
        // A client that sends the topic with its alias every time costs
        // one copy per topic, not one per PUBLISH.
        if table[slot].as_deref() != Some(p.topic.as_bytes()) {
            table[slot] = Some(Bytes::copy_from_slice(p.topic.as_bytes()));
        }
        Ok(None)
    }

    /// What a decoding error asks for: bytes to send first, if any, and
    /// the close.
    fn on_decode_error(&self, e: &MqttError) -> (Option<&'static [u8]>, Close) {
        let connected = matches!(self.state, State::Connected { .. });
        if !connected && e.reason == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION {
            // The version is unknown, so answer the 3.1.1 way.
            let close = Close {
                reason: None,
                what: e.what,
                counter: Counter::ConnectRefused,
                ws_code: 1000,
            };
            return (Some(CONNACK_UNSUPPORTED), close);
        }
        (None, Close::failure(e.reason, e.what))
    }

    /// The broker accepted CONNECT (CONNACK is on its way) and attached
    /// the connection to `session`.
    pub fn accept(&mut self, session: u32) {
        debug_assert!(
            self.state == State::ExpectAccept,
            "accept without CONNECT: {:?}",
            self.state
        );
        self.state = State::Connected { session };
    }

    /// Ends the connection for `reason`: encodes into `out` the
    /// DISCONNECT it is owed (MQTT 5, once connected; nothing otherwise)
    /// and stops acting on packets. Returns whether `out` holds one.
    pub fn close(&mut self, reason: ReasonCode, what: &str, out: &mut Vec<u8>) -> bool {
        let owed = self.version.is_v5() && matches!(self.state, State::Connected { .. });
        self.shut();
        if !owed {
            return false;
        }
        let mut props = PropertiesBuf::new();
        props.push(PropertyId::REASON_STRING, PropertyValue::Str(what));
        let d = Disconnect {
            reason,
            properties: props.as_properties(),
        };
        wire::mqtt::encode(&Packet::Disconnect(d), self.version, out).is_ok()
    }

    /// Stops acting on packets, with no DISCONNECT (3.1.1, a refused
    /// CONNECT, the client's own DISCONNECT, a CONNECT timeout).
    pub fn shut(&mut self) {
        self.state = State::Closing {
            session: self.session(),
        };
    }

    /// Detaches the session (taken over by a newer connection): this
    /// connection's end no longer leaves it behind.
    pub fn take_session(&mut self) -> Option<u32> {
        let session = self.session();
        self.state = match self.state {
            State::Connected { .. } | State::Closing { .. } => State::Closing { session: None },
            other => other,
        };
        session
    }

    /// The session attached, if any.
    pub fn session(&self) -> Option<u32> {
        match self.state {
            State::Connected { session } => Some(session),
            State::Closing { session } => session,
            State::ExpectConnect | State::ExpectAccept => None,
        }
    }

    /// Whether CONNACK was sent and packets flow.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// The protocol version (3.1.1 until CONNECT says otherwise).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client's Maximum Packet Size (MQTT 5); 0 for none.
    pub fn max_packet_out(&self) -> u32 {
        self.max_packet_out
    }

    /// The alias to send `msg`'s topic with, if the client allows aliases.
    pub fn alias_for(&mut self, msg: &Message) -> Option<AliasUse> {
        self.aliases_out.as_mut().map(|a| a.for_topic(msg))
    }

    /// Takes back an alias assignment whose PUBLISH was not sent.
    pub fn forget_alias(&mut self, alias: u16) {
        if let Some(a) = self.aliases_out.as_mut() {
            a.forget(alias);
        }
    }

    /// The connection-clock reading after which [`Self::handle_timeout`]
    /// closes the connection, last read at `last_read`: the CONNECT
    /// timeout before CONNECT, 1.5 times the keep-alive once connected.
    pub fn poll_timeout(&self, last_read: u32, limits: &Limits) -> Option<u32> {
        let interval_ms = match self.state {
            State::ExpectConnect | State::ExpectAccept => limits.connect_timeout_ms,
            State::Connected { .. } if self.silence_max_ms > 0 => u64::from(self.silence_max_ms),
            _ => return None,
        };
        Some(last_read.wrapping_add(interval_ms as u32))
    }

    /// The close a timer asks for at `now` (connection clock), the
    /// client's last packet (or the accept) read at `last_read`: none
    /// before the interval is over (see [`crate::timers`]).
    pub fn handle_timeout(&self, last_read: u32, now: u32, limits: &Limits) -> Option<Close> {
        match self.state {
            State::ExpectConnect | State::ExpectAccept
                if timers::conn_passed(last_read, now, limits.connect_timeout_ms) =>
            {
                Some(Close {
                    reason: None,
                    what: "no CONNECT in time",
                    counter: Counter::KeepAlive,
                    ws_code: 1001,
                })
            }
            State::Connected { .. }
                if self.silence_max_ms > 0
                    && timers::conn_passed(last_read, now, u64::from(self.silence_max_ms)) =>
            {
                Some(Close::disconnect(
                    reason::KEEP_ALIVE_TIMEOUT,
                    "keep-alive timeout",
                    Counter::KeepAlive,
                ))
            }
            _ => None,
        }
    }

    /// Bytes held mid-packet or stashed while paused.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// Keeps bytes read while paused, for the resume.
    pub fn stash(&mut self, data: &[u8]) {
        self.decoder.stash(data);
    }

    /// Takes the bytes held (the connection moves to another core).
    pub fn take_held(&mut self) -> Vec<u8> {
        self.decoder.take_held()
    }
}

/// DISCONNECT from the client, read.
fn disconnect_event<'p>(d: &Disconnect<'_>) -> Event<'p> {
    let expiry_s = match d.properties.get(PropertyId::SESSION_EXPIRY_INTERVAL) {
        Some(PropertyValue::U32(e)) => Some(e),
        _ => None,
    };
    Event::Disconnect {
        keep_will: d.reason == reason::WITH_WILL,
        expiry_s,
    }
}
