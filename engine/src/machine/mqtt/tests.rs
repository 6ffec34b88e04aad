//! The MQTT machine against a client that speaks `wire::mqtt`'s client
//! role: a [`Pair`] holds the machine and stands in for the broker (it
//! records the events, accepts CONNECT if told to, applies closes as the
//! broker does), and decodes what the machine transmits as the client
//! would. No core, no backend, no clock: time is a number passed in.

use wire::mqtt::{
    encode, Auth, Connect, Disconnect, Packet, PacketDecoder, Properties, PropertiesBuf,
    PropertyId, PropertyValue, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, Subscription,
    SubscriptionOptions,
};
use wire::Control;

use super::*;
use crate::config::MqttConfig;

/// What the stand-in broker saw, owned.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Connect {
        client_id: String,
        server_keep_alive: Option<u16>,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
    Ack(u16, AwaitAck),
    Pubrel(u16),
    Subscribe(u16),
    Unsubscribe(u16),
    Disconnect {
        keep_will: bool,
        expiry_s: Option<u32>,
    },
    Close(Close),
}

/// What the client read, owned.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Pingresp,
    Connack(ReasonCode),
    Disconnect(ReasonCode),
    Other,
}

struct Pair {
    server: Box<MqttConn>,
    limits: Limits,
    /// Whether the stand-in broker accepts a CONNECT (else it leaves the
    /// connection waiting for its answer).
    accepts: bool,
    closed: bool,
    seen: Vec<Seen>,
    /// Bytes the machine transmitted, in order.
    to_client: Vec<u8>,
}

impl Host for Pair {
    fn machine(&mut self) -> Option<&mut MqttConn> {
        Some(&mut self.server)
    }

    fn begin_packet(&mut self) -> bool {
        !self.closed
    }

    fn apply(&mut self, event: Event<'_>) -> Control {
        let seen = match event {
            Event::Connect {
                packet,
                server_keep_alive,
            } => {
                if self.accepts {
                    self.server.accept(7);
                }
                Seen::Connect {
                    client_id: packet.client_id.to_owned(),
                    server_keep_alive,
                }
            }
            Event::Publish(p) => Seen::Publish {
                topic: p.topic().to_owned(),
                payload: p.packet().payload.to_vec(),
            },
            Event::Ack(a, got) => Seen::Ack(a.packet_id, got),
            Event::Pubrel(a) => Seen::Pubrel(a.packet_id),
            Event::Subscribe(s) => Seen::Subscribe(s.packet_id),
            Event::Unsubscribe(u) => Seen::Unsubscribe(u.packet_id),
            Event::Disconnect {
                keep_will,
                expiry_s,
            } => Seen::Disconnect {
                keep_will,
                expiry_s,
            },
            Event::Transmit(bytes) => {
                self.to_client.extend_from_slice(bytes);
                return Control::Continue;
            }
            Event::Close(c) => {
                self.close(c);
                return Control::Pause;
            }
        };
        self.seen.push(seen);
        Control::Continue
    }
}

impl Pair {
    fn new() -> Pair {
        Pair::with(&MqttConfig::default())
    }

    fn with(cfg: &MqttConfig) -> Pair {
        Pair {
            server: MqttConn::new(cfg.max_packet_bytes),
            limits: Limits::new(cfg),
            accepts: true,
            closed: false,
            seen: Vec::new(),
            to_client: Vec::new(),
        }
    }

    /// A pair whose client is connected with `version` and keep-alive
    /// `keep_alive_s`, with nothing seen or transmitted yet.
    fn connected(version: ProtocolVersion, keep_alive_s: u16) -> Pair {
        let mut pair = Pair::new();
        pair.send(&connect(version, keep_alive_s, Properties::EMPTY), version);
        assert!(pair.server.is_connected());
        pair.seen.clear();
        pair
    }

    /// Applies a close as the broker does.
    fn close(&mut self, c: Close) {
        match c.reason {
            Some(r) => {
                self.server.close(r, c.what, &mut self.to_client);
            }
            None => self.server.shut(),
        }
        self.closed = true;
        self.seen.push(Seen::Close(c));
    }

    /// The client sends `packet`, encoded for `version`.
    fn send(&mut self, packet: &Packet<'_>, version: ProtocolVersion) {
        let mut bytes = Vec::new();
        encode(packet, version, &mut bytes).expect("encodes");
        self.feed(&bytes);
    }

    fn feed(&mut self, bytes: &[u8]) {
        let limits = self.limits;
        MqttConn::handle_input(self, bytes, &limits);
    }

    /// What the client reads of the machine's bytes.
    fn received(&mut self, version: ProtocolVersion) -> Vec<Got> {
        let mut got = Vec::new();
        let mut d = PacketDecoder::client(version, u32::MAX);
        let bytes = std::mem::take(&mut self.to_client);
        d.feed(&bytes, |p| {
            got.push(match p {
                Packet::Pingresp => Got::Pingresp,
                Packet::Connack(c) => Got::Connack(c.reason),
                Packet::Disconnect(d) => Got::Disconnect(d.reason),
                _ => Got::Other,
            });
            Control::Continue
        })
        .expect("the client decodes what the machine sends");
        got
    }

    /// The close the machine asked for, if any.
    fn close_seen(&self) -> Option<Close> {
        self.seen.iter().find_map(|s| match s {
            Seen::Close(c) => Some(*c),
            _ => None,
        })
    }
}

fn connect(version: ProtocolVersion, keep_alive: u16, properties: Properties<'_>) -> Packet<'_> {
    Packet::Connect(Connect {
        version,
        clean_start: true,
        keep_alive,
        properties,
        client_id: "dev-1",
        will: None,
        username: None,
        password: None,
    })
}

fn publish<'a>(topic: &'a str, properties: Properties<'a>) -> Packet<'a> {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic,
        packet_id: None,
        properties,
        payload: b"hi",
    })
}

fn alias(n: u16) -> PropertiesBuf {
    let mut props = PropertiesBuf::new();
    props.push(PropertyId::TOPIC_ALIAS, PropertyValue::U16(n));
    props
}

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

#[test]
fn connect_takes_version_keep_alive_and_the_clients_limits() {
    let cfg = MqttConfig {
        max_keep_alive_s: 60,
        ..MqttConfig::default()
    };
    let mut pair = Pair::with(&cfg);
    pair.accepts = false;
    let mut props = PropertiesBuf::new();
    props.push(PropertyId::MAXIMUM_PACKET_SIZE, PropertyValue::U32(100));
    props.push(PropertyId::TOPIC_ALIAS_MAXIMUM, PropertyValue::U16(100));
    // Keep-alive 0 (none) is capped to the server's 60 s, announced.
    pair.send(&connect(V5, 0, props.as_properties()), V5);
    assert_eq!(
        pair.seen,
        [Seen::Connect {
            client_id: "dev-1".into(),
            server_keep_alive: Some(60),
        }]
    );
    assert_eq!(pair.server.version(), V5);
    assert_eq!(pair.server.max_packet_out(), 100);
    assert!(!pair.server.is_connected(), "connected only once accepted");
    assert_eq!(pair.server.session(), None);
    pair.server.accept(3);
    assert_eq!(pair.server.session(), Some(3));
    assert_eq!(pair.server.poll_timeout(0, &pair.limits), Some(90_000));
    // Aliases towards the client: at most 32 whatever it allows.
    let msg = super::message::test_message_on;
    for i in 1..=32 {
        let use_ = pair.server.alias_for(&msg(&format!("t/{i}")));
        assert_eq!(use_, Some(AliasUse::Assign(i)));
    }
    assert_eq!(
        pair.server.alias_for(&msg("t/33")),
        Some(AliasUse::Assign(1))
    );
    assert!(pair.to_client.is_empty(), "CONNACK is the broker's to send");
}

#[test]
fn a_client_keep_alive_under_the_cap_is_kept_unannounced() {
    let cfg = MqttConfig {
        max_keep_alive_s: 60,
        ..MqttConfig::default()
    };
    let mut pair = Pair::with(&cfg);
    pair.send(&connect(V311, 20, Properties::EMPTY), V311);
    assert_eq!(
        pair.seen,
        [Seen::Connect {
            client_id: "dev-1".into(),
            server_keep_alive: None,
        }]
    );
    assert_eq!(pair.server.version(), V311);
    assert_eq!(pair.server.poll_timeout(0, &pair.limits), Some(30_000));
}

#[test]
fn pingreq_is_answered_by_the_machine() {
    for v in [V311, V5] {
        let mut pair = Pair::connected(v, 0);
        pair.send(&Packet::Pingreq, v);
        pair.send(&Packet::Pingreq, v);
        assert!(pair.seen.is_empty(), "{:?}", pair.seen);
        assert_eq!(pair.received(v), [Got::Pingresp, Got::Pingresp]);
    }
}

#[test]
fn a_packet_before_connect_closes_without_disconnect() {
    let mut pair = Pair::new();
    pair.send(&Packet::Pingreq, V5);
    let c = pair.close_seen().expect("closed");
    assert_eq!(c.reason, Some(ReasonCode::PROTOCOL_ERROR));
    assert_eq!(c.counter, Counter::Protocol);
    assert!(pair.received(V5).is_empty(), "no DISCONNECT before CONNACK");
}

#[test]
fn a_packet_before_the_broker_answered_connect_is_refused() {
    let mut pair = Pair::new();
    pair.accepts = false;
    let mut bytes = Vec::new();
    encode(&connect(V5, 0, Properties::EMPTY), V5, &mut bytes).unwrap();
    let sub = Subscribe {
        packet_id: 1,
        properties: Properties::EMPTY,
        filters: vec![Subscription {
            filter: "a/#",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        }],
    };
    encode(&Packet::Subscribe(sub), V5, &mut bytes).unwrap();
    pair.feed(&bytes);
    assert!(matches!(pair.seen[0], Seen::Connect { .. }));
    let c = pair.close_seen().expect("closed");
    assert_eq!(
        (c.reason, c.what),
        (Some(ReasonCode::PROTOCOL_ERROR), "not connected")
    );
    assert!(pair.received(V5).is_empty());
}

#[test]
fn a_second_connect_is_a_protocol_error() {
    let mut pair = Pair::connected(V5, 0);
    pair.send(&connect(V5, 0, Properties::EMPTY), V5);
    assert_eq!(pair.close_seen().unwrap().counter, Counter::Protocol);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(ReasonCode::PROTOCOL_ERROR)]
    );
    assert!(!pair.server.is_connected());
}

#[test]
fn packets_flow_once_connected() {
    let mut pair = Pair::connected(V5, 0);
    pair.send(&Packet::Puback(wire::mqtt::Ack::new(4)), V5);
    pair.send(&Packet::Pubrec(wire::mqtt::Ack::new(5)), V5);
    pair.send(&Packet::Pubcomp(wire::mqtt::Ack::new(6)), V5);
    pair.send(&Packet::Pubrel(wire::mqtt::Ack::new(7)), V5);
    pair.send(&publish("a/b", Properties::EMPTY), V5);
    assert_eq!(
        pair.seen,
        [
            Seen::Ack(4, AwaitAck::Puback),
            Seen::Ack(5, AwaitAck::Pubrec),
            Seen::Ack(6, AwaitAck::Pubcomp),
            Seen::Pubrel(7),
            Seen::Publish {
                topic: "a/b".into(),
                payload: b"hi".to_vec()
            },
        ]
    );
}

#[test]
fn topic_aliases_are_set_used_and_refused_outside_the_table() {
    let mut pair = Pair::connected(V5, 0);
    let (one, two) = (alias(1), alias(2));
    pair.send(&publish("a/b", one.as_properties()), V5);
    pair.send(&publish("", one.as_properties()), V5);
    pair.send(&publish("c", one.as_properties()), V5);
    pair.send(&publish("", one.as_properties()), V5);
    let topics: Vec<_> = pair
        .seen
        .iter()
        .map(|s| match s {
            Seen::Publish { topic, .. } => topic.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, ["a/b", "a/b", "c", "c"]);
    // An alias never set.
    pair.send(&publish("", two.as_properties()), V5);
    let c = pair.close_seen().unwrap();
    assert_eq!(
        (c.reason, c.what),
        (Some(ReasonCode::PROTOCOL_ERROR), "unknown topic alias")
    );
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(ReasonCode::PROTOCOL_ERROR)]
    );
    // Over topic_alias_maximum (alias 0 the codec refuses already).
    let max = MqttConfig::default().topic_alias_maximum;
    let mut pair = Pair::connected(V5, 0);
    pair.send(&publish("a", alias(max + 1).as_properties()), V5);
    assert_eq!(pair.close_seen().unwrap().counter, Counter::Protocol);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(reason::TOPIC_ALIAS_INVALID)]
    );
}

#[test]
fn a_packet_over_the_maximum_is_refused_before_its_body() {
    let cfg = MqttConfig {
        max_packet_bytes: 64,
        ..MqttConfig::default()
    };
    let mut pair = Pair::with(&cfg);
    pair.send(&connect(V5, 0, Properties::EMPTY), V5);
    // The fixed header alone tells: 2 + 200 bytes.
    pair.feed(&[0x30, 0xC8, 0x01]);
    let c = pair.close_seen().unwrap();
    assert_eq!(c.counter, Counter::Oversized);
    assert_eq!(c.ws_code, 1002);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(ReasonCode::PACKET_TOO_LARGE)]
    );
}

#[test]
fn a_malformed_packet_is_answered_with_0x81() {
    let mut pair = Pair::connected(V5, 0);
    // PUBLISH with QoS 3.
    pair.feed(&[0x36, 0x00]);
    assert_eq!(pair.close_seen().unwrap().counter, Counter::Malformed);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(ReasonCode::MALFORMED_PACKET)]
    );
    // In 3.1.1 the connection just closes.
    let mut pair = Pair::connected(V311, 0);
    pair.feed(&[0x36, 0x00]);
    assert_eq!(pair.close_seen().unwrap().counter, Counter::Malformed);
    assert!(pair.received(V311).is_empty());
}

#[test]
fn an_unknown_version_gets_the_3_1_1_answer() {
    let mut pair = Pair::new();
    // CONNECT, protocol name MQTT, level 3.
    let body = [0, 4, b'M', b'Q', b'T', b'T', 3, 0x02, 0, 0, 0, 1, b'x'];
    let mut bytes = vec![0x10, body.len() as u8];
    bytes.extend_from_slice(&body);
    pair.feed(&bytes);
    let c = pair.close_seen().unwrap();
    assert_eq!((c.reason, c.counter), (None, Counter::ConnectRefused));
    assert_eq!(pair.to_client, [0x20, 0x02, 0x00, 0x01]);
    assert_eq!(pair.received(V311), [Got::Connack(ReasonCode(1))]);
}

#[test]
fn server_only_packets_and_auth_are_refused() {
    let mut pair = Pair::connected(V5, 0);
    pair.send(&Packet::Pingresp, V5);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(ReasonCode::PROTOCOL_ERROR)]
    );
    let mut pair = Pair::connected(V5, 0);
    let auth = Auth {
        reason: ReasonCode(0x18),
        properties: Properties::EMPTY,
    };
    pair.send(&Packet::Auth(auth), V5);
    assert_eq!(
        pair.received(V5),
        [Got::Disconnect(reason::BAD_AUTH_METHOD)]
    );
}

#[test]
fn keep_alive_expires_past_one_and_a_half_times_and_not_before() {
    // Keep-alive 10 s: silent for up to 15 s; near the clock's wrap too.
    for read_at in [1_000_u32, u32::MAX - 5_000] {
        let mut pair = Pair::connected(V5, 10);
        let limits = pair.limits;
        let at = |ms: u32| read_at.wrapping_add(ms);
        assert_eq!(pair.server.poll_timeout(read_at, &limits), Some(at(15_000)));
        for ms in [0, 14_999, 15_000] {
            assert_eq!(pair.server.handle_timeout(read_at, at(ms), &limits), None);
        }
        let c = pair.server.handle_timeout(read_at, at(15_001), &limits);
        let c = c.expect("expired");
        assert_eq!(c.reason, Some(reason::KEEP_ALIVE_TIMEOUT));
        assert_eq!(c.counter, Counter::KeepAlive);
        pair.close(c);
        assert_eq!(
            pair.received(V5),
            [Got::Disconnect(reason::KEEP_ALIVE_TIMEOUT)]
        );
    }
    // Keep-alive 0: no limit.
    let pair = Pair::connected(V5, 0);
    assert_eq!(pair.server.poll_timeout(0, &pair.limits), None);
    assert_eq!(pair.server.handle_timeout(0, u32::MAX, &pair.limits), None);
}

#[test]
fn connect_must_come_within_the_connect_timeout() {
    let pair = Pair::new();
    let (limits, t) = (pair.limits, MqttConfig::default().connect_timeout_ms as u32);
    assert_eq!(pair.server.poll_timeout(500, &limits), Some(500 + t));
    assert_eq!(pair.server.handle_timeout(500, 500 + t, &limits), None);
    let c = pair.server.handle_timeout(500, 501 + t, &limits).unwrap();
    assert_eq!(
        (c.reason, c.counter, c.ws_code),
        (None, Counter::KeepAlive, 1001)
    );
}

#[test]
fn disconnect_is_read_with_its_will_and_expiry() {
    let mut pair = Pair::connected(V5, 0);
    let mut props = PropertiesBuf::new();
    props.push(PropertyId::SESSION_EXPIRY_INTERVAL, PropertyValue::U32(30));
    let d = Disconnect {
        reason: reason::WITH_WILL,
        properties: props.as_properties(),
    };
    pair.send(&Packet::Disconnect(d), V5);
    let mut plain = Pair::connected(V311, 0);
    plain.send(&Packet::Disconnect(Disconnect::default()), V311);
    assert_eq!(
        pair.seen,
        [Seen::Disconnect {
            keep_will: true,
            expiry_s: Some(30)
        }]
    );
    assert_eq!(
        plain.seen,
        [Seen::Disconnect {
            keep_will: false,
            expiry_s: None
        }]
    );
}

#[test]
fn a_disconnect_is_owed_only_to_a_connected_mqtt_5_client() {
    let mut out = Vec::new();
    let mut v311 = Pair::connected(V311, 0);
    assert!(!v311.server.close(reason::TAKEN_OVER, "x", &mut out));
    let mut waiting = Pair::new();
    waiting.accepts = false;
    waiting.send(&connect(V5, 0, Properties::EMPTY), V5);
    assert!(!waiting.server.close(reason::TAKEN_OVER, "x", &mut out));
    assert!(out.is_empty());
    let mut v5 = Pair::connected(V5, 0);
    assert!(v5.server.close(reason::TAKEN_OVER, "taken over", &mut out));
    v5.to_client = out;
    assert_eq!(v5.received(V5), [Got::Disconnect(reason::TAKEN_OVER)]);
    // Closing keeps the session until it is taken.
    assert_eq!(v5.server.session(), Some(7));
    assert_eq!(v5.server.take_session(), Some(7));
    assert_eq!(v5.server.session(), None);
}
