//! A session's messages in flight each way, its in-flight window and its
//! queue (MQTT §4.3, §4.9): which packet ids are taken, which
//! acknowledgement each outgoing message waits for, which incoming QoS 2
//! messages wait for PUBREL, and the messages waiting for a free slot in
//! the window or for the client to come back.
//!
//! An idle device's session has none of these most of the time, so the
//! lists are allocated while there are any and freed when the last one
//! goes: the flows of an idle session cost one pointer and two numbers.

use std::collections::VecDeque;
use std::sync::Arc;

use wire::mqtt::QoS;

use crate::config::QueueFull;
pub use crate::machine::mqtt::AwaitAck;
use crate::machine::mqtt::Message;

/// A message owed to the client.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The message.
    pub msg: Arc<Message>,
    /// QoS it is delivered with: min(published, granted).
    pub qos: QoS,
    /// The RETAIN flag to send.
    pub retain: bool,
    /// Identifiers of every subscription it matched (MQTT 5).
    pub sub_ids: Vec<u32>,
}

/// An outgoing QoS 1 or 2 message that holds a packet id.
#[derive(Clone, Debug)]
pub struct Inflight {
    /// Its packet id.
    pub packet_id: u16,
    /// What comes next.
    pub awaiting: AwaitAck,
    /// The message (kept to resend with DUP after a reconnect).
    pub out: Outgoing,
}

/// Why an acknowledgement did not fit the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// No message in flight has this packet id (0x92 in MQTT 5).
    UnknownPacketId,
}

/// A session's messages in flight each way, its window and its queue.
#[derive(Debug)]
pub struct Flows {
    /// The lists; allocated while there is anything in them.
    lists: Option<Box<Lists>>,
    /// Most messages in flight to the client: min(its Receive Maximum,
    /// the server's `max_inflight`), at least 1.
    window: u16,
    /// Where the search for a free packet id starts.
    next_packet_id: u16,
}

/// The messages of [`Flows`].
#[derive(Debug, Default)]
struct Lists {
    /// Outgoing QoS 1/2 messages holding packet ids, oldest first.
    inflight: VecDeque<Inflight>,
    /// Messages waiting for the window or for the client.
    queue: VecDeque<Outgoing>,
    /// Incoming QoS 2 packet ids: PUBREC sent, PUBREL not yet received.
    awaiting_rel: Vec<u16>,
}

impl Lists {
    fn is_empty(&self) -> bool {
        self.inflight.is_empty() && self.queue.is_empty() && self.awaiting_rel.is_empty()
    }
}

impl Default for Flows {
    /// No message either way, a window of one.
    fn default() -> Flows {
        Flows {
            lists: None,
            window: 1,
            next_packet_id: 1,
        }
    }
}

impl Flows {
    /// Sets the in-flight window (at least 1) for a new connection.
    #[inline]
    pub fn set_window(&mut self, window: u16) {
        self.window = window.max(1);
    }

    /// Whether the in-flight window has room.
    #[inline]
    pub fn window_open(&self) -> bool {
        self.in_flight() < usize::from(self.window)
    }

    /// Messages in flight to the client.
    #[inline]
    pub fn in_flight(&self) -> usize {
        self.lists.as_ref().map_or(0, |l| l.inflight.len())
    }

    /// Messages queued.
    #[inline]
    pub fn queued(&self) -> usize {
        self.lists.as_ref().map_or(0, |l| l.queue.len())
    }

    /// The messages in flight to the client, oldest first.
    pub fn inflight(&self) -> impl Iterator<Item = &Inflight> {
        self.lists.iter().flat_map(|l| l.inflight.iter())
    }

    /// Queues a message; a full queue drops one (the oldest or this one,
    /// per `policy`) and returns true.
    pub fn enqueue(&mut self, out: Outgoing, cap: usize, policy: QueueFull) -> bool {
        let queue = &mut self.lists().queue;
        if queue.len() < cap {
            queue.push_back(out);
            return false;
        }
        if policy == QueueFull::DropOldest {
            queue.pop_front();
            queue.push_back(out);
        }
        true
    }

    /// Takes the oldest queued message.
    pub fn pop_queued(&mut self) -> Option<Outgoing> {
        let out = self.lists.as_mut()?.queue.pop_front();
        self.free_if_idle();
        out
    }

    /// Puts a message in flight under a fresh packet id and returns it.
    pub fn start_flight(&mut self, out: Outgoing) -> u16 {
        let packet_id = self.next_packet_id();
        let awaiting = match out.qos {
            QoS::ExactlyOnce => AwaitAck::Pubrec,
            _ => AwaitAck::Puback,
        };
        self.lists().inflight.push_back(Inflight {
            packet_id,
            awaiting,
            out,
        });
        packet_id
    }

    /// A packet id not held by any message in flight.
    fn next_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = id.checked_add(1).unwrap_or(1);
            let taken = self
                .lists
                .as_ref()
                .is_some_and(|l| l.inflight.iter().any(|i| i.packet_id == id));
            if !taken {
                return id;
            }
        }
    }

    /// Records the answer `got` for `packet_id`; returns the message's
    /// entry once the handshake is done (PUBACK, PUBCOMP), else `None`
    /// (PUBREC: the caller sends PUBREL).
    pub fn on_ack(&mut self, packet_id: u16, got: AwaitAck) -> Result<Option<Inflight>, AckError> {
        let inflight = &mut self
            .lists
            .as_mut()
            .ok_or(AckError::UnknownPacketId)?
            .inflight;
        let i = inflight
            .iter()
            .position(|f| f.packet_id == packet_id && f.awaiting == got)
            .ok_or(AckError::UnknownPacketId)?;
        if got == AwaitAck::Pubrec {
            inflight[i].awaiting = AwaitAck::Pubcomp;
            return Ok(None);
        }
        let done = inflight.remove(i);
        self.free_if_idle();
        Ok(done)
    }

    /// Drops a QoS 2 message whose PUBREC carried a failure reason: the
    /// flow ends there (MQTT 5 §4.3.3).
    pub fn abandon(&mut self, packet_id: u16) {
        if let Some(l) = self.lists.as_mut() {
            l.inflight.retain(|f| f.packet_id != packet_id);
        }
        self.free_if_idle();
    }

    /// An incoming QoS 2 message with `id` was accepted (PUBREC sent):
    /// it awaits its PUBREL.
    pub fn await_release(&mut self, id: u16) {
        self.lists().awaiting_rel.push(id);
    }

    /// Whether an incoming QoS 2 message with `id` awaits its PUBREL.
    #[inline]
    pub fn awaits_release(&self, id: u16) -> bool {
        self.lists
            .as_ref()
            .is_some_and(|l| l.awaiting_rel.contains(&id))
    }

    /// Incoming QoS 2 messages awaiting PUBREL.
    #[inline]
    pub fn unreleased(&self) -> usize {
        self.lists.as_ref().map_or(0, |l| l.awaiting_rel.len())
    }

    /// Ends the QoS 2 flow of an incoming `id`; false if it was unknown.
    pub fn release(&mut self, id: u16) -> bool {
        let Some(l) = self.lists.as_mut() else {
            return false;
        };
        let Some(i) = l.awaiting_rel.iter().position(|&x| x == id) else {
            return false;
        };
        l.awaiting_rel.swap_remove(i);
        self.free_if_idle();
        true
    }

    /// The lists, allocated on first use.
    fn lists(&mut self) -> &mut Lists {
        self.lists.get_or_insert_with(Box::default)
    }

    /// Frees the lists once nothing is in flight or queued.
    fn free_if_idle(&mut self) {
        if self.lists.as_ref().is_some_and(|l| l.is_empty()) {
            self.lists = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: u8) -> Outgoing {
        Outgoing {
            msg: Arc::new(crate::machine::mqtt::message::test_message(u64::from(n), 0)),
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: Vec::new(),
        }
    }

    fn queued_ids(f: &Flows) -> Vec<u64> {
        let queue = &f.lists.as_ref().unwrap().queue;
        queue.iter().map(|o| o.msg.meta.id).collect()
    }

    #[test]
    fn a_full_queue_drops_by_policy() {
        let mut f = Flows::default();
        assert!(!f.enqueue(out(1), 2, QueueFull::DropOldest));
        assert!(!f.enqueue(out(2), 2, QueueFull::DropOldest));
        assert!(f.enqueue(out(3), 2, QueueFull::DropOldest));
        assert_eq!(queued_ids(&f), [2, 3]);
        assert!(f.enqueue(out(4), 2, QueueFull::DropNew));
        assert_eq!(queued_ids(&f), [2, 3]);
    }

    #[test]
    fn packet_ids_skip_those_in_flight_and_zero() {
        let mut f = Flows {
            next_packet_id: u16::MAX,
            ..Flows::default()
        };
        assert_eq!(f.next_packet_id(), u16::MAX);
        let first = f.next_packet_id();
        assert_eq!(first, 1);
        f.lists().inflight.push_back(Inflight {
            packet_id: 2,
            awaiting: AwaitAck::Puback,
            out: out(1),
        });
        assert_eq!(f.next_packet_id(), 3);
    }

    #[test]
    fn qos2_handshake_moves_through_pubrec_to_pubcomp() {
        let mut f = Flows::default();
        f.lists().inflight.push_back(Inflight {
            packet_id: 9,
            awaiting: AwaitAck::Pubrec,
            out: out(1),
        });
        assert_eq!(
            f.on_ack(9, AwaitAck::Puback).unwrap_err(),
            AckError::UnknownPacketId
        );
        assert!(f.on_ack(9, AwaitAck::Pubrec).unwrap().is_none());
        assert!(f.on_ack(9, AwaitAck::Pubcomp).unwrap().is_some());
        assert!(f.lists.is_none(), "idle flows free their lists");
    }

    #[test]
    fn the_window_is_at_least_one() {
        let mut f = Flows::default();
        f.set_window(0);
        assert!(f.window_open());
        f.start_flight(out(1));
        assert!(!f.window_open());
        assert_eq!(f.inflight().count(), 1);
    }
}
