//! A `wire` client on the simulated network: encodes with `wire`'s
//! encoder, decodes with its decoder, and keeps every frame it received.

use std::collections::VecDeque;

use bytes::BytesMut;
use wire::{Flags, FrameDecoder, FrameHeader, FrameType, Target, TargetKind};

use crate::sys::sim::net::SimNet;
use crate::sys::sim::ClientId;

/// A frame the client received, owned.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its header.
    pub header: FrameHeader,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// One `wire` connection's client side.
pub struct WireClient {
    /// The connection.
    pub id: ClientId,
    decoder: FrameDecoder,
    encoder: wire::Encoder,
    out: BytesMut,
    /// Frames received and not yet taken.
    pub inbox: VecDeque<Received>,
    /// The stream could not be decoded (a server bug).
    pub garbled: bool,
}

impl WireClient {
    /// Connects to `port`; `None` if nobody listens.
    pub fn connect(net: &SimNet, port: u16) -> Option<WireClient> {
        Some(WireClient {
            id: net.connect(port)?,
            decoder: FrameDecoder::new(u32::MAX / 2),
            encoder: wire::Encoder::new(),
            out: BytesMut::new(),
            inbox: VecDeque::new(),
            garbled: false,
        })
    }

    fn header(frame_type: FrameType, flags: Flags, message_id: u64) -> FrameHeader {
        let mut h = FrameHeader::new(frame_type, 0);
        h.flags = flags;
        h.message_id = message_id;
        h
    }

    fn flush(&mut self, net: &SimNet) -> bool {
        let ok = net.write(self.id, &self.out);
        self.out.clear();
        ok
    }

    /// Sends HELLO as `user`.
    pub fn hello(&mut self, net: &SimNet, user: &str) -> bool {
        let m = wire::Hello {
            protocol_version: 1,
            user_id: user,
            token: "sim",
            client_name: "sim",
        };
        let h = Self::header(FrameType::Hello, Flags::NONE, 0);
        self.encoder.hello(&mut self.out, h, &m);
        self.flush(net)
    }

    /// Sends `body` to every connection of `user`.
    pub fn send_to_user(
        &mut self,
        net: &SimNet,
        user: &str,
        body: &[u8],
        flags: Flags,
        message_id: u64,
    ) -> bool {
        let m = wire::Send {
            target: Target {
                kind: TargetKind::User,
                id: user,
            },
            body,
        };
        let h = Self::header(FrameType::Send, flags, message_id);
        self.encoder.send(&mut self.out, h, &m);
        self.flush(net)
    }

    /// Reads up to `max` bytes the server sent and decodes them into
    /// [`WireClient::inbox`]. Returns the number of frames decoded.
    pub fn pump(&mut self, net: &SimNet, max: usize) -> usize {
        let bytes = net.read(self.id, max);
        if bytes.is_empty() || self.garbled {
            return 0;
        }
        let inbox = &mut self.inbox;
        let r = self.decoder.feed(&bytes, |f| {
            inbox.push_back(Received {
                header: f.header,
                payload: f.payload.to_vec(),
            });
            wire::Control::Continue
        });
        match r {
            Ok(n) => n,
            Err(_) => {
                self.garbled = true;
                0
            }
        }
    }

    /// Takes the received frames of `frame_type`, oldest first, leaving
    /// the others.
    pub fn take(&mut self, frame_type: FrameType) -> Vec<Received> {
        let (hit, rest): (VecDeque<_>, VecDeque<_>) = self
            .inbox
            .drain(..)
            .partition(|r| r.header.frame_type == frame_type);
        self.inbox = rest;
        hit.into()
    }
}
