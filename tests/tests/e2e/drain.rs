//! SIGTERM and SIGINT: every connection gets CLOSE GoingAway after what
//! was queued for it, readiness turns 503 while draining, and the process
//! exits with status 0.

use std::time::Duration;

use e2e::{connect_on_every_core, flood_body, Backend, Flood, Server, WireClient, TIMEOUT};
use wire::{ErrorCode, FrameType};

both_backends!(
    sigterm_closes_every_connection_and_exits_zero,
    sigint_drains_like_sigterm,
    sigterm_flushes_queued_messages_before_closing,
    drain_timeout_ends_a_drain_blocked_by_a_never_reading_client,
);

const GOING_AWAY: u16 = ErrorCode::GoingAway as u16;
/// How long a drained server may take to exit; only a hang guard.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads to EOF; the server must have sent exactly `before` DELIVERs of
/// [`flood_body`] in order, then CLOSE GoingAway.
fn expect_going_away(c: &mut WireClient, before: u64, who: &str) {
    let frames = c.read_until_closed(TIMEOUT * 4);
    let (last, delivers) = frames
        .split_last()
        .unwrap_or_else(|| panic!("{who}: closed without CLOSE"));
    assert_eq!(last.close_code(), GOING_AWAY, "{who}: {frames:?}");
    assert_eq!(delivers.len() as u64, before, "{who}: queued messages lost");
    for (seq, f) in delivers.iter().enumerate() {
        assert!(
            f.deliver().body == flood_body(seq as u32),
            "{who}: message {seq}"
        );
    }
}

fn idle_clients_get_going_away(backend: Backend, signal: libc::c_int) {
    let mut server = Server::start(backend, &[]);
    let mut clients = connect_on_every_core(&server, 2, |i| format!("idle-{i}"), true);
    clients[0].client.subscribe(&["news"]);
    let mut no_hello = WireClient::connect(server.wire_addr());
    // The connection is accepted once a PING is answered.
    no_hello.ping(b"here");
    no_hello.expect_frame(FrameType::Pong);
    assert_eq!(server.http_get("/readyz").0, 200);

    server.signal(signal);
    for (i, w) in clients.iter_mut().enumerate() {
        expect_going_away(&mut w.client, 0, &format!("client {i}"));
    }
    expect_going_away(&mut no_hello, 0, "connection without HELLO");
    let status = server.wait_exit(EXIT_TIMEOUT).expect("server exits");
    assert!(status.success(), "exit status {status}");
}

fn sigterm_closes_every_connection_and_exits_zero(backend: Backend) {
    idle_clients_get_going_away(backend, libc::SIGTERM);
}

fn sigint_drains_like_sigterm(backend: Backend) {
    idle_clients_get_going_away(backend, libc::SIGINT);
}

fn sigterm_flushes_queued_messages_before_closing(backend: Backend) {
    // Long enough that only the receiver's reading can end the drain.
    let mut server = Server::start(backend, &["--drain-timeout-ms", "600000"]);
    let mut slow = WireClient::connect(server.wire_addr());
    slow.hello("slow");
    let mut fast = WireClient::connect(server.wire_addr());
    fast.hello("fast");
    let mut bystander = WireClient::connect(server.wire_addr());
    bystander.hello("bystander");
    let flood = Flood::start(fast, "slow", 800);
    flood.wait_stalled(&server);

    server.terminate();
    // The receiver holds the drain open: readiness says so, metrics answer.
    e2e::wait_for("/readyz to answer 503", TIMEOUT, || {
        server.http_get("/readyz").0 == 503
    });
    // The sender is paused, so nothing more is routed: this is every
    // DELIVER the server took on.
    let queued = server.metric("switchboard_messages_delivered_total");
    assert!(queued >= 1.0);
    // New connections are not served any more.
    if let Ok(mut late) = WireClient::connect_from(server.wire_addr(), [127, 0, 0, 1].into()) {
        let _ = late.write_raw(&e2e::frames::hello("late"));
        let frames = late.read_until_closed(TIMEOUT);
        assert!(
            frames.iter().all(|f| f.frame_type() != FrameType::Welcome),
            "a connection made while draining was welcomed: {frames:?}"
        );
    }
    expect_going_away(&mut bystander, 0, "bystander");
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "exited before flushing"
    );

    expect_going_away(&mut slow, queued as u64, "slow receiver");
    let (_, result) = flood.join();
    assert!(result.is_err(), "the paused sender's connection was closed");
    let status = server.wait_exit(EXIT_TIMEOUT).expect("server exits");
    assert!(status.success(), "exit status {status}");
}

fn drain_timeout_ends_a_drain_blocked_by_a_never_reading_client(backend: Backend) {
    let mut server = Server::start(backend, &["--drain-timeout-ms", "500"]);
    let mut slow = WireClient::connect(server.wire_addr());
    slow.hello("slow");
    let mut fast = WireClient::connect(server.wire_addr());
    fast.hello("fast");
    let flood = Flood::start(fast, "slow", 800);
    flood.wait_stalled(&server);
    server.terminate();
    // Nobody reads, yet the server exits once its drain timeout passes.
    let status = server.wait_exit(EXIT_TIMEOUT).expect("server exits");
    assert!(status.success(), "exit status {status}");
    drop(slow);
    let _ = flood.join();
}
