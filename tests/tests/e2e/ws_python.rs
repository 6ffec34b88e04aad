//! WebSocket with a real third-party client: Python's `websockets`
//! library runs the scenarios in `tests/py/` against the real server
//! (JSON envelope, binary `wire` frames, fragmentation, permessage-deflate,
//! and a message crossing to a `wire` TCP client and back).
//!
//! A scenario script exits 0 and prints a last line starting with "OK"
//! only if every check in it held; `python()` fails the test if the
//! `websockets` package is missing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use e2e::ws::{python, tests_dir};
use e2e::{frames, Backend, OwnedFrame, Server, WireClient, TIMEOUT};
use wire::{Control, Flags, FrameDecoder, FrameType};

both_backends!(
    json_hello_and_send,
    binary_wire_frames,
    fragmented_messages,
    compressed_both_ways,
    deflate_off_is_not_negotiated,
    websocket_to_wire_and_back,
    one_publish_reaches_every_output_form,
);

fn script(name: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(tests_dir().join("py").join(name));
    cmd
}

fn ws_url(server: &Server, path: &str) -> String {
    format!("ws://{}{path}", server.ws_addr())
}

/// Runs a scenario to its end; panics with its output unless it passed.
fn run_ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().last().is_some_and(|l| l.starts_with("OK")),
        "scenario failed ({}):\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
    stdout
}

fn json_hello_and_send(backend: Backend) {
    let server = Server::start(backend, &[]);
    run_ok(script("json_chat.py").arg(ws_url(&server, "/")));
    // Two upgrades; the DELIVERs went through the JSON path.
    assert_eq!(server.metric("switchboard_ws_upgrades_total"), 2.0);
    assert!(server.metric("switchboard_ws_messages_in_total") >= 6.0);
}

fn binary_wire_frames(backend: Backend) {
    let server = Server::start(backend, &[]);
    let hello = frames::hello("py-bin");
    let send = frames::send_to_user("py-bin", b"\x00\x01binary body\xff", Flags::NONE, 5);
    let json = r#"{"type":"send","to":{"user":"py-bin"},"body":"from json"}"#;
    let stdout = run_ok(
        script("binary_wire.py")
            .arg(ws_url(&server, "/"))
            .arg(hex(&hello))
            .arg(hex(&send))
            .arg(json),
    );
    let msgs: Vec<Vec<u8>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RECV "))
        .map(unhex)
        .collect();
    assert_eq!(msgs.len(), 4, "{stdout}");
    // Each binary message is exactly one whole wire frame.
    let frames: Vec<_> = msgs.iter().map(|m| one_frame(m)).collect();
    frames[0].welcome();
    for (f, body) in frames[1..].iter().zip([
        &b"\x00\x01binary body\xff"[..],
        b"\x00\x01binary body\xff",
        b"from json",
    ]) {
        let d = f.deliver();
        assert_eq!(d.sender, "py-bin");
        assert_eq!(d.body, body);
    }
}

fn fragmented_messages(backend: Backend) {
    let server = Server::start(backend, &["--ws-echo"]);
    run_ok(script("fragmented.py").arg(ws_url(&server, "")));
}

fn compressed_both_ways(backend: Backend) {
    let server = Server::start(backend, &[]);
    let out = run_ok(script("compressed.py").arg(ws_url(&server, "/")));
    eprintln!("{}", out.trim_end());
}

fn deflate_off_is_not_negotiated(backend: Backend) {
    let server = Server::start(backend, &["--ws-deflate", "false"]);
    run_ok(
        script("compressed.py")
            .arg(ws_url(&server, "/"))
            .arg("--expect-no-deflate"),
    );
}

fn websocket_to_wire_and_back(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut tcp = WireClient::connect(server.wire_addr());
    tcp.hello("tcp-peer");
    let mut child = script("cross_wire.py")
        .arg(ws_url(&server, "/"))
        .args(["py-user", "tcp-peer"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning python");
    // Python -> WebSocket -> engine -> wire TCP.
    let f = match tcp.read_frame(TIMEOUT) {
        Ok(f) => f,
        Err(e) => {
            let _ = child.kill();
            let out = child.wait_with_output().expect("waiting for python");
            panic!(
                "no DELIVER on the wire side ({e}); python said:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    assert_eq!(f.frame_type(), FrameType::Deliver, "{f:?}");
    let d = f.deliver();
    assert_eq!(d.sender, "py-user");
    assert_eq!(d.body, b"from websockets to wire");
    // And back: a text body, then one that is not UTF-8 (JSON body_b64).
    tcp.send_to_user("py-user", "from wire \u{e9}".as_bytes(), Flags::NONE);
    tcp.send_to_user("py-user", &[0x00, 0xff, 0x10], Flags::NONE);
    let stdout = child.stdout.take().expect("piped stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
    let out = child.wait_with_output().expect("waiting for python");
    let text = lines.join("\n");
    assert!(
        out.status.success() && text.ends_with("OK cross"),
        "scenario failed ({}):\n{text}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let delivers: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("DELIVER "))
        .collect();
    assert_eq!(delivers.len(), 2, "{text}");
    assert!(
        delivers[0].contains(r#""body": "from wire \u00e9""#),
        "{text}"
    );
    assert!(delivers[1].contains(r#""body_b64": "AP8Q""#), "{text}");
    assert!(
        delivers[1].contains(r#""to": {"user": "py-user"}"#),
        "{text}"
    );
}

/// One publish to a topic with receivers of every output form (JSON or
/// binary; plain, compressed without context takeover at two window sizes,
/// compressed with it): each gets the right message, and on one core the
/// second receiver of each form that can share reuses the first one's
/// encoding.
fn one_publish_reaches_every_output_form(backend: Backend) {
    // Context takeover only for clients that do not ask for its absence.
    let config = e2e::ws::temp_file(
        "fanout-forms.toml",
        "[websocket.deflate]\nserver_no_context_takeover = false\n",
    );
    let config = config.to_str().expect("UTF-8 path");
    let server = Server::start(backend, &["--threads", "1", "--config", config]);
    let stdout = run_ok(script("fanout_forms.py").arg(ws_url(&server, "/")));
    let bodies: Vec<Vec<u8>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("BODY "))
        .map(|l| unhex(l.split_once(' ').expect("BODY n hex").1))
        .collect();
    assert_eq!(bodies.len(), 4, "{stdout}");
    let mut binary = 0;
    for line in stdout.lines().filter_map(|l| l.strip_prefix("RECV ")) {
        let mut parts = line.split(' ');
        let (name, n, msg) = (parts.next(), parts.next(), parts.next());
        let (Some(name), Some(n), Some(msg)) = (name, n, msg) else {
            panic!("bad line {line:?}");
        };
        let n: usize = n.parse().expect("message number");
        let d = one_frame(&unhex(msg)).deliver();
        assert_eq!(d.sender, "py-publisher", "{name}");
        assert_eq!(d.body, bodies[n], "{name} message {n}");
        binary += 1;
    }
    // 3 binary forms, 2 receivers each, 4 messages.
    assert_eq!(binary, 3 * 2 * 4, "{stdout}");
    // Shareable forms: JSON plain, JSON at 15 and 10 bits, binary plain,
    // binary at 15 bits; the second receiver of each shares, per message.
    // The receivers with context takeover encode their own.
    assert_eq!(
        server.metric("switchboard_ws_messages_shared_total"),
        5.0 * 4.0
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Decodes `bytes` as exactly one wire frame.
fn one_frame(bytes: &[u8]) -> OwnedFrame {
    let mut dec = FrameDecoder::new(64 << 20);
    let mut out = Vec::new();
    dec.feed(bytes, |f| {
        out.push(OwnedFrame {
            header: f.header,
            payload: f.payload.to_vec(),
        });
        Control::Continue
    })
    .unwrap_or_else(|e| panic!("not wire frames: {e:?} in {bytes:?}"));
    assert_eq!(dec.buffered_len(), 0, "a partial frame in {bytes:?}");
    assert_eq!(out.len(), 1, "not exactly one frame per message: {out:?}");
    out.pop().expect("one frame")
}
