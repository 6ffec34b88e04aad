//! The mosquitto command-line clients (`mosquitto_pub`, `mosquitto_sub`)
//! against the broker, in MQTT 3.1.1 and 5.0: QoS 0/1/2 delivery with
//! the acknowledgement flows, retained messages from set to clear, and
//! wills on a death but not on a clean DISCONNECT.
//!
//! Runs against a reference mosquitto too (`SB_MQTT_REFERENCE`, see
//! `e2e::mqtt`).

use std::net::SocketAddr;

use e2e::mqtt::cli::{publish, Msg, Sub, Version};
use e2e::mqtt::MqttBroker;
use e2e::Backend;

both_backends!(
    qos_levels_v311,
    qos_levels_v5,
    retained_set_replace_clear_v311,
    retained_set_replace_clear_v5,
    will_on_death_not_on_disconnect_v311,
    will_on_death_not_on_disconnect_v5,
);

fn qos_levels_v311(backend: Backend) {
    qos_levels(backend, Version::V311);
}

fn qos_levels_v5(backend: Backend) {
    qos_levels(backend, Version::V5);
}

fn retained_set_replace_clear_v311(backend: Backend) {
    retained_set_replace_clear(backend, Version::V311);
}

fn retained_set_replace_clear_v5(backend: Backend) {
    retained_set_replace_clear(backend, Version::V5);
}

fn will_on_death_not_on_disconnect_v311(backend: Backend) {
    will_on_death_not_on_disconnect(backend, Version::V311);
}

fn will_on_death_not_on_disconnect_v5(backend: Backend) {
    will_on_death_not_on_disconnect(backend, Version::V5);
}

fn msg(qos: u8, retain: bool, topic: &str, payload: &str) -> Msg {
    Msg {
        qos,
        retain,
        topic: topic.into(),
        payload: payload.into(),
    }
}

/// A subscriber at QoS 2 gets each message at the QoS it was published
/// with, after the full flow on the publisher's side; subscribers at
/// QoS 0 and 1 get a QoS 2 message downgraded to theirs.
fn qos_levels(backend: Backend, v: Version) {
    let broker = MqttBroker::start(backend);
    let addr = broker.addr();
    let mut subs: Vec<Sub> = (0..=2)
        .map(|q| Sub::start(addr, v, &["-q", &q.to_string(), "-t", "qos/t"]))
        .collect();
    // The publisher's half of each flow, as mosquitto_pub -d logs it.
    let flows: [&[&str]; 3] = [
        &[],
        &["received PUBACK"],
        &["received PUBREC", "sending PUBREL", "received PUBCOMP"],
    ];
    for (q, flow) in flows.iter().enumerate() {
        let payload = format!("published at qos {q}");
        let out = publish(
            addr,
            v,
            &["-q", &q.to_string(), "-t", "qos/t", "-m", &payload],
        );
        for step in *flow {
            assert!(out.contains(step), "QoS {q}: no {step:?} in\n{out}");
        }
        for (sub_q, s) in subs.iter_mut().enumerate() {
            let want = msg(q.min(sub_q) as u8, false, "qos/t", &payload);
            assert_eq!(s.expect_message(), want, "subscriber at QoS {sub_q}");
        }
    }
    // The subscriber at QoS 2 did its half of the QoS 2 flow.
    let out = subs[2].output();
    for step in ["sending PUBREC", "received PUBREL", "sending PUBCOMP"] {
        assert!(out.contains(step), "no {step:?} in\n{out}");
    }
}

/// Set, a new subscriber gets it (RETAIN 1) while a subscribed one gets
/// it live (RETAIN 0); replace; clear with an empty retained payload,
/// after which a new subscriber's first message is a live one.
fn retained_set_replace_clear(backend: Backend, v: Version) {
    let broker = MqttBroker::start(backend);
    let addr = broker.addr();
    let set = |payload: &str| publish(addr, v, &["-q", "1", "-r", "-t", "ret/t", "-m", payload]);
    set("first");
    let mut early = Sub::start(addr, v, &["-q", "1", "-t", "ret/t"]);
    assert_eq!(early.expect_message(), msg(1, true, "ret/t", "first"));

    set("second");
    assert_eq!(early.expect_message(), msg(1, false, "ret/t", "second"));
    let mut late = Sub::start(addr, v, &["-q", "1", "-t", "ret/t"]);
    assert_eq!(late.expect_message(), msg(1, true, "ret/t", "second"));

    // Clear: a zero-byte retained message is delivered as usual.
    publish(addr, v, &["-q", "1", "-r", "-t", "ret/t", "-n"]);
    assert_eq!(early.expect_message(), msg(1, false, "ret/t", ""));
    let mut after = Sub::start(addr, v, &["-q", "1", "-t", "ret/t"]);
    publish(addr, v, &["-q", "1", "-t", "ret/t", "-m", "live"]);
    // Anything retained would have come with the SUBSCRIBE, before this.
    assert_eq!(after.expect_message(), msg(1, false, "ret/t", "live"));
}

/// A client killed without DISCONNECT has its will published; one that
/// disconnects cleanly does not.
fn will_on_death_not_on_disconnect(backend: Backend, v: Version) {
    let broker = MqttBroker::start(backend);
    let addr = broker.addr();
    let mut watcher = Sub::start(addr, v, &["-q", "1", "-t", "will/#"]);

    let dying = Sub::start(addr, v, &will_args("dier", "died", &["-t", "will/ignored"]));
    dying.kill();
    assert_eq!(watcher.expect_message(), msg(1, false, "will/t", "died"));

    // -C 1: exits with a DISCONNECT after one message.
    let leaver = Sub::start(
        addr,
        v,
        &will_args("leaver", "left", &["-t", "leave/t", "-C", "1"]),
    );
    publish(addr, v, &["-q", "1", "-t", "leave/t", "-m", "bye"]);
    let (status, got) = leaver.wait_exit();
    assert!(status.success(), "mosquitto_sub -C 1 exited {status}");
    assert_eq!(got, vec![msg(0, false, "leave/t", "bye")]);
    sync(addr, v, &mut watcher);
}

fn will_args<'a>(id: &'a str, payload: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-i", id, "--will-topic", "will/t", "--will-qos", "1"];
    args.extend(["--will-payload", payload]);
    args.extend_from_slice(rest);
    args
}

/// Publishes a marker to `will/sync` and expects it to be `watcher`'s
/// next message. The leaver's process has ended, so the broker has its
/// DISCONNECT and then its close; a will wrongly published on either
/// comes before the marker, short of a race a correct broker never loses.
fn sync(addr: SocketAddr, v: Version, watcher: &mut Sub) {
    publish(addr, v, &["-q", "1", "-t", "will/sync", "-m", "marker"]);
    assert_eq!(
        watcher.expect_message(),
        msg(1, false, "will/sync", "marker")
    );
}
