//! [`MessageReader`]: bytes in, whole messages and control frames out.
//!
//! # Copies and memory
//!
//! A frame that arrives whole in one `feed` is handed out straight from
//! the input when it needs no unmasking (client role); otherwise its
//! payload is unmasked (or inflated) into one reusable scratch buffer:
//! one copy. Frames split across reads, and fragmented messages, stream
//! their payload into that buffer as it arrives, so text is validated
//! (and compressed data inflated) piece by piece and an invalid message
//! fails as soon as the bytes prove it.
//!
//! An idle reader holds no heap: the scratch buffer is freed at the end of
//! every `feed` that leaves no message in progress, and the boxed
//! [`Partial`] (header bytes cut by a read, a frame or message in
//! progress, input stashed by a pause) is dropped as soon as it is empty.
//! The price is one allocation per `feed` that unmasks or inflates; the
//! engine may keep it by feeding whole reads, not frames.

use super::close::{PROTOCOL_ERROR, TOO_BIG};
use super::deflate::Inflater;
use super::frame::{header_len, parse_header, Header, OpCode, MAX_CONTROL_PAYLOAD};
use crate::frame::Control;

mod assemble;
mod partial;

use partial::{FrameState, MessageState, Partial};

/// Which end of the connection this endpoint is; decides masking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepts connections: expects masked frames, sends unmasked ones.
    Server,
    /// Opens connections: expects unmasked frames, sends masked ones.
    Client,
}

/// Size limits, checked before the bytes arrive where the header allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Largest frame payload (on the wire, so compressed size).
    pub max_frame: u64,
    /// Largest message (after reassembly and decompression).
    pub max_message: u64,
}

/// What the reader hands out. Borrowed data lives until the callback
/// returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A whole text message, validated UTF-8.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping; answer with a pong carrying the same bytes.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer started (or answered) the closing handshake. The reader
    /// ignores everything after it.
    Close {
        /// The status code, `None` for an empty close payload.
        code: Option<u16>,
        /// UTF-8 reason, possibly empty.
        reason: &'a str,
    },
}

/// The connection must fail; send a Close with `code`, then close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsError {
    /// 1002 protocol error, 1007 invalid payload, 1009 too big.
    pub code: u16,
    /// For logs and the close reason.
    pub reason: &'static str,
}

impl WsError {
    /// An error with a close code.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        WsError { code, reason }
    }

    /// A 1002 protocol error.
    pub const fn protocol(reason: &'static str) -> Self {
        WsError::new(PROTOCOL_ERROR, reason)
    }
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "websocket error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for WsError {}

/// Where the reader is in the connection's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading frames.
    Open,
    /// A Close arrived; further input is ignored.
    Closed,
    /// An error was returned; further input is refused.
    Failed,
}

/// Incremental RFC 6455 reader: feed it the byte stream in any split.
#[derive(Debug)]
pub struct MessageReader {
    limits: ReaderLimits,
    /// Everything about a frame or message in progress; `None` when idle.
    partial: Option<Box<Partial>>,
    inflater: Option<Box<Inflater>>,
    /// Unmasked or inflated bytes of the message being delivered.
    scratch: Vec<u8>,
    role: Role,
    phase: Phase,
}

impl MessageReader {
    /// A reader for `role`; `inflater` when permessage-deflate was agreed.
    pub fn new(role: Role, limits: ReaderLimits, inflater: Option<Inflater>) -> Self {
        MessageReader {
            limits,
            partial: None,
            inflater: inflater.map(Box::new),
            scratch: Vec::new(),
            role,
            phase: Phase::Open,
        }
    }

    /// Bytes held between calls: stashed input, a cut header, and the
    /// message assembled so far. 0 for an idle connection.
    pub fn buffered_len(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.held_len()) + self.scratch.len()
    }

    /// Whether a zlib inflate context is held now.
    pub fn holds_inflate_context(&self) -> bool {
        self.inflater.as_ref().is_some_and(|i| i.holds_context())
    }

    /// Keeps `input` for the next `feed` without reading it (reads that
    /// land while the engine is paused).
    pub fn stash(&mut self, input: &[u8]) {
        if self.phase == Phase::Open && !input.is_empty() {
            self.partial_mut().stash.extend_from_slice(input);
        }
    }

    /// Reads the stashed bytes and then `input`, calling `f` for every
    /// complete message and control frame. When `f` returns
    /// [`Control::Pause`] reading stops after that event and the rest is
    /// stashed; `feed(&[], ..)` resumes. An error means: fail the
    /// connection with `WsError::code`; the reader refuses all later input.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut f: impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<(), WsError> {
        match self.phase {
            Phase::Open => {}
            Phase::Closed => return Ok(()),
            Phase::Failed => return Err(WsError::protocol("reader failed earlier")),
        }
        let stashed = self.partial.as_mut().map(|p| std::mem::take(&mut p.stash));
        let result = match stashed {
            Some(mut buf) if !buf.is_empty() => {
                buf.extend_from_slice(input);
                let r = self.process(&buf, &mut f);
                if let Ok(Some(rest)) = r {
                    buf.drain(..rest);
                    self.keep(buf);
                }
                r
            }
            _ => {
                let r = self.process(input, &mut f);
                if let Ok(Some(rest)) = r {
                    self.keep(input[rest..].to_vec());
                }
                r
            }
        };
        if let Err(e) = result {
            self.phase = Phase::Failed;
            self.partial = None;
            self.scratch = Vec::new();
            return Err(e);
        }
        self.tidy();
        Ok(())
    }

    fn keep(&mut self, rest: Vec<u8>) {
        if !rest.is_empty() && self.phase == Phase::Open {
            self.partial_mut().stash = rest;
        }
    }

    /// Gives back memory an idle reader does not need.
    fn tidy(&mut self) {
        if self.partial.as_ref().is_some_and(|p| p.is_empty()) {
            self.partial = None;
        }
        if self.partial.as_ref().is_none_or(|p| p.message.is_none()) {
            self.scratch = Vec::new();
        }
    }

    fn partial_mut(&mut self) -> &mut Partial {
        self.partial.get_or_insert_with(Box::default)
    }

    /// Reads frames from `input`; `Some(at)`: paused, `input[at..]` unread.
    fn process(
        &mut self,
        input: &[u8],
        f: &mut impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<Option<usize>, WsError> {
        let mut pos = 0;
        while self.phase == Phase::Open {
            if self.partial.as_ref().is_some_and(|p| p.frame.is_some()) {
                let (taken, done) = self.continue_frame(&input[pos..], f)?;
                pos += taken;
                match done {
                    None => return Ok(None),
                    Some(Control::Pause) => return Ok(Some(pos)),
                    Some(Control::Continue) => continue,
                }
            }
            if pos == input.len() {
                return Ok(None);
            }
            let Some((header, used)) = self.next_header(&input[pos..])? else {
                return Ok(None);
            };
            pos += used;
            let frame = self.check_header(&header)?;
            let len = frame.remaining as usize;
            let whole = frame.remaining <= (input.len() - pos) as u64;
            if whole && (frame.op.is_control() || (frame.fin && frame.op != OpCode::Continuation)) {
                let compressed = header.rsv & 0b100 != 0;
                let payload = &input[pos..pos + len];
                pos += len;
                if self.deliver_whole(&frame, compressed, payload, f)? == Control::Pause {
                    return Ok(Some(pos));
                }
            } else {
                self.begin_frame(frame, header.rsv & 0b100 != 0);
            }
        }
        Ok(None)
    }

    /// The next header from `chunk`, completing one cut by an earlier read.
    /// `None`: incomplete, and all of `chunk` was kept.
    fn next_header(&mut self, chunk: &[u8]) -> Result<Option<(Header, usize)>, WsError> {
        let held = self.partial.as_ref().map_or(0, |p| usize::from(p.head_len));
        if held == 0 {
            return match parse_header(chunk) {
                Ok(Some(h)) => Ok(Some(h)),
                Ok(None) => {
                    self.check_first_byte(chunk[0])?;
                    self.partial_mut().push_head(chunk);
                    Ok(None)
                }
                Err(_) => Err(WsError::protocol("64-bit length with the top bit set")),
            };
        }
        let p = self.partial_mut();
        let need = match (p.head_len, chunk.first()) {
            (1, Some(&b1)) => header_len(b1),
            (1, None) => return Ok(None),
            _ => header_len(p.head[1]),
        };
        let take = (need - held).min(chunk.len());
        p.push_head(&chunk[..take]);
        if usize::from(p.head_len) < need {
            return Ok(None);
        }
        p.head_len = 0;
        match parse_header(&p.head[..need]) {
            Ok(Some((h, _))) => Ok(Some((h, take))),
            Ok(None) => Ok(None),
            Err(_) => Err(WsError::protocol("64-bit length with the top bit set")),
        }
    }

    /// Fails on a cut header whose first byte already breaks the rules.
    fn check_first_byte(&self, b0: u8) -> Result<(), WsError> {
        let h = Header {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0b111,
            opcode: b0 & 0x0f,
            mask: Some([0; 4]).filter(|_| self.role == Role::Server),
            payload_len: 0,
        };
        self.check_header(&h).map(|_| ())
    }

    /// Applies RFC 6455 §5 and RFC 7692 §6 to a header, given the message
    /// in progress.
    fn check_header(&self, h: &Header) -> Result<FrameState, WsError> {
        let op = OpCode::from_u8(h.opcode).ok_or(WsError::protocol("reserved opcode"))?;
        if h.rsv & 0b011 != 0 {
            return Err(WsError::protocol("RSV2 or RSV3 set"));
        }
        let message = self.partial.as_ref().and_then(|p| p.message.as_ref());
        let first_data = matches!(op, OpCode::Text | OpCode::Binary);
        if h.rsv != 0 && !(first_data && self.inflater.is_some()) {
            return Err(WsError::protocol("RSV1 set where it is not allowed"));
        }
        if op.is_control() {
            if !h.fin {
                return Err(WsError::protocol("fragmented control frame"));
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(WsError::protocol("control frame over 125 bytes"));
            }
        } else if op == OpCode::Continuation && message.is_none() {
            return Err(WsError::protocol("continuation without a message"));
        } else if first_data && message.is_some() {
            return Err(WsError::protocol("new message inside a fragmented one"));
        }
        match (self.role, h.mask) {
            (Role::Server, None) => return Err(WsError::protocol("unmasked client frame")),
            (Role::Client, Some(_)) => return Err(WsError::protocol("masked server frame")),
            _ => {}
        }
        if h.payload_len > self.limits.max_frame {
            return Err(WsError::new(TOO_BIG, "frame too big"));
        }
        let (received, compressed) =
            message.map_or((0, h.rsv != 0), |m| (m.received, m.compressed));
        if !op.is_control()
            && !compressed
            && received.saturating_add(h.payload_len) > self.limits.max_message
        {
            return Err(WsError::new(TOO_BIG, "message too big"));
        }
        Ok(FrameState {
            op,
            fin: h.fin,
            mask: h.mask,
            remaining: h.payload_len,
            offset: 0,
        })
    }

    /// Stores a frame whose payload will arrive in pieces.
    fn begin_frame(&mut self, frame: FrameState, compressed: bool) {
        let p = self.partial_mut();
        if matches!(frame.op, OpCode::Text | OpCode::Binary) {
            p.message = Some(MessageState::new(frame.op, compressed));
        }
        p.control_len = 0;
        p.frame = Some(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds a reader; it must stay within a cache line.
    #[test]
    fn an_idle_reader_is_small() {
        assert!(std::mem::size_of::<MessageReader>() <= 64);
    }
}
