//! MQTT and the engine's own protocols share topics: a `wire` TCP client
//! and a WebSocket JSON client that subscribe to `devices/+/telemetry`
//! get MQTT PUBLISHes to `devices/d1/telemetry` as DELIVERs, and a SEND
//! to the topic `devices/d1/cmd` (wire or JSON) reaches MQTT subscribers
//! of that topic with the SEND's body as payload.
//!
//! Switchboard only: these do not run against a reference broker.

use e2e::mqtt::cli::{publish, Sub, Version};
use e2e::mqtt::raw::{RawMqtt, V311, V5};
use e2e::ws::RawWs;
use e2e::{frames, Backend, Server, WireClient};
use wire::ws::OpCode;
use wire::{Flags, FrameType, TargetKind};

both_backends!(
    mqtt_publish_reaches_wire_subscriber,
    mqtt_publish_reaches_websocket_json_subscriber,
    wire_send_reaches_mqtt_subscribers,
    websocket_json_send_reaches_mqtt_subscriber,
);

const FILTER: &str = "devices/+/telemetry";

fn mqtt_publish_reaches_wire_subscriber(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("dashboard");
    c.subscribe(&[FILTER]);
    // A third-party client at QoS 1, then (one connection, in order) a
    // topic the filter does not match and one it does on another device.
    publish(
        server.mqtt_addr(),
        Version::V5,
        &["-q", "1", "-t", "devices/d1/telemetry", "-m", "21.5"],
    );
    let d = c.expect_frame(FrameType::Deliver).deliver();
    assert_eq!(d.target_kind, TargetKind::Topic);
    assert_eq!(d.target_id, "devices/d1/telemetry");
    assert_eq!(d.body, b"21.5");
    let (mut mqtt, _) = RawMqtt::open(server.mqtt_addr(), V311, "d2");
    mqtt.publish_qos0("devices/d1/status", b"online");
    mqtt.publish_qos0("devices/d2/telemetry", b"19.0");
    let d = c.expect_frame(FrameType::Deliver).deliver();
    assert_eq!(
        (d.target_id.as_str(), d.body.as_slice()),
        ("devices/d2/telemetry", &b"19.0"[..]),
        "the first DELIVER after the unmatched topic"
    );
    assert!(c.sync().is_empty(), "more than the matching messages");
}

fn mqtt_publish_reaches_websocket_json_subscriber(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut ws = RawWs::open(server.ws_addr(), "/", "");
    json(
        &mut ws,
        r#"{"type":"hello","user":"browser","token":"t","client":"e2e"}"#,
    );
    assert!(next_text(&mut ws).contains(r#""type":"welcome""#));
    json(
        &mut ws,
        &format!(r#"{{"type":"subscribe","id":"1","ack":true,"topics":["{FILTER}"]}}"#),
    );
    let ack = next_text(&mut ws);
    assert!(
        ack.contains(r#""type":"ack""#) && ack.contains(r#""id":"1""#),
        "{ack}"
    );
    let (mut mqtt, _) = RawMqtt::open(server.mqtt_addr(), V5, "d1");
    mqtt.publish_qos0("devices/d1/telemetry", b"22.0");
    let d = next_text(&mut ws);
    for part in [
        r#""type":"deliver""#,
        r#""to":{"topic":"devices/d1/telemetry"}"#,
        r#""body":"22.0""#,
    ] {
        assert!(d.contains(part), "no {part} in {d}");
    }
}

fn wire_send_reaches_mqtt_subscribers(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut subs: Vec<Sub> = [Version::V311, Version::V5]
        .into_iter()
        .map(|v| Sub::start(server.mqtt_addr(), v, &["-q", "1", "-t", "devices/d1/cmd"]))
        .collect();
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("operator");
    let to = frames::topic_target("devices/d1/cmd");
    let id = c.send(to, b"reboot", Flags::ACK_REQUESTED);
    let ack = c.expect_frame(FrameType::Ack);
    assert_eq!(ack.header.message_id, id);
    for s in &mut subs {
        let m = s.expect_message();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_str()),
            ("devices/d1/cmd", "reboot")
        );
    }
}

fn websocket_json_send_reaches_mqtt_subscriber(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut sub = Sub::start(server.mqtt_addr(), Version::V5, &["-t", "devices/d1/cmd"]);
    let mut ws = RawWs::open(server.ws_addr(), "/", "");
    json(
        &mut ws,
        r#"{"type":"hello","user":"console","token":"t","client":"e2e"}"#,
    );
    assert!(next_text(&mut ws).contains(r#""type":"welcome""#));
    json(
        &mut ws,
        r#"{"type":"send","to":{"topic":"devices/d1/cmd"},"body":"from the console"}"#,
    );
    let m = sub.expect_message();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_str()),
        ("devices/d1/cmd", "from the console")
    );
}

fn json(ws: &mut RawWs, text: &str) {
    ws.send(OpCode::Text, text.as_bytes());
}

/// The next text message (pings skipped).
fn next_text(ws: &mut RawWs) -> String {
    loop {
        let f = ws.read_frame().expect("reading a frame");
        if f.opcode == OpCode::Text as u8 {
            return String::from_utf8(f.payload).expect("UTF-8 text");
        }
        assert_eq!(f.opcode, OpCode::Ping as u8, "unexpected frame {f:?}");
    }
}
