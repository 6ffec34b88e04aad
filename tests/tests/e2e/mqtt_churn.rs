//! Many paho-mqtt clients at once for a few seconds, taking over each
//! other's client ids (so sessions move between cores), with wildcard and
//! shared subscriptions, QoS 0/1/2, retained messages and wills from
//! dropped sockets (`tests/py/mqtt_churn.py`): the broker comes out of it
//! serving, counted no protocol error, and holds no connection once the
//! clients are gone.

use std::time::{Duration, Instant};

use e2e::mqtt::{paho, run_ok, MqttBroker};
use e2e::Backend;

both_backends!(churn_leaves_the_broker_serving);

fn churn_leaves_the_broker_serving(backend: Backend) {
    let broker = MqttBroker::start(backend);
    let before = broker.error_counts();
    let out = run_ok(&mut paho("mqtt_churn.py", "churn", broker.addr()));
    eprint!("{out}");
    let Some(server) = broker.server() else {
        return;
    };
    assert_eq!(broker.error_counts(), before, "protocol errors counted");
    let total = |s: &e2e::Server, name: &str| -> f64 {
        s.metrics()
            .into_iter()
            .filter(|(k, _)| k.starts_with(name))
            .map(|(_, v)| v)
            .sum()
    };
    // The churn did what it is for: take-overs and wills happened.
    for name in [
        "switchboard_mqtt_takeovers_total",
        "switchboard_mqtt_wills_published_total",
    ] {
        assert!(
            total(server, name) > 0.0,
            "{name} stayed 0: the churn was too mild"
        );
    }
    let open = |s: &e2e::Server| total(s, "switchboard_connections_open");
    let deadline = Instant::now() + e2e::TIMEOUT;
    while open(server) > 0.0 {
        assert!(
            Instant::now() < deadline,
            "connections still open: {}",
            open(server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
