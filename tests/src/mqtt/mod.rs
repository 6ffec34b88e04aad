//! MQTT support for the end-to-end tests: the broker under test
//! ([`MqttBroker`]: Switchboard, or a reference mosquitto), a raw client
//! ([`raw`]), the mosquitto command-line clients ([`cli`]), the Python
//! (paho-mqtt) and Node (MQTT.js) scenario runners, and the one place
//! that names the broker's error counters ([`ERROR_COUNTERS`]).
//!
//! # Reference runs
//!
//! With `SB_MQTT_REFERENCE=mosquitto` (or a path to a mosquitto binary),
//! [`MqttBroker::start_with`] starts a fresh real mosquitto per test
//! instead of Switchboard, with the test's equivalent mosquitto settings,
//! and the test's client side runs against it unchanged. That proves a
//! test right before Switchboard's broker exists. It applies to the tests
//! that start an [`MqttBroker`] (`mqtt_cli`, `mqtt_paho`, `mqtt_js`,
//! `mqtt_bad_input`, whose Switchboard-only metric checks are skipped
//! there, and `mqtt_auth::bad_password_is_refused`); tests of
//! Switchboard-only features (the ACL, crossing to `wire` and WebSocket
//! JSON clients) start a [`Server`] and ignore it. Where mosquitto
//! knowingly differs from the specification, a test says so next to its
//! expectation ([`MqttBroker::expect`]).
//!
//! The reference run, one backend (the other runs the same mosquitto):
//!
//! ```text
//! SB_MQTT_REFERENCE=mosquitto cargo test -p e2e --test e2e -- --include-ignored \
//!     mqtt_cli::epoll mqtt_paho::epoll mqtt_js::epoll mqtt_bad_input::epoll \
//!     mqtt_auth::epoll::bad_password
//! ```

pub mod cli;
pub mod raw;
mod reference;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::server::{Backend, Server};
use crate::ws::{python, target_dir, temp_file, tests_dir};
use crate::{wait_for, TIMEOUT};

use reference::Mosquitto;

/// The variable that runs the MQTT tests' client side against a
/// reference broker (see the module docs).
pub const REFERENCE_ENV: &str = "SB_MQTT_REFERENCE";

/// The counters a refused MQTT packet may bump; a bad-input test passes
/// when any of them rose (each test names the one it expects, for the
/// failure message). The broker's names: adjust them here only.
pub const ERROR_COUNTERS: [&str; 4] = [
    "mqtt_malformed_packets_total",
    "mqtt_protocol_errors_total",
    "mqtt_oversized_packets_total",
    "mqtt_receive_maximum_exceeded_total",
];

/// Hang guard for a scenario script (Python or Node): its own waits are
/// bounded by [`TIMEOUT`] each; this only stops a wedged client.
const SCENARIO_GUARD_S: &str = "180";

/// The broker a test talks to.
pub struct MqttBroker {
    server: Option<Server>,
    reference: Option<Mosquitto>,
}

impl MqttBroker {
    /// Switchboard with its default MQTT settings (or the reference).
    pub fn start(backend: Backend) -> MqttBroker {
        MqttBroker::start_with(backend, "", "")
    }

    /// Switchboard with `toml` as its `--config` file (none if empty);
    /// or, in a reference run, mosquitto with `mosquitto` as extra config
    /// lines: the same settings in mosquitto's words.
    pub fn start_with(backend: Backend, toml: &str, mosquitto: &str) -> MqttBroker {
        if let Some(binary) = reference_binary() {
            return MqttBroker {
                server: None,
                reference: Some(Mosquitto::start(&binary, mosquitto)),
            };
        }
        let server = if toml.is_empty() {
            Server::start(backend, &[])
        } else {
            let path = temp_file(&format!("mqtt-{}.toml", backend.name()), toml);
            Server::start(backend, &["--config", path.to_str().expect("UTF-8 path")])
        };
        MqttBroker {
            server: Some(server),
            reference: None,
        }
    }

    /// Switchboard started with `args` (e.g. `--threads 4`), or the
    /// reference with its default settings.
    pub fn start_args(backend: Backend, args: &[&str]) -> MqttBroker {
        if reference_binary().is_some() {
            return MqttBroker::start(backend);
        }
        MqttBroker {
            server: Some(Server::start(backend, args)),
            reference: None,
        }
    }

    /// The MQTT TCP listener.
    pub fn addr(&self) -> SocketAddr {
        match (&self.server, &self.reference) {
            (Some(s), _) => s.mqtt_addr(),
            (None, Some(m)) => m.mqtt,
            (None, None) => unreachable!("a broker is one or the other"),
        }
    }

    /// The MQTT-over-WebSocket URL (`ws://ADDR/mqtt`).
    pub fn ws_url(&self) -> String {
        match (&self.server, &self.reference) {
            (Some(s), _) => format!("ws://{}/mqtt", s.ws_addr()),
            (None, Some(m)) => format!("ws://{}/mqtt", m.ws),
            (None, None) => unreachable!("a broker is one or the other"),
        }
    }

    /// The Switchboard process; `None` in a reference run.
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// True in a reference run.
    pub fn is_reference(&self) -> bool {
        self.reference.is_some()
    }

    /// What the test expects: `spec` from Switchboard, `mosquitto` from
    /// the reference where mosquitto 2.0 knowingly differs (the caller
    /// says how in a comment).
    pub fn expect<T>(&self, spec: T, mosquitto: T) -> T {
        if self.is_reference() {
            mosquitto
        } else {
            spec
        }
    }

    /// A snapshot of the error counters, to compare after a violation;
    /// empty in a reference run (mosquitto has no `/metrics`).
    pub fn error_counts(&self) -> HashMap<String, f64> {
        self.server.as_ref().map(error_counts).unwrap_or_default()
    }

    /// Waits until one of [`ERROR_COUNTERS`] is above its value in
    /// `before`; `expected` names the one this violation should bump.
    /// Nothing to check in a reference run.
    pub fn expect_error_counted(&self, before: &HashMap<String, f64>, expected: &str) {
        let Some(server) = &self.server else { return };
        let mut now = HashMap::new();
        let rose = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(expected, TIMEOUT, || {
                now = error_counts(server);
                now.iter()
                    .any(|(k, v)| *v > before.get(k).copied().unwrap_or(0.0))
            })
        }));
        assert!(
            rose.is_ok(),
            "no MQTT error counter rose (expected {expected}); before {before:?}, now {now:?}"
        );
    }
}

/// True when this test process runs against a reference broker.
pub fn reference_run() -> bool {
    reference_binary().is_some()
}

/// The mosquitto binary of a reference run, if this is one.
fn reference_binary() -> Option<String> {
    let v = std::env::var(REFERENCE_ENV)
        .ok()
        .filter(|v| !v.is_empty())?;
    if v == "mosquitto" && !Path::new("/usr/bin/mosquitto").exists() {
        // Debian installs it in sbin, which a non-root PATH may lack.
        return Some("/usr/sbin/mosquitto".into());
    }
    Some(v)
}

/// Every metric whose name contains one of [`ERROR_COUNTERS`].
fn error_counts(server: &Server) -> HashMap<String, f64> {
    server
        .metrics()
        .into_iter()
        .filter(|(k, _)| ERROR_COUNTERS.iter().any(|c| k.contains(c)))
        .collect()
}

/// The Python that has paho-mqtt 2.x (the venv `scripts/test.sh` makes);
/// panics, failing the test, if paho-mqtt does not import.
pub fn paho_python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let py = python().to_path_buf();
        let out = Command::new(&py)
            .args(["-c", "import paho.mqtt; print(paho.mqtt.__version__)"])
            .output()
            .expect("running python");
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && version.starts_with('2'),
            "paho-mqtt 2.x missing from {} (got {version:?}): scripts/test.sh installs it; {}",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        py
    })
}

/// A paho-mqtt scenario: `tests/py/<script> <scenario> <host> <port> <args>`.
pub fn paho(script: &str, scenario: &str, addr: SocketAddr) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(SCENARIO_GUARD_S)
        .arg(paho_python())
        .arg(tests_dir().join("py").join(script))
        .arg(scenario)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string());
    cmd
}

/// `<target>/node/node_modules`, where `scripts/test.sh` installs
/// MQTT.js; panics, failing the test, if node or MQTT.js is missing.
fn mqtt_js_modules() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("node/node_modules");
        assert!(
            dir.join("mqtt/package.json").is_file(),
            "MQTT.js missing: {} has no mqtt/ (scripts/test.sh installs it)",
            dir.display()
        );
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "node missing: apt-get install nodejs (scripts/test.sh does)"
        );
        dir
    })
}

/// An MQTT.js scenario: `node tests/js/<script> <args>`, finding MQTT.js
/// through NODE_PATH.
pub fn mqtt_js(script: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(SCENARIO_GUARD_S)
        .arg("node")
        .arg(tests_dir().join("js").join(script))
        .env("NODE_PATH", mqtt_js_modules());
    cmd
}

/// Runs a scenario to its end; panics with its output unless it exited 0
/// with a last line starting "OK". Returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("running a scenario");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().last().is_some_and(|l| l.starts_with("OK")),
        "scenario {cmd:?} failed ({}):\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
    stdout
}
