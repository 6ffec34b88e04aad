//! A reference broker: a real `mosquitto` started per test on loopback
//! ports, with a TCP and a WebSocket listener, killed when dropped. The
//! MQTT tests run their client side against it when `SB_MQTT_REFERENCE`
//! is set (see [`super::MqttBroker`]), which proves the tests themselves
//! right before Switchboard's broker exists.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::ws::temp_file;

/// How long mosquitto may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts tried before giving up: a port picked free may be taken by
/// another test's broker before mosquitto binds it.
const START_ATTEMPTS: usize = 5;

/// A running mosquitto.
pub struct Mosquitto {
    child: Child,
    /// MQTT over TCP.
    pub mqtt: SocketAddr,
    /// MQTT over WebSocket (any path).
    pub ws: SocketAddr,
    log: PathBuf,
}

impl Mosquitto {
    /// Starts `binary` with a config of a TCP and a WebSocket listener on
    /// free loopback ports, anonymous access, no persistence, and `extra`
    /// config lines (the test's equivalents of its Switchboard settings).
    pub fn start(binary: &str, extra: &str) -> Mosquitto {
        for _ in 0..START_ATTEMPTS {
            if let Some(m) = Mosquitto::try_start(binary, extra) {
                return m;
            }
        }
        panic!("mosquitto ({binary}) did not start in {START_ATTEMPTS} attempts");
    }

    fn try_start(binary: &str, extra: &str) -> Option<Mosquitto> {
        let (mqtt, ws) = (free_port(), free_port());
        let log = temp_file("mosquitto.log", "");
        let conf = format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             log_dest file {log}\nlog_type all\n{extra}\n\
             listener {mqtt_port} 127.0.0.1\n\
             listener {ws_port} 127.0.0.1\nprotocol websockets\n",
            log = log.display(),
            mqtt_port = mqtt.port(),
            ws_port = ws.port(),
        );
        let conf = temp_file("mosquitto.conf", &conf);
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {binary}: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().expect("try_wait").is_some() {
                return None;
            }
            let up = |a: &SocketAddr| TcpStream::connect(a).is_ok();
            if up(&mqtt) && up(&ws) {
                return Some(Mosquitto {
                    child,
                    mqtt,
                    ws,
                    log,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- mosquitto log ---\n{log}--- end ---");
        }
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    l.local_addr().expect("local addr")
}
