//! Peers that break the protocol get a numbered ERROR, a CLOSE with the
//! same code, and a closed socket; each case is counted in /metrics.

use std::time::{Duration, Instant};

use e2e::{frames, wait_for, Backend, Server, WireClient, TIMEOUT};
use wire::{ErrorCode, Flags, FrameHeader, FrameType, HEADER_LEN};

both_backends!(
    garbage_is_bad_frame,
    oversized_frame_is_refused_from_its_header,
    frame_before_hello_is_unexpected,
    second_hello_is_unexpected,
    server_only_frame_from_client_is_unexpected,
    wrong_version_is_refused,
    empty_user_id_is_unauthorized,
    silent_connections_time_out,
    a_client_still_writing_reads_error_and_close,
);

/// Reads to EOF and checks the server said exactly ERROR `code` then CLOSE
/// `code`.
fn expect_error_then_close(c: &mut WireClient, code: ErrorCode) {
    let frames = c.read_until_closed(TIMEOUT);
    assert_eq!(frames.len(), 2, "expected ERROR, CLOSE; got {frames:?}");
    assert_eq!(frames[0].error().0, code, "{frames:?}");
    assert_eq!(frames[1].close_code(), code as u16, "{frames:?}");
}

fn header_bytes(h: FrameHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    h.encode(&mut b);
    b
}

fn garbage_is_bad_frame(backend: Backend) {
    let server = Server::start(backend, &[]);
    // Not our protocol at all.
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    expect_error_then_close(&mut c, ErrorCode::BadFrame);

    // Garbage after a good HELLO.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("garbler");
    c.write_raw(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]).unwrap();
    expect_error_then_close(&mut c, ErrorCode::BadFrame);

    // A well-formed header whose SEND payload is not a FlatBuffers table.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("garbler");
    c.write_raw(&frames::raw(FrameType::Send, 5, &[0xff; 40]))
        .unwrap();
    expect_error_then_close(&mut c, ErrorCode::BadFrame);

    // Reserved flag bits set.
    let mut c = WireClient::connect(server.wire_addr());
    let mut h = FrameHeader::new(FrameType::Ping, 0);
    h.flags = Flags(0x8000);
    c.write_raw(&header_bytes(h)).unwrap();
    expect_error_then_close(&mut c, ErrorCode::BadFrame);

    assert_eq!(server.metric("switchboard_protocol_errors_total"), 4.0);
    // The server is still fine for everyone else.
    let mut ok = WireClient::connect(server.wire_addr());
    ok.hello("after-garbage");
}

fn oversized_frame_is_refused_from_its_header(backend: Backend) {
    let server = Server::start(backend, &["--max-payload-len", "1024"]);
    let mut c = WireClient::connect(server.wire_addr());
    // Exactly the maximum is fine.
    c.ping(&[0x5a; 1024]);
    assert_eq!(c.expect_frame(FrameType::Pong).payload.len(), 1024);
    // One byte more is refused as soon as the header is in: the payload
    // is never sent, so an answer proves the server did not wait for it.
    c.write_raw(&header_bytes(FrameHeader::new(FrameType::Ping, 1025)))
        .unwrap();
    expect_error_then_close(&mut c, ErrorCode::TooLarge);

    let mut c = WireClient::connect(server.wire_addr());
    c.hello("big-sender");
    let mut h = FrameHeader::new(FrameType::Send, u32::MAX);
    h.message_id = 9;
    c.write_raw(&header_bytes(h)).unwrap();
    expect_error_then_close(&mut c, ErrorCode::TooLarge);

    let m = server.metrics();
    assert_eq!(m["switchboard_oversized_frames_total"], 2.0);
    assert_eq!(m["switchboard_protocol_errors_total"], 0.0);
}

fn frame_before_hello_is_unexpected(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&frames::send_to_user("anyone", b"hi", Flags::NONE, 1))
        .unwrap();
    expect_error_then_close(&mut c, ErrorCode::UnexpectedFrame);

    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&frames::subscribe(&["news"], Flags::ACK_REQUESTED, 1))
        .unwrap();
    expect_error_then_close(&mut c, ErrorCode::UnexpectedFrame);

    assert_eq!(server.metric("switchboard_unexpected_frames_total"), 2.0);
}

fn second_hello_is_unexpected(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("twice");
    c.send_hello("twice");
    expect_error_then_close(&mut c, ErrorCode::UnexpectedFrame);
    assert_eq!(server.metric("switchboard_unexpected_frames_total"), 1.0);
}

fn server_only_frame_from_client_is_unexpected(backend: Backend) {
    let server = Server::start(backend, &[]);
    for t in [FrameType::Deliver, FrameType::Welcome, FrameType::Ack] {
        let mut c = WireClient::connect(server.wire_addr());
        c.hello("impostor");
        // The payload is never looked at: the type alone is wrong.
        c.write_raw(&frames::raw(t, 1, &[])).unwrap();
        expect_error_then_close(&mut c, ErrorCode::UnexpectedFrame);
    }
}

fn wrong_version_is_refused(backend: Backend) {
    let server = Server::start(backend, &[]);
    // Header version byte 2.
    let mut c = WireClient::connect(server.wire_addr());
    let mut bytes = frames::hello("future");
    bytes[2] = 2;
    c.write_raw(&bytes).unwrap();
    expect_error_then_close(&mut c, ErrorCode::UnsupportedVersion);

    // Header version 1, HELLO asking for envelope version 2.
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&frames::hello_v("future", 2)).unwrap();
    expect_error_then_close(&mut c, ErrorCode::UnsupportedVersion);
}

fn empty_user_id_is_unauthorized(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.send_hello("");
    expect_error_then_close(&mut c, ErrorCode::Unauthorized);
}

fn silent_connections_time_out(backend: Backend) {
    let server = Server::start(
        backend,
        &["--hello-timeout-ms", "300", "--idle-timeout-ms", "600"],
    );
    // Connected, never says HELLO.
    let mut mute = WireClient::connect(server.wire_addr());
    // Says HELLO, then nothing.
    let mut idle = WireClient::connect(server.wire_addr());
    idle.hello("idler");
    expect_error_then_close(&mut mute, ErrorCode::IdleTimeout);
    expect_error_then_close(&mut idle, ErrorCode::IdleTimeout);
    assert_eq!(server.metric("switchboard_timeouts_total"), 2.0);
}

/// A client that keeps writing after a fatal error still reads ERROR and
/// CLOSE: the server shuts its write side and reads and discards what
/// follows (the lingering close) instead of closing under the client's
/// writes, which would turn them into a reset (broken pipe).
fn a_client_still_writing_reads_error_and_close(backend: Backend) {
    let server = Server::start(backend, &["--max-payload-len", "1024"]);
    // Garbage, then well-formed PINGs the server no longer reads.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("writer");
    c.write_raw(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]).unwrap();
    keep_writing(&mut c, &frames::ping(b"still here", 7));
    expect_error_then_close(&mut c, ErrorCode::BadFrame);
    drop(c);
    // An oversized frame, then its payload.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("big-writer");
    c.write_raw(&header_bytes(FrameHeader::new(FrameType::Send, 1 << 20)))
        .unwrap();
    keep_writing(&mut c, &[0x5a; 1024]);
    expect_error_then_close(&mut c, ErrorCode::TooLarge);
    drop(c);
    assert_eq!(server.metric("switchboard_connections_lingered_total"), 2.0);
    // Both closed their side after reading: the linger is over.
    wait_for("no connection lingering", TIMEOUT, || {
        server.metric("switchboard_connections_lingering") == 0.0
    });
    assert_eq!(server.metric("switchboard_connections_open"), 0.0);
}

/// Writes `bytes` every millisecond for 200 ms; every write must succeed.
fn keep_writing(c: &mut WireClient, bytes: &[u8]) {
    let end = Instant::now() + Duration::from_millis(200);
    let mut i = 0;
    while Instant::now() < end {
        c.write_raw(bytes)
            .unwrap_or_else(|e| panic!("write {i} after the fatal frame: {e}"));
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
}
