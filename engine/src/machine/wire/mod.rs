//! The `wire` session, sans-IO: one connection's `wire` protocol (raw TCP,
//! or the envelope endpoint of a WebSocket), handed the bytes read and
//! answering with the steps the core must take.
//!
//! A [`Session`] owns the connection's [`FrameDecoder`] and its [`State`].
//! [`Session::handle_input`] frames the bytes and hands each frame's
//! [`Step`] (welcome a user, route a SEND with its decoded target,
//! subscribe, unsubscribe, answer a PING, refuse with code, reason, ids
//! and counter, close) to the caller, in order, until the caller pauses.
//! [`Session::handle_timeout`] says when the HELLO or idle timeout ends it.
//! The rules (which frame is valid when, which payload is acceptable) are
//! in [`rules`].
//!
//! Owns: the session's state and decoder. Not here: what a step does to
//! the core (admission, routing, queues: `crate::proto`), encoding the
//! answers (the core's encoder and arena, so that an answer costs no
//! allocation of its own), and the connection's last-activity stamp: that
//! is `Conn::last_active`, which every machine on a connection shares, so
//! the timers take it as `since` rather than keep a copy.

mod rules;

#[cfg(test)]
mod pair_tests;

use wire::{Control, ErrorCode, FrameDecoder};

pub use rules::{
    decode_error, step, Counter, Refusal, State, Step, NAME_LEN_MAX, TOPICS_PER_FRAME_MAX,
};

/// The session's two timers, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    hello_ms: u64,
    idle_ms: u64,
}

impl Timeouts {
    /// A HELLO must arrive within `hello_ms` of the accept; an open
    /// session silent for `idle_ms` ends.
    pub fn new(hello_ms: u64, idle_ms: u64) -> Timeouts {
        Timeouts { hello_ms, idle_ms }
    }
}

/// One connection's `wire` session.
///
/// Every connection slot holds one, so it stays 16 bytes: a decoder that
/// holds no bytes (nearly always: a read usually ends where a frame
/// ends) is not kept but made afresh for each input, which costs
/// nothing (it allocates only once it holds a partial frame); one that
/// holds a partial frame or a paused remainder is kept boxed beside it
/// until it is empty again.
#[derive(Debug)]
pub struct Session {
    state: State,
    max_payload_len: u32,
    /// The decoder, while it holds bytes.
    held: Option<Box<FrameDecoder>>,
}

impl Session {
    /// A session on a freshly accepted connection, refusing payloads over
    /// `max_payload_len`.
    pub fn new(max_payload_len: u32) -> Session {
        Session {
            state: State::ExpectHello,
            max_payload_len,
            held: None,
        }
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes held mid-frame or stashed while paused.
    pub fn buffered_len(&self) -> usize {
        self.held.as_ref().map_or(0, |d| d.buffered_len())
    }

    /// Keeps bytes read while paused, for the resume.
    pub fn stash(&mut self, data: &[u8]) {
        if self.state != State::Closing && !data.is_empty() {
            let max = self.max_payload_len;
            self.held
                .get_or_insert_with(|| Box::new(FrameDecoder::new(max)))
                .stash(data);
        }
    }

    /// Frames `data` after what is held and calls `apply` with each
    /// frame's step, in order. `apply` returning [`Control::Pause`] stops
    /// after that frame and keeps the rest; `handle_input(&[], ..)`
    /// resumes. A step that ends the session (a refusal, the peer's
    /// CLOSE) stops it too. `Err`: the bytes cannot be framed (the
    /// caller refuses the stream with it); the session is closing.
    ///
    /// A HELLO's step moves the session to `Open`: the caller admits the
    /// user, or refuses admission and [`Session::close`]s it.
    pub fn handle_input(
        &mut self,
        data: &[u8],
        mut apply: impl FnMut(Step<'_>) -> Control,
    ) -> Result<(), Refusal> {
        if self.state == State::Closing {
            return Ok(());
        }
        let mut fresh = None;
        let decoder = match &mut self.held {
            Some(held) => &mut **held,
            None => fresh.insert(FrameDecoder::new(self.max_payload_len)),
        };
        let state = &mut self.state;
        let result = decoder.feed(data, |frame| {
            let step = rules::step(*state, frame);
            let next = match &step {
                Step::Hello(..) => State::Open,
                Step::PeerClose | Step::Refuse(_) => State::Closing,
                _ => *state,
            };
            *state = next;
            let control = apply(step);
            if next == State::Closing {
                Control::Pause
            } else {
                control
            }
        });
        match result {
            Ok(_) => {
                self.keep(fresh);
                Ok(())
            }
            Err(e) => {
                self.state = State::Closing;
                self.held = None;
                Err(rules::decode_error(None, &e))
            }
        }
    }

    /// Keeps a fresh decoder that was left holding bytes; lets go of a
    /// held one that is empty again.
    fn keep(&mut self, fresh: Option<FrameDecoder>) {
        if self.state == State::Closing {
            // Nothing more is read: what was left over goes.
            self.held = None;
            return;
        }
        match fresh {
            Some(d) if d.buffered_len() > 0 => self.held = Some(Box::new(d)),
            Some(_) => {}
            None if self.buffered_len() == 0 => self.held = None,
            None => {}
        }
        debug_assert!(self.held.as_ref().is_none_or(|d| d.buffered_len() > 0));
    }

    /// The core admitted a connection without a HELLO (the WebSocket echo
    /// endpoint): its idle timeout applies, not the HELLO timeout.
    pub fn open(&mut self) {
        if self.state == State::ExpectHello {
            self.state = State::Open;
        }
    }

    /// The connection ends for a reason of the core's: nothing more is
    /// read.
    pub fn close(&mut self) {
        self.state = State::Closing;
        self.held = None;
    }

    /// The connection clock reading after which the session's timer is
    /// over, for a connection last active at `since`; `None` while
    /// closing. (Over means later than this reading: see
    /// [`crate::timers::conn_passed`].)
    pub fn poll_timeout(&self, since: u32, t: Timeouts) -> Option<u32> {
        let ms = match self.state {
            State::ExpectHello => t.hello_ms,
            State::Open => t.idle_ms,
            State::Closing => return None,
        };
        Some(since.wrapping_add(ms.min(u64::from(u32::MAX)) as u32))
    }

    /// At `now`, for a connection last active at `since`: the refusal
    /// that ends it if its timer is over (the session is then closing).
    pub fn handle_timeout(&mut self, since: u32, now: u32, t: Timeouts) -> Option<Refusal> {
        let (ms, reason) = match self.state {
            State::ExpectHello => (t.hello_ms, "no HELLO in time"),
            State::Open => (t.idle_ms, "idle timeout"),
            State::Closing => return None,
        };
        if !crate::timers::conn_passed(since, now, ms) {
            return None;
        }
        self.state = State::Closing;
        Some(Refusal {
            about: None,
            code: ErrorCode::IdleTimeout,
            reason: reason.to_string(),
            counter: Counter::Timeout,
        })
    }
}
