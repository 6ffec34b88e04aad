//! WebSocket bad input, over raw sockets: every refused upgrade gets its
//! HTTP answer and is closed, every protocol violation after the upgrade
//! gets its close code; each is counted in `/metrics`, and a bystander
//! connection on the same server keeps echoing throughout.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use e2e::ws::{temp_file, upgrade_request, HttpHead, RawWs};
use e2e::{wait_for, Backend, Server, TIMEOUT};
use wire::ws::OpCode;

both_backends!(
    garbage_handshake_is_400,
    wrong_version_is_426,
    post_is_405,
    unknown_paths_are_404,
    echo_path_without_the_flag_is_404,
    disallowed_origin_is_403,
    oversized_request_is_431,
    unmasked_frame_closes_1002,
    two_gib_length_closes_1009,
    invalid_utf8_closes_1007,
    slowloris_upgrade_is_408,
    a_client_still_writing_reads_the_close_frame,
);

const FAILURES: &str = "switchboard_ws_handshake_failures_total";

/// A server with the echo endpoint, and a connection on it that must keep
/// echoing whatever the test does to other connections (or, on a server
/// without the echo endpoint, keep answering envelope PINGs).
struct Setup {
    server: Server,
    bystander: RawWs,
    echo: bool,
    round: usize,
}

impl Setup {
    fn start(backend: Backend, extra: &[&str]) -> Setup {
        let mut args = vec!["--ws-echo"];
        args.extend_from_slice(extra);
        Setup::with_args(backend, &args, true)
    }

    fn with_args(backend: Backend, args: &[&str], echo: bool) -> Setup {
        let server = Server::start(backend, args);
        let bystander = RawWs::open(server.ws_addr(), if echo { "/echo" } else { "/" }, "");
        let mut s = Setup {
            server,
            bystander,
            echo,
            round: 0,
        };
        s.bystander_still_echoes();
        s
    }

    fn addr(&self) -> SocketAddr {
        self.server.ws_addr()
    }

    fn metric(&self, name: &str) -> f64 {
        self.server.metrics().get(name).copied().unwrap_or(0.0)
    }

    /// Waits until `name` reads `want` (the counter is bumped on the core
    /// before it answers, so this is immediate unless it is wrong).
    fn expect_metric(&self, name: &str, want: f64) {
        let mut last = 0.0;
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(name, TIMEOUT, || {
                last = self.metric(name);
                last == want
            })
        }));
        assert!(ok.is_ok(), "{name} is {last}, want {want}");
    }

    fn bystander_still_echoes(&mut self) {
        self.round += 1;
        let text = format!("bystander {}", self.round);
        if self.echo {
            self.bystander.echo(&text);
            return;
        }
        let ping = format!(r#"{{"type":"ping","data":"{text}"}}"#);
        self.bystander.send(OpCode::Text, ping.as_bytes());
        let f = self.bystander.read_frame().expect("reading the PONG");
        let pong = String::from_utf8_lossy(&f.payload);
        assert_eq!(f.opcode, OpCode::Text as u8, "{f:?}");
        assert!(
            pong.contains(r#""type":"pong""#) && pong.contains(&format!(r#""data":"{text}""#)),
            "{pong}"
        );
    }

    /// Sends `request` on a fresh connection; expects an HTTP answer
    /// with `status`, then the connection closed, and one more refusal
    /// counted. Returns the answer's head.
    fn refused(&mut self, request: &[u8], status: u16) -> HttpHead {
        let failures = self.metric(FAILURES);
        let upgrades = self.metric("switchboard_ws_upgrades_total");
        let mut c = RawWs::connect(self.addr());
        c.write(request).expect("writing the request");
        let head = c.read_head().expect("reading the answer");
        assert_eq!(head.status, status, "{head:?}");
        assert!(head.header("sec-websocket-accept").is_none(), "{head:?}");
        c.read_to_eof();
        self.expect_metric(FAILURES, failures + 1.0);
        self.expect_metric("switchboard_ws_upgrades_total", upgrades);
        self.bystander_still_echoes();
        head
    }

    /// Opens a connection on the envelope endpoint, runs `violate` on it,
    /// expects a close frame with `code` and then the connection closed,
    /// and `counter` one higher.
    fn violation(&mut self, counter: &str, code: u16, violate: impl FnOnce(&mut RawWs)) {
        let before = self.metric(counter);
        let mut c = RawWs::open(self.addr(), "/", "");
        violate(&mut c);
        let close = c.expect_close();
        assert_eq!(close.close_code(), code, "{close:?}");
        // Answer the close as a client should (the server may already
        // have closed the socket: a failed write is fine), then EOF.
        let _ = c.send_frame_with(true, OpCode::Close, &close.payload[..2], Some([1, 2, 3, 4]));
        c.read_to_eof();
        self.expect_metric(counter, before + 1.0);
        self.bystander_still_echoes();
    }
}

fn garbage_handshake_is_400(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    // A TLS ClientHello's first bytes, then a blank line.
    s.refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400);
    // Well-formed HTTP, but no Sec-WebSocket-Key.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        s.addr()
    );
    s.refused(req.as_bytes(), 400);
}

fn wrong_version_is_426(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    let req = upgrade_request(s.addr(), "/", "").replace(
        "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Version: 8\r\n",
    );
    let head = s.refused(req.as_bytes(), 426);
    assert_eq!(head.header("sec-websocket-version"), Some("13"), "{head:?}");
}

fn post_is_405(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    let req = upgrade_request(s.addr(), "/", "Content-Length: 0\r\n").replacen("GET", "POST", 1);
    let head = s.refused(req.as_bytes(), 405);
    assert_eq!(head.header("allow"), Some("GET"), "{head:?}");
}

fn unknown_paths_are_404(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    for path in ["/nope", "/mqtt/more", "/echo/more"] {
        s.refused(upgrade_request(s.addr(), path, "").as_bytes(), 404);
    }
}

fn echo_path_without_the_flag_is_404(backend: Backend) {
    let mut s = Setup::with_args(backend, &[], false);
    s.refused(upgrade_request(s.addr(), "/echo", "").as_bytes(), 404);
}

fn disallowed_origin_is_403(backend: Backend) {
    let config = temp_file(
        &format!("origins-{}.toml", backend.name()),
        "[websocket]\nallowed_origins = [\"https://good.example\"]\n",
    );
    let config = config.to_str().expect("utf-8 path");
    let mut s = Setup::start(backend, &["--config", config]);
    let evil = upgrade_request(s.addr(), "/", "Origin: https://evil.example\r\n");
    s.refused(evil.as_bytes(), 403);
    // The listed origin is let in: the list is what refused the other.
    let mut good = RawWs::open(s.addr(), "/echo", "Origin: https://good.example\r\n");
    good.echo("good origin");
    s.bystander_still_echoes();
}

fn oversized_request_is_431(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    // 10 000 bytes of header against the 8 KiB default limit.
    let pad = format!("X-Pad: {}\r\n", "p".repeat(10_000));
    s.refused(upgrade_request(s.addr(), "/", &pad).as_bytes(), 431);
}

fn unmasked_frame_closes_1002(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    s.violation("switchboard_ws_protocol_errors_total", 1002, |c| {
        c.send_frame_with(true, OpCode::Text, br#"{"type":"ping"}"#, None)
            .expect("writing an unmasked frame");
    });
}

fn two_gib_length_closes_1009(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    s.violation("switchboard_ws_oversized_total", 1009, |c| {
        c.send_header_only(OpCode::Binary, 2 << 30)
            .expect("writing a 2 GiB frame header");
    });
}

fn invalid_utf8_closes_1007(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    s.violation("switchboard_ws_invalid_utf8_total", 1007, |c| {
        c.send(OpCode::Text, b"{\"type\":\"ping\",\"data\":\"\xff\xfe\"}");
    });
}

fn slowloris_upgrade_is_408(backend: Backend) {
    /// One byte per this; the request below would take a minute at
    /// this pace, far past the 1 s handshake timeout configured.
    const BYTE_EVERY: Duration = Duration::from_millis(100);
    let config = temp_file(
        &format!("slowloris-{}.toml", backend.name()),
        "[websocket]\nhandshake_timeout_ms = 1000\n",
    );
    let mut s = Setup::start(backend, &["--config", config.to_str().expect("utf-8 path")]);
    let pad = format!("X-Pad: {}\r\n", "s".repeat(400));
    let request = upgrade_request(s.addr(), "/", &pad).into_bytes();
    let failures = s.metric(FAILURES);
    let timeouts = s.metric("switchboard_timeouts_total");

    let mut c = RawWs::connect(s.addr());
    let mut writer = c.stream().try_clone().expect("cloning the socket");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let (stop2, sent2, len) = (stop.clone(), sent.clone(), request.len());
    let started = Instant::now();
    let dripper = thread::spawn(move || {
        for b in request {
            if stop2.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                return;
            }
            sent2.fetch_add(1, Ordering::Relaxed);
            thread::sleep(BYTE_EVERY);
        }
    });
    let head = c.read_head().expect("reading the 408");
    c.read_to_eof();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    dripper.join().expect("dripper thread");
    assert_eq!(head.status, 408, "{head:?}");
    let sent = sent.load(Ordering::Relaxed);
    // Answered and closed while the request was still incomplete: the
    // deadline, not the end of the request, ended it.
    assert!(
        sent < len,
        "the whole request ({len} bytes) was sent before the 408 (after {elapsed:?})"
    );
    eprintln!("slowloris: 408 and closed after {elapsed:?}, {sent} of {len} bytes sent");
    s.expect_metric(FAILURES, failures + 1.0);
    s.expect_metric("switchboard_timeouts_total", timeouts + 1.0);
    s.bystander_still_echoes();
}

/// A client still sending the 2 GiB message it announced when it is
/// refused reads the close frame: the server reads and discards what
/// follows (the lingering close) instead of resetting the connection
/// under the client's writes.
fn a_client_still_writing_reads_the_close_frame(backend: Backend) {
    let mut s = Setup::start(backend, &[]);
    s.violation("switchboard_ws_oversized_total", 1009, |c| {
        c.send_header_only(OpCode::Binary, 2 << 30)
            .expect("writing a 2 GiB frame header");
        let chunk = [0x5a; 1024];
        let end = Instant::now() + Duration::from_millis(200);
        let mut i = 0;
        while Instant::now() < end {
            c.write(&chunk)
                .unwrap_or_else(|e| panic!("write {i} after the refusal: {e}"));
            i += 1;
            thread::sleep(Duration::from_millis(1));
        }
    });
}
