//! A running `switchboard` process: started on loopback port 0, its
//! addresses read from the ready line, killed when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::binary::switchboard_bin;

/// How long a server may take to print its ready line (a debug build on a
/// busy two-core machine included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout for one admin HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Which I/O backend the server is forced to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring.
    Uring,
    /// epoll through mio.
    Epoll,
}

impl Backend {
    /// The `--backend` value, also what the ready line reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Epoll => "epoll",
        }
    }
}

/// A `switchboard` child process.
pub struct Server {
    child: Child,
    wire: SocketAddr,
    ws: Option<SocketAddr>,
    mqtt: Option<SocketAddr>,
    admin: SocketAddr,
    threads: usize,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts the server with `--backend <backend>`, port-0 addresses
    /// (MQTT's too, where the binary has the broker), unpinned threads (2
    /// unless `extra_args` sets `--threads`), then `extra_args`; returns
    /// once it printed its ready line.
    pub fn start(backend: Backend, extra_args: &[&str]) -> Server {
        let mut cmd = Command::new(switchboard_bin());
        cmd.args(["--backend", backend.name()])
            .args(["--wire-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["--ws-addr", "127.0.0.1:0"])
            .args(["--pin-threads", "false"]);
        if !extra_args.contains(&"--threads") {
            cmd.args(["--threads", "2"]);
        }
        // Without it every server would listen on 1883 and the tests,
        // which run in parallel, would fight over it.
        if binary_has_mqtt() && !extra_args.contains(&"--mqtt-addr") {
            cmd.args(["--mqtt-addr", "127.0.0.1:0"]);
        }
        // Only the arguments above configure the server under test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHBOARD_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning switchboard");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let line = read_ready_line(child.stdout.take().expect("piped stdout"));
        let mut server = Server {
            child,
            wire: "0.0.0.0:0".parse().unwrap(),
            ws: None,
            mqtt: None,
            admin: "0.0.0.0:0".parse().unwrap(),
            threads: 0,
            stderr,
        };
        let Some(line) = line else {
            let status = server.wait_exit(Duration::from_secs(5));
            panic!(
                "switchboard printed no ready line (exit: {status:?}); stderr:\n{}",
                server.stderr_text()
            );
        };
        let ready =
            parse_ready_line(&line).unwrap_or_else(|| panic!("malformed ready line: {line:?}"));
        assert_eq!(ready.backend, backend.name(), "ready line: {line}");
        server.wire = ready.wire;
        server.ws = ready.ws;
        server.mqtt = ready.mqtt;
        server.admin = ready.admin;
        server.threads = ready.threads;
        server
    }

    /// The wire protocol listener.
    pub fn wire_addr(&self) -> SocketAddr {
        self.wire
    }

    /// The WebSocket listener (panics if the server does not serve it).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws.expect("the server serves WebSocket")
    }

    /// The MQTT TCP listener. Panics if the server serves no MQTT: a
    /// binary from before the broker (no `mqtt=` in its ready line) or
    /// one started with MQTT off (`mqtt=off`).
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt.unwrap_or_else(|| {
            panic!(
                "this switchboard serves no MQTT: its ready line had no mqtt=ADDR \
                 (a binary without the broker, or --mqtt-enabled false)"
            )
        })
    }

    /// The admin HTTP listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Reactor threads, as the ready line reported them.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// `GET path` on the admin port: (status code, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path)
    }

    /// `/metrics`, each series summed over its labels (over cores), keyed
    /// by metric name (`switchboard_protocol_errors_total`).
    pub fn metrics(&self) -> HashMap<String, f64> {
        let (status, body) = self.http_get("/metrics");
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        parse_metrics(&body)
    }

    /// One metric summed over cores; panics if the server does not export it.
    pub fn metric(&self, name: &str) -> f64 {
        let m = self.metrics();
        *m.get(name)
            .unwrap_or_else(|| panic!("no metric {name} in /metrics"))
    }

    /// Resident set size of the process, from `/proc/PID/status`.
    pub fn rss_bytes(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).expect("reading /proc/PID/status");
        let kib: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line");
        kib * 1024
    }

    /// Sends SIGTERM (graceful drain).
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits");
        // SAFETY: kill(2) takes plain integers; the pid is our child, not
        // yet reaped (tests signal only a server they have not waited for).
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill({sig}): {}", std::io::Error::last_os_error());
    }

    /// Waits for the process to exit; `None` if it is still running
    /// after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- switchboard stderr (pid {}) ---\n{}--- end ---",
                self.child.id(),
                self.stderr_text()
            );
        }
    }
}

/// Reads stdout until the ready line; keeps draining stdout afterwards so
/// the server never blocks on a full pipe. `None` if stdout closed or no
/// line came in time.
fn read_ready_line(stdout: ChildStdout) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut sent = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if !sent && line.starts_with("switchboard ready ") => {
                    sent = tx.send(line.trim_end().to_string()).is_ok();
                }
                Ok(_) => {}
            }
        }
    });
    rx.recv_timeout(READY_TIMEOUT).ok()
}

/// Whether the binary under test has the MQTT broker (its `--help` names
/// `--mqtt-addr`); asked once per test process. Until the broker lands
/// the flag does not exist, and passing it would stop every server.
fn binary_has_mqtt() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let out = Command::new(switchboard_bin())
            .arg("--help")
            .output()
            .expect("running switchboard --help");
        assert!(out.status.success(), "switchboard --help failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).contains("--mqtt-addr")
    })
}

/// The fields of `switchboard ready backend=.. threads=.. wire=.. ws=..
/// mqtt=.. admin=..`.
struct Ready {
    backend: String,
    threads: usize,
    wire: SocketAddr,
    /// `ws=off` when WebSocket is not served.
    ws: Option<SocketAddr>,
    /// `mqtt=off` when MQTT is not served; absent before the broker.
    mqtt: Option<SocketAddr>,
    admin: SocketAddr,
}

fn parse_ready_line(line: &str) -> Option<Ready> {
    let rest = line.strip_prefix("switchboard ready ")?;
    let fields: HashMap<&str, &str> = rest
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    Some(Ready {
        backend: fields.get("backend")?.to_string(),
        threads: fields.get("threads")?.parse().ok()?,
        wire: fields.get("wire")?.parse().ok()?,
        ws: fields.get("ws").and_then(|w| w.parse().ok()),
        mqtt: fields.get("mqtt").and_then(|m| m.parse().ok()),
        admin: fields.get("admin")?.parse().ok()?,
    })
}

/// Sums Prometheus text samples by metric name, ignoring labels.
pub fn parse_metrics(body: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        *out.entry(name.to_string()).or_insert(0.0) += v;
    }
    out
}

/// A one-shot HTTP/1.1 GET: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).expect("connecting to admin");
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .expect("writing HTTP request");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("reading HTTP response");
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    (status, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_parses() {
        let r = parse_ready_line(
            "switchboard ready backend=epoll threads=2 wire=127.0.0.1:7070 ws=127.0.0.1:8080 admin=127.0.0.1:9090",
        )
        .unwrap();
        assert_eq!(r.ws.map(|a| a.port()), Some(8080));
        assert_eq!(r.backend, "epoll");
        assert_eq!(r.threads, 2);
        assert_eq!(r.wire.port(), 7070);
        assert_eq!(r.admin.port(), 9090);
        assert_eq!(r.mqtt, None, "a ready line from before the broker");
        assert!(parse_ready_line("switchboard ready backend=epoll").is_none());
    }

    #[test]
    fn ready_line_with_mqtt_parses() {
        let line = "switchboard ready backend=uring threads=2 wire=127.0.0.1:7070 \
                    ws=127.0.0.1:8080 mqtt=127.0.0.1:1883 admin=127.0.0.1:9090";
        let r = parse_ready_line(line).unwrap();
        assert_eq!(r.mqtt.map(|a| a.port()), Some(1883));
        assert_eq!(r.admin.port(), 9090);
        let off = line.replace("mqtt=127.0.0.1:1883", "mqtt=off");
        assert_eq!(parse_ready_line(&off).unwrap().mqtt, None);
    }

    #[test]
    fn metrics_sum_over_cores() {
        let m =
            parse_metrics("# HELP x y\n# TYPE x counter\nx{core=\"0\"} 1\nx{core=\"1\"} 2\ny 5\n");
        assert_eq!(m["x"], 3.0);
        assert_eq!(m["y"], 5.0);
    }
}
