//! ACK tickets: a SEND whose target has members on other cores is
//! answered (ACK with the recipient count, or ERROR `NoSuchTarget`) once
//! every one of those cores has said how many it delivered to
//! (`Core::ack_ticket` and `Core::on_delivered`, in `routing.rs`).

use bytes::Bytes;
use slab::Slab;
use wire::{ErrorCode, FrameHeader, FrameType};

use super::arena::Scratch;
use crate::metrics::{self, CoreStats};
use crate::sys::Token;

/// The answer a SEND is owed once its recipients are counted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    /// The SEND's header: its ids and flags are what the answer echoes.
    send: FrameHeader,
    /// The id the server gave the message.
    server_message_id: u64,
    /// Recipients counted so far.
    recipients: u32,
    /// A user target with nobody online is an error, a topic is not.
    empty_is_error: bool,
}

impl Answer {
    /// The answer to the SEND `send`, given `server_message_id`, with
    /// `recipients` counted so far.
    pub(super) fn new(
        send: &FrameHeader,
        server_message_id: u64,
        recipients: u32,
        empty_is_error: bool,
    ) -> Answer {
        Answer {
            send: *send,
            server_message_id,
            recipients,
            empty_is_error,
        }
    }

    /// Encodes the answer into the arena: ERROR `NoSuchTarget` (counted) if
    /// nobody received a message whose target must exist, else an ACK if
    /// the SEND asked for one, else nothing.
    pub(super) fn frame(&self, scratch: &mut Scratch, stats: &CoreStats) -> Option<Bytes> {
        let header = |kind| {
            let mut h = FrameHeader::new(kind, 0);
            h.message_id = self.send.message_id;
            h.stream_id = self.send.stream_id;
            h
        };
        if self.recipients == 0 && self.empty_is_error {
            metrics::inc(&stats.no_target_total);
            let error = wire::ErrorMsg {
                code: ErrorCode::NoSuchTarget,
                reason: "no such target",
            };
            Some(scratch.encode_frame(|enc, out| enc.error(out, header(FrameType::Error), &error)))
        } else if self.send.flags.contains(wire::Flags::ACK_REQUESTED) {
            let ack = wire::Ack {
                server_message_id: self.server_message_id,
                recipients: self.recipients,
            };
            Some(scratch.encode_frame(|enc, out| enc.ack(out, header(FrameType::Ack), &ack)))
        } else {
            None
        }
    }
}

/// An ACK owed to a sender once every remote core has answered.
#[derive(Debug)]
struct PendingAck {
    token: Token,
    answer: Answer,
    cores_left: u32,
}

/// The SENDs waiting for other cores' counts, by ticket.
#[derive(Debug, Default)]
pub(crate) struct Acks(Slab<PendingAck>);

impl Acks {
    /// Opens a ticket that `cores` answers settle.
    pub(super) fn open(&mut self, token: Token, answer: Answer, cores: u32) -> u32 {
        debug_assert!(cores > 0, "a ticket no core answers");
        let pending = PendingAck {
            token,
            answer,
            cores_left: cores,
        };
        self.0.insert(pending) as u32
    }

    /// One core's answer: `recipients` more. Returns the sender and its
    /// answer once the last core has answered.
    pub(super) fn settle(&mut self, ticket: u32, recipients: u32) -> Option<(Token, Answer)> {
        let p = self.0.get_mut(ticket as usize)?;
        debug_assert!(p.cores_left > 0);
        p.answer.recipients += recipients;
        p.cores_left -= 1;
        if p.cores_left > 0 {
            return None;
        }
        let p = self.0.remove(ticket as usize);
        Some((p.token, p.answer))
    }
}
