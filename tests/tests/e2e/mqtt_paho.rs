//! paho-mqtt 2.x (Python) against the broker: the scenarios in
//! `tests/py/mqtt_session.py` (persistent sessions, takeover, assigned
//! client ids, will delay, session expiry never early, message expiry) and `tests/py/mqtt_delivery.py`
//! (shared subscriptions, topic aliases, overlapping subscriptions,
//! no-local, retain-as-published, retain handling). Each scenario exits 0
//! with a last line "OK" only if every check in it held.
//!
//! Runs against a reference mosquitto too (`SB_MQTT_REFERENCE`, see
//! `e2e::mqtt`); the scripts read the same variable for the few answers
//! where mosquitto 2.0 knowingly differs from the specification.

use e2e::mqtt::{paho, run_ok, MqttBroker};
use e2e::Backend;

both_backends!(
    persistent_session_keeps_qos1_and_qos2_v311,
    persistent_session_keeps_qos1_and_qos2_v5,
    same_client_id_takes_over_with_0x8e,
    empty_client_id_gets_an_assigned_one,
    will_delay_ends_with_the_session,
    will_waits_out_the_session_expiry,
    expired_retained_message_is_not_sent,
    expired_queued_message_is_not_sent,
    shared_subscription_splits_messages,
    topic_alias_from_client,
    topic_alias_to_client_only_when_allowed,
    overlapping_subscriptions_give_one_copy,
    no_local_skips_own_messages,
    retain_as_published_keeps_the_flag,
    retain_handling_0_1_2,
);

/// Runs `script scenario` against a fresh broker.
fn scenario(backend: Backend, script: &str, scenario: &str, args: &[&str]) {
    let broker = MqttBroker::start(backend);
    let out = run_ok(paho(script, scenario, broker.addr()).args(args));
    eprint!("{out}");
}

fn persistent_session_keeps_qos1_and_qos2_v311(backend: Backend) {
    scenario(backend, "mqtt_session.py", "persistent_session", &["v311"]);
}

fn persistent_session_keeps_qos1_and_qos2_v5(backend: Backend) {
    scenario(backend, "mqtt_session.py", "persistent_session", &["v5"]);
}

fn same_client_id_takes_over_with_0x8e(backend: Backend) {
    scenario(backend, "mqtt_session.py", "takeover", &[]);
}

fn empty_client_id_gets_an_assigned_one(backend: Backend) {
    scenario(backend, "mqtt_session.py", "assigned_client_id", &[]);
}

fn will_delay_ends_with_the_session(backend: Backend) {
    scenario(backend, "mqtt_session.py", "will_delay", &[]);
}

fn will_waits_out_the_session_expiry(backend: Backend) {
    scenario(backend, "mqtt_session.py", "will_after_session_expiry", &[]);
}

fn expired_retained_message_is_not_sent(backend: Backend) {
    scenario(backend, "mqtt_session.py", "message_expiry_retained", &[]);
}

fn expired_queued_message_is_not_sent(backend: Backend) {
    scenario(backend, "mqtt_session.py", "message_expiry_queued", &[]);
}

fn shared_subscription_splits_messages(backend: Backend) {
    scenario(backend, "mqtt_delivery.py", "shared_subscription", &[]);
}

fn topic_alias_from_client(backend: Backend) {
    scenario(
        backend,
        "mqtt_delivery.py",
        "topic_alias_client_to_server",
        &[],
    );
}

fn topic_alias_to_client_only_when_allowed(backend: Backend) {
    scenario(
        backend,
        "mqtt_delivery.py",
        "topic_alias_server_to_client",
        &[],
    );
}

fn overlapping_subscriptions_give_one_copy(backend: Backend) {
    scenario(
        backend,
        "mqtt_delivery.py",
        "overlapping_subscriptions",
        &[],
    );
}

fn no_local_skips_own_messages(backend: Backend) {
    scenario(backend, "mqtt_delivery.py", "no_local", &[]);
}

fn retain_as_published_keeps_the_flag(backend: Backend) {
    scenario(backend, "mqtt_delivery.py", "retain_as_published", &[]);
}

fn retain_handling_0_1_2(backend: Backend) {
    scenario(backend, "mqtt_delivery.py", "retain_handling", &[]);
}
