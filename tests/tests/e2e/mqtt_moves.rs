//! Persistent sessions lose nothing while their clients reconnect on any
//! core (`tests/py/mqtt_moves.py`): on a 4-core broker, paho-mqtt
//! subscribers with persistent sessions reconnect over and over, each
//! CONNECT landing on whichever core accepted it and sent to its client
//! id's home core, while reconnecting publishers send numbered QoS 1
//! messages; every subscriber must end up with every number.

use e2e::mqtt::{paho, run_ok, MqttBroker};
use e2e::Backend;

both_backends!(moving_sessions_lose_no_message);

fn moving_sessions_lose_no_message(backend: Backend) {
    let broker = MqttBroker::start_args(backend, &["--threads", "4"]);
    let before = broker.error_counts();
    let out = run_ok(&mut paho("mqtt_moves.py", "moves", broker.addr()));
    eprint!("{out}");
    assert_eq!(broker.error_counts(), before, "protocol errors counted");
    if let Some(server) = broker.server() {
        assert_eq!(server.threads(), 4);
        let moved: f64 = server
            .metrics()
            .into_iter()
            .filter(|(k, _)| k.starts_with("switchboard_mqtt_takeovers_total"))
            .map(|(_, v)| v)
            .sum();
        eprintln!("take-overs counted: {moved}");
    }
}
