//! One client connection: connect (optionally from a chosen source
//! address), the WebSocket upgrade where the run is `ws`, the HELLO/WELCOME
//! handshake, an optional SUBSCRIBE, and encoding of the messages that
//! carry a stamped body.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use anyhow::{bail, Context};
use bytes::BytesMut;
use tokio::net::{TcpSocket, TcpStream};
use wire::{
    decode_error, Control, Encoder, Flags, FrameHeader, FrameType, Hello, Send, Target, TargetKind,
};

use crate::stamp;
use crate::transport::{Inbound, Incoming, Outbound, Payload, WsSetup};

/// Message id of the SUBSCRIBE whose ACK ends the handshake.
const SUBSCRIBE_ID: u64 = u64::MAX;

/// What a connection is to do before the load starts.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// User id for HELLO.
    pub user: String,
    /// Bind to this source address before connecting.
    pub source: Option<IpAddr>,
    /// Skip HELLO: the peer is a plain byte echo.
    pub raw: bool,
    /// Subscribe to this topic and wait for the ACK.
    pub subscribe: Option<String>,
    /// Upgrade to WebSocket first.
    pub ws: Option<WsSetup>,
    /// SO_RCVBUF before connecting (`--rcvbuf-bytes`; `None`: the kernel
    /// sizes it, growing it as the reader keeps up).
    pub rcvbuf: Option<u32>,
}

/// An open, handshaken connection.
pub struct Conn {
    pub stream: Rc<TcpStream>,
    /// Holds any bytes that arrived after the handshake's last frame.
    pub inbound: Inbound,
    /// Taken by the connection's sender, if it has one.
    outbound: Outbound,
    /// The peer echoes bytes instead of speaking the protocol.
    pub raw: bool,
}

impl Conn {
    /// The sending half, for the one task that writes messages.
    pub fn take_outbound(&mut self) -> Outbound {
        std::mem::take(&mut self.outbound)
    }
}

pub async fn open(addr: SocketAddr, setup: &Setup) -> anyhow::Result<Conn> {
    let stream = connect(addr, setup.source, setup.rcvbuf).await?;
    let (inbound, outbound) = match &setup.ws {
        None => (Inbound::tcp(), Outbound::tcp()),
        Some(ws) => upgrade(&stream, addr, ws).await?,
    };
    let mut conn = Conn {
        stream: Rc::new(stream),
        inbound,
        outbound,
        raw: setup.raw,
    };
    if !setup.raw {
        hello(&mut conn, &setup.user).await?;
    }
    if let Some(topic) = &setup.subscribe {
        subscribe(&mut conn, topic).await?;
    }
    Ok(conn)
}

pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    rcvbuf: Option<u32>,
) -> anyhow::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(bytes) = rcvbuf {
        // Before connecting, so the window is scaled to it.
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(ip) = source {
        // Port 0 takes an ephemeral port per source address, about 28,000
        // of them each: several source addresses lift that limit.
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding source address {ip}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    // Small frames must leave at once, or Nagle adds delayed-ACK waits.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The WebSocket opening handshake; returns the session's two halves.
async fn upgrade(
    stream: &TcpStream,
    addr: SocketAddr,
    ws: &WsSetup,
) -> anyhow::Result<(Inbound, Outbound)> {
    // Keys and masks need only differ between connections, not be secret:
    // the clock and the local port make them so.
    let port = u64::from(stream.local_addr()?.port());
    let seed = crate::clock::unix_ns() ^ (port << 48);
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&seed.to_le_bytes());
    nonce[8..].copy_from_slice(&seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let mut request = Vec::new();
    let key = ws.request(&mut request, addr, nonce);
    write_all(stream, &request).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = read_some(stream, &mut buf).await?;
        if n == 0 {
            bail!("connection closed during the WebSocket upgrade");
        }
        response.extend_from_slice(&buf[..n]);
        if let Some(halves) = ws.accept(&response, &key, seed)? {
            return Ok(halves);
        }
    }
}

/// Writes handshake frames, wrapped as the transport needs.
async fn send_frames(conn: &mut Conn, encode: impl FnOnce(&mut BytesMut)) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    conn.outbound.frames(&mut out, encode);
    write_all(&conn.stream, &out).await?;
    Ok(())
}

async fn hello(conn: &mut Conn, user: &str) -> anyhow::Result<()> {
    let m = Hello {
        protocol_version: 1,
        user_id: user,
        token: "",
        client_name: "switchboard-loadgen",
    };
    send_frames(conn, |out| {
        Encoder::new().hello(out, FrameHeader::new(FrameType::Hello, 0), &m)
    })
    .await?;
    let (ft, _, payload) = next_frame(conn).await?;
    match ft {
        FrameType::Welcome => Ok(()),
        // A byte-echo server answers HELLO with HELLO: speak raw from now on.
        FrameType::Hello => {
            conn.raw = true;
            Ok(())
        }
        FrameType::Error => bail!("HELLO refused: {:?}", decode_error(&payload)),
        other => bail!("HELLO answered by {other:?}"),
    }
}

async fn subscribe(conn: &mut Conn, topic: &str) -> anyhow::Result<()> {
    let mut h = FrameHeader::new(FrameType::Subscribe, 0);
    h.flags = Flags::ACK_REQUESTED;
    h.message_id = SUBSCRIBE_ID;
    send_frames(conn, |out| Encoder::new().subscribe(out, h, &[topic])).await?;
    loop {
        let (ft, id, payload) = next_frame(conn).await?;
        match ft {
            FrameType::Ack if id == SUBSCRIBE_ID => return Ok(()),
            FrameType::Error => bail!("SUBSCRIBE refused: {:?}", decode_error(&payload)),
            _ => {}
        }
    }
}

/// A frame copied out of the decoder: type, message id, payload.
type OwnedFrame = (FrameType, u64, Vec<u8>);

/// Reads until one whole frame is decoded; later bytes stay in the decoder.
async fn next_frame(conn: &mut Conn) -> anyhow::Result<OwnedFrame> {
    if let Some(f) = feed_one(&mut conn.inbound, &[])? {
        return Ok(f);
    }
    // A short buffer: handshake replies are small, and it is freed after.
    let mut buf = vec![0u8; 1024];
    loop {
        match read_some(&conn.stream, &mut buf).await? {
            0 => bail!("connection closed during the handshake"),
            n => {
                if let Some(f) = feed_one(&mut conn.inbound, &buf[..n])? {
                    return Ok(f);
                }
            }
        }
    }
}

/// Decodes at most one frame, keeping the rest of the input for later.
fn feed_one(inbound: &mut Inbound, input: &[u8]) -> anyhow::Result<Option<OwnedFrame>> {
    let mut got = None;
    let mut closed = false;
    inbound.feed(input, |inc| match inc {
        Incoming::Frame(f) => {
            got = Some((f.header.frame_type, f.header.message_id, f.payload.to_vec()));
            Control::Pause
        }
        Incoming::Closed => {
            closed = true;
            Control::Pause
        }
        Incoming::Body(_) | Incoming::Text(_) => Control::Continue,
    })?;
    if closed {
        bail!("WebSocket closed during the handshake");
    }
    Ok(got)
}

/// Reads what has arrived, waiting for something; `Ok(0)` at the end.
async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            r => return r,
        }
    }
}

/// Writes all of `buf`, waiting for the socket when it is full. Takes
/// `&TcpStream` so a reader task can share the stream.
pub async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes as much of `out` as the socket takes now and keeps the rest.
/// `Ok(true)`: everything went.
pub fn try_flush(stream: &TcpStream, out: &mut BytesMut) -> std::io::Result<bool> {
    while !out.is_empty() {
        match stream.try_write(out) {
            Ok(n) => {
                let _ = out.split_to(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    out.clear();
    Ok(true)
}

/// Where a sender's messages go, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    pub kind: TargetKind,
    pub id: String,
}

/// Encodes one connection's stamped messages (SEND frames, or bare
/// bodies on a WebSocket echo), reusing its builder and body buffer.
pub struct MsgWriter {
    enc: Encoder,
    body: Vec<u8>,
    outbound: Outbound,
    /// Every this many messages one goes HIGH_PRIORITY (0: none).
    high_every: u64,
    /// Normal-lane messages are DROPPABLE.
    droppable: bool,
}

impl MsgWriter {
    pub fn new(size: usize, outbound: Outbound) -> MsgWriter {
        let pad = match outbound.payload() {
            Payload::Text => stamp::TEXT_PAD,
            Payload::Envelope | Payload::Binary => 0,
        };
        MsgWriter {
            enc: Encoder::new(),
            body: vec![pad; size],
            outbound,
            high_every: 0,
            droppable: false,
        }
    }

    /// Sends every `high_every`th message HIGH_PRIORITY (0: none), and
    /// the others DROPPABLE if `droppable` (`wire` frames only).
    pub fn with_priority(mut self, high_every: u64, droppable: bool) -> MsgWriter {
        self.high_every = high_every;
        self.droppable = droppable;
        self
    }

    /// Appends one message to `out` whose body says it was due at
    /// `intended_ns`; returns whether it goes HIGH_PRIORITY.
    pub fn push(&mut self, out: &mut BytesMut, dest: &Dest, intended_ns: u64, seq: u64) -> bool {
        let high = self.high_every != 0 && seq.is_multiple_of(self.high_every);
        match self.outbound.payload() {
            Payload::Envelope => {
                stamp::write(&mut self.body, intended_ns, seq);
                let mut h = FrameHeader::new(FrameType::Send, 0);
                h.message_id = seq;
                h.flags = match (high, self.droppable) {
                    (true, _) => Flags::HIGH_PRIORITY,
                    (false, true) => Flags::DROPPABLE,
                    (false, false) => Flags::NONE,
                };
                let m = Send {
                    target: Target {
                        kind: dest.kind,
                        id: &dest.id,
                    },
                    body: &self.body,
                };
                let enc = &mut self.enc;
                self.outbound.frames(out, |out| enc.send(out, h, &m));
            }
            Payload::Binary => {
                stamp::write(&mut self.body, intended_ns, seq);
                self.outbound.body(out, &self.body);
            }
            Payload::Text => {
                stamp::write_text(&mut self.body, intended_ns, seq);
                self.outbound.body(out, &self.body);
            }
        }
        high
    }
}
