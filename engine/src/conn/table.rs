//! The connection table: one slot per live connection on this core, named
//! by a generational [`Token`] that io_uring carries in `user_data`.
//!
//! A token is `generation << 32 | slot`. A slot's generation moves on when
//! its connection closes, so completions that arrive late for a closed
//! connection name a generation that no longer matches and are ignored.

use super::connection::{Conn, Phase};
use crate::sys::Token;

/// Generation bits in a token (bits 32..56; the top 8 are the backend's).
const GEN_MASK: u32 = (1 << 24) - 1;

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Slots for this core's connections, reused through a free list.
pub struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// Live connections in `Phase::Lingering`: they are no longer open.
    lingering: usize,
}

impl ConnTable {
    /// An empty table.
    pub fn new() -> ConnTable {
        ConnTable::with_capacity(0)
    }

    /// A table that reserves room for `n` slots up front. A large
    /// reservation is address space only: pages are touched as slots fill,
    /// and the table never moves (no copy, no stale old table in RSS).
    pub fn with_capacity(n: usize) -> ConnTable {
        ConnTable {
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            live: 0,
            lingering: 0,
        }
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Live connections that are not lingering: open, or closing with
    /// their reason still being written.
    pub fn open(&self) -> usize {
        self.live - self.lingering
    }

    /// Live connections lingering (reason written, input thrown away).
    pub fn lingering(&self) -> usize {
        self.lingering
    }

    /// Moves a closing connection whose final frames are written to
    /// `Lingering` from `now` (the caller took it out of routing). Returns
    /// whether its reads were paused (they must start again), or `None`
    /// if the token is stale.
    pub fn start_lingering(&mut self, token: Token, now: u32) -> Option<bool> {
        let resume = self.get_mut(token)?.start_lingering(now);
        self.lingering += 1;
        Some(resume)
    }

    /// Counts the lingering slots one by one (debug checks).
    pub fn count_lingering(&self) -> usize {
        let lingering = |s: &&Slot| {
            s.conn
                .as_ref()
                .is_some_and(|c| c.phase() == Phase::Lingering)
        };
        self.slots.iter().filter(lingering).count()
    }

    /// Whether no connection is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Stores a connection and returns its token.
    pub fn insert(&mut self, conn: Conn) -> Token {
        debug_assert_ne!(
            conn.phase(),
            Phase::Lingering,
            "a lingering connection is inserted"
        );
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.conn.is_none());
            slot.conn = Some(conn);
            return make_token(index, slot.generation);
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 slots");
        self.slots.push(Slot {
            generation: 0,
            conn: Some(conn),
        });
        make_token(index, 0)
    }

    /// The live connection `token` names, if it is still that one.
    pub fn get(&self, token: Token) -> Option<&Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get(index as usize)?;
        (slot.generation == generation).then_some(())?;
        slot.conn.as_ref()
    }

    /// Mutable access to the live connection `token` names.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get_mut(index as usize)?;
        (slot.generation == generation).then_some(())?;
        slot.conn.as_mut()
    }

    /// Removes the connection; its token goes stale.
    pub fn remove(&mut self, token: Token) -> Option<Conn> {
        let (index, generation) = split_token(token);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = (slot.generation + 1) & GEN_MASK;
        self.free.push(index);
        self.live -= 1;
        if conn.phase() == Phase::Lingering {
            self.lingering -= 1;
        }
        Some(conn)
    }

    /// Tokens of every live connection (for timers and drain).
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| make_token(i as u32, s.generation))
    }

    /// The token of slot `index` if it is live (for incremental sweeps).
    pub fn token_at(&self, index: usize) -> Option<Token> {
        let slot = self.slots.get(index)?;
        slot.conn.as_ref()?;
        Some(make_token(index as u32, slot.generation))
    }

    /// Number of slots ever allocated (live or free).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl Default for ConnTable {
    fn default() -> Self {
        ConnTable::new()
    }
}

fn make_token(index: u32, generation: u32) -> Token {
    (u64::from(generation & GEN_MASK) << 32) | u64::from(index)
}

fn split_token(token: Token) -> (u32, u32) {
    (token as u32, ((token >> 32) as u32) & GEN_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_do_not_reach_a_reused_slot() {
        let mut t = ConnTable::new();
        let a = t.insert(Conn::new(1024, 0));
        assert!(t.remove(a).is_some());
        let b = t.insert(Conn::new(1024, 0));
        assert_ne!(a, b);
        assert!(t.get(a).is_none());
        assert!(t.get(b).is_some());
        assert!(t.remove(a).is_none());
        assert_eq!(t.len(), 1);
        assert!(b < (1 << crate::sys::TOKEN_BITS));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Idle connections must stay small: this is the per-slot part of the
    /// product's memory budget (see docs/benchmarks.md).
    #[test]
    fn a_connection_slot_stays_small() {
        let slot = std::mem::size_of::<Slot>();
        println!("Conn {} Slot {}", std::mem::size_of::<Conn>(), slot);
        assert!(slot <= 80, "slot grew to {slot} bytes");
    }
}
