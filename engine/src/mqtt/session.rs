//! A client's session: what outlives its network connection when the
//! client asks for a persistent session (MQTT 5 §4.1): subscriptions,
//! messages in flight each way, and the queue of messages waiting for a
//! free slot in the in-flight window or for the client to come back.
//!
//! A session lives on its client id's home core and never leaves it
//! ([`super::home`]): a client reconnecting on another core is sent there.

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::Arc;

use wire::mqtt::{ProtocolVersion, QoS};

use crate::config::QueueFull;
pub use crate::machine::mqtt::AwaitAck;
use crate::machine::mqtt::Message;
use crate::sys::Token;

/// A subscription's options: kept by the core's topic index per entry.
pub use crate::route::topics::SubOptions;

/// A subscription: the filter as written and its options.
pub type Subscription = (Box<str>, SubOptions);

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

/// The will: published when the connection ends without DISCONNECT.
#[derive(Clone, Debug)]
pub struct WillMessage {
    /// The message (its `retain` is the will's RETAIN).
    pub msg: Arc<Message>,
    /// MQTT 5 Will Delay Interval (s).
    pub delay_s: u32,
}

/// Why an acknowledgement did not fit the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// No message in flight has this packet id (0x92 in MQTT 5).
    UnknownPacketId,
}

/// A client's session.
#[derive(Debug)]
pub struct Session {
    /// The client identifier.
    client_id: Arc<str>,
    /// Node-unique id (no-local checks, index entries across moves).
    uid: u64,
    /// The protocol of its latest connection.
    version: ProtocolVersion,
    /// The connection on this core, while connected (token + 1, so that
    /// the option costs no extra word).
    conn: Option<NonZeroU64>,
    /// Session Expiry Interval (s) after the connection ends; 0 ends the
    /// session with the connection, `u32::MAX` never.
    expiry_s: u32,
    /// The core's clock (`Clock::unix_ms`) when the connection ended;
    /// expiry counts from it, in milliseconds.
    ended_at_ms: u64,
    /// Subscriptions as the client wrote them (`$share/..` included);
    /// boxed so that a session without any pays one pointer.
    #[allow(clippy::box_collection)]
    subs: Option<Box<Vec<Subscription>>>,
    /// Messages in flight and queued; allocated while there are any, so
    /// an idle device's session pays one pointer for them.
    flows: Option<Box<Flows>>,
    /// The user name of the current connection (ACL checks).
    username: Option<Box<str>>,
    /// Most messages in flight to the client: min(its Receive Maximum,
    /// the server's `max_inflight`).
    window: u16,
    /// The will of the current connection.
    will: Option<WillMessage>,
    next_packet_id: u16,
}

/// What a new connection sets on the session it binds to (from its
/// CONNECT).
#[derive(Debug)]
pub struct Binding {
    /// The connection's protocol.
    pub version: ProtocolVersion,
    /// Session Expiry Interval (s) after the connection ends.
    pub expiry_s: u32,
    /// The client's Receive Maximum, bounded by the server's.
    pub window: u16,
    /// The connection's will.
    pub will: Option<WillMessage>,
    /// The connection's user name (ACL checks).
    pub username: Option<Box<str>>,
}

/// A session's messages in flight each way and its queue.
#[derive(Debug, Default)]
pub struct Flows {
    /// Outgoing QoS 1/2 messages holding packet ids, oldest first.
    inflight: VecDeque<Inflight>,
    /// Messages waiting for the window or for the client.
    queue: VecDeque<Outgoing>,
    /// Incoming QoS 2 packet ids: PUBREC sent, PUBREL not yet received.
    awaiting_rel: Vec<u16>,
}

impl Flows {
    fn is_empty(&self) -> bool {
        self.inflight.is_empty() && self.queue.is_empty() && self.awaiting_rel.is_empty()
    }
}

impl Session {
    /// A new, empty session.
    pub fn new(client_id: Arc<str>, uid: u64, version: ProtocolVersion) -> Session {
        Session {
            client_id,
            uid,
            version,
            conn: None,
            expiry_s: 0,
            ended_at_ms: 0,
            subs: None,
            flows: None,
            username: None,
            window: 1,
            will: None,
            next_packet_id: 1,
        }
    }

    /// Whether the session, away since `ended_at_ms`, has outlived its
    /// Session Expiry Interval at `now_ms` (never while connected, never
    /// for `u32::MAX`).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.conn.is_none()
            && self.expiry_s != u32::MAX
            && crate::timers::passed(self.ended_at_ms, now_ms, u64::from(self.expiry_s) * 1000)
    }

    /// The flows, if any message is in flight or queued.
    fn flows(&self) -> Option<&Flows> {
        self.flows.as_deref()
    }

    /// The flows, created on first use.
    fn flows_mut(&mut self) -> &mut Flows {
        self.flows.get_or_insert_with(Box::default)
    }

    /// The messages in flight to the client, oldest first (copied: they
    /// are resent on a resumed session).
    pub fn inflight(&self) -> Vec<Inflight> {
        self.flows()
            .map(|f| f.inflight.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// An incoming QoS 2 message with `id`: PUBREC sent, its PUBREL
    /// awaited.
    pub fn await_release(&mut self, id: u16) {
        self.flows_mut().awaiting_rel.push(id);
    }

    /// Frees the flows once nothing is in flight or queued.
    pub fn release_flows(&mut self) {
        if self.flows.as_ref().is_some_and(|f| f.is_empty()) {
            self.flows = None;
        }
    }

    /// Messages queued.
    pub fn queued(&self) -> usize {
        self.flows().map_or(0, |f| f.queue.len())
    }

    /// Messages in flight to the client.
    pub fn in_flight(&self) -> usize {
        self.flows().map_or(0, |f| f.inflight.len())
    }

    /// Takes the oldest queued message.
    pub fn pop_queued(&mut self) -> Option<Outgoing> {
        let out = self.flows.as_mut()?.queue.pop_front();
        self.release_flows();
        out
    }

    /// Whether an incoming QoS 2 message with `id` awaits its PUBREL.
    pub fn awaits_release(&self, id: u16) -> bool {
        self.flows().is_some_and(|f| f.awaiting_rel.contains(&id))
    }

    /// Incoming QoS 2 messages awaiting PUBREL.
    pub fn unreleased(&self) -> usize {
        self.flows().map_or(0, |f| f.awaiting_rel.len())
    }

    /// Ends the QoS 2 flow of an incoming `id`; false if it was unknown.
    pub fn release(&mut self, id: u16) -> bool {
        let Some(f) = self.flows.as_mut() else {
            return false;
        };
        let Some(i) = f.awaiting_rel.iter().position(|&x| x == id) else {
            return false;
        };
        f.awaiting_rel.swap_remove(i);
        self.release_flows();
        true
    }

    /// Queues a message; a full queue drops one (the oldest or this one,
    /// per `policy`) and returns true.
    pub fn enqueue(&mut self, out: Outgoing, cap: usize, policy: QueueFull) -> bool {
        let queue = &mut self.flows_mut().queue;
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

    /// Whether the in-flight window has room.
    pub fn window_open(&self) -> bool {
        self.in_flight() < usize::from(self.window)
    }

    /// Puts a message in flight under a fresh packet id and returns it.
    pub fn start_flight(&mut self, out: Outgoing) -> u16 {
        let packet_id = self.next_packet_id();
        let awaiting = match out.qos {
            QoS::ExactlyOnce => AwaitAck::Pubrec,
            _ => AwaitAck::Puback,
        };
        self.flows_mut().inflight.push_back(Inflight {
            packet_id,
            awaiting,
            out,
        });
        packet_id
    }

    /// A packet id not held by any message in flight.
    pub fn next_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = id.checked_add(1).unwrap_or(1);
            let taken = self
                .flows()
                .is_some_and(|f| f.inflight.iter().any(|i| i.packet_id == id));
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
            .flows
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
        self.release_flows();
        Ok(done)
    }

    /// Drops a QoS 2 message whose PUBREC carried a failure reason: the
    /// flow ends there (MQTT 5 §4.3.3).
    pub fn abandon(&mut self, packet_id: u16) {
        if let Some(f) = self.flows.as_mut() {
            f.inflight.retain(|f| f.packet_id != packet_id);
        }
        self.release_flows();
    }

    /// The options of the subscription to `filter`, if any.
    pub fn sub(&self, filter: &str) -> Option<&SubOptions> {
        self.subs()
            .iter()
            .find(|(f, _)| &**f == filter)
            .map(|(_, o)| o)
    }

    /// Subscriptions, as the client wrote them.
    pub fn subs(&self) -> &[Subscription] {
        self.subs.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Adds or replaces the subscription to `filter`.
    pub fn set_sub(&mut self, filter: &str, opts: SubOptions) {
        let subs = self.subs.get_or_insert_with(Box::default);
        match subs.iter_mut().find(|(f, _)| &**f == filter) {
            Some(entry) => entry.1 = opts,
            None => subs.push((filter.into(), opts)),
        }
    }

    /// Removes the subscription to `filter`; false if there was none.
    pub fn remove_sub(&mut self, filter: &str) -> bool {
        let Some(subs) = self.subs.as_mut() else {
            return false;
        };
        let Some(i) = subs.iter().position(|(f, _)| &**f == filter) else {
            return false;
        };
        subs.swap_remove(i);
        if subs.is_empty() {
            self.subs = None;
        }
        true
    }

    /// The connection on this core, while connected.
    pub fn conn(&self) -> Option<Token> {
        self.conn.map(|t| t.get() - 1)
    }

    /// Binds the session to a connection (or to none).
    pub fn set_conn(&mut self, token: Option<Token>) {
        // Tokens stay below 2^56 (conn.rs), so + 1 cannot overflow.
        self.conn = token.and_then(|t| NonZeroU64::new(t + 1));
    }
}

/// Who the session is, and its connection's terms.
impl Session {
    /// The client identifier.
    #[inline]
    pub fn client_id(&self) -> &Arc<str> {
        &self.client_id
    }

    /// Node-unique id (no-local checks, index entries across moves).
    #[inline]
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// The protocol of its latest connection.
    #[inline]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The user name of the current connection (ACL checks).
    #[inline]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Session Expiry Interval (s) after the connection ends.
    #[inline]
    pub fn expiry_s(&self) -> u32 {
        self.expiry_s
    }

    /// A new Session Expiry Interval (DISCONNECT may change it).
    pub fn set_expiry_s(&mut self, expiry_s: u32) {
        self.expiry_s = expiry_s;
    }

    /// Binds the session to `token`, on the terms of its CONNECT.
    pub fn bind(&mut self, token: Token, b: Binding) {
        self.set_conn(Some(token));
        self.version = b.version;
        self.expiry_s = b.expiry_s;
        self.window = b.window.max(1);
        self.will = b.will;
        self.username = b.username;
    }

    /// The connection ended at `now_ms` (the core's wall clock): expiry
    /// counts from here. Returns the connection's will, to publish now or
    /// after its delay.
    pub fn left(&mut self, now_ms: u64) -> Option<WillMessage> {
        self.set_conn(None);
        self.ended_at_ms = now_ms;
        self.will.take()
    }

    /// Takes the current connection's will (taken over, or a DISCONNECT
    /// that drops it).
    pub fn take_will(&mut self) -> Option<WillMessage> {
        self.will.take()
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

    #[test]
    fn a_full_queue_drops_by_policy() {
        let mut s = Session::new("c".into(), 1, ProtocolVersion::V5);
        assert!(!s.enqueue(out(1), 2, QueueFull::DropOldest));
        assert!(!s.enqueue(out(2), 2, QueueFull::DropOldest));
        assert!(s.enqueue(out(3), 2, QueueFull::DropOldest));
        let ids: Vec<u64> = s
            .flows()
            .unwrap()
            .queue
            .iter()
            .map(|o| o.msg.meta.id)
            .collect();
        assert_eq!(ids, [2, 3]);
        assert!(s.enqueue(out(4), 2, QueueFull::DropNew));
        let ids: Vec<u64> = s
            .flows()
            .unwrap()
            .queue
            .iter()
            .map(|o| o.msg.meta.id)
            .collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn packet_ids_skip_those_in_flight_and_zero() {
        let mut s = Session::new("c".into(), 1, ProtocolVersion::V5);
        s.next_packet_id = u16::MAX;
        assert_eq!(s.next_packet_id(), u16::MAX);
        let first = s.next_packet_id();
        assert_eq!(first, 1);
        s.flows_mut().inflight.push_back(Inflight {
            packet_id: 2,
            awaiting: AwaitAck::Puback,
            out: out(1),
        });
        assert_eq!(s.next_packet_id(), 3);
    }

    #[test]
    fn qos2_handshake_moves_through_pubrec_to_pubcomp() {
        let mut s = Session::new("c".into(), 1, ProtocolVersion::V5);
        s.flows_mut().inflight.push_back(Inflight {
            packet_id: 9,
            awaiting: AwaitAck::Pubrec,
            out: out(1),
        });
        assert_eq!(
            s.on_ack(9, AwaitAck::Puback).unwrap_err(),
            AckError::UnknownPacketId
        );
        assert!(s.on_ack(9, AwaitAck::Pubrec).unwrap().is_none());
        assert!(s.on_ack(9, AwaitAck::Pubcomp).unwrap().is_some());
        assert!(s.flows().is_none(), "an idle session frees its flows");
    }
}
