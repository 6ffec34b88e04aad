//! The session against a scripted broker: the broker's side decodes what
//! the session queued with `wire::mqtt` and answers with encoded packets.

use wire::mqtt::{Connack, Disconnect, PropertiesBuf, ReasonCode, Suback};

use super::*;

const V311: ProtocolVersion = ProtocolVersion::V311;

/// What the broker saw, owned.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Connect {
        client_id: String,
        keep_alive: u16,
        clean_start: bool,
        session_expiry_s: Option<u32>,
    },
    Subscribe {
        id: u16,
        filter: String,
        qos: QoS,
    },
    Publish {
        topic: String,
        qos: QoS,
        id: Option<u16>,
        stamp: (u64, u64),
    },
    Puback(u16),
    Pingreq,
    Disconnect,
}

struct Broker {
    decoder: PacketDecoder,
    version: ProtocolVersion,
}

impl Broker {
    fn new(version: ProtocolVersion) -> Broker {
        Broker {
            decoder: PacketDecoder::server(1 << 20),
            version,
        }
    }

    /// Takes everything the session queued.
    fn read(&mut self, s: &mut Session) -> Vec<Seen> {
        let bytes = s.transmit().to_vec();
        s.advance(bytes.len());
        let mut seen = Vec::new();
        self.decoder
            .feed(&bytes, |p| {
                seen.push(match p {
                    Packet::Connect(c) => Seen::Connect {
                        client_id: c.client_id.to_string(),
                        keep_alive: c.keep_alive,
                        clean_start: c.clean_start,
                        session_expiry_s: match c
                            .properties
                            .get(PropertyId::SESSION_EXPIRY_INTERVAL)
                        {
                            Some(PropertyValue::U32(s)) => Some(s),
                            _ => None,
                        },
                    },
                    Packet::Subscribe(s) => Seen::Subscribe {
                        id: s.packet_id,
                        filter: s.filters[0].filter.to_string(),
                        qos: s.filters[0].options.qos,
                    },
                    Packet::Publish(p) => Seen::Publish {
                        topic: p.topic.to_string(),
                        qos: p.qos,
                        id: p.packet_id,
                        stamp: stamp::read(p.payload).unwrap(),
                    },
                    Packet::Puback(a) => Seen::Puback(a.packet_id),
                    Packet::Pingreq => Seen::Pingreq,
                    Packet::Disconnect(_) => Seen::Disconnect,
                    other => panic!("a client does not send {other:?}"),
                });
                Control::Continue
            })
            .expect("the session sends valid packets");
        seen
    }

    fn bytes(&self, p: &Packet<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, self.version, &mut out).unwrap();
        out
    }

    fn send(&self, s: &mut Session, now: u64, p: &Packet<'_>) {
        s.handle_input(now, &self.bytes(p));
    }
}

fn config(qos: QoS, inflight: u16, version: ProtocolVersion) -> Config<'static> {
    Config {
        version,
        client_id: "lg1x0",
        keep_alive_s: 10,
        qos,
        inflight,
        body_len: 32,
        session_expiry_s: None,
    }
}

fn connack(reason: u8, properties: Properties<'_>) -> Packet<'_> {
    Packet::Connack(Connack {
        session_present: false,
        reason: ReasonCode(reason),
        properties,
    })
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A session past CONNACK, and its broker.
fn open(qos: QoS, inflight: u16) -> (Session, Broker) {
    let mut s = Session::new(&config(qos, inflight, V311), 0);
    let mut b = Broker::new(V311);
    b.read(&mut s);
    b.send(&mut s, 0, &connack(0, Properties::EMPTY));
    assert_eq!(events(&mut s), [Event::Connected]);
    (s, b)
}

fn publish<'a>(topic: &'a str, qos: QoS, id: Option<u16>, payload: &'a [u8]) -> Packet<'a> {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic,
        packet_id: id,
        properties: Properties::EMPTY,
        payload,
    })
}

fn stamped(intended: u64, seq: u64) -> Vec<u8> {
    let mut body = vec![0; 24];
    stamp::write(&mut body, intended, seq);
    body
}

#[test]
fn connect_then_subscribe() {
    let mut s = Session::new(&config(QoS::AtLeastOnce, 8, V311), 0);
    let mut b = Broker::new(V311);
    let connect = Seen::Connect {
        client_id: "lg1x0".into(),
        keep_alive: 10,
        clean_start: true,
        session_expiry_s: None,
    };
    assert_eq!(b.read(&mut s), [connect]);
    assert_eq!(s.phase(), Phase::ExpectConnack);
    b.send(&mut s, 1, &connack(0, Properties::EMPTY));
    assert_eq!(events(&mut s), [Event::Connected]);
    s.subscribe("bench/+/telemetry", 2);
    let sub = Seen::Subscribe {
        id: SUBSCRIBE_ID,
        filter: "bench/+/telemetry".into(),
        qos: QoS::AtLeastOnce,
    };
    assert_eq!(b.read(&mut s), [sub]);
    let suback = Suback {
        packet_id: SUBSCRIBE_ID,
        properties: Properties::EMPTY,
        reasons: &[1],
    };
    b.send(&mut s, 3, &Packet::Suback(suback));
    assert_eq!(events(&mut s), [Event::Subscribed]);
    assert_eq!(s.phase(), Phase::Open);
}

#[test]
fn refused_connect_and_downgraded_subscription_are_fatal() {
    let mut s = Session::new(&config(QoS::AtMostOnce, 8, V311), 0);
    let b = Broker::new(V311);
    b.send(&mut s, 0, &connack(5, Properties::EMPTY));
    assert_eq!(
        events(&mut s),
        [Event::Error(SessionError::ConnectRefused(5))]
    );
    assert_eq!(s.phase(), Phase::Closed);

    let (mut s, mut b) = open(QoS::AtLeastOnce, 8);
    s.subscribe("t", 0);
    b.read(&mut s);
    let suback = Suback {
        packet_id: SUBSCRIBE_ID,
        properties: Properties::EMPTY,
        reasons: &[0],
    };
    b.send(&mut s, 0, &Packet::Suback(suback));
    let e = events(&mut s);
    assert_eq!(e, [Event::Error(SessionError::SubscribeRefused(0))]);
    assert!(SessionError::SubscribeRefused(0).is_fatal());
    assert_eq!(s.phase(), Phase::Closed);
}

#[test]
fn qos1_deliveries_are_acked_and_qos0_ones_are_not() {
    let (mut s, mut b) = open(QoS::AtLeastOnce, 8);
    let body = stamped(1_000, 42);
    b.send(&mut s, 5, &publish("t", QoS::AtLeastOnce, Some(7), &body));
    b.send(&mut s, 6, &publish("t", QoS::AtMostOnce, None, &body));
    let delivery = Event::Delivery {
        intended_ns: 1_000,
        seq: 42,
    };
    assert_eq!(events(&mut s), [delivery, delivery]);
    assert_eq!(b.read(&mut s), [Seen::Puback(7)]);
}

#[test]
fn window_fills_and_acks_free_it() {
    let (mut s, mut b) = open(QoS::AtLeastOnce, 2);
    assert_eq!(s.publish(1, "a/b", 10, 1), Ok(()));
    assert_eq!(s.publish(1, "a/b", 11, 2), Ok(()));
    assert!(s.window_full());
    assert_eq!(s.publish(1, "a/b", 12, 3), Err(Refused::WindowFull));
    let seen = b.read(&mut s);
    let ids: Vec<_> = seen
        .iter()
        .map(|p| match p {
            Seen::Publish { id, qos, stamp, .. } => {
                assert_eq!(*qos, QoS::AtLeastOnce);
                assert!(stamp.0 == 10 || stamp.0 == 11);
                id.unwrap()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 2, "the refused PUBLISH was not queued");
    b.send(&mut s, 2, &Packet::Puback(Ack::new(ids[0])));
    assert_eq!(events(&mut s), [Event::Acked]);
    assert_eq!(s.in_flight(), 1);
    assert_eq!(s.publish(3, "a/b", 12, 3), Ok(()));
    // A PUBACK nothing waits for is an error, and frees nothing.
    b.send(&mut s, 4, &Packet::Puback(Ack::new(ids[0])));
    let e = events(&mut s);
    assert_eq!(e, [Event::Error(SessionError::UnknownAck(ids[0]))]);
    assert!(!SessionError::UnknownAck(1).is_fatal());
    assert_eq!(s.in_flight(), 2);
    assert_eq!(s.phase(), Phase::Open);
}

#[test]
fn qos0_publishes_need_no_window() {
    let (mut s, mut b) = open(QoS::AtMostOnce, 1);
    for i in 0..5 {
        assert_eq!(s.publish(1, "x", i, i), Ok(()));
    }
    assert!(!s.window_full());
    assert_eq!(b.read(&mut s).len(), 5);
}

#[test]
fn mqtt5_receive_maximum_caps_the_window() {
    let v5 = ProtocolVersion::V5;
    let mut s = Session::new(&config(QoS::AtLeastOnce, 64, v5), 0);
    let mut b = Broker::new(v5);
    b.read(&mut s);
    let mut props = PropertiesBuf::new();
    props.push(PropertyId::RECEIVE_MAXIMUM, PropertyValue::U16(1));
    b.send(&mut s, 0, &connack(0, props.as_properties()));
    assert_eq!(events(&mut s), [Event::Connected]);
    assert_eq!(s.window_limit(), 1);
    assert_eq!(s.publish(1, "t", 1, 1), Ok(()));
    assert_eq!(s.publish(1, "t", 1, 2), Err(Refused::WindowFull));
    // A v5 PUBACK with a failure reason still frees the slot.
    let mut nack = Ack::new(1);
    nack.reason = ReasonCode(0x87);
    b.send(&mut s, 2, &Packet::Puback(nack));
    let e = events(&mut s);
    assert_eq!(
        e,
        [Event::Error(SessionError::AckFailed(0x87)), Event::Acked]
    );
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn input_may_arrive_one_byte_at_a_time() {
    let (mut s, mut b) = open(QoS::AtLeastOnce, 8);
    let body = stamped(9, 3);
    let bytes = b.bytes(&publish("split/topic", QoS::AtLeastOnce, Some(300), &body));
    for byte in &bytes {
        s.handle_input(1, std::slice::from_ref(byte));
    }
    let delivery = Event::Delivery {
        intended_ns: 9,
        seq: 3,
    };
    assert_eq!(events(&mut s), [delivery]);
    assert_eq!(b.read(&mut s), [Seen::Puback(300)]);
}

#[test]
fn keep_alive_pings_and_counts_pongs() {
    const S: u64 = 1_000_000_000;
    let (mut s, mut b) = open(QoS::AtMostOnce, 1);
    assert_eq!(s.poll_timeout(), Some(5 * S), "half of the 10 s keep-alive");
    s.handle_timeout(4 * S);
    assert!(b.read(&mut s).is_empty());
    s.handle_timeout(5 * S);
    assert_eq!(b.read(&mut s), [Seen::Pingreq]);
    b.send(&mut s, 5 * S + 100, &Packet::Pingresp);
    assert_eq!(events(&mut s), [Event::Pong]);
    s.handle_timeout(10 * S);
    s.handle_timeout(15 * S);
    assert_eq!(b.read(&mut s), [Seen::Pingreq, Seen::Pingreq]);
    assert_eq!(events(&mut s), [Event::Error(SessionError::PingLate)]);
}

#[test]
fn broker_faults_are_reported() {
    let (mut s, b) = open(QoS::AtMostOnce, 1);
    b.send(&mut s, 1, &publish("t", QoS::AtMostOnce, None, b"short"));
    assert_eq!(events(&mut s), [Event::Error(SessionError::NoStamp)]);
    b.send(&mut s, 1, &Packet::Pingreq);
    let e = events(&mut s);
    assert_eq!(
        e,
        [Event::Error(SessionError::Unexpected(PacketType::Pingreq))]
    );
    b.send(&mut s, 2, &Packet::Disconnect(Disconnect::default()));
    assert_eq!(
        events(&mut s),
        [Event::Error(SessionError::Disconnected(0))]
    );
    assert_eq!(s.phase(), Phase::Closed);
    // A closed session reads nothing more.
    b.send(&mut s, 3, &Packet::Pingresp);
    assert!(events(&mut s).is_empty());

    let (mut s, _) = open(QoS::AtMostOnce, 1);
    s.handle_input(1, &[0x00, 0x00]);
    assert!(matches!(
        events(&mut s)[..],
        [Event::Error(SessionError::Decode(_))]
    ));
    assert_eq!(s.phase(), Phase::Closed);
}

#[test]
fn disconnect_is_queued_once_and_closes() {
    let (mut s, mut b) = open(QoS::AtMostOnce, 1);
    s.disconnect(1);
    s.disconnect(2);
    assert_eq!(b.read(&mut s), [Seen::Disconnect]);
    assert_eq!(s.phase(), Phase::Closed);
    assert_eq!(s.publish(3, "t", 1, 1), Err(Refused::Closed));
    assert_eq!(s.poll_timeout(), None);
}

/// The storm's CONNECT resumes the session: Clean Start 0, and on MQTT 5
/// the Session Expiry Interval (3.1.1 has no such property).
#[test]
fn resuming_connect_keeps_the_session() {
    for (version, expiry) in [(ProtocolVersion::V5, Some(300)), (V311, None)] {
        let cfg = Config {
            session_expiry_s: Some(300),
            ..config(QoS::AtMostOnce, 1, version)
        };
        let mut s = Session::new(&cfg, 0);
        let connect = Seen::Connect {
            client_id: "lg1x0".into(),
            keep_alive: 10,
            clean_start: false,
            session_expiry_s: expiry,
        };
        assert_eq!(Broker::new(version).read(&mut s), [connect]);
    }
}
