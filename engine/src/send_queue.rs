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

use std::collections::VecDeque;

use bytes::Bytes;

use crate::priority::Lane;

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
    /// Bytes held, kept in debug builds only: the connection asserts that
    /// its `queued_bytes` agrees with it.
    #[cfg(debug_assertions)]
    bytes: usize,
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
        #[cfg(debug_assertions)]
        {
            lanes.bytes += bytes.len();
        }
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
        let mut more = false;
        while let Some(bytes) = rest.pop() {
            #[cfg(debug_assertions)]
            {
                lanes.bytes += bytes.len();
            }
            lanes.lanes[Lane::High as usize].push_front(Part { bytes, more });
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
        #[cfg(debug_assertions)]
        {
            lanes.bytes -= part.bytes.len();
        }
        Some((part.bytes, part.more))
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|q| q.lanes.iter().all(VecDeque::is_empty))
    }

    /// Bytes held (debug builds only: counting them costs the message
    /// path an addition per buffer that release builds do not need).
    #[cfg(debug_assertions)]
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.bytes)
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
