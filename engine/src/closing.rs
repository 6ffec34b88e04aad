//! How a connection ends, for every protocol: the reason is queued
//! (`fail`: ERROR + CLOSE, or the MQTT / WebSocket equivalent), the
//! connection stops taking input (`begin_close`), and once the reason is
//! written it lingers before its socket closes (`remove_conn`, which also
//! takes it out of routing: `detach`).
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
//! ([`CoreState::detach`]): no user, no subscriptions, no MQTT session,
//! nothing can be queued to it, and it holds no receive buffer (each one
//! is released as soon as it is counted). It keeps its table slot only
//! because the slot names its socket in the backend.

use wire::{ErrorCode, FrameHeader, FrameType};

use crate::conn::{Input, Phase};
use crate::core_state::CoreState;
use crate::mesh::{Lane, MeshMsg, NameKind};
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

impl CoreState {
    /// Sends ERROR and CLOSE, then closes once they are written.
    pub fn fail(&mut self, token: Token, code: ErrorCode, reason: &str) {
        self.fail_about(token, None, code, reason);
    }

    /// [`CoreState::fail`] for an error a frame caused: the ERROR carries
    /// that frame's message id and stream id, so that the client can tell
    /// which request failed (errors about the stream itself carry 0s).
    pub fn fail_about(
        &mut self,
        token: Token,
        about: Option<&FrameHeader>,
        code: ErrorCode,
        reason: &str,
    ) {
        let Some(conn) = self.core.conns.get(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            return;
        }
        if conn.mqtt_ref().is_some() {
            return self.mqtt_close_for(token, code as u16);
        }
        let mut h = FrameHeader::new(FrameType::Error, 0);
        if let Some(about) = about {
            h.message_id = about.message_id;
            h.stream_id = about.stream_id;
        }
        self.core.send_error(token, h, code, reason);
        self.send_close(token, code as u16, reason);
    }

    /// Queues CLOSE and moves the connection to `Closing` (unless it is
    /// closing already: its last frame is queued).
    pub fn send_close(&mut self, token: Token, code: u16, reason: &str) {
        let Some(conn) = self.core.conns.get(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            return;
        }
        if conn.mqtt_ref().is_some() {
            return self.mqtt_close_for(token, code);
        }
        let h = FrameHeader::new(FrameType::Close, 0);
        let f = self
            .core
            .encode_frame(|enc, out| enc.close(out, h, &wire::Close { code, reason }));
        if !self.core.ws_send_close(token, &f, code, reason) {
            // CLOSE is the last frame: it goes behind everything queued.
            self.core.queue_in(token, Lane::Normal, f);
        }
        self.begin_close(token);
    }

    /// Stops taking input; the connection lingers once its queue is
    /// written (see [`crate::linger`]). The one way every protocol ends a
    /// connection with a reason: the reason is queued first.
    pub fn begin_close(&mut self, token: Token) {
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if conn.phase == Phase::Lingering {
            return;
        }
        conn.phase = Phase::Closing;
        if conn.send_queue.is_empty() && !conn.send_in_flight {
            self.core.intents.linger.push(token);
        }
    }

    /// Removes a connection and everything that refers to it (a lingering
    /// one was taken out of routing already).
    pub fn remove_conn(&mut self, token: Token) -> bool {
        let Some(conn) = self.core.conns.get(token) else {
            return false;
        };
        if conn.phase == Phase::Lingering {
            self.core.lingering -= 1;
            metrics::set(
                &self.core.stats.connections_lingering,
                self.core.lingering as u64,
            );
        } else {
            self.unroute(token);
        }
        self.core.conns.remove(token);
        true
    }

    /// Takes a connection out of routing and frees its per-protocol state,
    /// leaving only its slot (which names its socket in the backend): its
    /// user and subscriptions go, its MQTT session is left behind, the
    /// senders waiting on it resume. Counted as closed from here on.
    pub(crate) fn unroute(&mut self, token: Token) {
        self.forget_leaving(token);
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        let lists = conn.lists.take().map(|l| *l).unwrap_or_default();
        let user = conn.user.take();
        let input = std::mem::replace(
            &mut conn.input,
            Input::Frames(crate::machine::wire::Session::new(0)),
        );
        conn.ws = None;
        conn.send_queue.clear();
        conn.queued_bytes = 0;
        if let Some(user) = &user {
            let change = self.core.registry.users.leave(user, token);
            self.core.announce(NameKind::User, user, change);
        }
        for topic in &lists.topics {
            self.unsubscribe_frames(token, topic);
        }
        if let Input::Mqtt(m) = &input {
            self.mqtt_conn_removed(token, m);
        }
        let me = self.core.settings.core;
        for (core, t) in lists.waiters {
            if core == me {
                self.core.intents.resume.push(t);
            } else {
                self.core
                    .mesh
                    .send(core as usize, Lane::High, MeshMsg::Resume(t));
            }
        }
        metrics::inc(&self.core.stats.connections_closed_total);
        let open = self.core.conns.len() - self.core.lingering;
        metrics::set(
            &self.core.stats.connections_open,
            open.saturating_sub(1) as u64,
        );
    }

    /// A closing connection's final frames are written: it starts to
    /// linger, or closes at once if the peer will send nothing more.
    pub fn after_final_flush(&mut self, token: Token) -> AfterFlush {
        let Some(conn) = self.core.conns.get(token) else {
            return AfterFlush::Nothing;
        };
        if conn.phase != Phase::Closing || conn.send_in_flight || !conn.send_queue.is_empty() {
            return AfterFlush::Nothing;
        }
        if conn.recv_closed {
            return AfterFlush::Close;
        }
        self.unroute(token);
        let now = self.core.conn_clock();
        let conn = self.core.conns.get_mut(token).expect("live");
        let resume_recv = conn.paused;
        conn.paused = false;
        conn.paused_on_own_queue = false;
        conn.last_active = now;
        conn.phase = Phase::Lingering;
        conn.queued_bytes = 0;
        self.core.lingering += 1;
        metrics::inc(&self.core.stats.connections_lingered_total);
        metrics::set(
            &self.core.stats.connections_lingering,
            self.core.lingering as u64,
        );
        AfterFlush::Linger { resume_recv }
    }

    /// Bytes from a lingering peer: thrown away, counted against the bound.
    pub(crate) fn on_linger_bytes(&mut self, token: Token, len: usize) {
        let Some(conn) = self.core.conns.get_mut(token) else {
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
    pub(crate) fn linger_sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        let Some(conn) = self.core.conns.get(token) else {
            return false;
        };
        if conn.phase != Phase::Lingering {
            return false;
        }
        if crate::timers::conn_passed(since, now, LINGER_MS) {
            self.end_linger_early(token);
        }
        true
    }

    fn end_linger_early(&mut self, token: Token) {
        metrics::inc(&self.core.stats.connections_linger_expired_total);
        self.core.intents.close.push(token);
    }
}
