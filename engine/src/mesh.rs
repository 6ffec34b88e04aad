//! The core-to-core mesh: one single-producer single-consumer ring per
//! ordered pair of cores and per lane, so no two threads ever contend on a
//! ring. The high lane (control, VIP, agent actions) is always drained
//! before the normal lane.
//!
//! A core that finds a ring full keeps the message in a per-destination,
//! per-lane outbox (so order is kept within the lane, and a backlog of
//! normal messages never holds up the high lane: pause, resume, presence
//! and high-priority messages) and pauses the connection that produced
//! it; the outbox is retried every tick and the connection resumes once
//! its lane's outbox empties. A droppable message never waits in an
//! outbox: [`MeshPort::try_send`] hands it back and the caller sheds it. A core goes to sleep in its backend's `poll`; a producer wakes
//! it through its eventfd only when it announced it was sleeping.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rtrb::{Consumer, Producer, RingBuffer};
use wire::TargetKind;

use crate::machine::mqtt::Message;
pub use crate::priority::Lane;
use crate::priority::Shed;
use crate::sys::{Token, Waker};

/// A message from one core to another.
#[derive(Debug)]
pub enum MeshMsg {
    /// Deliver an encoded frame to the local members of a target.
    Deliver(Delivery),
    /// Answer to a `Delivery` that carried an ack ticket.
    Delivered {
        /// Ticket on the origin core.
        ticket: u32,
        /// Connections the frame was queued to.
        recipients: u32,
    },
    /// Stop reading from this (origin core's) connection.
    Pause(Token),
    /// Start reading again.
    Resume(Token),
    /// A topic message for the subscribers on the receiving core.
    Publish(Box<TopicPublish>),
    /// A message for one member of a shared subscription group, picked
    /// by the publishing core.
    SharedPublish {
        /// The message.
        msg: Arc<Message>,
        /// The group's topic filter.
        filter: Box<str>,
        /// The share name.
        group: Box<str>,
    },
    /// A retained message to store (or, with an empty payload, clear).
    Retain(Arc<Message>),
    /// An MQTT connection for the receiving core, where its client id's
    /// sessions live (`mqtt::home`): the socket and what was read from it.
    Adopt(Box<Arrival>),
    /// A user or topic appeared on, or left, the sending core.
    Presence {
        /// Users or topics.
        kind: NameKind,
        /// The name.
        name: Bytes,
        /// Present now or not.
        present: bool,
    },
}

/// An MQTT connection on its way to its client id's home core.
#[derive(Debug)]
pub struct Arrival {
    /// The socket, as the backends' `Stream` type (every core runs the
    /// same backend, so the home core's downcast cannot fail).
    pub stream: Box<dyn std::any::Any + Send>,
    /// Its WebSocket state, for MQTT over WebSocket.
    pub ws: Option<Box<crate::machine::ws::WsConn>>,
    /// MQTT bytes read and not yet handled, starting with the CONNECT.
    pub bytes: Vec<u8>,
}

/// The namespace of a presence message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// HELLO user ids.
    User,
    /// Topic filters of the subscription index (`$share/{group}/` for a
    /// shared group), MQTT and `wire` subscribers alike.
    Filter,
}

/// A topic message crossing to another core.
#[derive(Debug)]
pub struct TopicPublish {
    /// The message.
    pub msg: Arc<Message>,
    /// Its DELIVER frame for `wire` subscribers, if already encoded.
    pub frame: Option<Bytes>,
    /// The publishing core (backpressure).
    pub origin_core: u16,
    /// The publishing connection on `origin_core` (0: the server).
    pub origin_token: Token,
    /// Ack ticket on the origin core, for a `wire` SEND with ACK.
    pub ticket: Option<u32>,
}

/// A frame to queue to a target's connections on the receiving core.
#[derive(Debug)]
pub struct Delivery {
    /// Namespace of `target`.
    pub kind: TargetKind,
    /// User id, topic name, or connection token (8 bytes, big-endian).
    pub target: Bytes,
    /// The whole encoded DELIVER frame, shared by every recipient.
    pub frame: Bytes,
    /// The sending core and connection (for backpressure).
    pub origin_core: u16,
    /// The sending connection on `origin_core`.
    pub origin_token: Token,
    /// Ack ticket on the origin core, if the sender asked for an ACK.
    pub ticket: Option<u32>,
    /// The lane its recipients queue it on, and whether it may be shed.
    pub priority: (Lane, Shed),
}

/// What every core shares about every other: wakers and sleep flags.
pub struct MeshShared {
    wakers: Vec<Waker>,
    sleeping: Vec<AtomicBool>,
}

impl MeshShared {
    /// Wakes core `core` if it is (about to be) asleep.
    pub fn wake(&self, core: usize) {
        // Pairs with the SeqCst store in `MeshPort::prepare_sleep`: either
        // the consumer sees our push on its re-check, or we see its flag.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping[core].load(Ordering::SeqCst) {
            self.wakers[core].wake();
        }
    }

    /// Wakes every core unconditionally (shutdown).
    pub fn wake_all(&self) {
        for w in &self.wakers {
            w.wake();
        }
    }
}

type Lanes<T> = [T; 2];

/// One core's ends of the mesh.
pub struct MeshPort {
    me: usize,
    producers: Vec<Option<Lanes<Producer<MeshMsg>>>>,
    consumers: Vec<Option<Lanes<Consumer<MeshMsg>>>>,
    /// Per destination core, one outbox per lane.
    outbox: Vec<Lanes<VecDeque<MeshMsg>>>,
    /// Connections paused because an outbox to core i (per lane) was not
    /// empty.
    ring_waiters: Vec<Lanes<Vec<Token>>>,
    /// Bit i: pushed to core i since the last `wake_peers`.
    pushed: u64,
    shared: Arc<MeshShared>,
}

/// Builds the mesh for `wakers.len()` cores with `slots` per ring lane.
pub fn build(wakers: Vec<Waker>, slots: usize) -> (Arc<MeshShared>, Vec<MeshPort>) {
    let n = wakers.len();
    let shared = Arc::new(MeshShared {
        sleeping: (0..n).map(|_| AtomicBool::new(false)).collect(),
        wakers,
    });
    let mut ports: Vec<MeshPort> = (0..n)
        .map(|me| MeshPort {
            me,
            producers: (0..n).map(|_| None).collect(),
            consumers: (0..n).map(|_| None).collect(),
            outbox: (0..n).map(|_| Default::default()).collect(),
            ring_waiters: (0..n).map(|_| Default::default()).collect(),
            pushed: 0,
            shared: shared.clone(),
        })
        .collect();
    for from in 0..n {
        for to in (0..n).filter(|&to| to != from) {
            let (hp, hc) = RingBuffer::new(slots);
            let (np, nc) = RingBuffer::new(slots);
            ports[from].producers[to] = Some([hp, np]);
            ports[to].consumers[from] = Some([hc, nc]);
        }
    }
    (shared, ports)
}

impl MeshPort {
    /// This core's index.
    pub fn core(&self) -> usize {
        self.me
    }

    /// Number of cores in the mesh.
    pub fn cores(&self) -> usize {
        self.producers.len()
    }

    /// Sends a message built by `f` to every other core, on the high
    /// lane (presence and retained-message replicas are control traffic).
    pub fn broadcast(&mut self, f: impl Fn() -> MeshMsg) {
        let me = self.me;
        for core in (0..self.cores()).filter(|&c| c != me) {
            self.send(core, Lane::High, f());
        }
    }

    /// Sends `msg` to core `to`. Returns false if it had to wait in the
    /// lane's outbox (ring full): the caller should pause its producer
    /// connection.
    pub fn send(&mut self, to: usize, lane: Lane, msg: MeshMsg) -> bool {
        match self.try_send(to, lane, msg) {
            Ok(()) => true,
            Err(msg) => {
                self.outbox[to][lane as usize].push_back(msg);
                false
            }
        }
    }

    /// Pushes `msg` to the lane's ring unless the ring is full or the
    /// lane's outbox already holds messages (order); hands it back then.
    pub fn try_send(&mut self, to: usize, lane: Lane, msg: MeshMsg) -> Result<(), MeshMsg> {
        debug_assert_ne!(to, self.me);
        if !self.outbox[to][lane as usize].is_empty() {
            return Err(msg);
        }
        let ring = &mut self.producers[to].as_mut().expect("peer ring")[lane as usize];
        match ring.push(msg) {
            Ok(()) => {
                self.pushed |= 1 << to;
                Ok(())
            }
            Err(rtrb::PushError::Full(m)) => Err(m),
        }
    }

    /// Whether messages to `to` are waiting for ring space.
    pub fn congested(&self, to: usize) -> bool {
        self.outbox[to].iter().any(|o| !o.is_empty())
    }

    /// Parks `token` until the outbox of `lane` to `to` drains.
    pub fn wait_for_ring(&mut self, to: usize, lane: Lane, token: Token) {
        let waiters = &mut self.ring_waiters[to][lane as usize];
        if !waiters.contains(&token) {
            waiters.push(token);
        }
    }

    /// Sends a copy of `d` to each core in the bitmask `cores`, on its
    /// lane. A droppable message never waits for ring space: it is shed
    /// where the ring is full. Any other message waits in the outbox and
    /// parks its origin connection until the ring drains. Returns how many
    /// cores shed it and how many made it wait (the origin pauses).
    pub fn send_delivery(&mut self, cores: u64, d: &Delivery) -> (u32, u32) {
        let (lane, shed) = d.priority;
        let (mut shed_count, mut waited) = (0, 0);
        let mut bits = cores;
        while bits != 0 {
            let core = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let msg = MeshMsg::Deliver(Delivery {
                kind: d.kind,
                target: d.target.clone(),
                frame: d.frame.clone(),
                ..*d
            });
            if shed == Shed::IfBehind {
                if self.try_send(core, lane, msg).is_err() {
                    shed_count += 1;
                }
                continue;
            }
            if !self.send(core, lane, msg) {
                self.wait_for_ring(core, lane, d.origin_token);
                waited += 1;
            }
        }
        (shed_count, waited)
    }

    /// Resumes the connections in `waiters` (core, token): those on this
    /// core through `local`, the others with a `Resume` on the high lane.
    pub fn resume_waiters(&mut self, waiters: Vec<(u16, Token)>, local: &mut Vec<Token>) {
        for (core, t) in waiters {
            if usize::from(core) == self.me {
                local.push(t);
            } else {
                self.send(usize::from(core), Lane::High, MeshMsg::Resume(t));
            }
        }
    }

    /// Moves outboxed messages into rings, each lane on its own (a full
    /// normal ring never holds up the high lane); appends to `resumed`
    /// the connections whose wait is over.
    pub fn flush_outbox(&mut self, resumed: &mut Vec<Token>) {
        for to in 0..self.outbox.len() {
            let Some(rings) = self.producers[to].as_mut() else {
                continue;
            };
            for lane in [Lane::High, Lane::Normal] {
                let outbox = &mut self.outbox[to][lane as usize];
                if outbox.is_empty() {
                    continue;
                }
                while let Some(msg) = outbox.pop_front() {
                    if let Err(rtrb::PushError::Full(m)) = rings[lane as usize].push(msg) {
                        outbox.push_front(m);
                        break;
                    }
                    self.pushed |= 1 << to;
                }
                if outbox.is_empty() {
                    resumed.append(&mut self.ring_waiters[to][lane as usize]);
                }
            }
        }
    }

    /// Whether any outbox still holds messages.
    pub fn has_outbox(&self) -> bool {
        self.outbox.iter().flatten().any(|o| !o.is_empty())
    }

    /// Wakes the cores pushed to since the last call.
    pub fn wake_peers(&mut self) {
        let mut bits = std::mem::take(&mut self.pushed);
        while bits != 0 {
            let core = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            self.shared.wake(core);
        }
    }

    /// Pops up to `budget` messages, high lane first across all peers.
    pub fn drain(&mut self, budget: usize, out: &mut Vec<(usize, MeshMsg)>) {
        let mut left = budget;
        for lane in [Lane::High, Lane::Normal] {
            for (from, c) in self.consumers.iter_mut().enumerate() {
                let Some(rings) = c.as_mut() else { continue };
                while left > 0 {
                    match rings[lane as usize].pop() {
                        Ok(m) => {
                            out.push((from, m));
                            left -= 1;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
    }

    /// Whether any inbound ring holds a message.
    pub fn has_inbound(&self) -> bool {
        self.consumers
            .iter()
            .flatten()
            .any(|rings| rings.iter().any(|r| !r.is_empty()))
    }

    /// Announces that this core is about to sleep; returns false if it
    /// must not (messages arrived meanwhile).
    pub fn prepare_sleep(&self) -> bool {
        self.shared.sleeping[self.me].store(true, Ordering::SeqCst);
        if self.has_inbound() {
            self.shared.sleeping[self.me].store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Wakes every core unconditionally (shutdown).
    pub fn wake_all(&self) {
        self.shared.wake_all();
    }

    /// Announces that this core is awake.
    pub fn woke(&self) {
        self.shared.sleeping[self.me].store(false, Ordering::Relaxed);
    }

    /// Messages waiting in this core's ring toward `to` (for metrics).
    pub fn depth_to(&self, to: usize) -> usize {
        self.producers[to].as_ref().map_or(0, |rings| {
            rings
                .iter()
                .map(|r| r.buffer().capacity() - r.slots())
                .sum()
        }) + self.outbox[to].iter().map(VecDeque::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_pair(slots: usize) -> Vec<MeshPort> {
        let wakers = vec![Waker::new().unwrap(), Waker::new().unwrap()];
        build(wakers, slots).1
    }

    /// The tokens of a drained run of `Pause` messages, in order.
    fn paused_tokens(out: &[(usize, MeshMsg)]) -> Vec<Token> {
        out.iter()
            .map(|(_, m)| match m {
                MeshMsg::Pause(t) => *t,
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn high_lane_is_drained_first() {
        let mut ports = port_pair(16);
        let (a, b) = ports.split_at_mut(1);
        a[0].send(1, Lane::Normal, MeshMsg::Pause(1));
        a[0].send(1, Lane::High, MeshMsg::Pause(2));
        let mut out = Vec::new();
        b[0].drain(10, &mut out);
        let order = paused_tokens(&out);
        assert_eq!(order, vec![2, 1]);
    }

    #[test]
    fn full_ring_spills_to_outbox_in_order_and_resumes_waiters() {
        let mut ports = port_pair(16);
        let (a, b) = ports.split_at_mut(1);
        let mut accepted = 0;
        for i in 0..40 {
            if a[0].send(1, Lane::Normal, MeshMsg::Pause(i)) {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 16);
        a[0].wait_for_ring(1, Lane::Normal, 77);
        let mut out = Vec::new();
        let mut resumed = Vec::new();
        while out.len() < 40 {
            b[0].drain(8, &mut out);
            a[0].flush_outbox(&mut resumed);
        }
        let seq = paused_tokens(&out);
        assert_eq!(seq, (0..40).collect::<Vec<_>>());
        assert_eq!(resumed, vec![77]);
    }

    #[test]
    fn a_normal_backlog_does_not_hold_up_the_high_lane() {
        let mut ports = port_pair(16);
        let (a, b) = ports.split_at_mut(1);
        for i in 0..40 {
            a[0].send(1, Lane::Normal, MeshMsg::Pause(i));
        }
        assert!(a[0].congested(1));
        // The normal lane's outbox is not empty, the high lane goes anyway.
        assert!(a[0].send(1, Lane::High, MeshMsg::Pause(1000)));
        // A droppable message is handed back rather than outboxed.
        assert!(a[0]
            .try_send(1, Lane::Normal, MeshMsg::Pause(2000))
            .is_err());
        let mut out = Vec::new();
        b[0].drain(1, &mut out);
        assert_eq!(paused_tokens(&out), vec![1000]);
    }
}
