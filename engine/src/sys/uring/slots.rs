//! [`Slots`]: the connection table, one 8-byte [`Slot`] per token's slab
//! index (the socket, the token's generation and the recv flags), and the
//! list of connections starved of receive buffers.
//!
//! Bookkeeping only: what the flags mean for the recv op and when they
//! change is `recv.rs`; this file issues no SQE.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::{token_generation, token_index, Token, TOKEN_BITS};

/// Slot flags (low 8 bits of `Slot::tag`; the generation is above them).
/// The reactor wants bytes (registered and not paused).
pub(super) const WANT_RECV: u32 = 1 << 0;
/// A multishot recv is live in the kernel (its final CQE not yet reaped).
pub(super) const ARMED: u32 = 1 << 1;
/// EOF or an error was reported; never re-armed.
pub(super) const RECV_DONE: u32 = 1 << 2;
/// On the starved list, waiting for buffers.
pub(super) const STARVED: u32 = 1 << 3;
/// Being detached: handed over once no recv is live.
pub(super) const DETACHING: u32 = 1 << 4;

/// Per-connection state: 8 bytes.
pub(super) struct Slot {
    /// The socket; `None` when free (4 bytes: `OwnedFd` has a niche).
    fd: Option<OwnedFd>,
    /// Generation of the owning token (bits 8..32) and flags (bits 0..8).
    tag: u32,
}

// The per-connection cost this backend promises.
const _: () = assert!(size_of::<Slot>() == 8);

impl Slot {
    const FREE: Slot = Slot { fd: None, tag: 0 };

    fn owned_by(&self, token: Token) -> bool {
        self.fd.is_some() && self.tag >> 8 == token_generation(token)
    }

    pub(super) fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Any of `flags` is set.
    pub(super) fn has_any(&self, flags: u32) -> bool {
        debug_assert_eq!(flags >> 8, 0, "not a flag");
        self.tag & flags != 0
    }

    pub(super) fn set(&mut self, flags: u32) {
        debug_assert_eq!(flags >> 8, 0, "not a flag");
        self.tag |= flags;
    }

    pub(super) fn clear(&mut self, flags: u32) {
        debug_assert_eq!(flags >> 8, 0, "not a flag");
        self.tag &= !flags;
    }
}

/// The connection table; see the module docs.
#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<Slot>,
    /// Connections whose recv ended with ENOBUFS; may hold stale tokens.
    starved: VecDeque<Token>,
}

impl Slots {
    /// The slot `token` owns, if it still does.
    pub(super) fn get(&self, token: Token) -> Option<&Slot> {
        self.slots
            .get(token_index(token))
            .filter(|s| s.owned_by(token))
    }

    pub(super) fn get_mut(&mut self, token: Token) -> Option<&mut Slot> {
        self.slots
            .get_mut(token_index(token))
            .filter(|s| s.owned_by(token))
    }

    /// Gives `token`'s free slot the socket, wanting bytes.
    pub(super) fn insert(&mut self, token: Token, fd: OwnedFd) {
        debug_assert_eq!(token >> TOKEN_BITS, 0, "token uses the backend's bits");
        let index = token_index(token);
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || Slot::FREE);
        }
        debug_assert!(self.slots[index].fd.is_none(), "slot {index} in use");
        self.slots[index] = Slot {
            fd: Some(fd),
            tag: token_generation(token) << 8 | WANT_RECV,
        };
    }

    /// Frees `token`'s slot and gives up its socket.
    pub(super) fn remove(&mut self, token: Token) -> Option<OwnedFd> {
        let slot = self.get_mut(token)?;
        let fd = slot.fd.take();
        *slot = Slot::FREE;
        fd
    }

    /// Queues a connection whose slot the caller marked `STARVED`.
    pub(super) fn push_starved(&mut self, token: Token) {
        self.starved.push_back(token);
    }

    /// The oldest starved token (stale if closed since).
    pub(super) fn pop_starved(&mut self) -> Option<Token> {
        self.starved.pop_front()
    }

    pub(super) fn starved_len(&self) -> usize {
        self.starved.len()
    }

    /// No connection wants bytes any more, and none waits for buffers:
    /// nothing re-arms a recv (the backend is going away).
    pub(super) fn stop_recv(&mut self) {
        for slot in &mut self.slots {
            slot.clear(WANT_RECV);
        }
        self.starved.clear();
    }
}
