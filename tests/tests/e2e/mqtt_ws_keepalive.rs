//! MQTT over WebSocket keeps MQTT's keep-alive: a client that sends only
//! WebSocket pings (no PINGREQ) is disconnected with 0x8D after 1.5 times
//! its keep-alive, as over TCP. WebSocket control frames are transport,
//! not MQTT traffic (MQTT 5 §3.1.2.10).

use std::io;
use std::time::{Duration, Instant};

use e2e::ws::RawWs;
use e2e::{Backend, Server, TIMEOUT};
use wire::ws::OpCode;

both_backends!(websocket_pings_do_not_keep_an_mqtt_session_alive);

/// CONNECT, MQTT 5, clean start, keep-alive 1 s, client id "ka".
const CONNECT_KEEP_ALIVE_1S: [u8; 17] = [
    0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 1, 0, 0, 2, b'k', b'a',
];

fn websocket_pings_do_not_keep_an_mqtt_session_alive(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut ws = RawWs::open(
        server.ws_addr(),
        "/mqtt",
        "Sec-WebSocket-Protocol: mqtt\r\n",
    );
    ws.send(OpCode::Binary, &CONNECT_KEEP_ALIVE_1S);
    let connack = ws.read_frame().expect("CONNACK");
    assert_eq!(connack.payload.first(), Some(&0x20), "{connack:?}");
    ws.stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let deadline = Instant::now() + TIMEOUT;
    let disconnect = loop {
        assert!(
            Instant::now() < deadline,
            "still connected after {TIMEOUT:?}"
        );
        // Only WebSocket traffic from the client: a ping every 200 ms.
        ws.send(OpCode::Ping, b"still here?");
        match ws.read_frame() {
            Ok(f) if f.opcode == OpCode::Binary as u8 => break f.payload,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("connection ended without a DISCONNECT: {e}"),
        }
    };
    // DISCONNECT (0xE0), remaining length, reason 0x8D Keep Alive timeout.
    assert_eq!(disconnect.first(), Some(&0xE0), "{disconnect:02x?}");
    assert_eq!(disconnect.get(2), Some(&0x8D), "{disconnect:02x?}");
}
