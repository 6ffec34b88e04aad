//! What a client may send when, and what the server answers, as
//! docs/wire-protocol.md sections 6 to 8 state it: the cases a client
//! written from the document alone depends on.

use bytes::BytesMut;
use e2e::mqtt::raw::{RawMqtt, V5};
use e2e::{frames, Backend, Server, WireClient, TIMEOUT};
use wire::{ErrorCode, Flags, FrameHeader, FrameType};

both_backends!(
    client_error_frames_are_accepted,
    close_before_welcome_is_answered_with_close,
    pong_before_welcome_is_unexpected,
    any_token_is_accepted,
    errors_about_a_frame_carry_its_message_id,
    no_deliver_exceeds_the_announced_maximum,
);

/// An ERROR frame as a client would send it (section 8).
fn client_error(code: ErrorCode, message_id: u64) -> Vec<u8> {
    let mut h = FrameHeader::new(FrameType::Error, 0);
    h.message_id = message_id;
    let mut out = BytesMut::new();
    let e = wire::ErrorMsg {
        code,
        reason: "could not decode your frame",
    };
    wire::Encoder::new().error(&mut out, h, &e);
    out.to_vec()
}

/// Reads to EOF; expects ERROR `code` about message `id`, then CLOSE `code`.
fn expect_error_about(c: &mut WireClient, code: ErrorCode, id: u64) {
    let frames = c.read_until_closed(TIMEOUT);
    assert_eq!(frames.len(), 2, "expected ERROR, CLOSE; got {frames:?}");
    assert_eq!(frames[0].error().0, code, "{frames:?}");
    assert_eq!(frames[0].header.message_id, id, "{frames:?}");
    assert_eq!(frames[1].close_code(), code as u16, "{frames:?}");
}

fn client_error_frames_are_accepted(backend: Backend) {
    let server = Server::start(backend, &[]);
    // Before WELCOME, then after: the connection stays usable, and the
    // CLOSE that a client sends after its ERROR is answered as usual.
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&client_error(ErrorCode::BadFrame, 0)).unwrap();
    c.hello("reporter");
    c.write_raw(&client_error(ErrorCode::BadFrame, 3)).unwrap();
    c.sync();
    c.write_raw(&frames::close(ErrorCode::BadFrame as u16))
        .unwrap();
    let frames = c.read_until_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close_code(), 0, "{frames:?}");
    let m = server.metrics();
    assert_eq!(m["switchboard_peer_errors_total"], 2.0);
    assert_eq!(m["switchboard_unexpected_frames_total"], 0.0);
}

fn close_before_welcome_is_answered_with_close(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&frames::close(0)).unwrap();
    let frames = c.read_until_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close_code(), 0, "{frames:?}");
}

fn pong_before_welcome_is_unexpected(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(&frames::raw(FrameType::Pong, 4, b"unasked"))
        .unwrap();
    expect_error_about(&mut c, ErrorCode::UnexpectedFrame, 4);
    // After WELCOME a PONG is fine (the server may PING).
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("ponger");
    c.write_raw(&frames::raw(FrameType::Pong, 4, b"late"))
        .unwrap();
    c.sync();
}

fn any_token_is_accepted(backend: Backend) {
    let server = Server::start(backend, &[]);
    for token in ["", "not a JWT", "eyJhbGciOiJub25lIn0.e30."] {
        let hello = wire::Hello {
            protocol_version: 1,
            user_id: "anyone",
            token,
            client_name: "",
        };
        let mut out = BytesMut::new();
        let h = FrameHeader::new(FrameType::Hello, 0);
        wire::Encoder::new().hello(&mut out, h, &hello);
        let mut c = WireClient::connect(server.wire_addr());
        c.write_raw(&out).unwrap();
        c.expect_frame(FrameType::Welcome);
    }
}

fn errors_about_a_frame_carry_its_message_id(backend: Backend) {
    let server = Server::start(backend, &[]);
    // A SEND whose payload is not a FlatBuffers table.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("a");
    c.write_raw(&frames::raw(FrameType::Send, 5, &[0xff; 40]))
        .unwrap();
    expect_error_about(&mut c, ErrorCode::BadFrame, 5);
    // A SEND to a topic name with a wildcard.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("a");
    let send = frames::send(frames::topic_target("a/+"), b"x", Flags::NONE, 6);
    c.write_raw(&send).unwrap();
    expect_error_about(&mut c, ErrorCode::BadFrame, 6);
    // A SUBSCRIBE to an invalid filter.
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("a");
    c.write_raw(&frames::subscribe(&["a/#/b"], Flags::NONE, 7))
        .unwrap();
    expect_error_about(&mut c, ErrorCode::BadFrame, 7);
    // A frame type a client may not send (ACK is server to client).
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("a");
    c.write_raw(&frames::raw(FrameType::Ack, 8, &[])).unwrap();
    expect_error_about(&mut c, ErrorCode::UnexpectedFrame, 8);
    // A stream that is not frames at all has no message id to echo.
    let mut c = WireClient::connect(server.wire_addr());
    c.write_raw(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    expect_error_about(&mut c, ErrorCode::BadFrame, 0);
}

/// The largest SEND body to `user` whose payload fits `max`.
fn largest_body(user: &str, max: usize) -> usize {
    (0..=max)
        .rev()
        .find(|&n| frames::send_to_user(user, &vec![0; n], Flags::NONE, 1).len() - 24 <= max)
        .expect("some body fits")
}

fn no_deliver_exceeds_the_announced_maximum(backend: Backend) {
    let server = Server::start(backend, &["--max-payload-len", "1024"]);
    let long_sender = "s".repeat(200);
    let mut sender = WireClient::connect(server.wire_addr());
    sender.hello(&long_sender);
    let mut bob = WireClient::connect(server.wire_addr());
    bob.send_hello("bob");
    let w = bob.expect_frame(FrameType::Welcome);
    assert_eq!(w.welcome().max_payload_len, 1024);
    // A SEND at the maximum is fine itself, but its DELIVER (with a
    // 200-byte sender name) would not be: refused, the connection stays.
    let n = largest_body("bob", 1024);
    let id = sender.send_to_user("bob", &vec![0x5a; n], Flags::ACK_REQUESTED);
    let f = sender.expect_frame(FrameType::Error);
    assert_eq!(f.error().0, ErrorCode::TooLarge, "{f:?}");
    assert_eq!(f.header.message_id, id, "{f:?}");
    // A smaller one goes through, and is the first thing bob reads.
    let id = sender.send_to_user("bob", b"fits", Flags::ACK_REQUESTED);
    assert_eq!(sender.expect_frame(FrameType::Ack).header.message_id, id);
    assert_eq!(first_body(&mut bob), b"fits");
    // An MQTT message larger than the maximum is not given to `wire`
    // subscribers (MQTT has its own, larger, packet limit).
    bob.subscribe(&["big/t"]);
    let (mut mqtt, _) = RawMqtt::open(server.mqtt_addr(), V5, "big-publisher");
    mqtt.publish_qos0("big/t", &[0x5a; 2000]);
    mqtt.publish_qos0("big/t", b"small");
    assert_eq!(first_body(&mut bob), b"small");
    assert_eq!(server.metric("switchboard_deliver_too_large_total"), 2.0);
}

/// The body of the next DELIVER `c` reads.
fn first_body(c: &mut WireClient) -> Vec<u8> {
    c.expect_frame(FrameType::Deliver).deliver().body
}
