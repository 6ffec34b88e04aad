//! The queueing half of delivery on a core: a frame into a connection's
//! send queue on its lane, the high watermark (with one of its own for
//! the high lane), and shedding droppable messages to a connection that
//! is behind.

use bytes::Bytes;

use super::Core;
use crate::metrics;
use crate::priority::{Lane, Shed};
use crate::sys::Token;

impl Core {
    /// Queues a frame to a local connection on `lane` (as a WebSocket
    /// message where it is one). Returns `None` if the connection is
    /// gone, else whether its queue is now over the high watermark.
    pub fn queue_in(&mut self, token: Token, lane: Lane, frame: Bytes) -> Option<bool> {
        if self.conns.get(token)?.is_ws() {
            return self.queue_ws_frame(token, lane, frame);
        }
        self.queue_part(token, lane, frame, false)
    }

    /// Queues one buffer of a message on `lane`; `more`: the message goes
    /// on in the next buffer queued to this lane. Returns whether the
    /// queue is over the watermark for that lane: the high lane has one
    /// watermark of room of its own above the normal lane's, so that a
    /// queue kept full by (droppable) normal traffic does not pause every
    /// sender of a high-priority message; memory stays bounded by twice
    /// the watermark.
    pub fn queue_part(
        &mut self,
        token: Token,
        lane: Lane,
        bytes: Bytes,
        more: bool,
    ) -> Option<bool> {
        let high = match lane {
            Lane::High => self.settings.limits.send_queue_high_bytes.saturating_mul(2),
            Lane::Normal => self.settings.limits.send_queue_high_bytes,
        };
        let conn = self.conns.get_mut(token)?;
        if conn.phase() == crate::conn::Phase::Lingering {
            // Its last frame is written and its write side shut.
            return None;
        }
        if conn.queue(lane, bytes, more) {
            self.intents.flush.push(token);
        }
        Some(conn.queued_bytes() > high)
    }

    /// Whether a droppable message to `token` must be shed: the receiver
    /// is over its high watermark. Counts the shed message.
    pub(crate) fn sheds(&self, token: Token, shed: Shed) -> bool {
        if shed == Shed::Never {
            return false;
        }
        let high = self.settings.limits.send_queue_high_bytes;
        let behind = self
            .conns
            .get(token)
            .is_some_and(|c| c.queued_bytes() > high);
        if behind {
            metrics::inc(&self.stats.shed_total);
        }
        behind
    }

    /// Queues `frame` on `lane` to each local member. A member over its
    /// high watermark sheds a droppable message, or else remembers the
    /// origin and pauses it. Returns (recipients, whether a local origin
    /// must pause).
    pub(crate) fn deliver_local(
        &mut self,
        members: &[Token],
        frame: &Bytes,
        (lane, shed): (Lane, Shed),
        origin: (u16, Token),
    ) -> (u32, bool) {
        let mut count = 0;
        let mut pause_origin = false;
        for &m in members {
            if self.sheds(m, shed) {
                continue;
            }
            let Some(over) = self.queue_in(m, lane, frame.clone()) else {
                continue;
            };
            count += 1;
            pause_origin |= over && shed == Shed::Never && self.wait_on(m, origin);
        }
        self.scratch.end_shared_forms();
        metrics::add(&self.stats.messages_delivered_total, u64::from(count));
        (count, pause_origin)
    }
}
