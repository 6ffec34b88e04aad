//! One client connection: connect (optionally from a chosen source
//! address), the HELLO/WELCOME handshake, an optional SUBSCRIBE, and
//! encoding of the SEND frames that carry a stamped body.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use anyhow::{bail, Context};
use bytes::BytesMut;
use tokio::net::{TcpSocket, TcpStream};
use wire::{
    decode_error, Control, Encoder, Flags, FrameDecoder, FrameHeader, FrameType, Hello, Send,
    Target, TargetKind,
};

use crate::stamp;

/// The largest frame payload the client accepts (the server's default).
const MAX_PAYLOAD: u32 = 1 << 20;
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
}

/// An open, handshaken connection.
pub struct Conn {
    pub stream: Rc<TcpStream>,
    /// Holds any bytes that arrived after the handshake's last frame.
    pub decoder: FrameDecoder,
    /// The peer echoes bytes instead of speaking the protocol.
    pub raw: bool,
}

pub async fn open(addr: SocketAddr, setup: &Setup) -> anyhow::Result<Conn> {
    let stream = connect(addr, setup.source).await?;
    let mut conn = Conn {
        stream: Rc::new(stream),
        decoder: FrameDecoder::new(MAX_PAYLOAD),
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

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
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

async fn hello(conn: &mut Conn, user: &str) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    let m = Hello {
        protocol_version: 1,
        user_id: user,
        token: "",
        client_name: "switchboard-loadgen",
    };
    Encoder::new().hello(&mut out, FrameHeader::new(FrameType::Hello, 0), &m);
    write_all(&conn.stream, &out).await?;
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
    let mut out = BytesMut::new();
    let mut h = FrameHeader::new(FrameType::Subscribe, 0);
    h.flags = Flags::ACK_REQUESTED;
    h.message_id = SUBSCRIBE_ID;
    Encoder::new().subscribe(&mut out, h, &[topic]);
    write_all(&conn.stream, &out).await?;
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
    if let Some(f) = feed_one(&mut conn.decoder, &[])? {
        return Ok(f);
    }
    // A short buffer: handshake replies are small, and it is freed after.
    let mut buf = vec![0u8; 1024];
    loop {
        conn.stream.readable().await?;
        match conn.stream.try_read(&mut buf) {
            Ok(0) => bail!("connection closed during the handshake"),
            Ok(n) => {
                if let Some(f) = feed_one(&mut conn.decoder, &buf[..n])? {
                    return Ok(f);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Decodes at most one frame, keeping the rest of the input for later.
fn feed_one(decoder: &mut FrameDecoder, input: &[u8]) -> anyhow::Result<Option<OwnedFrame>> {
    let mut got = None;
    decoder.feed(input, |f| {
        got = Some((f.header.frame_type, f.header.message_id, f.payload.to_vec()));
        Control::Pause
    })?;
    Ok(got)
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

/// Encodes stamped SEND frames, reusing its builder and body buffer.
pub struct MsgWriter {
    enc: Encoder,
    body: Vec<u8>,
}

impl MsgWriter {
    pub fn new(size: usize) -> MsgWriter {
        MsgWriter {
            enc: Encoder::new(),
            body: vec![0u8; size],
        }
    }

    /// Appends one SEND to `out` whose body says it was due at `intended_ns`.
    pub fn push(&mut self, out: &mut BytesMut, dest: &Dest, intended_ns: u64, seq: u64) {
        stamp::write(&mut self.body, intended_ns, seq);
        let mut h = FrameHeader::new(FrameType::Send, 0);
        h.message_id = seq;
        let m = Send {
            target: Target {
                kind: dest.kind,
                id: &dest.id,
            },
            body: &self.body,
        };
        self.enc.send(out, h, &m);
    }
}
