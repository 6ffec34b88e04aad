//! Lingering close: how a connection ends once its reason is written.
//!
//! A connection refused for a fatal error (ERROR + CLOSE, an MQTT
//! DISCONNECT, a WebSocket close frame) may belong to a peer that is still
//! writing: it has not read the reason yet. Closing the socket with its
//! bytes unread makes the kernel answer them with a reset, and the peer's
//! next write fails (EPIPE / ECONNRESET) before it ever reads why. So once
//! the final frames are written the connection lingers: our write side is
//! shut (the peer reads the reason, then EOF), and what the peer still
//! sends is read and thrown away until it closes its side, or until the
//! bounds below, whichever comes first.
//!
//! A lingering connection is out of routing from its first moment
//! ([`CoreState::detach`]): no user, no subscriptions, no MQTT session,
//! nothing can be queued to it, and it holds no receive buffer (each one
//! is released as soon as it is counted). It keeps its table slot only
//! because the slot names its socket in the backend.

use crate::conn::Phase;
use crate::core_state::CoreState;
use crate::metrics;
use crate::sys::Token;

/// How long a connection lingers at most, in the connections' 64 ms
/// ticks: 2 s is ample for a peer to read a reason it was sent and close,
/// even across a slow network, and short enough that a peer that never
/// closes holds its socket only briefly. The reactor's sweep visits each
/// connection about once a second, so the linger ends within ~3 s.
pub const LINGER_TICKS: u32 = 2000 / 64;

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

impl CoreState {
    /// A closing connection's final frames are written: it starts to
    /// linger, or closes at once if the peer will send nothing more.
    pub fn after_final_flush(&mut self, token: Token) -> AfterFlush {
        let Some(conn) = self.conns.get(token) else {
            return AfterFlush::Nothing;
        };
        if conn.phase != Phase::Closing || conn.send_in_flight || !conn.send_queue.is_empty() {
            return AfterFlush::Nothing;
        }
        if conn.recv_closed {
            return AfterFlush::Close;
        }
        self.detach(token);
        let tick = self.tick();
        let conn = self.conns.get_mut(token).expect("live");
        let resume_recv = conn.paused;
        conn.paused = false;
        conn.paused_on_own_queue = false;
        conn.last_active = tick;
        conn.phase = Phase::Lingering;
        conn.queued_bytes = 0;
        self.lingering += 1;
        metrics::inc(&self.stats.connections_lingered_total);
        metrics::set(&self.stats.connections_lingering, self.lingering as u64);
        AfterFlush::Linger { resume_recv }
    }

    /// Bytes from a lingering peer: thrown away, counted against the bound.
    pub(crate) fn on_linger_bytes(&mut self, token: Token, len: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.phase != Phase::Lingering {
            return;
        }
        let before = conn.queued_bytes;
        conn.queued_bytes = before.saturating_add(len as u32);
        // Once: later reads in the same tick find it over already.
        if before <= LINGER_BYTES_MAX && conn.queued_bytes > LINGER_BYTES_MAX {
            self.end_linger_early(token);
        }
    }

    /// From the sweep: closes a connection that has lingered `age` ticks
    /// if that is past the bound. Returns whether `token` is lingering.
    pub(crate) fn linger_sweep(&mut self, token: Token, age: u32) -> bool {
        let Some(conn) = self.conns.get(token) else {
            return false;
        };
        if conn.phase != Phase::Lingering {
            return false;
        }
        if age > LINGER_TICKS {
            self.end_linger_early(token);
        }
        true
    }

    fn end_linger_early(&mut self, token: Token) {
        metrics::inc(&self.stats.connections_linger_expired_total);
        self.intents.close.push(token);
    }
}
