//! The happy path of one connection, and the admin endpoint.

use std::collections::HashSet;

use e2e::{core_of, frames, wait_for, Backend, Server, WireClient, TIMEOUT};
use wire::FrameType;

both_backends!(
    hello_gets_welcome,
    ping_is_answered_before_and_after_hello,
    client_close_is_answered_with_close,
    admin_endpoints_answer,
);

fn hello_gets_welcome(backend: Backend) {
    let server = Server::start(
        backend,
        &[
            "--node-id",
            "7",
            "--max-payload-len",
            "4096",
            "--idle-timeout-ms",
            "120000",
        ],
    );
    assert_eq!(server.threads(), 2);
    let mut ids = HashSet::new();
    for i in 0..8 {
        let mut c = WireClient::connect(server.wire_addr());
        c.send_hello(&format!("user-{i}"));
        let f = c.expect_frame(FrameType::Welcome);
        let w = f.welcome();
        assert_eq!(w.node_id, 7);
        assert_eq!(w.max_payload_len, 4096);
        assert_eq!(w.idle_timeout_ms, 120_000);
        assert!(
            core_of(w.connection_id) < 2,
            "connection id {:#x} names a core this server does not have",
            w.connection_id
        );
        assert!(ids.insert(w.connection_id), "connection id reused: {f:?}");
        // Nothing else is sent unasked.
        assert!(c.sync().is_empty());
    }
}

fn ping_is_answered_before_and_after_hello(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    // PING is the one frame allowed before HELLO.
    let id = c.ping(b"early");
    let pong = c.expect_frame(FrameType::Pong);
    assert_eq!(pong.header.message_id, id);
    assert_eq!(pong.payload, b"early");
    c.hello("pinger");
    for len in [0usize, 1, 1000, 60_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let id = c.ping(&payload);
        let pong = c.expect_frame(FrameType::Pong);
        assert_eq!(pong.header.message_id, id);
        assert_eq!(pong.payload, payload, "PONG echoes a {len}-byte payload");
    }
}

fn client_close_is_answered_with_close(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("closer");
    c.write_raw(&frames::close(0)).unwrap();
    let frames = c.read_until_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "expected one CLOSE, got {frames:?}");
    assert_eq!(frames[0].close_code(), 0);
}

fn admin_endpoints_answer(backend: Backend) {
    let server = Server::start(backend, &[]);
    assert_eq!(server.http_get("/healthz").0, 200);
    let (status, body) = server.http_get("/readyz");
    assert_eq!((status, body.trim()), (200, "ready"));
    assert_eq!(server.http_get("/no-such-page").0, 404);
    let m = server.metrics();
    assert_eq!(m["switchboard_connections_open"], 0.0);
    let (_, text) = server.http_get("/metrics");
    assert!(
        text.contains(&format!("backend=\"{}\"", backend.name())),
        "/metrics names the backend: {text}"
    );

    let mut clients: Vec<WireClient> = (0..3)
        .map(|i| {
            let mut c = WireClient::connect(server.wire_addr());
            c.hello(&format!("metered-{i}"));
            c
        })
        .collect();
    let m = server.metrics();
    assert_eq!(m["switchboard_connections_open"], 3.0);
    assert_eq!(m["switchboard_connections_accepted_total"], 3.0);
    clients.truncate(1);
    wait_for("connections_open to drop to 1", TIMEOUT, || {
        server.metric("switchboard_connections_open") == 1.0
    });
    assert_eq!(server.metric("switchboard_connections_closed_total"), 2.0);
}
