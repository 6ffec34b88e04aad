//! What carries a connection's messages: `wire` frames straight on TCP, or
//! WebSocket messages. The scenarios, the pacer and the readers see only
//! [`Inbound`] (bytes in, frames or bodies out) and [`Outbound`] (frames or
//! bodies in, bytes out), so `tcp` and `ws` runs share all of their code.
//!
//! On WebSocket a connection carries either:
//! - envelopes: `wire` frames inside binary messages, one frame per
//!   message, with subprotocol `switchboard.v1.bin` (pairs, fanout, idle);
//!   or with `switchboard.v1.json` (`--json-frames`), where the server writes
//!   every frame as JSON text, which is turned back into the frame here
//!   (this side still sends binary frames, which that endpoint accepts);
//! - bare bodies: the stamped body itself as a binary or text message, so
//!   any WebSocket echo server can answer (echo, `--raw` idle).
//!
//! Not here: sockets. The opening handshake's I/O is in `client`.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use bytes::BytesMut;
use wire::ws::{
    self, DeflateConfig, Deflater, HandshakeLimits, Inflater, MessageReader, MessageWriter, OpCode,
    ReaderLimits, Role, WsEvent,
};
use wire::{Control, Encoder, Frame, FrameDecoder};

/// The subprotocol under which binary messages carry `wire` frames.
pub const SUBPROTOCOL: &str = "switchboard.v1.bin";
/// The subprotocol under which the server writes frames as JSON text.
pub const SUBPROTOCOL_JSON: &str = "switchboard.v1.json";
/// The largest `wire` frame payload the client accepts (the server's default).
pub const MAX_PAYLOAD: u32 = 1 << 20;
/// Largest WebSocket message: a whole frame of `MAX_PAYLOAD` plus its header.
const MAX_MESSAGE: u64 = MAX_PAYLOAD as u64 + 1024;

/// What a WebSocket message holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `wire` frames (binary messages).
    Envelope,
    /// The stamped body as a binary message.
    Binary,
    /// The stamped body, in its text form, as a text message.
    Text,
}

/// How to open a WebSocket connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsSetup {
    pub path: String,
    /// Offer permessage-deflate.
    pub compression: bool,
    pub payload: Payload,
    /// Envelopes: ask the server for JSON text instead of binary frames.
    pub json: bool,
}

impl WsSetup {
    /// Offer only when compressing, with the codec's defaults.
    fn deflate_offer(&self) -> Option<DeflateConfig> {
        self.compression.then(DeflateConfig::default)
    }

    /// Appends the upgrade request; `nonce` makes the key.
    pub fn request(&self, out: &mut Vec<u8>, addr: SocketAddr, nonce: [u8; 16]) -> String {
        let key = ws::key_from_bytes(nonce);
        let protocols: &[&str] = match self.payload {
            Payload::Envelope => &[self.subprotocol()],
            Payload::Binary | Payload::Text => &[],
        };
        let host = addr.to_string();
        ws::write_request(
            out,
            &host,
            &self.path,
            &key,
            protocols,
            self.deflate_offer().as_ref(),
        );
        key
    }

    /// Checks the response in `buf`. `Ok(None)`: it is not complete yet.
    /// Otherwise the two halves of the session; bytes after the response
    /// head are already in the `Inbound`.
    pub fn accept(
        &self,
        buf: &[u8],
        key: &str,
        mask_seed: u64,
    ) -> anyhow::Result<Option<(Inbound, Outbound)>> {
        let offer = self.deflate_offer();
        let parsed = ws::parse_response(buf, key, offer.as_ref(), &HandshakeLimits::default());
        let hs = match parsed {
            Ok(Some(hs)) => hs,
            Ok(None) => return Ok(None),
            Err(e) => bail!("WebSocket upgrade refused: {} {}", e.status, e.reason),
        };
        let protocol = self.subprotocol();
        if self.payload == Payload::Envelope && hs.protocol.as_deref() != Some(protocol) {
            bail!("the server did not accept subprotocol {protocol}");
        }
        let level = offer.as_ref().map_or(0, |c| c.level);
        let min_len = offer.as_ref().map_or(0, |c| c.min_compress_len);
        let deflater = hs
            .deflate
            .map(|p| Deflater::new(&p, Role::Client, level, min_len));
        let inflater = hs
            .deflate
            .map(|p| Inflater::new(&p, Role::Client, MAX_MESSAGE));
        let limits = ReaderLimits {
            max_frame: MAX_MESSAGE,
            max_message: MAX_MESSAGE,
        };
        let mut reader = MessageReader::new(Role::Client, limits, inflater);
        // Frames the server sent right after its response head.
        reader.stash(&buf[hs.consumed..]);
        let inbound = Inbound {
            decoder: FrameDecoder::new(MAX_PAYLOAD),
            ws: Some(WsIn {
                reader,
                payload: self.payload,
                // Pongs are control frames, never compressed.
                control: MessageWriter::new(Role::Client, None).with_mask_seed(!mask_seed),
                replies: BytesMut::new(),
                json: self.json.then(|| (Encoder::new(), BytesMut::new())),
            }),
        };
        let outbound = Outbound {
            ws: Some(WsOut {
                writer: MessageWriter::new(Role::Client, deflater).with_mask_seed(mask_seed),
                payload: self.payload,
                frames: BytesMut::new(),
            }),
        };
        Ok(Some((inbound, outbound)))
    }

    fn subprotocol(&self) -> &'static str {
        if self.json {
            SUBPROTOCOL_JSON
        } else {
            SUBPROTOCOL
        }
    }
}

/// What a connection received, as the readers see it.
pub enum Incoming<'a> {
    /// A `wire` frame (TCP, or inside a WebSocket envelope).
    Frame(Frame<'a>),
    /// A bare binary body.
    Body(&'a [u8]),
    /// A bare text body.
    Text(&'a str),
    /// The peer closed the WebSocket.
    Closed,
}

/// The receiving half: bytes in, [`Incoming`] out.
pub struct Inbound {
    decoder: FrameDecoder,
    ws: Option<WsIn>,
}

struct WsIn {
    reader: MessageReader,
    payload: Payload,
    control: MessageWriter,
    /// Pongs owed to the peer, for the reader task to write.
    replies: BytesMut,
    /// `--json-frames`: text messages are JSON frames, turned back into `wire`
    /// frames with this encoder into this buffer (reused).
    json: Option<(Encoder, BytesMut)>,
}

impl Inbound {
    pub fn tcp() -> Inbound {
        Inbound {
            decoder: FrameDecoder::new(MAX_PAYLOAD),
            ws: None,
        }
    }

    /// Feeds `input`, calling `f` for each thing received. When `f`
    /// returns `Pause`, reading stops after it and the rest is kept:
    /// `feed(&[], ..)` resumes.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut f: impl FnMut(Incoming<'_>) -> Control,
    ) -> anyhow::Result<()> {
        let decoder = &mut self.decoder;
        let Some(w) = &mut self.ws else {
            decoder
                .feed(input, |fr| f(Incoming::Frame(fr)))
                .context("undecodable stream")?;
            return Ok(());
        };
        // Frames of an envelope that an earlier pause left go first.
        if drain_frames(decoder, &[], &mut f)? == Control::Pause {
            w.reader.stash(input);
            return Ok(());
        }
        let mut failed = None;
        let fed = w.reader.feed(input, |ev| match ev {
            WsEvent::Binary(p) if w.payload == Payload::Envelope => {
                drain_frames(decoder, p, &mut f).unwrap_or_else(|e| {
                    failed = Some(e);
                    Control::Pause
                })
            }
            WsEvent::Binary(p) => f(Incoming::Body(p)),
            WsEvent::Text(s) if w.payload == Payload::Envelope && w.json.is_some() => {
                let (enc, frame) = w.json.as_mut().expect("checked");
                frame.clear();
                let drained = match wire::json::json_to_frame(s, enc, frame, MAX_PAYLOAD) {
                    Ok(()) => drain_frames(decoder, frame, &mut f),
                    Err(e) => Err(anyhow::anyhow!("undecodable JSON frame: {e:?}")),
                };
                drained.unwrap_or_else(|e| {
                    failed = Some(e);
                    Control::Pause
                })
            }
            WsEvent::Text(s) => f(Incoming::Text(s)),
            WsEvent::Ping(p) => {
                w.control.write_control(&mut w.replies, OpCode::Pong, p);
                Control::Continue
            }
            WsEvent::Pong(_) => Control::Continue,
            WsEvent::Close { .. } => f(Incoming::Closed),
        });
        fed.context("WebSocket stream failed")?;
        failed.map_or(Ok(()), Err)
    }

    /// Control frames owed to the peer (pongs); empty on TCP.
    pub fn replies(&mut self) -> Option<&mut BytesMut> {
        self.ws
            .as_mut()
            .map(|w| &mut w.replies)
            .filter(|r| !r.is_empty())
    }
}

/// `FrameDecoder::feed` with `Pause` reported back: the caller must stop too.
fn drain_frames(
    decoder: &mut FrameDecoder,
    input: &[u8],
    f: &mut impl FnMut(Incoming<'_>) -> Control,
) -> anyhow::Result<Control> {
    let mut last = Control::Continue;
    decoder
        .feed(input, |fr| {
            last = f(Incoming::Frame(fr));
            last
        })
        .context("undecodable frames in a WebSocket message")?;
    Ok(last)
}

/// The sending half: frames or bodies in, bytes for the socket out.
#[derive(Default)]
pub struct Outbound {
    ws: Option<WsOut>,
}

struct WsOut {
    writer: MessageWriter,
    payload: Payload,
    /// Frames being wrapped; reused.
    frames: BytesMut,
}

impl Outbound {
    pub fn tcp() -> Outbound {
        Outbound { ws: None }
    }

    /// What this transport's messages hold: envelopes on TCP.
    pub fn payload(&self) -> Payload {
        self.ws.as_ref().map_or(Payload::Envelope, |w| w.payload)
    }

    /// Appends the `wire` frames that `encode` writes, wrapped in one
    /// binary message on WebSocket.
    pub fn frames(&mut self, out: &mut BytesMut, encode: impl FnOnce(&mut BytesMut)) {
        let Some(w) = &mut self.ws else {
            return encode(out);
        };
        debug_assert_eq!(w.payload, Payload::Envelope);
        encode(&mut w.frames);
        w.writer.write_message(out, OpCode::Binary, &w.frames);
        w.frames.clear();
    }

    /// Appends a bare body as one message (WebSocket only).
    pub fn body(&mut self, out: &mut BytesMut, body: &[u8]) {
        let w = self.ws.as_mut().expect("bare bodies travel on WebSocket");
        let op = match w.payload {
            Payload::Text => OpCode::Text,
            Payload::Binary | Payload::Envelope => OpCode::Binary,
        };
        w.writer.write_message(out, op, body);
    }
}
