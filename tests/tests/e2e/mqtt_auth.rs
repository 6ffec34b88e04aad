//! Users and the topic ACL from the config file, driven by paho-mqtt 2.x
//! (`tests/py/mqtt_auth.py`): a bad password is refused with CONNACK 0x86
//! (5.0) / 4 (3.1.1); denied subscriptions get SUBACK 0x87 / 0x80; a
//! denied QoS 1 PUBLISH gets PUBACK 0x87 and reaches nobody; rules are
//! per user and the first match wins.
//!
//! The ACL test is Switchboard only (its config file); the password test
//! runs against a reference mosquitto too (`SB_MQTT_REFERENCE`, see
//! `e2e::mqtt`), given the same users in a mosquitto password file.

use std::process::Command;

use e2e::mqtt::{paho, reference_run, run_ok, MqttBroker};
use e2e::ws::temp_file;
use e2e::{Backend, Server};

both_backends!(bad_password_is_refused, acl_denies_by_user_and_first_match,);

/// What `tests/py/mqtt_auth.py` expects of the server.
const CONFIG: &str = r#"
[mqtt]
allow_anonymous = true

[[mqtt.users]]
name = "alice"
password = "secret"

[[mqtt.users]]
name = "bob"
password = "hunter2"

[[mqtt.acl]]
user = "alice"
action = "publish"
topic = "secret/#"
allow = false

[[mqtt.acl]]
user = "alice"
action = "subscribe"
topic = "private/#"
allow = false

[[mqtt.acl]]
user = "bob"
action = "all"
topic = "forbidden/bob"
allow = true

[[mqtt.acl]]
action = "all"
topic = "forbidden/#"
allow = false
"#;

fn start(backend: Backend) -> Server {
    let path = temp_file(&format!("mqtt-auth-{}.toml", backend.name()), CONFIG);
    Server::start(backend, &["--config", path.to_str().expect("UTF-8 path")])
}

fn bad_password_is_refused(backend: Backend) {
    let broker = MqttBroker::start_with(backend, CONFIG, &mosquitto_users());
    run_ok(&mut paho("mqtt_auth.py", "bad_password", broker.addr()));
}

/// The users of [`CONFIG`] in a mosquitto password file, as mosquitto
/// config lines; nothing outside a reference run.
fn mosquitto_users() -> String {
    if !reference_run() {
        return String::new();
    }
    let path = temp_file("mosquitto.passwd", "");
    for (user, password) in [("alice", "secret"), ("bob", "hunter2")] {
        let status = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg(&path)
            .args([user, password])
            .status()
            .expect("running mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd: {status}");
    }
    format!("password_file {}\n", path.display())
}

fn acl_denies_by_user_and_first_match(backend: Backend) {
    let server = start(backend);
    run_ok(&mut paho("mqtt_auth.py", "acl", server.mqtt_addr()));
}
