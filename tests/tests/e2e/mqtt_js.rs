//! MQTT.js (Node) over WebSocket against the broker: `ws://ADDR/mqtt`
//! with the `mqtt` subprotocol, in MQTT 3.1.1 and 5.0
//! (`tests/js/mqtt_ws.cjs`); and one message reaching both an MQTT.js
//! subscriber over WebSocket and a `mosquitto_sub` over TCP, once each.
//!
//! Runs against a reference mosquitto too (`SB_MQTT_REFERENCE`, see
//! `e2e::mqtt`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;

use e2e::mqtt::cli::{Msg, Sub, Version};
use e2e::mqtt::raw::{RawMqtt, V5};
use e2e::mqtt::{mqtt_js, run_ok, MqttBroker};
use e2e::{Backend, TIMEOUT};

both_backends!(
    mqtt_js_over_websocket_v311,
    mqtt_js_over_websocket_v5,
    mqtt_subprotocol_on_the_envelope_path,
    websocket_and_tcp_subscribers_each_get_one_copy,
);

fn mqtt_js_over_websocket_v311(backend: Backend) {
    let broker = MqttBroker::start(backend);
    run_ok(mqtt_js("mqtt_ws.cjs").arg(broker.ws_url()).arg("4"));
}

fn mqtt_js_over_websocket_v5(backend: Backend) {
    let broker = MqttBroker::start(backend);
    run_ok(mqtt_js("mqtt_ws.cjs").arg(broker.ws_url()).arg("5"));
}

/// Offering `mqtt` on the envelope path (`/`) makes the connection an MQTT
/// one, as on `/mqtt`. (Switchboard only: mosquitto has one path.)
fn mqtt_subprotocol_on_the_envelope_path(backend: Backend) {
    let broker = MqttBroker::start(backend);
    let Some(server) = broker.server() else {
        return;
    };
    let url = format!("ws://{}/", server.ws_addr());
    run_ok(mqtt_js("mqtt_ws.cjs").arg(url).arg("5"));
}

fn websocket_and_tcp_subscribers_each_get_one_copy(backend: Backend) {
    let broker = MqttBroker::start(backend);
    let mut js = mqtt_js("mqtt_ws_sub.cjs")
        .args([broker.ws_url().as_str(), "mix/#", "mix/end"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning node");
    let (tx, lines) = mpsc::channel();
    let stdout = js.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = lines.recv_timeout(TIMEOUT);
    assert_eq!(ready.as_deref(), Ok("READY"), "the MQTT.js subscriber");
    let mut tcp = Sub::start(
        broker.addr(),
        Version::V5,
        &["-q", "1", "-t", "mix/#", "-C", "2"],
    );

    // One connection publishes both: the marker comes after the message.
    let (mut publisher, _) = RawMqtt::open(broker.addr(), V5, "mix-pub");
    publisher.publish_qos0("mix/t", b"to both");
    publisher.publish_qos0("mix/end", b"end");

    let js_out: Vec<String> = lines.iter().take_while(|l| l != "OK subscriber").collect();
    let status = js.wait().expect("waiting for node");
    assert!(
        status.success(),
        "MQTT.js subscriber: {status}; said {js_out:?}"
    );
    assert_eq!(js_out, ["MSG mix/t to both", "MSG mix/end end"]);
    let msg = |topic: &str, payload: &str| Msg {
        qos: 0,
        retain: false,
        topic: topic.into(),
        payload: payload.into(),
    };
    assert_eq!(tcp.expect_message(), msg("mix/t", "to both"));
    assert_eq!(tcp.expect_message(), msg("mix/end", "end"));
}
