//! The v1 frame: a fixed 24-byte header followed by the payload.
//!
//! ```text
//! offset size field
//!  0     2    magic "SB" (0x53 0x42)
//!  2     1    version (1)
//!  3     1    frame type
//!  4     2    flags, big-endian (bit 0 high priority, bit 1 ack requested,
//!             bit 2 droppable; other bits reserved, must be 0)
//!  6     2    reserved, must be 0
//!  8     4    stream id, big-endian
//! 12     8    message id, big-endian
//! 20     4    payload length, big-endian
//! 24     ...  payload
//! ```
//!
//! [`FrameDecoder`] accepts the byte stream split anywhere and holds bytes
//! only while a frame is incomplete, so an idle connection costs nothing.

use bytes::{BufMut, BytesMut};

use crate::error::WireError;

/// Length of every frame header.
pub const HEADER_LEN: usize = 24;
/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"SB";
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;

/// What a frame means; the numbers are part of the protocol.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Client introduces itself: version, user id, token, client name.
    Hello = 1,
    /// Server accepts a HELLO.
    Welcome = 2,
    /// Client sends a message to a target.
    Send = 3,
    /// Server delivers a message to a client.
    Deliver = 4,
    /// A message was queued to every target (server to client) or received
    /// (client to server).
    Ack = 5,
    /// Something went wrong; carries a numbered code.
    Error = 6,
    /// Client subscribes to topics.
    Subscribe = 7,
    /// Client unsubscribes from topics.
    Unsubscribe = 8,
    /// Liveness probe; the payload is echoed in the PONG.
    Ping = 9,
    /// Answer to a PING.
    Pong = 10,
    /// Either side closes the connection, with a code and reason.
    Close = 11,
}

impl FrameType {
    /// Maps a frame type byte; unknown bytes give `None`.
    pub fn from_u8(b: u8) -> Option<Self> {
        use FrameType::*;
        Some(match b {
            1 => Hello,
            2 => Welcome,
            3 => Send,
            4 => Deliver,
            5 => Ack,
            6 => Error,
            7 => Subscribe,
            8 => Unsubscribe,
            9 => Ping,
            10 => Pong,
            11 => Close,
            _ => return None,
        })
    }
}

/// Header flag bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// Deliver on the high-priority lane (VIP, control, agent actions).
    pub const HIGH_PRIORITY: Flags = Flags(1);
    /// The sender wants an ACK once the message is queued to its targets.
    pub const ACK_REQUESTED: Flags = Flags(2);
    /// The message may be shed under overload (counted in metrics).
    pub const DROPPABLE: Flags = Flags(4);
    /// Every bit v1 defines; the rest must be zero.
    pub const KNOWN: u16 = 0b111;
    /// No flags.
    pub const NONE: Flags = Flags(0);

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the frame means.
    pub frame_type: FrameType,
    /// Lane and acknowledgement flags.
    pub flags: Flags,
    /// Stream or conversation the frame belongs to (0 when none).
    pub stream_id: u32,
    /// Message id: client-chosen on SEND, server snowflake on DELIVER.
    pub message_id: u64,
    /// Number of payload bytes after the header.
    pub payload_len: u32,
}

impl FrameHeader {
    /// A header with no flags, stream 0 and message id 0.
    pub fn new(frame_type: FrameType, payload_len: u32) -> Self {
        FrameHeader {
            frame_type,
            flags: Flags::NONE,
            stream_id: 0,
            message_id: 0,
            payload_len,
        }
    }

    /// Writes the 24 header bytes.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        out[3] = self.frame_type as u8;
        out[4..6].copy_from_slice(&self.flags.0.to_be_bytes());
        out[6..8].copy_from_slice(&[0, 0]);
        out[8..12].copy_from_slice(&self.stream_id.to_be_bytes());
        out[12..20].copy_from_slice(&self.message_id.to_be_bytes());
        out[20..24].copy_from_slice(&self.payload_len.to_be_bytes());
    }

    /// Appends the header to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        let mut h = [0u8; HEADER_LEN];
        self.encode(&mut h);
        out.put_slice(&h);
    }

    /// Parses a header from its 24 bytes, checking everything but the
    /// payload length limit.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, WireError> {
        if b[0..2] != MAGIC {
            return Err(WireError::BadMagic([b[0], b[1]]));
        }
        if b[2] != VERSION {
            return Err(WireError::UnsupportedVersion(b[2]));
        }
        let frame_type = FrameType::from_u8(b[3]).ok_or(WireError::UnknownFrameType(b[3]))?;
        let flags = u16::from_be_bytes([b[4], b[5]]);
        if flags & !Flags::KNOWN != 0 {
            return Err(WireError::ReservedFlags(flags));
        }
        let reserved = u16::from_be_bytes([b[6], b[7]]);
        if reserved != 0 {
            return Err(WireError::ReservedBytes(reserved));
        }
        Ok(FrameHeader {
            frame_type,
            flags: Flags(flags),
            stream_id: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            message_id: u64::from_be_bytes(b[12..20].try_into().expect("8 bytes")),
            payload_len: u32::from_be_bytes([b[20], b[21], b[22], b[23]]),
        })
    }
}

/// One complete frame, borrowing its payload from the input or from the
/// decoder's reassembly buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's header.
    pub header: FrameHeader,
    /// Exactly `header.payload_len` bytes.
    pub payload: &'a [u8],
}

/// What the frame callback of [`FrameDecoder::feed`] wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep decoding.
    Continue,
    /// Stop after this frame; the rest of the input is kept in the decoder
    /// until the next `feed` (used for backpressure).
    Pause,
}

/// Incremental decoder: feed it the byte stream in any split.
///
/// Holds no memory while no frame is partially received. After an error
/// it refuses all further input.
#[derive(Debug)]
pub struct FrameDecoder {
    max_payload_len: u32,
    /// Bytes of an incomplete frame, or input left over by a pause.
    pending: Pending,
    failed: bool,
}

/// The reassembly buffer, boxed so that a decoder without one costs a
/// pointer (every idle connection has a decoder; few hold a partial frame).
#[derive(Debug, Default)]
struct Pending(Option<Box<BytesMut>>);

impl Pending {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |b| b.len())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn as_slice(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |b| &b[..])
    }

    fn first_chunk<const N: usize>(&self) -> Option<&[u8; N]> {
        self.as_slice().first_chunk::<N>()
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.0
                .get_or_insert_with(Box::default)
                .extend_from_slice(bytes);
        }
    }

    /// The first `n` bytes (which must be held), leaving the rest; the
    /// memory goes back when nothing is left.
    fn split_to(&mut self, n: usize) -> BytesMut {
        let buf = self.0.as_mut().expect("split_to on held bytes");
        let head = buf.split_to(n);
        if buf.is_empty() {
            self.0 = None;
        }
        head
    }
}

impl FrameDecoder {
    /// A decoder that rejects payloads longer than `max_payload_len`.
    pub fn new(max_payload_len: u32) -> Self {
        FrameDecoder {
            max_payload_len,
            pending: Pending::default(),
            failed: false,
        }
    }

    /// Bytes held between calls (0 for an idle connection).
    pub fn buffered_len(&self) -> usize {
        self.pending.len()
    }

    /// Keeps `input` for the next `feed` without decoding it: used while
    /// the reader is paused and a few reads already under way still land.
    pub fn stash(&mut self, input: &[u8]) {
        if !self.failed {
            self.pending.extend_from_slice(input);
        }
    }

    /// Decodes every complete frame in the held bytes followed by `input`,
    /// calling `on_frame` for each, and keeps what is left.
    ///
    /// Returns the number of frames handed out. When `on_frame` returns
    /// [`Control::Pause`], decoding stops and the remaining input is kept;
    /// call `feed(&[], ..)` to resume.
    pub fn feed<F>(&mut self, input: &[u8], mut on_frame: F) -> Result<usize, WireError>
    where
        F: FnMut(Frame<'_>) -> Control,
    {
        if self.failed {
            return Err(WireError::BadEnvelope("decoder failed earlier"));
        }
        let mut frames = 0;
        let mut input = input;
        // Finish frames held from earlier calls before going zero-copy.
        while !self.pending.is_empty() {
            match self.complete_pending(&mut input, &mut on_frame) {
                Ok(Some(Control::Continue)) => frames += 1,
                Ok(Some(Control::Pause)) => {
                    self.pending.extend_from_slice(input);
                    return Ok(frames + 1);
                }
                Ok(None) => return Ok(frames),
                Err(e) => return Err(self.fail(e)),
            }
        }
        loop {
            match self.split_frame(input) {
                Ok(Some((frame, rest))) => {
                    frames += 1;
                    input = rest;
                    if on_frame(frame) == Control::Pause {
                        self.pending.extend_from_slice(input);
                        return Ok(frames);
                    }
                }
                Ok(None) => {
                    self.pending.extend_from_slice(input);
                    return Ok(frames);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: WireError) -> WireError {
        self.failed = true;
        self.pending = Pending::default();
        e
    }

    /// Parses one frame from the front of `buf`, or `None` if incomplete.
    fn split_frame<'a>(&self, buf: &'a [u8]) -> Result<Option<(Frame<'a>, &'a [u8])>, WireError> {
        let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
            // Reject garbage as soon as the bytes we have prove it bad.
            check_prefix(buf)?;
            return Ok(None);
        };
        let header = self.checked_header(h)?;
        let end = HEADER_LEN + header.payload_len as usize;
        if buf.len() < end {
            return Ok(None);
        }
        let frame = Frame {
            header,
            payload: &buf[HEADER_LEN..end],
        };
        Ok(Some((frame, &buf[end..])))
    }

    fn checked_header(&self, h: &[u8; HEADER_LEN]) -> Result<FrameHeader, WireError> {
        let header = FrameHeader::decode(h)?;
        if header.payload_len > self.max_payload_len {
            return Err(WireError::TooLarge {
                len: header.payload_len,
                max: self.max_payload_len,
            });
        }
        Ok(header)
    }

    /// Moves bytes from `input` into `pending` until the first pending
    /// frame is complete, then hands it out. `None`: still incomplete (all
    /// of `input` was taken).
    fn complete_pending<F>(
        &mut self,
        input: &mut &[u8],
        on_frame: &mut F,
    ) -> Result<Option<Control>, WireError>
    where
        F: FnMut(Frame<'_>) -> Control,
    {
        let need = match self.pending.first_chunk::<HEADER_LEN>() {
            Some(h) => HEADER_LEN + self.checked_header(h)?.payload_len as usize,
            None => {
                let take = (HEADER_LEN - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..take]);
                *input = &input[take..];
                match self.pending.first_chunk::<HEADER_LEN>() {
                    Some(h) => HEADER_LEN + self.checked_header(h)?.payload_len as usize,
                    None => {
                        check_prefix(self.pending.as_slice())?;
                        return Ok(None);
                    }
                }
            }
        };
        if self.pending.len() < need {
            let take = (need - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            *input = &input[take..];
            if self.pending.len() < need {
                return Ok(None);
            }
        }
        let frame_bytes = self.pending.split_to(need);
        let header = FrameHeader::decode(frame_bytes[..HEADER_LEN].try_into().expect("header"))?;
        let control = on_frame(Frame {
            header,
            payload: &frame_bytes[HEADER_LEN..],
        });
        Ok(Some(control))
    }
}

/// Fails fast on a partial header whose first bytes are already wrong.
fn check_prefix(buf: &[u8]) -> Result<(), WireError> {
    for (i, &b) in buf.iter().take(2).enumerate() {
        if b != MAGIC[i] {
            let mut m = MAGIC;
            m[i] = b;
            return Err(WireError::BadMagic(m));
        }
    }
    if let Some(&v) = buf.get(2) {
        if v != VERSION {
            return Err(WireError::UnsupportedVersion(v));
        }
    }
    if let Some(&t) = buf.get(3) {
        FrameType::from_u8(t).ok_or(WireError::UnknownFrameType(t))?;
    }
    Ok(())
}

/// Appends a whole frame (header and payload) to `out`.
pub fn write_frame(out: &mut BytesMut, mut header: FrameHeader, payload: &[u8]) {
    header.payload_len = u32::try_from(payload.len()).expect("payload fits u32");
    out.reserve(HEADER_LEN + payload.len());
    header.write_to(out);
    out.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(t: FrameType, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let mut h = FrameHeader::new(t, 0);
        h.message_id = 0x0102030405060708;
        h.stream_id = 9;
        write_frame(&mut out, h, payload);
        out.to_vec()
    }

    #[test]
    fn every_split_point_yields_the_same_frames() {
        let mut stream = frame_bytes(FrameType::Send, b"hello");
        stream.extend(frame_bytes(FrameType::Ping, b""));
        stream.extend(frame_bytes(FrameType::Deliver, &[7u8; 300]));
        for split in 0..=stream.len() {
            let mut d = FrameDecoder::new(1024);
            let mut seen = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                d.feed(part, |f| {
                    seen.push((f.header.frame_type, f.payload.to_vec()));
                    Control::Continue
                })
                .unwrap();
            }
            assert_eq!(seen.len(), 3, "split at {split}");
            assert_eq!(seen[0].1, b"hello");
            assert_eq!(seen[2].1.len(), 300);
            assert_eq!(d.buffered_len(), 0);
        }
    }

    #[test]
    fn pause_keeps_the_rest_for_later() {
        let mut stream = frame_bytes(FrameType::Send, b"a");
        stream.extend(frame_bytes(FrameType::Send, b"b"));
        stream.extend(frame_bytes(FrameType::Send, b"c"));
        let mut d = FrameDecoder::new(1024);
        let mut seen = Vec::new();
        let n = d
            .feed(&stream, |f| {
                seen.push(f.payload.to_vec());
                Control::Pause
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(d.buffered_len(), stream.len() / 3 * 2);
        while d.buffered_len() > 0 {
            d.feed(&[], |f| {
                seen.push(f.payload.to_vec());
                Control::Pause
            })
            .unwrap();
        }
        assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn garbage_fails_on_the_first_byte() {
        let mut d = FrameDecoder::new(1024);
        let err = d.feed(b"G", |_| Control::Continue).unwrap_err();
        assert!(matches!(err, WireError::BadMagic(_)));
        assert!(d
            .feed(&frame_bytes(FrameType::Ping, b""), |_| Control::Continue)
            .is_err());
    }

    #[test]
    fn oversized_payload_is_refused_before_it_arrives() {
        let mut d = FrameDecoder::new(16);
        let bytes = frame_bytes(FrameType::Send, &[0u8; 17]);
        let err = d
            .feed(&bytes[..HEADER_LEN], |_| Control::Continue)
            .unwrap_err();
        assert_eq!(err, WireError::TooLarge { len: 17, max: 16 });
    }
}

#[cfg(test)]
mod size_tests {
    /// Every connection holds a decoder; it must stay two words.
    #[test]
    fn an_idle_decoder_is_small() {
        assert_eq!(std::mem::size_of::<super::FrameDecoder>(), 16);
    }
}
