//! The mosquitto command-line clients, driven as a person would:
//! `mosquitto_sub` runs as a child process whose debug output and
//! messages are read line by line ([`Sub`]); `mosquitto_pub` runs to its
//! end ([`publish`]).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Instant;

use crate::client::TIMEOUT;

/// `-F` format of every message `mosquitto_sub` prints: one line a
/// message, told apart from the `-d` debug lines by its first word.
const FORMAT: &str = "MSG q=%q r=%r t=%t p=%p";

/// The MQTT versions the command-line clients speak (`-V`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `-V mqttv311`.
    V311,
    /// `-V mqttv5`.
    V5,
}

impl Version {
    /// The `-V` value.
    pub fn flag(self) -> &'static str {
        match self {
            Version::V311 => "mqttv311",
            Version::V5 => "mqttv5",
        }
    }
}

/// A message `mosquitto_sub` printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// QoS it arrived with.
    pub qos: u8,
    /// Its RETAIN flag.
    pub retain: bool,
    /// Topic.
    pub topic: String,
    /// Payload (as text: the tests send text).
    pub payload: String,
}

fn parse_msg(line: &str) -> Option<Msg> {
    let rest = line.strip_prefix("MSG q=")?;
    let (qos, rest) = rest.split_once(" r=")?;
    let (retain, rest) = rest.split_once(" t=")?;
    let (topic, payload) = rest.split_once(" p=")?;
    Some(Msg {
        qos: qos.parse().ok()?,
        retain: retain == "1",
        topic: topic.to_string(),
        payload: payload.to_string(),
    })
}

/// Checks that `name` is on PATH and returns it; panics, failing the
/// test, if it is missing: a missing client must not look like a pass.
fn tool(name: &str) -> &str {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} missing: apt-get install mosquitto-clients (scripts/test.sh does)"
    );
    name
}

/// A running `mosquitto_sub`.
pub struct Sub {
    child: Child,
    lines: Receiver<String>,
    /// Every line so far, for failure messages.
    seen: Vec<String>,
}

impl Sub {
    /// Starts `mosquitto_sub -V version -d -F ... args` against `addr`
    /// (args name the topics, QoS, will, ...) and waits until it printed
    /// that its SUBSCRIBE was acknowledged.
    pub fn start(addr: SocketAddr, version: Version, args: &[&str]) -> Sub {
        // stdbuf: with stdout a pipe, the C client would buffer its lines
        // until it exits.
        let mut cmd = Command::new("stdbuf");
        cmd.arg("-oL")
            .arg(tool("mosquitto_sub"))
            .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(["-V", version.flag(), "-d", "-F", FORMAT])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning mosquitto_sub");
        let (tx, rx) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let mut sub = Sub {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        sub.wait_line("its SUBACK", |l| l.starts_with("Subscribed (mid"));
        sub
    }

    /// The next line that `pred` accepts (lines it skips are kept in
    /// `seen`); panics after [`TIMEOUT`] or when the client exits first.
    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "mosquitto_sub: no {what}; its output:\n{}",
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "mosquitto_sub exited ({:?}) before {what}; its output:\n{}",
                    self.child.wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The next message it printed.
    pub fn expect_message(&mut self) -> Msg {
        let line = self.wait_line("message", |l| l.starts_with("MSG "));
        parse_msg(&line).unwrap_or_else(|| panic!("unparsable message line {line:?}"))
    }

    /// Kills it with SIGKILL: the socket is closed by the kernel, no
    /// DISCONNECT is sent.
    pub fn kill(mut self) {
        self.child.kill().expect("killing mosquitto_sub");
        let _ = self.child.wait();
    }

    /// Waits for it to exit by itself (`-C` reached); returns its status
    /// and the messages it printed that were not read yet.
    pub fn wait_exit(mut self) -> (ExitStatus, Vec<Msg>) {
        let mut msgs = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    msgs.extend(parse_msg(&line));
                    self.seen.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "mosquitto_sub did not exit; output:\n{}",
                        self.seen.join("\n")
                    )
                }
            }
        }
        let status = self.child.wait().expect("waiting for mosquitto_sub");
        (status, msgs)
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mosquitto_pub -V version -d args` against `addr` to its end;
/// panics unless it succeeds; returns its output (debug lines included).
pub fn publish(addr: SocketAddr, version: Version, args: &[&str]) -> String {
    // `timeout`: mosquitto_pub waits for ever for a CONNACK that does
    // not come; this only stops a broken broker from hanging the test.
    let out = Command::new("timeout")
        .arg(TIMEOUT.as_secs().to_string())
        .arg(tool("mosquitto_pub"))
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-V", version.flag(), "-d"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running mosquitto_pub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} failed ({}):\n{text}",
        out.status
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lines_parse() {
        let m = parse_msg("MSG q=2 r=1 t=a/b p=hello world").expect("a message");
        assert_eq!((m.qos, m.retain, m.topic.as_str()), (2, true, "a/b"));
        assert_eq!(m.payload, "hello world");
        assert_eq!(parse_msg("Client x received PUBLISH"), None);
    }
}
