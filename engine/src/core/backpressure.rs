//! Backpressure instead of loss: a connection fed faster than it drains
//! pauses whoever feeds it, and they resume when it drains.
//!
//! A member over its high watermark remembers each origin that fed it
//! (on this core or another) and the origin's reads stop; the member's
//! drain below its low watermark resumes them. A connection paused for
//! its own send queue (it sends but does not read its answers) is resumed
//! by its own drain.

use super::{Core, SERVER_ORIGIN};
use crate::mesh::{Lane, MeshMsg};
use crate::metrics;
use crate::sys::Token;

impl Core {
    /// `member` is over its high watermark: it remembers `origin`, which
    /// pauses until `member` drains. Returns true if the origin is a local
    /// connection (the caller pauses it); a remote one is told over the
    /// mesh. The server itself (token 0) and a member feeding itself do
    /// not wait.
    pub(crate) fn wait_on(&mut self, member: Token, origin: (u16, Token)) -> bool {
        let me = self.settings.core;
        if origin.0 == SERVER_ORIGIN || (origin.0 == me && origin.1 == member) {
            return false;
        }
        let Some(conn) = self.conns.get_mut(member) else {
            return false;
        };
        conn.add_waiter(origin);
        if origin.0 == me {
            return true;
        }
        self.mesh
            .send(origin.0 as usize, Lane::High, MeshMsg::Pause(origin.1));
        false
    }

    /// Marks a connection paused; the reactor stops its reads.
    pub fn pause(&mut self, token: Token) {
        if let Some(conn) = self.conns.get_mut(token) {
            if conn.pause_reading(false) {
                metrics::inc(&self.stats.backpressure_pauses_total);
                self.intents.pause.push(token);
            }
        }
    }

    /// Pauses a connection whose own send queue is over its watermark.
    pub fn pause_for_own_queue(&mut self, token: Token) {
        if let Some(conn) = self.conns.get_mut(token) {
            if conn.pause_reading(true) {
                metrics::inc(&self.stats.backpressure_pauses_total);
                self.intents.pause.push(token);
            }
        }
    }

    /// A connection that held `waiters` paused has left: each resumes,
    /// here at once or through its own core.
    pub fn resume_waiters(&mut self, waiters: Vec<(u16, Token)>) {
        self.mesh.resume_waiters(waiters, &mut self.intents.resume);
    }

    /// After a send completes: wake the senders waiting on this connection
    /// once its queue is below the low watermark, unless `backlogged` (an
    /// MQTT client's session queue still holds messages: its publishers
    /// wait for that too).
    pub fn after_drain(&mut self, token: Token, backlogged: bool) {
        let low = self.settings.limits.send_queue_low_bytes;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.queued_bytes() >= low {
            return;
        }
        if conn.reading().waits_for_own_queue() {
            self.intents.resume.push(token);
        }
        if backlogged {
            return;
        }
        let waiters = conn.take_waiters();
        self.mesh.resume_waiters(waiters, &mut self.intents.resume);
    }
}
