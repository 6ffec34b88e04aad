//! WebSocket from a real browser: headless Chromium opens
//! `tests/web/ws.html`, which speaks the JSON envelope to the real server
//! and writes what happened into its DOM; `--dump-dom` prints the DOM.
//!
//! The page is served by a tiny HTTP server in the test, which holds the
//! page's last script until the page reports it is done, so the dump
//! shows the finished page (see the comment at the top of ws.html).
//! `chromium()` fails the test when Chromium is not installed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use e2e::ws::{chromium, target_dir, tests_dir};
use e2e::{Backend, Server, WireClient};
use wire::{Flags, FrameType};

both_backends!(browser_sends_to_itself, browser_to_wire_and_back);

/// How long Chromium may run before `timeout` kills it: only a guard so a
/// broken page or server fails the test instead of hanging it.
const CHROMIUM_GUARD: &str = "120";
/// How long /hold.js waits for /done before giving up (hang guard too).
const HOLD_GUARD: Duration = Duration::from_secs(90);

/// Serves ws.html, /done and /hold.js on loopback until the process ends.
/// Each connection gets its own thread: Chromium may open speculative
/// connections that never send a request.
fn serve_page() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the page server");
    let addr = listener.local_addr().expect("local addr");
    let page = Arc::new(std::fs::read(tests_dir().join("web/ws.html")).expect("reading ws.html"));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let done_rx = Arc::new(Mutex::new(Some(done_rx)));
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (page, done_tx, done_rx) = (page.clone(), done_tx.clone(), done_rx.clone());
            thread::spawn(move || {
                let Some(path) = request_path(&conn) else {
                    return;
                };
                if path.starts_with("/hold.js") {
                    // Answered once the page fetched /done.
                    let rx = done_rx.lock().expect("hold lock").take();
                    if let Some(rx) = rx {
                        let _ = rx.recv_timeout(HOLD_GUARD);
                    }
                    respond(conn, "200 OK", "text/javascript", b"// done\n");
                } else if path.starts_with("/done") {
                    let _ = done_tx.send(());
                    respond(conn, "204 No Content", "text/plain", b"");
                } else if path.starts_with("/ws.html") {
                    respond(conn, "200 OK", "text/html; charset=utf-8", &page);
                } else {
                    respond(conn, "404 Not Found", "text/plain", b"");
                }
            });
        }
    });
    addr
}

fn request_path(conn: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    // Drain the headers.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            return Some(path);
        }
    }
}

fn respond(mut conn: TcpStream, status: &str, ctype: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

/// Starts headless Chromium on the page with `query`; its stdout is the DOM.
fn open_page(query: &str) -> Child {
    let page = serve_page();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let profile = target_dir().join(format!("e2e-tmp/chromium-{}-{n}", std::process::id()));
    Command::new("timeout")
        .arg(CHROMIUM_GUARD)
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-proxy-server",
        ])
        .args(["--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://{page}/ws.html?{query}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning chromium")
}

/// Waits for Chromium; returns the dumped DOM's result and log.
fn finished_page(child: Child) -> (String, String) {
    let out = child.wait_with_output().expect("waiting for chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let between = |a: &str, b: &str| {
        dom.split_once(a)
            .and_then(|(_, rest)| rest.split_once(b))
            .map(|(v, _)| v.to_string())
    };
    let (Some(result), Some(log)) = (
        between("<div id=\"result\">", "</div>"),
        between("<pre id=\"log\">", "</pre>"),
    ) else {
        panic!(
            "no page in chromium's output ({}):\n{dom}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    (result, log)
}

fn browser_sends_to_itself(backend: Backend) {
    let server = Server::start(backend, &[]);
    let port = server.ws_addr().port();
    let child = open_page(&format!("port={port}&user=browser-self&body=hello%20me"));
    let (result, log) = finished_page(child);
    assert_eq!(result, "DONE", "page log:\n{log}");
    assert!(
        log.starts_with("open protocol=switchboard.v1.json"),
        "{log}"
    );
    assert!(log.contains(r#"recv {"type":"welcome""#), "{log}");
    assert!(log.contains(r#"deliver-body "hello me""#), "{log}");
    assert!(server.metric("switchboard_ws_upgrades_total") >= 1.0);
}

fn browser_to_wire_and_back(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut tcp = WireClient::connect(server.wire_addr());
    tcp.hello("tcp-agent");
    let port = server.ws_addr().port();
    let child = open_page(&format!(
        "port={port}&user=browser-visitor&peer=tcp-agent&body=hi%20from%20chromium"
    ));
    // Browser -> WebSocket -> engine -> wire TCP.
    let d = tcp.expect_frame(FrameType::Deliver).deliver();
    assert_eq!(d.sender, "browser-visitor");
    assert_eq!(d.body, b"hi from chromium");
    // And back.
    tcp.send_to_user("browser-visitor", b"hi from wire", Flags::NONE);
    let (result, log) = finished_page(child);
    assert_eq!(result, "DONE", "page log:\n{log}");
    assert!(log.contains(r#"deliver-body "hi from wire""#), "{log}");
    assert!(log.contains(r#""from":"tcp-agent""#), "{log}");
}
