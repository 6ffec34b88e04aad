//! [`PacketDecoder`]: the byte stream in any split, whole packets out.
//!
//! A packet that arrives whole in one `feed` is decoded straight from the
//! input, borrowing from it. Bytes of an unfinished packet (or input left
//! by a pause) are kept in one buffer that is freed as soon as it is
//! empty, so an idle connection holds no heap. When
//! bytes are held, the next `feed` appends its input to them: one copy,
//! as in [`crate::ws::MessageReader`].
//!
//! Limits: the maximum packet size (whole packet, fixed header included,
//! as MQTT 5's Maximum Packet Size counts it) is checked as soon as the
//! Remaining Length is known, before the body arrives, so the held buffer
//! never exceeds it (plus input stashed during a pause, which the caller
//! bounds). A bad first byte fails at once, a fifth length byte too.

use super::packet::{check_first_byte, decode_packet, Packet};
use super::{varint, MqttError, ProtocolVersion, ReasonCode};
use crate::frame::Control;

/// Where the decoder is in the connection's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Server side, before CONNECT: only CONNECT is accepted, and it sets
    /// the version.
    ExpectConnect,
    /// Packets are read with this version's shapes.
    Open(ProtocolVersion),
    /// An error was returned; all later input is refused.
    Failed,
}

/// Incremental MQTT packet decoder.
#[derive(Debug)]
pub struct PacketDecoder {
    max_packet_size: u32,
    phase: Phase,
    /// An unfinished packet, or input kept by a pause; unallocated when
    /// empty.
    held: Vec<u8>,
}

/// What one pass over a buffer did.
struct Pass {
    /// Bytes consumed (whole packets).
    used: usize,
    /// Packets handed out.
    packets: usize,
}

impl PacketDecoder {
    /// A server-side decoder: the first packet must be CONNECT, whose
    /// protocol level then decides how later packets are read.
    pub fn server(max_packet_size: u32) -> Self {
        PacketDecoder {
            max_packet_size,
            phase: Phase::ExpectConnect,
            held: Vec::new(),
        }
    }

    /// A client-side decoder for the version its CONNECT asked for.
    pub fn client(version: ProtocolVersion, max_packet_size: u32) -> Self {
        PacketDecoder {
            max_packet_size,
            phase: Phase::Open(version),
            held: Vec::new(),
        }
    }

    /// The version in force; `None` before CONNECT (or after an error).
    pub fn version(&self) -> Option<ProtocolVersion> {
        match self.phase {
            Phase::Open(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes held between calls (0 for an idle connection).
    pub fn buffered_len(&self) -> usize {
        self.held.len()
    }

    /// Takes the bytes held (an unfinished packet, or input kept by a
    /// pause or a `stash`), leaving none: the connection moves on with
    /// them to another decoder.
    pub fn take_held(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Keeps `input` for the next `feed` without reading it (reads that
    /// land while the connection is paused).
    pub fn stash(&mut self, input: &[u8]) {
        if self.phase != Phase::Failed && !input.is_empty() {
            self.held.extend_from_slice(input);
        }
    }

    /// Decodes every whole packet in the held bytes followed by `input`,
    /// calling `on_packet` for each, and keeps the rest. Returns how many
    /// packets were handed out. When `on_packet` returns
    /// [`Control::Pause`] decoding stops after that packet and the rest is
    /// kept; `feed(&[], ..)` resumes. An error carries the reason code to
    /// send before closing; the decoder refuses all later input.
    pub fn feed<F>(&mut self, input: &[u8], mut on_packet: F) -> Result<usize, MqttError>
    where
        F: FnMut(Packet<'_>) -> Control,
    {
        if self.phase == Phase::Failed {
            return Err(MqttError::protocol("decoder failed earlier"));
        }
        let held = std::mem::take(&mut self.held);
        let result = if held.is_empty() {
            let r = self.pass(input, &mut on_packet);
            if let Ok(p) = &r {
                self.stash(&input[p.used..]);
            }
            r
        } else {
            let mut buf = held;
            buf.extend_from_slice(input);
            let r = self.pass(&buf, &mut on_packet);
            if let Ok(p) = &r {
                buf.drain(..p.used);
                if !buf.is_empty() {
                    self.held = buf;
                }
            }
            r
        };
        match result {
            Ok(p) => Ok(p.packets),
            Err(e) => {
                self.phase = Phase::Failed;
                self.held = Vec::new();
                Err(e)
            }
        }
    }

    fn pass<F>(&mut self, buf: &[u8], on_packet: &mut F) -> Result<Pass, MqttError>
    where
        F: FnMut(Packet<'_>) -> Control,
    {
        let mut pass = Pass {
            used: 0,
            packets: 0,
        };
        loop {
            let rest = &buf[pass.used..];
            let Some((first, header_len, body_len)) = self.fixed_header(rest)? else {
                return Ok(pass);
            };
            let total = header_len + body_len;
            let Some(body) = rest.get(header_len..total) else {
                return Ok(pass);
            };
            let packet = decode_packet(first, body, self.version())?;
            if let Packet::Connect(c) = &packet {
                self.phase = Phase::Open(c.version);
            }
            pass.used += total;
            pass.packets += 1;
            if on_packet(packet) == Control::Pause {
                return Ok(pass);
            }
        }
    }

    /// The first byte, header length and body length of the packet at the
    /// front of `buf`, or `None` while the header is incomplete. Fails as
    /// soon as the bytes at hand prove the packet bad or too large.
    fn fixed_header(&self, buf: &[u8]) -> Result<Option<(u8, usize, usize)>, MqttError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        check_first_byte(first, self.version())?;
        let (len, n) = match varint::decode(&buf[1..]) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(None),
            Err(_) => return Err(MqttError::malformed("bad remaining length")),
        };
        let total = 1 + n as u64 + u64::from(len);
        if total > u64::from(self.max_packet_size) {
            return Err(MqttError::new(
                ReasonCode::PACKET_TOO_LARGE,
                "packet over the maximum packet size",
            ));
        }
        Ok(Some((first, 1 + n, len as usize)))
    }
}
