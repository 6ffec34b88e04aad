//! MQTT codec: round trips of every packet in both versions, every split
//! point, and the malformed inputs the spec names.

use proptest::prelude::*;
use wire::mqtt::validate::{shared_filter, topic_filter, topic_name, ShareError, SharedFilter};
use wire::mqtt::*;
use wire::Control;

const MAX: u32 = 1 << 20;

fn enc(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    encode(p, v, &mut out).expect("encodes");
    out
}

fn connect(v: ProtocolVersion) -> Packet<'static> {
    Packet::Connect(Connect {
        version: v,
        clean_start: true,
        keep_alive: 30,
        properties: Properties::EMPTY,
        client_id: "client-1",
        will: None,
        username: None,
        password: None,
    })
}

/// Decodes `bytes` fed whole, as an owned debug string per packet (the
/// packets borrow from the decoder's input).
fn decode_all(dec: &mut PacketDecoder, bytes: &[u8]) -> Result<Vec<String>, MqttError> {
    let mut got = Vec::new();
    dec.feed(bytes, |p| {
        got.push(format!("{p:?}"));
        Control::Continue
    })?;
    Ok(got)
}

fn props_v5() -> PropertiesBuf {
    let mut b = PropertiesBuf::new();
    b.push(PropertyId::USER_PROPERTY, PropertyValue::Pair("k", "v"));
    b.push(PropertyId::USER_PROPERTY, PropertyValue::Pair("k", "w"));
    b
}

fn all_packets<'a>(v: ProtocolVersion, props: Properties<'a>) -> Vec<Packet<'a>> {
    let v5 = v.is_v5();
    let p = if v5 { props } else { Properties::EMPTY };
    let reason = |r: u8| {
        if v5 {
            ReasonCode(r)
        } else {
            ReasonCode::SUCCESS
        }
    };
    vec![
        Packet::Connack(Connack {
            session_present: true,
            reason: ReasonCode::SUCCESS,
            properties: p,
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "a/b",
            packet_id: None,
            properties: p,
            payload: b"hello",
        }),
        Packet::Publish(Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "a/b/c",
            packet_id: Some(7),
            properties: p,
            payload: b"",
        }),
        Packet::Puback(Ack::new(1)),
        Packet::Pubrec(Ack {
            packet_id: 2,
            reason: reason(0x10),
            properties: Properties::EMPTY,
        }),
        Packet::Pubrel(Ack {
            packet_id: 3,
            reason: reason(0x92),
            properties: p,
        }),
        Packet::Pubcomp(Ack::new(4)),
        Packet::Subscribe(Subscribe {
            packet_id: 5,
            properties: p,
            filters: vec![
                Subscription {
                    filter: "a/+/c",
                    options: SubscriptionOptions::new(QoS::AtLeastOnce),
                },
                Subscription {
                    filter: "$share/g/x/#",
                    options: SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: v5,
                        retain_as_published: v5,
                        retain_handling: if v5 {
                            RetainHandling::DoNotSend
                        } else {
                            RetainHandling::SendAtSubscribe
                        },
                    },
                },
            ],
        }),
        Packet::Suback(Suback {
            packet_id: 5,
            properties: p,
            reasons: &[0, 2, 0x80],
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 6,
            properties: p,
            filters: vec!["a/+/c", "#"],
        }),
        Packet::Unsuback(Unsuback {
            packet_id: 6,
            properties: p,
            reasons: if v5 { &[0, 0x11] } else { &[] },
        }),
        Packet::Pingreq,
        Packet::Pingresp,
        Packet::Disconnect(Disconnect {
            reason: reason(0x04),
            properties: Properties::EMPTY,
        }),
    ]
}

fn stream(v: ProtocolVersion, props: Properties<'_>) -> (Vec<u8>, Vec<String>) {
    let mut packets = vec![connect(v)];
    packets.extend(all_packets(v, props));
    if v.is_v5() {
        packets.push(Packet::Auth(Auth {
            reason: ReasonCode(0x18),
            properties: Properties::EMPTY,
        }));
    }
    let mut bytes = Vec::new();
    for p in &packets {
        encode(p, v, &mut bytes).expect("encodes");
    }
    (bytes, packets.iter().map(|p| format!("{p:?}")).collect())
}

#[test]
fn every_packet_round_trips_in_both_versions() {
    let props = props_v5();
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (bytes, want) = stream(v, props.as_properties());
        let mut dec = PacketDecoder::server(MAX);
        assert_eq!(decode_all(&mut dec, &bytes).unwrap(), want, "{v:?}");
        assert_eq!(dec.version(), Some(v));
        assert_eq!(dec.buffered_len(), 0);
    }
}

#[test]
fn every_split_point_gives_the_same_packets() {
    let props = props_v5();
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (bytes, want) = stream(v, props.as_properties());
        for cut in 0..=bytes.len() {
            let mut dec = PacketDecoder::server(MAX);
            let mut got = decode_all(&mut dec, &bytes[..cut]).unwrap();
            got.extend(decode_all(&mut dec, &bytes[cut..]).unwrap());
            assert_eq!(got, want, "{v:?} cut at {cut}");
            assert_eq!(dec.buffered_len(), 0);
        }
        // Byte by byte.
        let mut dec = PacketDecoder::server(MAX);
        let mut got = Vec::new();
        for b in &bytes {
            got.extend(decode_all(&mut dec, std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, want);
    }
}

#[test]
fn pause_keeps_the_rest() {
    let (bytes, want) = stream(ProtocolVersion::V5, Properties::EMPTY);
    let mut dec = PacketDecoder::server(MAX);
    let mut got = Vec::new();
    let n = dec
        .feed(&bytes, |p| {
            got.push(format!("{p:?}"));
            Control::Pause
        })
        .unwrap();
    assert_eq!(n, 1);
    while dec.buffered_len() > 0 {
        dec.feed(&[], |p| {
            got.push(format!("{p:?}"));
            Control::Pause
        })
        .unwrap();
    }
    assert_eq!(got, want);
}

#[test]
fn spec_examples() {
    // A minimal 3.1.1 CONNECT: "MQTT", level 4, clean session, keep-alive
    // 60, empty client id.
    let bytes = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];
    let mut dec = PacketDecoder::server(MAX);
    let mut seen = false;
    dec.feed(&bytes, |p| {
        let Packet::Connect(c) = p else {
            panic!("{p:?}")
        };
        assert_eq!(c.version, ProtocolVersion::V311);
        assert!(c.clean_start);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(c.client_id, "");
        seen = true;
        Control::Continue
    })
    .unwrap();
    assert!(seen);
    // PINGREQ is C0 00; PINGRESP D0 00; 3.1.1 DISCONNECT E0 00.
    assert_eq!(enc(&Packet::Pingreq, ProtocolVersion::V311), [0xc0, 0]);
    assert_eq!(enc(&Packet::Pingresp, ProtocolVersion::V5), [0xd0, 0]);
    assert_eq!(
        enc(
            &Packet::Disconnect(Disconnect::default()),
            ProtocolVersion::V5
        ),
        [0xe0, 0]
    );
    // A QoS 1 PUBACK in 5.0 with success and no properties is 4 bytes.
    assert_eq!(
        enc(&Packet::Puback(Ack::new(0x1234)), ProtocolVersion::V5),
        [0x40, 2, 0x12, 0x34]
    );
}

#[test]
fn connect_with_will_credentials_and_properties() {
    let mut cp = PropertiesBuf::new();
    cp.push(PropertyId::SESSION_EXPIRY_INTERVAL, PropertyValue::U32(60))
        .push(PropertyId::RECEIVE_MAXIMUM, PropertyValue::U16(10))
        .push(PropertyId::AUTHENTICATION_METHOD, PropertyValue::Str("x"));
    let mut wp = PropertiesBuf::new();
    wp.push(PropertyId::WILL_DELAY_INTERVAL, PropertyValue::U32(5))
        .push(
            PropertyId::CORRELATION_DATA,
            PropertyValue::Bin(b"\x00\x01"),
        );
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (cprops, wprops) = if v.is_v5() {
            (cp.as_properties(), wp.as_properties())
        } else {
            (Properties::EMPTY, Properties::EMPTY)
        };
        let c = Packet::Connect(Connect {
            version: v,
            clean_start: false,
            keep_alive: 0,
            properties: cprops,
            client_id: "id",
            will: Some(Will {
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: wprops,
                topic: "last/will",
                payload: b"bye",
            }),
            username: Some("user"),
            password: Some(b"pw"),
        });
        let bytes = enc(&c, v);
        let mut dec = PacketDecoder::server(MAX);
        assert_eq!(
            decode_all(&mut dec, &bytes).unwrap(),
            vec![format!("{c:?}")]
        );
    }
    let got: Vec<_> = cp.as_properties().iter().collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        cp.as_properties().get(PropertyId::RECEIVE_MAXIMUM),
        Some(PropertyValue::U16(10))
    );
}

fn err_of(version: Option<ProtocolVersion>, bytes: &[u8]) -> MqttError {
    let mut dec = match version {
        None => PacketDecoder::server(MAX),
        Some(v) => PacketDecoder::client(v, MAX),
    };
    let e = decode_all(&mut dec, bytes).expect_err("must fail");
    // Refuses everything afterwards.
    assert!(dec.feed(&[0xc0, 0], |_| Control::Continue).is_err());
    e
}

const V5: Option<ProtocolVersion> = Some(ProtocolVersion::V5);
const V311: Option<ProtocolVersion> = Some(ProtocolVersion::V311);

#[test]
fn malformed_inputs() {
    let m = ReasonCode::MALFORMED_PACKET;
    // A fifth remaining-length byte: fails on the fourth, without waiting.
    assert_eq!(err_of(V5, &[0x30, 0xff, 0xff, 0xff, 0xff]).reason, m);
    // QoS 3 PUBLISH, fails on the first byte.
    assert_eq!(err_of(V5, &[0x36]).reason, m);
    // Reserved flags on PUBREL / SUBSCRIBE / PINGREQ.
    assert_eq!(err_of(V5, &[0x60, 2, 0, 1]).reason, m);
    assert_eq!(err_of(V5, &[0x80]).reason, m);
    assert_eq!(err_of(V5, &[0xc1, 0]).reason, m);
    // Reserved type 0.
    assert_eq!(err_of(V5, &[0x00, 0]).reason, m);
    // AUTH in 3.1.1.
    assert_eq!(err_of(V311, &[0xf0, 0]).reason, m);
    // CONNECT reserved flag.
    let mut c = enc(&connect(ProtocolVersion::V5), ProtocolVersion::V5);
    c[9] |= 1;
    assert_eq!(err_of(None, &c).reason, m);
    // Unsupported level.
    let mut c = enc(&connect(ProtocolVersion::V5), ProtocolVersion::V5);
    c[8] = 3;
    assert_eq!(
        err_of(None, &c).reason,
        ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
    );
    // First packet not CONNECT; second CONNECT.
    assert_eq!(err_of(None, &[0xc0, 0]).reason, ReasonCode::PROTOCOL_ERROR);
    let c = enc(&connect(ProtocolVersion::V311), ProtocolVersion::V311);
    assert_eq!(
        err_of(None, &[c.clone(), c].concat()).reason,
        ReasonCode::PROTOCOL_ERROR
    );
    // Invalid UTF-8 topic, and U+0000 in a topic.
    assert_eq!(err_of(V5, &[0x30, 5, 0, 2, 0xc3, 0x28, 0]).reason, m);
    assert_eq!(err_of(V311, &[0x30, 4, 0, 2, b'a', 0]).reason, m);
    // Wildcards in a PUBLISH topic.
    assert_eq!(
        err_of(V311, &[0x30, 4, 0, 2, b'a', b'+']).reason,
        ReasonCode::TOPIC_NAME_INVALID
    );
    assert_eq!(
        err_of(V5, &[0x30, 5, 0, 2, b'#', b'/', 0]).reason,
        ReasonCode::TOPIC_NAME_INVALID
    );
    // Subscription options reserved bits.
    assert_eq!(err_of(V311, &[0x82, 6, 0, 1, 0, 1, b'a', 0x04]).reason, m);
    assert_eq!(err_of(V5, &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x40]).reason, m);
    // Duplicate single-valued property (two Topic Aliases).
    assert_eq!(
        err_of(V5, &[0x30, 10, 0, 1, b'a', 6, 0x23, 0, 1, 0x23, 0, 2]).reason,
        ReasonCode::PROTOCOL_ERROR
    );
    // Unknown property identifier.
    assert_eq!(err_of(V5, &[0x30, 6, 0, 1, b'a', 2, 0x7f, 0]).reason, m);
    // Packet id 0.
    assert_eq!(
        err_of(V5, &[0x40, 2, 0, 0]).reason,
        ReasonCode::PROTOCOL_ERROR
    );
}

#[test]
fn packet_too_large_fails_before_the_body() {
    let mut dec = PacketDecoder::client(ProtocolVersion::V5, 100);
    // Header says 200 bytes of body; nothing else sent.
    let e = dec
        .feed(&[0x30, 0xc8, 0x01], |_| Control::Continue)
        .unwrap_err();
    assert_eq!(e.reason, ReasonCode::PACKET_TOO_LARGE);
    // Exactly at the limit passes: 1 + 1 + 98 = 100.
    let mut dec = PacketDecoder::client(ProtocolVersion::V311, 100);
    let mut body = vec![0x30, 98, 0, 1, b'a'];
    body.resize(100, 7);
    assert_eq!(dec.feed(&body, |_| Control::Continue).unwrap(), 1);
}

#[test]
fn varint_bounds() {
    use wire::mqtt::varint;
    for v in [
        0,
        127,
        128,
        16_383,
        16_384,
        2_097_151,
        2_097_152,
        varint::MAX,
    ] {
        let (b, n) = varint::encode(v).unwrap();
        assert_eq!(n, varint::len(v));
        assert_eq!(varint::decode(&b[..n]), Ok(Some((v, n))));
        assert_eq!(varint::decode(&b[..n - 1]), Ok(None));
    }
    assert_eq!(varint::encode(varint::MAX + 1), None);
    assert_eq!(
        varint::decode(&[0xff, 0xff, 0xff, 0x80]),
        Err(varint::VarIntError::TooLong)
    );
    assert_eq!(
        varint::decode(&[0x80, 0x00]),
        Err(varint::VarIntError::NotMinimal)
    );
}

#[test]
fn topic_validation() {
    assert!(topic_name("a/b") && topic_name("/") && !topic_name("") && !topic_name("a/+"));
    for ok in ["#", "+", "a/#", "+/+", "a/+/b", "/", "sport/tennis/#"] {
        assert!(topic_filter(ok), "{ok}");
    }
    for bad in ["", "a#", "a/#/b", "a+", "a/b+/c", "##"] {
        assert!(!topic_filter(bad), "{bad}");
    }
    assert_eq!(shared_filter("a/b"), Ok(None));
    assert_eq!(
        shared_filter("$share/g/a/+"),
        Ok(Some(SharedFilter {
            group: "g",
            filter: "a/+"
        }))
    );
    assert_eq!(shared_filter("$share//a"), Err(ShareError::BadGroup));
    assert_eq!(shared_filter("$share/g+/a"), Err(ShareError::BadGroup));
    assert_eq!(shared_filter("$share/g"), Err(ShareError::BadFilter));
    assert_eq!(shared_filter("$share/g/a#"), Err(ShareError::BadFilter));
}

proptest! {
    #[test]
    fn publish_round_trips(
        topic in "[a-z/]{1,20}",
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        qos in 0u8..3,
        retain: bool,
        id in 1u16..,
        v5: bool,
        cut in 0usize..400,
    ) {
        let v = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
        let qos = QoS::from_bits(qos).unwrap();
        let p = Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: &topic,
            packet_id: (qos != QoS::AtMostOnce).then_some(id),
            properties: Properties::EMPTY,
            payload: &payload,
        });
        let bytes = enc(&p, v);
        let cut = cut.min(bytes.len());
        let mut dec = PacketDecoder::client(v, MAX);
        let mut got = decode_all(&mut dec, &bytes[..cut]).unwrap();
        got.extend(decode_all(&mut dec, &bytes[cut..]).unwrap());
        prop_assert_eq!(got, vec![format!("{p:?}")]);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for v in [None, V311, V5] {
            let mut dec = match v {
                None => PacketDecoder::server(1000),
                Some(v) => PacketDecoder::client(v, 1000),
            };
            let _ = dec.feed(&bytes, |_| Control::Continue);
        }
    }
}

#[test]
fn fuzz_body_accepts_valid_streams_and_garbage() {
    let props = props_v5();
    for (config, v) in [(0u8, ProtocolVersion::V311), (0, ProtocolVersion::V5)] {
        let (bytes, _) = stream(v, props.as_properties());
        wire::fuzzing::mqtt_decode(&[[config].as_slice(), &bytes].concat());
    }
    let (bytes, _) = stream(ProtocolVersion::V5, props.as_properties());
    // Client decoders: skip the CONNECT (a client never receives one).
    let skip = usize::from(bytes[1]) + 2;
    wire::fuzzing::mqtt_decode(&[[2u8].as_slice(), &bytes[skip..]].concat());
    wire::fuzzing::mqtt_decode(&[1, 0x30, 0xff, 0xff, 0xff, 0xff]);
    wire::fuzzing::mqtt_decode(&[2, 0x30, 3, 0, 1]);
}

proptest! {
    #[test]
    fn fuzz_body_on_random_input(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        wire::fuzzing::mqtt_decode(&bytes);
    }
}

#[test]
fn a_publish_head_plus_its_payload_is_the_whole_packet() {
    let props = props_v5();
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        for (qos, id) in [(QoS::AtMostOnce, None), (QoS::ExactlyOnce, Some(7))] {
            let payload = vec![0xa5; 300];
            let p = Publish {
                dup: false,
                qos,
                retain: true,
                topic: "a/b",
                packet_id: id,
                properties: if v.is_v5() {
                    props.as_properties()
                } else {
                    Properties::EMPTY
                },
                payload: &payload,
            };
            let mut head = Vec::new();
            p.encode_head(payload.len(), v, &mut head).unwrap();
            head.extend_from_slice(&payload);
            assert_eq!(head, enc(&Packet::Publish(p), v), "{v:?} {qos:?}");
        }
    }
}

#[test]
fn filters_match_topics_by_the_rules_of_4_7() {
    use wire::mqtt::validate::filter_matches as m;
    assert!(m("sport/#", "sport"));
    assert!(m("sport/#", "sport/tennis/player1"));
    assert!(m("#", "a/b"));
    assert!(!m("#", "$SYS/x"));
    assert!(!m("+/x", "$SYS/x"));
    assert!(m("$SYS/#", "$SYS/x"));
    assert!(m("+/+", "/finance"));
    assert!(m("/+", "/finance"));
    assert!(!m("+", "/finance"));
    assert!(m("a/+/c", "a//c"));
    assert!(!m("a/+", "a/b/c"));
    assert!(!m("a/b", "a/b/c"));
    assert!(!m("a/b/c", "a/b"));
    assert!(m("a/b", "a/b"));
}
