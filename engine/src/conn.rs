//! The connection table: one slot per live connection on this core, named
//! by a generational [`Token`] that io_uring carries in `user_data`.
//!
//! A token is `generation << 32 | slot`. A slot's generation moves on when
//! its connection closes, so completions that arrive late for a closed
//! connection name a generation that no longer matches and are ignored.

use std::rc::Rc;

use crate::send_queue::SendQueue;
use crate::sys::Token;

/// Generation bits in a token (bits 32..56; the top 8 are the backend's).
const GEN_MASK: u32 = (1 << 24) - 1;

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
    /// bounds (`crate::closing`). Nothing is queued to it any more, so
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
#[derive(Debug)]
pub struct Conn {
    /// Lifecycle.
    pub phase: Phase,
    /// Reading is paused (backpressure) until a resume.
    pub paused: bool,
    /// The pause is for this connection's own send queue (it sends but
    /// does not read its answers), so its own drain resumes it; other
    /// pauses wait for the connections they feed.
    pub paused_on_own_queue: bool,
    /// The peer will send no more bytes.
    pub recv_closed: bool,
    /// A send batch is with the backend.
    pub send_in_flight: bool,
    /// Already on the reactor's flush list this tick.
    pub dirty: bool,
    /// Bytes queued or in flight to this connection; once `Lingering`
    /// (when nothing can be queued), bytes read and thrown away.
    pub queued_bytes: u32,
    /// The connection clock ([`crate::timers::conn_clock`], ms) when the
    /// last frame or packet was read, or the connection was accepted.
    pub last_active: u32,
    /// The user named in HELLO.
    pub user: Option<Rc<str>>,
    /// What reads are decoded as: `wire` frames or MQTT packets.
    pub input: Input,
    /// Frames waiting for the socket, in two lanes.
    pub send_queue: SendQueue,
    /// Subscriptions and waiters; most connections never have either, so
    /// they cost an idle connection one pointer.
    pub lists: Option<Box<ConnLists>>,
    /// WebSocket state, for connections that came in on the WebSocket
    /// listener.
    pub ws: Option<Box<crate::machine::ws::WsConn>>,
}

/// A connection's decoder: `wire` frames (raw TCP and the WebSocket
/// envelope) or MQTT packets (with the MQTT connection state, boxed so
/// that `wire` connections do not pay for it).
#[derive(Debug)]
pub enum Input {
    /// `wire` frames; holds bytes only mid-frame.
    Frames(crate::machine::wire::Session),
    /// MQTT packets and the connection's MQTT state.
    Mqtt(Box<crate::mqtt::MqttConn>),
}

impl Input {
    /// Bytes held mid-frame or stashed while paused.
    pub fn buffered_len(&self) -> usize {
        match self {
            Input::Frames(d) => d.buffered_len(),
            Input::Mqtt(m) => m.decoder.buffered_len(),
        }
    }

    /// Keeps bytes read while paused, for the resume.
    pub fn stash(&mut self, data: &[u8]) {
        match self {
            Input::Frames(d) => d.stash(data),
            Input::Mqtt(m) => m.decoder.stash(data),
        }
    }
}

/// A connection's rarely used lists.
#[derive(Debug, Default)]
pub struct ConnLists {
    /// Topics this connection subscribed to (for cleanup on close).
    pub topics: Vec<Rc<str>>,
    /// Senders paused because this connection's queue was full: (core, token).
    pub waiters: Vec<(u16, Token)>,
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(max_payload_len: u32, now: u32) -> Conn {
        Conn {
            phase: Phase::ExpectHello,
            paused: false,
            paused_on_own_queue: false,
            recv_closed: false,
            send_in_flight: false,
            dirty: false,
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
    pub fn lists_mut(&mut self) -> &mut ConnLists {
        self.lists.get_or_insert_with(Box::default)
    }

    /// Topics this connection subscribed to.
    pub fn topics(&self) -> &[Rc<str>] {
        self.lists.as_ref().map_or(&[], |l| &l.topics)
    }

    /// The MQTT state, for MQTT connections.
    pub fn mqtt(&mut self) -> Option<&mut crate::mqtt::MqttConn> {
        match &mut self.input {
            Input::Mqtt(m) => Some(m),
            Input::Frames(_) => None,
        }
    }

    /// The MQTT state, read only.
    pub fn mqtt_ref(&self) -> Option<&crate::mqtt::MqttConn> {
        match &self.input {
            Input::Mqtt(m) => Some(m),
            Input::Frames(_) => None,
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

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Slots for this core's connections, reused through a free list.
pub struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl ConnTable {
    /// An empty table.
    pub fn new() -> ConnTable {
        ConnTable::with_capacity(0)
    }

    /// A table that reserves room for `n` slots up front. A large
    /// reservation is address space only: pages are touched as slots fill,
    /// and the table never moves (no copy, no stale old table in RSS).
    pub fn with_capacity(n: usize) -> ConnTable {
        ConnTable {
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no connection is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Stores a connection and returns its token.
    pub fn insert(&mut self, conn: Conn) -> Token {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.conn.is_none());
            slot.conn = Some(conn);
            return make_token(index, slot.generation);
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 slots");
        self.slots.push(Slot {
            generation: 0,
            conn: Some(conn),
        });
        make_token(index, 0)
    }

    /// The live connection `token` names, if it is still that one.
    pub fn get(&self, token: Token) -> Option<&Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get(index as usize)?;
        (slot.generation == generation).then_some(())?;
        slot.conn.as_ref()
    }

    /// Mutable access to the live connection `token` names.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get_mut(index as usize)?;
        (slot.generation == generation).then_some(())?;
        slot.conn.as_mut()
    }

    /// Removes the connection; its token goes stale.
    pub fn remove(&mut self, token: Token) -> Option<Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = (slot.generation + 1) & GEN_MASK;
        self.free.push(index);
        self.live -= 1;
        Some(conn)
    }

    /// Tokens of every live connection (for timers and drain).
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| make_token(i as u32, s.generation))
    }

    /// The token of slot `index` if it is live (for incremental sweeps).
    pub fn token_at(&self, index: usize) -> Option<Token> {
        let slot = self.slots.get(index)?;
        slot.conn.as_ref()?;
        Some(make_token(index as u32, slot.generation))
    }

    /// Number of slots ever allocated (live or free).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl Default for ConnTable {
    fn default() -> Self {
        ConnTable::new()
    }
}

fn make_token(index: u32, generation: u32) -> Token {
    (u64::from(generation & GEN_MASK) << 32) | u64::from(index)
}

fn split_token(token: Token) -> (u32, u32) {
    (token as u32, ((token >> 32) as u32) & GEN_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_do_not_reach_a_reused_slot() {
        let mut t = ConnTable::new();
        let a = t.insert(Conn::new(1024, 0));
        assert!(t.remove(a).is_some());
        let b = t.insert(Conn::new(1024, 0));
        assert_ne!(a, b);
        assert!(t.get(a).is_none());
        assert!(t.get(b).is_some());
        assert!(t.remove(a).is_none());
        assert_eq!(t.len(), 1);
        assert!(b < (1 << crate::sys::TOKEN_BITS));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Idle connections must stay small: this is the per-slot part of the
    /// product's memory budget (see docs/benchmarks.md).
    #[test]
    fn a_connection_slot_stays_small() {
        let slot = std::mem::size_of::<Slot>();
        println!("Conn {} Slot {}", std::mem::size_of::<Conn>(), slot);
        assert!(slot <= 80, "slot grew to {slot} bytes");
    }
}
