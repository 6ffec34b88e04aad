//! A connection's flow as two small state machines: whether its input is
//! read ([`Reading`]: backpressure and the peer's EOF) and where its output
//! stands ([`Writing`]: the flush list and the send in flight).
//!
//! They replace five booleans that six modules kept in step. Each
//! transition is a method that asserts what must hold before it; only
//! [`crate::conn::Conn`] holds these states, and it changes them only
//! through its own methods, so a reader never sees a combination that the
//! transitions cannot produce (paused for its own queue but not paused, a
//! second send while one is in flight).

/// Whether a connection's input is read, and why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Reads flow and are acted on.
    Open,
    /// Reads stop until the connections this one fed drain below their
    /// low watermark: they hold it as a waiter and resume it. `eof`: the
    /// peer's EOF arrived while paused (acted on at the resume).
    PausedForPeers {
        /// The peer will send no more bytes.
        eof: bool,
    },
    /// Reads stop until this connection's own send queue drains (it sends
    /// but does not read its answers): its own drain resumes it. Takes
    /// over a pause for peers, since that drain is the one it waits for.
    PausedForOwnQueue {
        /// The peer will send no more bytes.
        eof: bool,
    },
    /// The peer sent EOF and reads are not paused: nothing more comes.
    Finished,
}

impl Reading {
    /// Whether reads are paused (backpressure).
    pub fn is_paused(self) -> bool {
        matches!(
            self,
            Reading::PausedForPeers { .. } | Reading::PausedForOwnQueue { .. }
        )
    }

    /// Whether the pause waits for this connection's own send queue.
    pub fn waits_for_own_queue(self) -> bool {
        matches!(self, Reading::PausedForOwnQueue { .. })
    }

    /// Whether the peer will send no more bytes.
    pub fn peer_finished(self) -> bool {
        matches!(
            self,
            Reading::Finished
                | Reading::PausedForPeers { eof: true }
                | Reading::PausedForOwnQueue { eof: true }
        )
    }

    /// Pauses for the peers this connection feeds. Returns whether it was
    /// reading before (a pause already in place stays as it is).
    pub fn pause_for_peers(&mut self) -> bool {
        let eof = match *self {
            Reading::Open => false,
            Reading::Finished => true,
            Reading::PausedForPeers { .. } | Reading::PausedForOwnQueue { .. } => return false,
        };
        *self = Reading::PausedForPeers { eof };
        true
    }

    /// Pauses for this connection's own send queue (a pause for peers
    /// becomes one for its own queue). Returns whether it was reading.
    pub fn pause_for_own_queue(&mut self) -> bool {
        let was_reading = !self.is_paused();
        *self = Reading::PausedForOwnQueue {
            eof: self.peer_finished(),
        };
        was_reading
    }

    /// Ends a pause. Returns whether it was paused.
    pub fn resume(&mut self) -> bool {
        if !self.is_paused() {
            return false;
        }
        *self = if self.peer_finished() {
            Reading::Finished
        } else {
            Reading::Open
        };
        true
    }

    /// The peer's EOF arrived.
    pub fn finish(&mut self) {
        *self = match *self {
            Reading::Open | Reading::Finished => Reading::Finished,
            Reading::PausedForPeers { .. } => Reading::PausedForPeers { eof: true },
            Reading::PausedForOwnQueue { .. } => Reading::PausedForOwnQueue { eof: true },
        };
    }
}

/// Where a connection's output stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// No send in flight and not on the flush list.
    Idle,
    /// On this tick's flush list (once), no send in flight.
    Listed,
    /// A send batch is with the backend; `listed`: frames queued since
    /// put it on the flush list too (the flush skips it until the send
    /// completes, which lists it again if frames remain).
    Sending {
        /// On the flush list as well.
        listed: bool,
    },
}

impl Writing {
    /// Whether a send batch is with the backend.
    pub fn in_flight(self) -> bool {
        matches!(self, Writing::Sending { .. })
    }

    /// Whether the connection is on the flush list.
    pub fn listed(self) -> bool {
        matches!(self, Writing::Listed | Writing::Sending { listed: true })
    }

    /// Marks the connection as on the flush list. Returns true if it was
    /// not yet (the caller pushes it there: each connection once).
    pub fn list(&mut self) -> bool {
        *self = match *self {
            Writing::Idle => Writing::Listed,
            Writing::Sending { listed: false } => Writing::Sending { listed: true },
            Writing::Listed | Writing::Sending { listed: true } => return false,
        };
        true
    }

    /// The flush visits the connection: it is off the list now.
    pub fn unlist(&mut self) {
        debug_assert!(self.listed(), "flushed a connection not listed: {self:?}");
        *self = match *self {
            Writing::Sending { .. } => Writing::Sending { listed: false },
            Writing::Idle | Writing::Listed => Writing::Idle,
        };
    }

    /// A send batch goes to the backend.
    pub fn start_send(&mut self) {
        debug_assert_eq!(*self, Writing::Idle, "a second send in flight");
        *self = Writing::Sending { listed: false };
    }

    /// The send in flight completed.
    pub fn send_done(&mut self) {
        *self = match *self {
            Writing::Sending { listed: true } => Writing::Listed,
            Writing::Sending { listed: false } => Writing::Idle,
            other => {
                debug_assert!(false, "a send completed with none in flight: {other:?}");
                other
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_for_its_own_queue_wins_and_an_eof_waits_for_the_resume() {
        let mut r = Reading::Open;
        assert!(r.pause_for_peers());
        assert!(!r.pause_for_peers());
        assert!(!r.pause_for_own_queue());
        assert!(r.waits_for_own_queue());
        // A pause for peers does not undo the own-queue one.
        assert!(!r.pause_for_peers());
        assert!(r.waits_for_own_queue());
        r.finish();
        assert!(r.is_paused() && r.peer_finished());
        assert!(r.resume());
        assert_eq!(r, Reading::Finished);
        assert!(!r.resume());
        // Paused after the EOF (a peer it feeds fills up): still finished.
        assert!(r.pause_for_peers());
        assert_eq!(r, Reading::PausedForPeers { eof: true });
        assert!(r.resume());
        assert_eq!(r, Reading::Finished);
    }

    #[test]
    fn a_connection_is_listed_once_and_sends_one_batch_at_a_time() {
        let mut w = Writing::Idle;
        assert!(w.list());
        assert!(!w.list());
        w.unlist();
        w.start_send();
        assert!(w.in_flight() && !w.listed());
        assert!(w.list());
        assert!(!w.list());
        w.unlist();
        assert_eq!(w, Writing::Sending { listed: false });
        assert!(w.list());
        w.send_done();
        assert_eq!(w, Writing::Listed);
        w.unlist();
        w.start_send();
        w.send_done();
        assert_eq!(w, Writing::Idle);
    }
}
