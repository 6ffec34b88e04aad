//! Who is where, for every protocol: for each user, this core's
//! connections and the set of other cores that have some (here); for each
//! topic filter, `wire`, WebSocket and MQTT subscribers alike, the
//! [`topic_index`].
//!
//! Every core keeps its own [`Registry`]: local members are exact, remote
//! presence is a bitmask of cores kept up to date by presence messages over
//! the mesh. A SEND is therefore routed in one hop: the sending core knows
//! every core that must see the message. Presence is eventually consistent
//! across cores (a change is visible elsewhere once the other core drains
//! its ring, microseconds later); a HELLO's presence message is pushed
//! before its WELCOME is written, so anything causally after a WELCOME
//! sees the new user.

use std::collections::HashMap;
use std::rc::Rc;

use crate::mesh::NameKind;
use crate::sys::Token;
use topics::Topics;

mod change;
pub mod topic_index;
pub mod topics;

pub use change::Change;

/// Local members of one name; one member is the common case and needs no
/// allocation beyond the entry.
#[derive(Debug, Default)]
pub enum Members {
    /// Nobody on this core.
    #[default]
    None,
    /// Exactly one connection.
    One(Token),
    /// Several connections (boxed: keeps every entry at 16 bytes).
    Many(Box<Vec<Token>>),
}

impl Members {
    fn add(&mut self, t: Token) {
        *self = match std::mem::take(self) {
            Members::None => Members::One(t),
            Members::One(a) if a == t => Members::One(a),
            Members::One(a) => Members::Many(Box::new(vec![a, t])),
            Members::Many(mut v) => {
                if !v.contains(&t) {
                    v.push(t);
                }
                Members::Many(v)
            }
        }
    }

    fn remove(&mut self, t: Token) {
        *self = match std::mem::take(self) {
            Members::One(a) if a == t => Members::None,
            Members::Many(mut v) => {
                v.retain(|&x| x != t);
                match v.len() {
                    0 => Members::None,
                    1 => Members::One(v[0]),
                    _ => Members::Many(v),
                }
            }
            other => other,
        }
    }

    /// The member tokens.
    pub fn as_slice(&self) -> &[Token] {
        match self {
            Members::None => &[],
            Members::One(t) => std::slice::from_ref(t),
            Members::Many(v) => v,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Members::None)
    }
}

/// A name's presence: local members and other cores that have members.
#[derive(Debug, Default)]
pub struct Presence {
    /// Connections on this core.
    pub local: Members,
    /// Bit c set: core c has at least one member.
    pub remote_cores: u64,
}

/// One namespace (users) on one core.
#[derive(Debug, Default)]
pub struct Directory {
    entries: HashMap<Rc<str>, Presence>,
}

impl Directory {
    /// Looks a name up.
    pub fn get(&self, name: &str) -> Option<&Presence> {
        self.entries.get(name)
    }

    /// The interned name, if known (so connections share one allocation).
    pub fn intern(&self, name: &str) -> Option<Rc<str>> {
        self.entries.get_key_value(name).map(|(k, _)| k.clone())
    }

    /// Adds a local member; returns the interned name and the change.
    pub fn join(&mut self, name: &str, token: Token) -> (Rc<str>, Change) {
        let key = self.intern(name).unwrap_or_else(|| Rc::from(name));
        let p = self.entries.entry(key.clone()).or_default();
        let was_empty = p.local.is_empty();
        p.local.add(token);
        (key, if was_empty { Change::Up } else { Change::None })
    }

    /// Removes a local member.
    pub fn leave(&mut self, name: &str, token: Token) -> Change {
        let Some(p) = self.entries.get_mut(name) else {
            return Change::None;
        };
        if p.local.is_empty() {
            return Change::None;
        }
        p.local.remove(token);
        if !p.local.is_empty() {
            return Change::None;
        }
        if p.remote_cores == 0 {
            self.entries.remove(name);
        }
        Change::Down
    }

    /// Records that `core` now has (or no longer has) members of `name`.
    pub fn set_remote(&mut self, name: &str, core: u16, present: bool) {
        let bit = 1u64 << core;
        if present {
            let key = self.intern(name).unwrap_or_else(|| Rc::from(name));
            self.entries.entry(key).or_default().remote_cores |= bit;
        } else if let Some(p) = self.entries.get_mut(name) {
            p.remote_cores &= !bit;
            if p.remote_cores == 0 && p.local.is_empty() {
                self.entries.remove(name);
            }
        }
    }

    /// Number of names known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no name is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Who is where on one core: users, and the topic subscriptions of
/// every protocol (conversations are topics, `$conversation/{id}`).
#[derive(Debug, Default)]
pub struct Registry {
    /// Users, by the id given in HELLO.
    users: Directory,
    /// Topic filters, MQTT sessions and `wire` subscribers alike.
    topics: Topics,
}

impl Registry {
    /// Users, by the id given in HELLO.
    pub fn users(&self) -> &Directory {
        &self.users
    }

    /// Users, to join or leave.
    pub fn users_mut(&mut self) -> &mut Directory {
        &mut self.users
    }

    /// The topic subscriptions.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The topic subscriptions, to change.
    pub fn topics_mut(&mut self) -> &mut Topics {
        &mut self.topics
    }

    /// Core `core` gained its first (`present`) or lost its last member of
    /// `name`: a user, or a topic filter's subscriber.
    pub fn set_remote(&mut self, kind: NameKind, name: &str, core: u16, present: bool) {
        match kind {
            NameKind::User => self.users.set_remote(name, core, present),
            NameKind::Filter => self.topics.set_remote(name, core, present),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_join_and_last_leave_are_announced() {
        let mut d = Directory::default();
        assert_eq!(d.join("alice", 1).1, Change::Up);
        assert_eq!(d.join("alice", 2).1, Change::None);
        assert_eq!(d.get("alice").unwrap().local.as_slice(), &[1, 2]);
        assert_eq!(d.leave("alice", 1), Change::None);
        assert_eq!(d.leave("alice", 2), Change::Down);
        assert!(d.is_empty());
    }

    #[test]
    fn remote_presence_keeps_the_entry() {
        let mut d = Directory::default();
        d.set_remote("bob", 3, true);
        d.join("bob", 9);
        assert_eq!(d.leave("bob", 9), Change::Down);
        assert_eq!(d.get("bob").unwrap().remote_cores, 1 << 3);
        d.set_remote("bob", 3, false);
        assert!(d.get("bob").is_none());
    }
}

#[cfg(test)]
mod size_tests {
    /// A directory entry is part of every idle connection's memory.
    #[test]
    fn a_presence_entry_stays_small() {
        assert_eq!(std::mem::size_of::<super::Members>(), 16);
        assert_eq!(std::mem::size_of::<super::Presence>(), 24);
    }
}
