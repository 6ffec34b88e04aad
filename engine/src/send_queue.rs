//! A connection's send queue: two lanes, where priority acts on one core.
//!
//! Frames wait here for the socket in two FIFO lanes, high and normal.
//! A send batch takes the high lane first, then the normal one, and only
//! ever ends at a message boundary: a message can be several buffers (a
//! WebSocket header and the frame it wraps, an MQTT head and a large
//! payload), and a high-priority message must never land between them.
//! Once a batch is handed to the backend its bytes are committed: what a
//! short write leaves behind goes back to the very front (see
//! [`SendQueue::push_unwritten`]), ahead of both lanes.
//!
//! This module also holds the queueing half of delivery on a core: the
//! lane a frame goes to, and shedding of droppable messages to a
//! connection that is over its high watermark.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::core_state::CoreState;
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

/// One buffer of a queued message.
#[derive(Debug)]
struct Part {
    bytes: Bytes,
    /// The next buffer of this lane belongs to the same message.
    more: bool,
}

/// The two lanes, boxed together behind one pointer.
#[derive(Debug, Default)]
struct Lanes {
    /// Indexed by `Lane as usize`: high first.
    lanes: [VecDeque<Part>; 2],
}

/// Frames waiting for the socket, in two lanes. Allocated only while it
/// holds frames: an idle connection pays one pointer for it.
// The box is the point: two `VecDeque`s are eight words even when empty,
// a boxed pair is one word, and most connections have nothing queued.
#[derive(Debug, Default)]
pub struct SendQueue(Option<Box<Lanes>>);

impl SendQueue {
    /// Appends one buffer to `lane`; `more` says the next buffer pushed to
    /// this lane continues the same message (it must be pushed before the
    /// queue is next drained).
    pub fn push_back(&mut self, lane: Lane, bytes: Bytes, more: bool) {
        let lanes = self.0.get_or_insert_with(Box::default);
        lanes.lanes[lane as usize].push_back(Part { bytes, more });
    }

    /// Puts the unwritten rest of a send batch back in front of everything
    /// else, as one unit: its first buffer may be a frame cut in the
    /// middle, and the rest was already ordered when the batch was made.
    /// (It goes to the front of the high lane, chained with `more`, so that
    /// the next batch takes all of it before anything else; a batch always
    /// ends at a message boundary, so its last buffer ends a message.)
    pub fn push_unwritten(&mut self, rest: &mut Vec<Bytes>) {
        let lanes = self.0.get_or_insert_with(Box::default);
        let high = &mut lanes.lanes[Lane::High as usize];
        let mut more = false;
        while let Some(bytes) = rest.pop() {
            high.push_front(Part { bytes, more });
            more = true;
        }
    }

    /// Takes the next buffer: the high lane's first, else the normal
    /// lane's. Returns it and whether the message goes on in the buffer
    /// the next call returns. (Continuations come from the same lane: a
    /// normal message is only started with the high lane empty, and
    /// nothing is pushed while a batch is being gathered.)
    pub fn pop_front(&mut self) -> Option<(Bytes, bool)> {
        let lanes = self.0.as_mut()?;
        let [high, normal] = &mut lanes.lanes;
        let part = high.pop_front().or_else(|| normal.pop_front())?;
        Some((part.bytes, part.more))
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|q| q.lanes.iter().all(VecDeque::is_empty))
    }

    /// Drops every frame and the queue's memory.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Frees the queue's memory if it holds nothing.
    pub fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.0 = None;
        }
    }
}

/// Whether a queued message is droppable (flag DROPPABLE on its SEND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Never dropped: an over-full receiver pauses whoever feeds it.
    Never,
    /// Dropped (and counted) when the receiver is over its high watermark.
    IfBehind,
}

impl CoreState {
    /// Queues a control frame of the server's own (WELCOME, PONG, ACK,
    /// ERROR) on the high lane: it never waits behind queued messages.
    pub fn queue_control(&mut self, token: Token, frame: Bytes) -> Option<bool> {
        self.queue_in(token, Lane::High, frame)
    }

    /// Queues a frame to a local connection on `lane` (as a WebSocket
    /// message where it is one). Returns `None` if the connection is
    /// gone, else whether its queue is now over the high watermark.
    pub fn queue_in(&mut self, token: Token, lane: Lane, frame: Bytes) -> Option<bool> {
        if self.conns.get(token)?.ws.is_some() {
            return self.queue_ws_frame(token, lane, frame);
        }
        self.queue_part(token, lane, frame, false)
    }

    /// Queues bytes to a connection's socket as they are, on the normal
    /// lane (MQTT packets and WebSocket protocol frames keep one order).
    pub fn queue_raw(&mut self, token: Token, bytes: Bytes) -> Option<bool> {
        self.queue_part(token, Lane::Normal, bytes, false)
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
        if conn.phase == crate::conn::Phase::Lingering {
            // Its last frame is written and its write side shut.
            return None;
        }
        conn.queued_bytes = conn.queued_bytes.saturating_add(bytes.len() as u32);
        conn.send_queue.push_back(lane, bytes, more);
        if !conn.dirty {
            conn.dirty = true;
            self.intents.flush.push(token);
        }
        Some(conn.queued_bytes > high)
    }

    /// Whether a droppable message to `token` must be shed: the receiver
    /// is over its high watermark. Counts the shed message.
    pub(crate) fn sheds(&self, token: Token, shed: Shed) -> bool {
        if shed == Shed::Never {
            return false;
        }
        let high = self.settings.limits.send_queue_high_bytes;
        let behind = self.conns.get(token).is_some_and(|c| c.queued_bytes > high);
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
        self.ws_forms.end();
        metrics::add(&self.stats.messages_delivered_total, u64::from(count));
        (count, pause_origin)
    }
}

/// The lane and shedding a SEND's flags ask for.
pub(crate) fn priority_of(flags: wire::Flags) -> (Lane, Shed) {
    let lane = if flags.contains(wire::Flags::HIGH_PRIORITY) {
        Lane::High
    } else {
        Lane::Normal
    };
    let shed = if flags.contains(wire::Flags::DROPPABLE) {
        Shed::IfBehind
    } else {
        Shed::Never
    };
    (lane, shed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut SendQueue) -> Vec<(&'static str, bool)> {
        let mut out = Vec::new();
        while let Some((b, more)) = q.pop_front() {
            let s: &'static str = match &b[..] {
                b"n1" => "n1",
                b"n2h" => "n2h",
                b"n2b" => "n2b",
                b"h1" => "h1",
                b"h2" => "h2",
                b"rest" => "rest",
                b"rest2" => "rest2",
                _ => "?",
            };
            out.push((s, more));
        }
        out
    }

    #[test]
    fn high_lane_goes_first_and_order_is_kept_within_a_lane() {
        let mut q = SendQueue::default();
        q.push_back(Lane::Normal, Bytes::from_static(b"n1"), false);
        q.push_back(Lane::High, Bytes::from_static(b"h1"), false);
        q.push_back(Lane::Normal, Bytes::from_static(b"n2h"), true);
        q.push_back(Lane::Normal, Bytes::from_static(b"n2b"), false);
        q.push_back(Lane::High, Bytes::from_static(b"h2"), false);
        let order = drain(&mut q);
        let names: Vec<_> = order.iter().map(|p| p.0).collect();
        assert_eq!(names, ["h1", "h2", "n1", "n2h", "n2b"]);
        assert_eq!(order[3], ("n2h", true));
        assert!(q.is_empty());
    }

    #[test]
    fn an_unwritten_rest_goes_before_both_lanes_as_one_unit() {
        let mut q = SendQueue::default();
        q.push_back(Lane::High, Bytes::from_static(b"h1"), false);
        q.push_back(Lane::Normal, Bytes::from_static(b"n1"), false);
        let mut rest = vec![Bytes::from_static(b"rest"), Bytes::from_static(b"rest2")];
        q.push_unwritten(&mut rest);
        assert!(rest.is_empty());
        let order = drain(&mut q);
        assert_eq!(
            order,
            [
                ("rest", true),
                ("rest2", false),
                ("h1", false),
                ("n1", false)
            ]
        );
    }

    #[test]
    fn an_idle_queue_is_one_pointer_and_holds_no_memory() {
        assert_eq!(std::mem::size_of::<SendQueue>(), 8);
        let mut q = SendQueue::default();
        q.push_back(Lane::High, Bytes::from_static(b"h1"), false);
        q.pop_front();
        q.release_if_empty();
        assert!(q.0.is_none());
    }
}
