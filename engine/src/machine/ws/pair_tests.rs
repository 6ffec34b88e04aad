//! A [`WsConn`] driven against a client that uses `wire::ws` in the
//! client role, with no core, no backend and no clock: the harness plays
//! the stage (it hands the machine the client's bytes, lends the reader
//! out, records the steps and passes the machine's bytes back).

use bytes::{Bytes, BytesMut};
use wire::ws::{
    self, client, Deflater, HandshakeLimits, Inflater, MessageReader, MessageWriter, OpCode,
    ReaderLimits, Role, WsEvent,
};
use wire::Control;

use super::{
    Endpoint, Framed, OutForm, SharedForms, Step, Timeout, Timers, UpgradeSettings, WsConn,
};
use crate::config::WebSocketConfig;
use crate::priority::Lane;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The client's view of the connection once upgraded.
struct Client {
    writer: MessageWriter,
    reader: MessageReader,
    /// Bytes for the client not yet read.
    inbox: Vec<u8>,
}

/// The server's transport, the client, and what passed between them.
struct Pair {
    cfg: WebSocketConfig,
    server: Box<WsConn>,
    arena: BytesMut,
    /// What the machine asked of the protocol on top, one line each.
    steps: Vec<String>,
    /// Bytes the server queued for the client, in order.
    to_client: Vec<u8>,
    client: Option<Client>,
}

impl Pair {
    fn new() -> Pair {
        let cfg = WebSocketConfig {
            echo: true,
            ..WebSocketConfig::default()
        };
        Pair {
            cfg,
            server: WsConn::new(),
            arena: BytesMut::new(),
            steps: Vec::new(),
            to_client: Vec::new(),
            client: None,
        }
    }

    /// Upgrades at `path` offering `protocols`, with or without deflate;
    /// returns the 101 the client read.
    fn upgrade(
        &mut self,
        path: &str,
        protocols: &[&str],
        deflate: bool,
    ) -> client::ClientHandshake {
        let offer = ws::DeflateConfig {
            client_no_context_takeover: true,
            ..ws::DeflateConfig::default()
        };
        let offer = deflate.then_some(&offer);
        let mut request = Vec::new();
        client::write_request(&mut request, "t", path, KEY, protocols, offer);
        self.drive(&request, usize::MAX);
        let limits = HandshakeLimits::default();
        let response = std::mem::take(&mut self.to_client);
        let hs = client::parse_response(&response, KEY, offer, &limits)
            .expect("a 101")
            .expect("complete");
        let params = hs.deflate.as_ref();
        let limits = ReaderLimits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        self.client = Some(Client {
            writer: MessageWriter::new(
                Role::Client,
                params.map(|p| Deflater::new(p, Role::Client, 6, 16)),
            )
            .with_mask_seed(7),
            reader: MessageReader::new(
                Role::Client,
                limits,
                params.map(|p| Inflater::new(p, Role::Client, 1 << 20)),
            ),
            inbox: response[hs.consumed..].to_vec(),
        });
        hs
    }

    /// Hands the machine `bytes` in pieces of `split`, as the stage does.
    fn drive(&mut self, bytes: &[u8], split: usize) {
        for piece in bytes.chunks(split.max(1)) {
            self.input(piece);
        }
    }

    fn input(&mut self, data: &[u8]) {
        if self.server.expects_upgrade() {
            let s = UpgradeSettings::new(&self.cfg, true);
            match self.server.handle_upgrade(data, s) {
                super::Upgrade::Pending => {}
                super::Upgrade::Refused(r) => {
                    self.steps.push("refused".into());
                    self.to_client.extend_from_slice(&r);
                }
                super::Upgrade::Accepted {
                    endpoint,
                    response,
                    rest,
                } => {
                    self.steps.push(format!("upgraded {endpoint:?}"));
                    self.to_client.extend_from_slice(&response);
                    if !rest.is_empty() {
                        self.input(&rest);
                    }
                }
            }
            return;
        }
        self.server.note_read();
        let Some(mut reader) = self.server.take_reader() else {
            return;
        };
        let (server, arena, steps, out) = (
            &mut self.server,
            &mut self.arena,
            &mut self.steps,
            &mut self.to_client,
        );
        let r = reader.feed(data, |ev| {
            let line = match server.handle_event(ev, arena) {
                Step::Text(t) => format!("text {t}"),
                Step::Binary(b) => format!("binary {b:?}"),
                Step::Transmit(lane, bytes) => {
                    out.extend_from_slice(&bytes);
                    format!("transmit {lane:?}")
                }
                Step::Close(answer) => {
                    out.extend_from_slice(&answer.unwrap_or_default());
                    "close".into()
                }
                Step::Nothing => "nothing".into(),
            };
            steps.push(line);
            Control::Continue
        });
        self.server.put_reader(reader);
        if let Err(e) = r {
            self.steps.push(format!("error {}", e.code));
            let close = self.server.handle_error(&e, &mut self.arena);
            self.to_client.extend_from_slice(&close.unwrap_or_default());
        }
    }

    /// The client sends one message (or control frame).
    fn client_sends(&mut self, op: OpCode, payload: &[u8]) {
        let mut out = BytesMut::new();
        let c = self.client.as_mut().expect("upgraded");
        match op {
            OpCode::Ping | OpCode::Pong => c.writer.write_control(&mut out, op, payload),
            _ => c.writer.write_message(&mut out, op, payload),
        }
        self.drive(&out, usize::MAX);
    }

    /// What the client reads now, summarised.
    fn client_reads(&mut self) -> Vec<String> {
        let c = self.client.as_mut().expect("upgraded");
        c.inbox.append(&mut self.to_client);
        let inbox = std::mem::take(&mut c.inbox);
        let mut seen = Vec::new();
        let r = c.reader.feed(&inbox, |ev| {
            seen.push(match ev {
                WsEvent::Text(t) => format!("text {t}"),
                WsEvent::Binary(b) => format!("binary {} bytes", b.len()),
                WsEvent::Ping(p) => format!("ping {p:?}"),
                WsEvent::Pong(p) => format!("pong {p:?}"),
                WsEvent::Close { code, reason } => format!("close {code:?} {reason}"),
            });
            Control::Continue
        });
        r.expect("the server's frames are valid");
        seen
    }
}

fn timers() -> Timers {
    Timers::new(5_000, 30_000)
}

#[test]
fn an_upgrade_picks_the_endpoint_and_subprotocol() {
    let mut p = Pair::new();
    let hs = p.upgrade("/", &["switchboard.v1.bin"], false);
    assert_eq!(hs.protocol.as_deref(), Some("switchboard.v1.bin"));
    assert_eq!(p.steps, ["upgraded Envelope { out: Binary }"]);
    assert_eq!(
        p.server.endpoint(),
        Some(Endpoint::Envelope {
            out: OutForm::Binary
        })
    );

    let mut p = Pair::new();
    let request =
        b"GET /nowhere HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    p.drive(request, 5);
    assert_eq!(p.steps, ["refused"]);
    assert!(
        p.to_client.starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&p.to_client)
    );
    assert!(matches!(*p.server, WsConn::Closing(None)));
}

#[test]
fn text_and_binary_flow_both_ways() {
    let mut p = Pair::new();
    p.upgrade("/echo", &[], false);
    p.client_sends(OpCode::Text, "héllo".as_bytes());
    p.client_sends(OpCode::Binary, &[1, 2, 3]);
    assert_eq!(p.steps[1..], ["text héllo", "binary [1, 2, 3]"]);
    let (lane, text) = p
        .server
        .write(&mut p.arena, OpCode::Text, b"back")
        .expect("open");
    assert_eq!(lane, Lane::Normal);
    p.to_client.extend_from_slice(&text);
    // A `wire` frame to the echo endpoint goes out as a binary message:
    // a header, then the frame's own bytes.
    let frame = Bytes::from_static(&[9; 40]);
    let mut forms = SharedForms::new();
    let mut json = Vec::new();
    match p.server.frame(&frame, &mut forms, &mut p.arena, &mut json) {
        Framed::HeaderThenFrame { header: h, .. } => {
            p.to_client.extend_from_slice(&h);
            p.to_client.extend_from_slice(&frame);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client_reads(), ["text back", "binary 40 bytes"]);
}

#[test]
fn a_fragmented_compressed_message_arrives_whole_in_any_split() {
    let text = "compress me, compress me, compress me, compress me, compress me!";
    for split in [1, 3, usize::MAX] {
        let mut p = Pair::new();
        let hs = p.upgrade("/echo", &[], true);
        let params = hs.deflate.expect("deflate agreed");
        // Compressed once, cut into a first frame and a continuation.
        let mut deflater = Deflater::new(&params, Role::Client, 6, 0);
        let mut body = BytesMut::new();
        assert!(deflater.compress(text.as_bytes(), &mut body));
        let (a, b) = body.split_at(body.len() / 2);
        let mut bytes = Vec::new();
        for (fin, rsv1, op, part, mask) in [
            (false, true, OpCode::Text, a, [1, 2, 3, 4]),
            (true, false, OpCode::Continuation, b, [5, 6, 7, 8]),
        ] {
            let mut h = [0u8; ws::MAX_HEADER_LEN];
            let n = ws::encode_header(&mut h, fin, rsv1, op, part.len() as u64, Some(mask));
            bytes.extend_from_slice(&h[..n]);
            let mut masked = part.to_vec();
            ws::apply_mask(&mut masked, mask, 0);
            bytes.extend_from_slice(&masked);
        }
        p.drive(&bytes, split);
        assert_eq!(p.steps[1..], [format!("text {text}")], "split {split}");
        // And back, compressed by the server's writer.
        let long = text.repeat(20);
        let (_, out) = p
            .server
            .write(&mut p.arena, OpCode::Text, long.as_bytes())
            .expect("open");
        assert!(
            out.len() < long.len() / 2,
            "compressed: {} bytes",
            out.len()
        );
        p.to_client.extend_from_slice(&out);
        assert_eq!(p.client_reads(), [format!("text {long}")]);
    }
}

#[test]
fn a_ping_is_answered_on_the_high_lane() {
    let mut p = Pair::new();
    p.upgrade("/", &[], false);
    p.client_sends(OpCode::Ping, b"are you there");
    p.client_sends(OpCode::Pong, b"");
    assert_eq!(p.steps[1..], ["transmit High", "nothing"]);
    assert_eq!(
        p.client_reads(),
        ["pong [97, 114, 101, 32, 121, 111, 117, 32, 116, 104, 101, 114, 101]"]
    );
}

#[test]
fn the_close_handshake_echoes_the_code_and_ends_writing() {
    let mut p = Pair::new();
    p.upgrade("/", &["switchboard.v1.json"], false);
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    let mut out = BytesMut::new();
    let c = p.client.as_mut().expect("upgraded");
    c.writer.write_control(&mut out, OpCode::Close, &payload);
    p.drive(&out, usize::MAX);
    assert_eq!(p.steps[1..], ["close"]);
    assert_eq!(p.client_reads(), ["close Some(4000) bye"]);
    assert_eq!(
        p.server.endpoint(),
        Some(Endpoint::Envelope { out: OutForm::Json })
    );
    // Nothing is written after our close frame.
    assert!(p
        .server
        .write(&mut p.arena, OpCode::Text, b"late")
        .is_none());
    assert!(p.server.close(&mut p.arena, Some(1000), "").is_none());
    let frame = Bytes::from_static(&[0; 24]);
    let mut forms = SharedForms::new();
    assert_eq!(
        p.server
            .frame(&frame, &mut forms, &mut p.arena, &mut Vec::new()),
        Framed::Dropped
    );
    assert_eq!(p.server.poll_timeout(0, timers()), None);
}

#[test]
fn a_protocol_error_closes_with_its_code() {
    let mut p = Pair::new();
    p.upgrade("/", &[], false);
    // A client frame without a mask (RFC 6455 §5.1): 1002.
    let mut h = [0u8; ws::MAX_HEADER_LEN];
    let n = ws::encode_header(&mut h, true, false, OpCode::Text, 2, None);
    let mut bytes = h[..n].to_vec();
    bytes.extend_from_slice(b"hi");
    p.drive(&bytes, usize::MAX);
    assert_eq!(p.steps[1..], ["error 1002"]);
    let read = p.client_reads();
    assert_eq!(read.len(), 1);
    assert!(read[0].starts_with("close Some(1002)"), "{read:?}");
}

#[test]
fn the_upgrade_times_out_only_past_its_interval() {
    for since_ms in [0_u64, 63, 4_294_967_000] {
        let since = crate::timers::conn_clock(since_ms);
        let at = |ms: u64| crate::timers::conn_clock(since_ms + ms);
        let mut p = Pair::new();
        p.drive(b"GET / HTTP/1.1\r\n", usize::MAX);
        assert_eq!(p.server.poll_timeout(since, timers()), Some(at(5_000)));
        assert_eq!(
            p.server
                .handle_timeout(since, at(4_999), timers(), &mut p.arena),
            None
        );
        assert_eq!(
            p.server
                .handle_timeout(since, at(5_000), timers(), &mut p.arena),
            None
        );
        match p
            .server
            .handle_timeout(since, at(5_001), timers(), &mut p.arena)
        {
            Some(Timeout::Upgrade(r)) => assert!(r.starts_with(b"HTTP/1.1 408"), "{r:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(*p.server, WsConn::Closing(None)));
    }
}

#[test]
fn the_ping_goes_out_exactly_past_the_interval_once_per_silence() {
    for since_ms in [0_u64, 64, 4_294_967_000] {
        let since = crate::timers::conn_clock(since_ms);
        let at = |ms: u64| crate::timers::conn_clock(since_ms + ms);
        let mut p = Pair::new();
        p.upgrade("/", &[], false);
        let t = timers();
        assert_eq!(p.server.poll_timeout(since, t), Some(at(30_000)));
        assert_eq!(
            p.server.handle_timeout(since, at(29_999), t, &mut p.arena),
            None
        );
        assert_eq!(
            p.server.handle_timeout(since, at(30_000), t, &mut p.arena),
            None
        );
        match p.server.handle_timeout(since, at(30_001), t, &mut p.arena) {
            Some(Timeout::Ping(ping)) => p.to_client.extend_from_slice(&ping),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.client_reads(), ["ping []"]);
        // One per silence: none while it is out, the next once bytes came.
        assert_eq!(
            p.server.handle_timeout(since, at(90_000), t, &mut p.arena),
            None
        );
        p.client_sends(OpCode::Pong, b"");
        assert!(p
            .server
            .handle_timeout(since, at(90_000), t, &mut p.arena)
            .is_some());
    }
    // MQTT clients keep themselves alive with PINGREQ.
    let mut p = Pair::new();
    p.upgrade("/mqtt", &["mqtt"], false);
    assert_eq!(p.server.endpoint(), Some(Endpoint::Mqtt));
    assert_eq!(p.server.poll_timeout(0, timers()), None);
    assert_eq!(
        p.server
            .handle_timeout(0, 1_000_000, timers(), &mut p.arena),
        None
    );
}
