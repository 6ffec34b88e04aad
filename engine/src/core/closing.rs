//! How a connection ends, the core's half: once its reason is queued (the
//! stages choose it: `CoreState::fail` sends ERROR + CLOSE, or the MQTT /
//! WebSocket equivalent) the connection stops taking input
//! ([`Core::begin_close`]), and once the reason is written it leaves
//! routing and lingers ([`Core::after_final_flush`]) before its socket
//! closes ([`Core::remove_conn`]). Both hand back what the stages must
//! still clean up ([`Unrouted`]: its subscriptions, its MQTT state), which
//! the glue passes to them.
//!
//! Lingering: a connection refused for a fatal error may belong to a peer
//! that is still writing and has not read the reason yet. Closing the
//! socket with its bytes unread makes the kernel answer them with a reset,
//! and the peer's next write fails (EPIPE / ECONNRESET) before it ever
//! reads why. So once the final frames are written our write side is shut
//! (the peer reads the reason, then EOF), and what the peer still sends is
//! read and thrown away until it closes its side, or until the bounds
//! below, whichever comes first.
//!
//! A lingering connection is out of routing from its first moment
//! ([`Core::after_final_flush`]): no user, no subscriptions, no MQTT session,
//! nothing can be queued to it, and it holds no receive buffer (each one
//! is released as soon as it is counted). It keeps its table slot only
//! because the slot names its socket in the backend.

use std::rc::Rc;

use super::Core;
use crate::conn::{Input, Phase};
use crate::mesh::NameKind;
use crate::metrics;
use crate::sys::Token;

/// How long a connection lingers at most: 2 s is ample for a peer to read a reason it was sent and close,
/// even across a slow network, and short enough that a peer that never
/// closes holds its socket only briefly. The reactor's sweep visits each
/// connection about once a second, so the linger ends within ~3 s.
pub const LINGER_MS: u64 = 2000;

/// Bytes a lingering connection reads and discards at most: enough for the
/// rest of a maximum-size frame (1 MiB by default) that a client was
/// writing when it was refused, several times over. Past it the peer is
/// flooding, not finishing, and is cut off.
pub const LINGER_BYTES_MAX: u32 = 4 << 20;

/// What to do with a connection whose final frames are written.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFlush {
    /// It lingers: shut its write side (and read again, if it was paused).
    Linger {
        /// Reading was paused (backpressure) and must resume.
        resume_recv: bool,
    },
    /// The peer already finished sending: close it now.
    Close,
    /// Gone already, or not closing after all.
    Nothing,
}

/// What a connection that left routing leaves for the stages to clean up,
/// in this order: its `wire` subscriptions, its MQTT state (session and
/// will); then the senders that waited on it resume
/// ([`crate::mesh::MeshPort::resume_waiters`]).
#[derive(Debug)]
pub struct Unrouted {
    /// The connection.
    token: Token,
    /// Topics it subscribed to as a `wire` client.
    topics: Vec<Rc<str>>,
    /// Its decoder, holding its MQTT state if it spoke MQTT.
    input: Input,
    /// Senders paused because its queue was full: (core, token).
    waiters: Vec<(u16, Token)>,
}

impl Unrouted {
    /// The connection.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Topics it subscribed to as a `wire` client.
    pub fn topics(&self) -> &[Rc<str>] {
        &self.topics
    }

    /// Its decoder, holding its MQTT state if it spoke MQTT.
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// The senders that waited on it (core, token), to resume last.
    pub fn into_waiters(self) -> Vec<(u16, Token)> {
        self.waiters
    }
}

/// What [`Core::remove_conn`] removed.
#[derive(Debug)]
pub enum Removed {
    /// No such connection (closed already).
    Gone,
    /// A lingering connection: out of routing already.
    Lingered,
    /// A connection in routing: what the stages must clean up.
    Unrouted(Unrouted),
}

impl Core {
    /// Stops taking input; the connection lingers once its queue is
    /// written. The one way every protocol ends a connection with a
    /// reason: the reason is queued first.
    pub fn begin_close(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.begin_closing() {
            self.intents.linger.push(token);
        }
    }

    /// Removes a connection from the table, and from routing unless it was
    /// lingering (out of routing already).
    pub fn remove_conn(&mut self, token: Token) -> Removed {
        let Some(conn) = self.conns.get(token) else {
            return Removed::Gone;
        };
        let removed = match conn.phase() {
            Phase::Lingering => Removed::Lingered,
            _ => self.unroute(token).map_or(Removed::Gone, Removed::Unrouted),
        };
        self.conns.remove(token);
        let gauge = match removed {
            Removed::Lingered => (&self.stats.connections_lingering, self.conns.lingering()),
            _ => (&self.stats.connections_open, self.conns.open()),
        };
        metrics::set(gauge.0, gauge.1 as u64);
        debug_assert_eq!(self.conns.lingering(), self.conns.count_lingering());
        removed
    }

    /// A closing connection's final frames are written: it leaves routing
    /// and starts to linger, or closes at once if the peer will send
    /// nothing more.
    pub fn after_final_flush(&mut self, token: Token) -> (AfterFlush, Option<Unrouted>) {
        let Some(conn) = self.conns.get(token) else {
            return (AfterFlush::Nothing, None);
        };
        if conn.phase() != Phase::Closing || !conn.is_flushed() {
            return (AfterFlush::Nothing, None);
        }
        if conn.reading().peer_finished() {
            return (AfterFlush::Close, None);
        }
        let unrouted = self.unroute(token);
        let now = self.clock.conn_clock();
        let resume_recv = self.conns.start_lingering(token, now).expect("live");
        metrics::inc(&self.stats.connections_lingered_total);
        let lingering = self.conns.lingering() as u64;
        metrics::set(&self.stats.connections_lingering, lingering);
        metrics::set(&self.stats.connections_open, self.conns.open() as u64);
        debug_assert_eq!(self.conns.lingering(), self.conns.count_lingering());
        (AfterFlush::Linger { resume_recv }, unrouted)
    }

    /// Takes a connection out of routing and frees its per-protocol state,
    /// leaving only its slot (which names its socket in the backend): its
    /// user goes, and what the stages hold for it is handed back. Counted
    /// as closed from here on.
    fn unroute(&mut self, token: Token) -> Option<Unrouted> {
        let conn = self.conns.get_mut(token)?;
        let (user, lists, input) = conn.take_routing();
        if let Some(user) = &user {
            let change = self.registry.users_mut().leave(user, token);
            self.announce(NameKind::User, user, change);
        }
        metrics::inc(&self.stats.connections_closed_total);
        let (topics, waiters) = lists.into_parts();
        Some(Unrouted {
            token,
            topics,
            input,
            waiters,
        })
    }

    /// Bytes from a lingering peer: thrown away, counted against the bound.
    pub fn on_linger_bytes(&mut self, token: Token, len: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.phase() != Phase::Lingering {
            return;
        }
        // Once: later reads in the same tick find it over already.
        if conn.discard(len, LINGER_BYTES_MAX) {
            metrics::inc(&self.stats.connections_linger_expired_total);
            self.intents.close.push(token);
        }
    }

    /// From the sweep: closes a connection that has lingered since `since`
    /// if that is past the bound at `now` (connection clock readings).
    /// Returns whether `token` is lingering.
    pub fn linger_sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        let Some(conn) = self.conns.get(token) else {
            return false;
        };
        if conn.phase() != Phase::Lingering {
            return false;
        }
        if crate::timers::conn_passed(since, now, LINGER_MS) {
            metrics::inc(&self.stats.connections_linger_expired_total);
            self.intents.close.push(token);
        }
        true
    }
}
