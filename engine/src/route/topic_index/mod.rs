//! One core's MQTT subscription index: which local sessions, and which
//! other cores, subscribe to which topic filters, plain or shared.
//!
//! The engine is thread-per-core and every core owns a [`TopicIndex`]
//! (no locks). Local subscriptions are known exactly. Other cores are
//! known only as a bitmask per filter (and per share group) of the cores
//! with at least one subscriber, kept current by presence messages: an
//! insert that brings a (filter, group) its first local subscriber returns
//! [`Change::Up`], a remove that takes its last returns [`Change::Down`],
//! the engine broadcasts that, and the other cores call
//! [`TopicIndex::set_remote`]. A PUBLISH is matched once on the core that
//! received it: [`TopicIndex::match_local`] reaches the local subscribers
//! and says which cores need one copy each (they match it again, locally
//! only), and [`TopicIndex::match_shared`] picks one target per matching
//! share group.
//!
//! The index is a trie by topic level (`node.rs`), matched by `matching.rs`
//! in time proportional to the topic's levels and wildcard branches, not
//! to the number of subscriptions. Nodes left empty are dropped, so memory
//! follows the live subscriptions.
//!
//! Not here: filter syntax and `$share/` parsing (the caller passes the
//! filter proper and the group; `wire::mqtt::validate`), subscription
//! options, retained messages, and merging a session's overlapping
//! matches into one delivery (the caller's, see `match_local`).

mod matching;
mod members;
mod node;
mod shared;
mod slot;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use super::change::Change;
use node::Node;
use slot::Slot;

pub use members::SubscriberId;
pub use shared::SharedPick;

/// Most levels a filter may have. The walks over the trie recurse once
/// per level, and a 64 KiB filter could have 32 768 of them, enough to
/// overflow a reactor thread's stack; real hierarchies use a handful
/// (EMQX's default limit is 128 as well). A topic may be deeper: a walk
/// never goes below the deepest filter.
pub const FILTER_LEVELS_MAX: usize = 128;

/// Why a filter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// Not a valid topic filter (`wire::mqtt::validate::topic_filter`).
    Invalid,
    /// More than [`FILTER_LEVELS_MAX`] levels.
    TooDeep,
}

/// One core's subscriptions; see the module doc.
#[derive(Debug)]
pub struct TopicIndex<S> {
    root: Node<S>,
    /// Local subscriptions, plain and shared.
    len: usize,
    /// Slots that have share groups: when there are none, which is the
    /// common case, [`TopicIndex::match_shared`] skips its walk.
    shared_slots: usize,
}

impl<S> Default for TopicIndex<S> {
    fn default() -> Self {
        TopicIndex {
            root: Node::default(),
            len: 0,
            shared_slots: 0,
        }
    }
}

impl<S> TopicIndex<S> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sub`'s subscription to `filter`, or replaces its data.
    /// `group` is `Some(g)` for `$share/g/filter` (`filter` passed without
    /// that prefix). Returns the replaced data, if any, and `Change::Up`
    /// when this (filter, group) got its first local subscriber.
    pub fn insert(
        &mut self,
        filter: &str,
        group: Option<&str>,
        sub: SubscriberId,
        data: S,
    ) -> Result<(Option<S>, Change), FilterError> {
        check_filter(filter)?;
        let slot = self.root.slot_or_insert(filter);
        let (old, change) = track_shared(&mut self.shared_slots, slot, |slot| {
            slot.insert(filter, group, sub, data)
        });
        if old.is_none() {
            self.len += 1;
        }
        Ok((old, change))
    }

    /// Removes `sub`'s subscription to (`filter`, `group`). Returns its
    /// data if it had one, and `Change::Down` when that was the last local
    /// subscriber. An unknown or invalid filter changes nothing.
    pub fn remove(
        &mut self,
        filter: &str,
        group: Option<&str>,
        sub: SubscriberId,
    ) -> (Option<S>, Change) {
        if check_filter(filter).is_err() {
            return (None, Change::None);
        }
        let shared_slots = &mut self.shared_slots;
        let removed = self.root.update(filter.split('/'), |slot| {
            track_shared(shared_slots, slot, |slot| slot.remove(group, sub))
        });
        let (old, change) = removed.unwrap_or((None, Change::None));
        if old.is_some() {
            self.len -= 1;
        }
        (old, change)
    }

    /// Records that `core` gained its first (`present`) or lost its last
    /// subscriber of (`filter`, `group`). A core of 64 or more, or a filter
    /// this index would refuse, is ignored. The caller never passes its
    /// own core: its local subscribers are counted apart.
    pub fn set_remote(&mut self, filter: &str, group: Option<&str>, core: u16, present: bool) {
        let Some(bit) = 1u64.checked_shl(u32::from(core)) else {
            return;
        };
        if check_filter(filter).is_err() {
            return;
        }
        let shared_slots = &mut self.shared_slots;
        let mut op = |slot: &mut Slot<S>| {
            track_shared(shared_slots, slot, |slot| {
                slot.set_remote(filter, group, bit, present)
            })
        };
        if present {
            op(self.root.slot_or_insert(filter));
        } else {
            self.root.update(filter.split('/'), op);
        }
    }

    /// Calls `local(sub, &data)` for every local plain subscription whose
    /// filter matches `topic`, once per matching filter: a session with
    /// overlapping filters is reported once for each, and the caller
    /// merges them (MQTT 5 §3.3.4). Returns the union of the remote cores
    /// of every matching plain filter: the cores that need a copy.
    /// Does not allocate.
    pub fn match_local(&self, topic: &str, mut local: impl FnMut(SubscriberId, &S)) -> u64 {
        let mut remote_cores = 0;
        matching::each_match(&self.root, topic, &mut |slot| {
            for (sub, data) in slot.local.as_slice() {
                local(*sub, data);
            }
            remote_cores |= slot.remote_cores;
        });
        remote_cores
    }

    /// For every share group of every filter matching `topic`, picks one
    /// target, round-robin over the group's local members and the remote
    /// cores that have members (each remote core is one turn, whatever
    /// its member count), and hands it to `pick`.
    pub fn match_shared(&mut self, topic: &str, mut pick: impl FnMut(SharedPick<'_, S>)) {
        if self.shared_slots == 0 {
            return;
        }
        matching::each_match_mut(&mut self.root, topic, &mut |slot| {
            if let Some(shared) = &mut slot.shared {
                shared.pick_each(&mut pick);
            }
        });
    }

    /// On a core that received a shared delivery from another core: one
    /// local member of (`filter`, `group`), round-robin, or `None` if it
    /// has none any more.
    pub fn pick_shared_local(&mut self, filter: &str, group: &str) -> Option<(SubscriberId, S)>
    where
        S: Clone,
    {
        check_filter(filter).ok()?;
        let shared = self.root.slot_mut(filter)?.shared.as_mut()?;
        shared.group_mut(group)?.pick_local().cloned()
    }

    /// Calls `f(filter, group)` for every (filter, group) with local
    /// subscribers, e.g. to replay presence to a core that (re)joins.
    /// Allocates one `String` for the filter text.
    pub fn each_local_filter(&self, mut f: impl FnMut(&str, Option<&str>)) {
        let mut path = String::new();
        self.root.each_local_filter(&mut path, 0, &mut f);
    }

    /// Number of local subscriptions, plain and shared.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no local subscription (remote presence may remain).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of trie nodes below the root, for memory accounting: zero
    /// once nothing, local or remote, is subscribed.
    pub fn node_count(&self) -> usize {
        self.root.count() - 1
    }
}

/// Why `filter` would be refused, if it would.
fn check_filter(filter: &str) -> Result<(), FilterError> {
    if !wire::mqtt::validate::topic_filter(filter) {
        return Err(FilterError::Invalid);
    }
    if filter.split('/').nth(FILTER_LEVELS_MAX).is_some() {
        return Err(FilterError::TooDeep);
    }
    Ok(())
}

/// Runs `op` on `slot` and keeps `shared_slots` (the number of slots with
/// share groups) in step with it.
fn track_shared<S, R>(
    shared_slots: &mut usize,
    slot: &mut Slot<S>,
    op: impl FnOnce(&mut Slot<S>) -> R,
) -> R {
    let before = slot.shared.is_some();
    let out = op(slot);
    match (before, slot.shared.is_some()) {
        (false, true) => *shared_slots += 1,
        (true, false) => *shared_slots -= 1,
        _ => {}
    }
    out
}
