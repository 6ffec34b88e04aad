//! A connection on its owning core: its phase, its user, what it speaks
//! (`Input`, the WebSocket transport), its reading and writing states and
//! its two-lane send queue.

use std::rc::Rc;

use bytes::Bytes;

use crate::flow::{Reading, Writing};
use crate::priority::Lane;
use crate::send_queue::SendQueue;
use crate::sys::{SendBatch, Token};

/// What a connection waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted; only HELLO (or PING) is valid.
    ExpectHello,
    /// Welcomed; routing frames flow.
    Open,
    /// A final frame is queued; once the send queue is flushed the
    /// connection lingers (or closes at once if the peer already finished).
    Closing,
    /// The final frames are written and our side of the stream is shut
    /// (FIN sent); what the peer still sends is read and thrown away, so
    /// that a peer still writing reads the reason instead of a reset.
    /// Already out of routing; closes on the peer's EOF or at the linger
    /// bounds (`crate::core::closing`). Nothing is queued to it any more, so
    /// `Conn::queued_bytes` counts the bytes thrown away instead (the
    /// slot stays at its size budget).
    Lingering,
}

impl Phase {
    /// Whether frames from the peer are still acted on.
    pub fn takes_input(self) -> bool {
        matches!(self, Phase::ExpectHello | Phase::Open)
    }
}

/// A connection's state on its owning core. Kept small: an idle open
/// connection owns no heap memory besides its user id.
///
/// Its flow (reading, writing) and its send queue are private: they change
/// only through the methods below, which keep them in step and assert the
/// invariants that tie them together.
#[derive(Debug)]
pub struct Conn {
    /// Lifecycle.
    phase: Phase,
    /// Whether input is read (backpressure, the peer's EOF).
    reading: Reading,
    /// The flush list and the send in flight.
    writing: Writing,
    /// Bytes queued or in flight to this connection; once `Lingering`
    /// (when nothing can be queued), bytes read and thrown away.
    queued_bytes: u32,
    /// The connection clock ([`crate::timers::conn_clock`], ms) when the
    /// last frame or packet was read, or the connection was accepted.
    last_active: u32,
    /// The user named in HELLO.
    user: Option<Rc<str>>,
    /// What reads are decoded as: `wire` frames or MQTT packets.
    input: Input,
    /// Frames waiting for the socket, in two lanes.
    send_queue: SendQueue,
    /// Subscriptions and waiters; most connections never have either, so
    /// they cost an idle connection one pointer.
    lists: Option<Box<ConnLists>>,
    /// WebSocket state, for connections that came in on the WebSocket
    /// listener.
    ws: Option<Box<crate::machine::ws::WsConn>>,
}

/// A connection's decoder: `wire` frames (raw TCP and the WebSocket
/// envelope) or MQTT packets (with the MQTT connection state, boxed so
/// that `wire` connections do not pay for it).
#[derive(Debug)]
pub enum Input {
    /// `wire` frames; holds bytes only mid-frame.
    Frames(crate::machine::wire::Session),
    /// MQTT packets and the connection's MQTT state.
    Mqtt(Box<crate::machine::mqtt::MqttConn>),
}

impl Input {
    /// Bytes held mid-frame or stashed while paused.
    pub fn buffered_len(&self) -> usize {
        match self {
            Input::Frames(d) => d.buffered_len(),
            Input::Mqtt(m) => m.buffered_len(),
        }
    }

    /// Keeps bytes read while paused, for the resume.
    pub fn stash(&mut self, data: &[u8]) {
        match self {
            Input::Frames(d) => d.stash(data),
            Input::Mqtt(m) => m.stash(data),
        }
    }
}

/// A connection's rarely used lists.
#[derive(Debug, Default)]
pub struct ConnLists {
    /// Topics this connection subscribed to (for cleanup on close).
    topics: Vec<Rc<str>>,
    /// Senders paused because this connection's queue was full: (core, token).
    waiters: Vec<(u16, Token)>,
}

impl ConnLists {
    /// The topics and the waiters, for the core to unregister and resume.
    pub fn into_parts(self) -> (Vec<Rc<str>>, Vec<(u16, Token)>) {
        (self.topics, self.waiters)
    }
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(max_payload_len: u32, now: u32) -> Conn {
        Conn {
            phase: Phase::ExpectHello,
            reading: Reading::Open,
            writing: Writing::Idle,
            queued_bytes: 0,
            last_active: now,
            user: None,
            input: Input::Frames(crate::machine::wire::Session::new(max_payload_len)),
            send_queue: SendQueue::default(),
            lists: None,
            ws: None,
        }
    }

    /// The lists, created on first use.
    fn lists_mut(&mut self) -> &mut ConnLists {
        self.lists.get_or_insert_with(Box::default)
    }

    /// Remembers a topic this connection subscribed to (`wire` SUBSCRIBE).
    pub fn add_topic(&mut self, topic: Rc<str>) {
        self.lists_mut().topics.push(topic);
    }

    /// Forgets a topic; false if the connection had not subscribed to it.
    pub fn remove_topic(&mut self, topic: &str) -> bool {
        let Some(lists) = self.lists.as_mut() else {
            return false;
        };
        let Some(i) = lists.topics.iter().position(|t| &**t == topic) else {
            return false;
        };
        lists.topics.swap_remove(i);
        true
    }

    /// Topics this connection subscribed to.
    pub fn topics(&self) -> &[Rc<str>] {
        self.lists.as_ref().map_or(&[], |l| &l.topics)
    }

    /// The MQTT state, for MQTT connections.
    pub fn mqtt(&mut self) -> Option<&mut crate::machine::mqtt::MqttConn> {
        match &mut self.input {
            Input::Mqtt(m) => Some(m),
            Input::Frames(_) => None,
        }
    }

    /// The MQTT state, read only.
    pub fn mqtt_ref(&self) -> Option<&crate::machine::mqtt::MqttConn> {
        match &self.input {
            Input::Mqtt(m) => Some(m),
            Input::Frames(_) => None,
        }
    }

    /// Remembers a sender (core, token) paused because this connection's
    /// queue is full, once: this connection's drain resumes it.
    pub fn add_waiter(&mut self, origin: (u16, Token)) {
        debug_assert_ne!(
            self.phase,
            Phase::Lingering,
            "a lingering connection holds waiters"
        );
        let waiters = &mut self.lists_mut().waiters;
        if !waiters.contains(&origin) {
            waiters.push(origin);
        }
    }

    /// Takes the waiter list, leaving it empty.
    pub fn take_waiters(&mut self) -> Vec<(u16, Token)> {
        self.lists
            .as_mut()
            .map(|l| std::mem::take(&mut l.waiters))
            .unwrap_or_default()
    }
}

/// Lifecycle: the end of a connection ([`Phase`]).
impl Conn {
    /// Stops taking input: the reason is queued, and the connection
    /// lingers once everything queued is written. Returns true if that is
    /// now (nothing waits). A lingering connection stays as it is.
    pub fn begin_closing(&mut self) -> bool {
        if self.phase == Phase::Lingering {
            return false;
        }
        self.phase = Phase::Closing;
        self.is_flushed()
    }

    /// Takes the connection out of routing, leaving only what its slot
    /// needs: returns its user, its lists and its decoder (the MQTT state)
    /// for the core and the stages to unregister. Its WebSocket state and
    /// everything queued go.
    pub fn take_routing(&mut self) -> (Option<Rc<str>>, ConnLists, Input) {
        let lists = self.lists.take().map(|l| *l).unwrap_or_default();
        let input = std::mem::replace(
            &mut self.input,
            Input::Frames(crate::machine::wire::Session::new(0)),
        );
        self.ws = None;
        self.drop_queued();
        (self.user.take(), lists, input)
    }
}

/// Reading: backpressure and the peer's EOF ([`Reading`]).
impl Conn {
    /// Whether and why input is read.
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// Whether reads are paused (backpressure).
    pub fn is_paused(&self) -> bool {
        self.reading.is_paused()
    }

    /// Pauses reads until the connections it fed drain; `own_queue`: until
    /// its own send queue drains instead. Returns whether it was reading.
    /// A lingering connection reads to the end: it is never paused.
    pub fn pause_reading(&mut self, own_queue: bool) -> bool {
        if self.phase == Phase::Lingering {
            return false;
        }
        if own_queue {
            self.reading.pause_for_own_queue()
        } else {
            self.reading.pause_for_peers()
        }
    }

    /// Ends a pause; returns whether reads were paused.
    pub fn resume_reading(&mut self) -> bool {
        self.reading.resume()
    }

    /// The peer's EOF arrived: it will send nothing more.
    pub fn peer_finished_sending(&mut self) {
        self.reading.finish();
    }
}

/// Writing: the send queue, the flush list and the send in flight
/// ([`Writing`]).
impl Conn {
    /// Bytes queued or in flight (while lingering: bytes thrown away).
    pub fn queued_bytes(&self) -> u32 {
        self.queued_bytes
    }

    /// Whether everything queued is written: nothing waits, nothing is in
    /// flight.
    pub fn is_flushed(&self) -> bool {
        !self.writing.in_flight() && self.send_queue.is_empty()
    }

    /// Queues one buffer on `lane` (`more`: the message goes on in the
    /// next buffer of this lane). Returns true if the connection must go on
    /// the flush list: it was not on it yet.
    pub fn queue(&mut self, lane: Lane, bytes: Bytes, more: bool) -> bool {
        debug_assert_ne!(
            self.phase,
            Phase::Lingering,
            "queued to a lingering connection"
        );
        self.queued_bytes = self.queued_bytes.saturating_add(bytes.len() as u32);
        self.send_queue.push_back(lane, bytes, more);
        let list = self.writing.list();
        self.check();
        list
    }

    /// The flush visits the connection: it is off the flush list now.
    /// Returns whether a send may start: frames wait and no send is in
    /// flight (a send in flight lists the connection again when it
    /// completes, if frames remain).
    pub fn leave_flush_list(&mut self) -> bool {
        self.writing.unlist();
        !self.writing.in_flight() && !self.send_queue.is_empty()
    }

    /// Moves frames from the queue into `batch` for the backend, high lane
    /// first, ending only where a message ends, once it holds `bufs_max`
    /// buffers or `bytes_max` bytes. Only once
    /// [`Conn::leave_flush_list`] allows a send.
    pub fn fill_batch(&mut self, batch: &mut SendBatch, bufs_max: usize, bytes_max: usize) {
        debug_assert!(!self.writing.in_flight() && !self.send_queue.is_empty());
        let mut bytes = 0;
        while let Some((b, more)) = self.send_queue.pop_front() {
            bytes += b.len();
            batch.bufs.push(b);
            let full = batch.bufs.len() >= bufs_max || bytes >= bytes_max;
            if full && !more {
                break;
            }
        }
        self.writing.start_send();
    }

    /// The send in flight completed: `written` bytes of `batch` went out
    /// (what is left goes back in front of the queue), or `None`: it
    /// failed, the peer is gone and nothing more can be written. Returns
    /// true if the connection must go on the flush list (frames remain and
    /// it is not on it yet).
    pub fn sent(&mut self, written: Option<usize>, batch: &mut SendBatch) -> bool {
        #[cfg(debug_assertions)]
        {
            let in_flight: usize = batch.bufs.iter().map(Bytes::len).sum();
            let queued = self.send_queue.bytes() + in_flight;
            debug_assert_eq!(
                self.queued_bytes as usize, queued,
                "queued_bytes out of step"
            );
        }
        self.writing.send_done();
        match written {
            Some(written) => {
                self.queued_bytes = self.queued_bytes.saturating_sub(written as u32);
                requeue_unwritten(batch, written, &mut self.send_queue);
            }
            None => self.drop_queued(),
        }
        let list = !self.send_queue.is_empty() && self.writing.list();
        // Give the queue's memory back: idle connections hold none.
        self.send_queue.release_if_empty();
        self.check();
        list
    }

    /// Drops everything queued (the connection leaves routing, or its
    /// peer is gone).
    fn drop_queued(&mut self) {
        self.send_queue.clear();
        self.queued_bytes = 0;
    }

    /// The final frames are written and the connection leaves routing
    /// (done by the caller): it lingers from `now`, reading and throwing
    /// away. Returns whether reads were paused (they must start again).
    pub(super) fn start_lingering(&mut self, now: u32) -> bool {
        debug_assert_eq!(self.phase, Phase::Closing);
        debug_assert!(self.is_flushed(), "lingering with frames unwritten");
        debug_assert!(
            self.user.is_none() && self.lists.is_none(),
            "lingering in routing"
        );
        let was_paused = self.reading.resume();
        self.last_active = now;
        self.phase = Phase::Lingering;
        self.queued_bytes = 0;
        was_paused
    }

    /// Counts `len` bytes a lingering peer sent (thrown away). Returns
    /// true if they took the count past `max`, once.
    pub fn discard(&mut self, len: usize, max: u32) -> bool {
        debug_assert_eq!(self.phase, Phase::Lingering);
        debug_assert!(self.is_flushed() && !self.reading.is_paused());
        let before = self.queued_bytes;
        self.queued_bytes = before.saturating_add(len as u32);
        before <= max && self.queued_bytes > max
    }

    /// Frames queued, for tests that look at what a connection was sent.
    #[cfg(test)]
    pub(crate) fn pop_queued(&mut self) -> Option<Bytes> {
        let (bytes, _) = self.send_queue.pop_front()?;
        self.queued_bytes -= bytes.len() as u32;
        Some(bytes)
    }

    /// The invariants between the send queue, the flush state and the
    /// byte count, at the end of each mutation.
    fn check(&self) {
        if self.phase == Phase::Lingering {
            debug_assert!(self.is_flushed(), "a lingering connection holds frames");
            return;
        }
        #[cfg(debug_assertions)]
        if !self.writing.in_flight() {
            let queued = self.send_queue.bytes();
            debug_assert_eq!(
                self.queued_bytes as usize, queued,
                "queued_bytes out of step"
            );
        }
    }
}

/// Puts what a short write left behind back at the front of the queue,
/// ahead of both lanes: those bytes were committed when the batch was made.
fn requeue_unwritten(batch: &mut SendBatch, written: usize, queue: &mut SendQueue) {
    let mut skip = written;
    batch.bufs.retain_mut(|b| {
        if skip >= b.len() {
            skip -= b.len();
            return false;
        }
        let _ = b.split_to(skip);
        skip = 0;
        true
    });
    if !batch.bufs.is_empty() {
        queue.push_unwritten(&mut batch.bufs);
    }
}

/// What the connection is and speaks: its phase, its user, its decoder
/// and its WebSocket transport.
impl Conn {
    /// Lifecycle.
    #[inline]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Welcomed (HELLO, CONNECT or the WebSocket upgrade accepted):
    /// routing frames flow.
    pub fn open(&mut self) {
        debug_assert_eq!(
            self.phase,
            Phase::ExpectHello,
            "only a new connection opens"
        );
        self.phase = Phase::Open;
    }

    /// The connection clock when the last frame or packet was read.
    #[inline]
    pub fn last_active(&self) -> u32 {
        self.last_active
    }

    /// A frame or packet was read at `now` (the connection clock).
    #[inline]
    pub fn touch(&mut self, now: u32) {
        self.last_active = now;
    }

    /// The user named in HELLO.
    #[inline]
    pub fn user(&self) -> Option<&Rc<str>> {
        self.user.as_ref()
    }

    /// The user HELLO named, once admitted.
    pub fn set_user(&mut self, user: Rc<str>) {
        self.user = Some(user);
    }

    /// What reads are decoded as.
    #[inline]
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// What reads are decoded as, to feed it.
    #[inline]
    pub fn input_mut(&mut self) -> &mut Input {
        &mut self.input
    }

    /// Reads are decoded as `input` from now on (an MQTT listener or
    /// endpoint, or a `wire` session put back after a step).
    pub fn set_input(&mut self, input: Input) {
        self.input = input;
    }

    /// The WebSocket transport, on connections that came in on the
    /// WebSocket listener.
    #[inline]
    pub fn ws(&self) -> Option<&crate::machine::ws::WsConn> {
        self.ws.as_deref()
    }

    /// The WebSocket transport, to drive it.
    #[inline]
    pub fn ws_mut(&mut self) -> Option<&mut crate::machine::ws::WsConn> {
        self.ws.as_deref_mut()
    }

    /// Whether the connection came in on the WebSocket listener.
    #[inline]
    pub fn is_ws(&self) -> bool {
        self.ws.is_some()
    }

    /// The connection speaks WebSocket through `ws` (accepted on the
    /// WebSocket listener, or handed over from another core).
    pub fn set_ws(&mut self, ws: Option<Box<crate::machine::ws::WsConn>>) {
        self.ws = ws;
    }

    /// A removed connection's decoder and transport, for the core it moves
    /// to.
    pub fn into_transport(self) -> (Input, Option<Box<crate::machine::ws::WsConn>>) {
        (self.input, self.ws)
    }
}

#[cfg(test)]
mod flow_tests {
    use bytes::Bytes;

    use super::*;
    use crate::conn::ConnTable;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    #[test]
    fn a_short_write_keeps_the_rest_in_front_and_the_byte_count_in_step() {
        let mut c = Conn::new(1024, 0);
        assert!(c.queue(Lane::Normal, bytes(10), false));
        assert!(!c.queue(Lane::High, bytes(5), false), "listed once");
        assert_eq!(c.queued_bytes(), 15);
        assert!(c.leave_flush_list());
        let mut batch = SendBatch::default();
        c.fill_batch(&mut batch, 64, 1 << 20);
        assert_eq!(batch.bufs.len(), 2);
        // Queued while the batch is out: listed again, sent after it.
        assert!(c.queue(Lane::Normal, bytes(3), false));
        assert!(!c.leave_flush_list(), "a send is in flight");
        assert!(c.sent(Some(7), &mut batch), "frames remain: listed again");
        assert_eq!(c.queued_bytes(), 11);
        assert!(!c.is_flushed());
        assert!(!c.queue(Lane::Normal, bytes(1), false), "listed already");
        assert!(c.leave_flush_list());
        let mut batch = SendBatch::default();
        c.fill_batch(&mut batch, 64, 1 << 20);
        let lens: Vec<usize> = batch.bufs.iter().map(Bytes::len).collect();
        assert_eq!(lens, [8, 3, 1], "the unwritten rest goes first");
        assert!(!c.sent(Some(12), &mut batch));
        assert!(c.is_flushed());
        assert_eq!(c.queued_bytes(), 0);
    }

    #[test]
    fn a_failed_send_drops_the_queue() {
        let mut c = Conn::new(1024, 0);
        c.queue(Lane::Normal, bytes(10), false);
        assert!(c.leave_flush_list());
        let mut batch = SendBatch::default();
        c.fill_batch(&mut batch, 1, 1);
        c.queue(Lane::Normal, bytes(4), false);
        c.leave_flush_list();
        assert!(!c.sent(None, &mut batch));
        assert!(c.is_flushed());
        assert_eq!(c.queued_bytes(), 0);
    }

    #[test]
    fn a_closing_connection_lingers_out_of_routing_and_counts_what_it_discards() {
        let mut t = ConnTable::new();
        let token = t.insert(Conn::new(1024, 0));
        let c = t.get_mut(token).expect("live");
        assert!(c.pause_reading(false));
        assert!(c.begin_closing(), "nothing queued: it lingers now");
        c.take_routing();
        assert_eq!(t.start_lingering(token, 7), Some(true), "reads resume");
        assert_eq!((t.lingering(), t.open(), t.count_lingering()), (1, 0, 1));
        let c = t.get_mut(token).expect("live");
        assert!(!c.pause_reading(false), "a lingering connection reads on");
        assert!(!c.discard(10, 16));
        assert!(c.discard(10, 16), "past the bound, once");
        assert!(!c.discard(10, 16));
        assert!(t.remove(token).is_some());
        assert_eq!((t.lingering(), t.open()), (0, 0));
    }
}
