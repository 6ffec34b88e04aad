//! The shared subscriptions (`$share/{group}/{filter}`, MQTT 5 §4.8.2) of
//! one filter: per group, the local members, the other cores that have
//! members, and the round-robin cursors that spread messages over them.
//!
//! A group is one consumer pool spread over cores. The core where a
//! message is published picks one target per group, cycling through its
//! own members and the remote cores as equal slots; a core that receives
//! a delivery then cycles through its own members only
//! ([`Group::pick_local`]).

use super::members::Members;
use super::members::SubscriberId;

/// The target picked for one matching share group.
#[derive(Debug, PartialEq, Eq)]
pub enum SharedPick<'a, S> {
    /// A member on this core.
    Local(SubscriberId, &'a S),
    /// Another core, which then calls [`super::TopicIndex::pick_shared_local`]
    /// with this filter and group.
    Remote {
        /// The core to send one copy to.
        core: u16,
        /// The filter proper (without `$share/{group}/`).
        filter: &'a str,
        /// The share name.
        group: &'a str,
    },
}

/// The groups of one filter.
#[derive(Debug)]
pub(super) struct Shared<S> {
    /// The filter text, so that a delivery to another core can name it
    /// (the trie stores levels, not whole filters). Kept once per filter
    /// that has groups, which few filters have.
    filter: Box<str>,
    /// The groups; few per filter, so a list is searched by name.
    groups: Vec<Group<S>>,
}

/// One share group of one filter.
#[derive(Debug)]
pub(super) struct Group<S> {
    name: Box<str>,
    /// Members on this core.
    pub(super) members: Members<S>,
    /// Bit c set: core c has at least one member.
    pub(super) remote_cores: u64,
    /// Next target of [`Group::pick`]: an index into the local members
    /// followed by the set bits of `remote_cores`.
    cursor: usize,
    /// Next target of [`Group::pick_local`], kept apart so that deliveries
    /// from other cores and local publishes each rotate fairly.
    local_cursor: usize,
}

impl<S> Shared<S> {
    pub(super) fn new(filter: &str) -> Self {
        Shared {
            filter: filter.into(),
            groups: Vec::new(),
        }
    }

    pub(super) fn group_mut(&mut self, name: &str) -> Option<&mut Group<S>> {
        self.groups.iter_mut().find(|g| &*g.name == name)
    }

    pub(super) fn group_or_insert(&mut self, name: &str) -> &mut Group<S> {
        let at = match self.groups.iter().position(|g| &*g.name == name) {
            Some(at) => at,
            None => {
                self.groups.push(Group::new(name));
                self.groups.len() - 1
            }
        };
        &mut self.groups[at]
    }

    /// Drops `name` if it has neither local members nor remote cores.
    pub(super) fn prune(&mut self, name: &str) {
        let empty = |g: &Group<S>| &*g.name == name && g.is_empty();
        if let Some(at) = self.groups.iter().position(empty) {
            self.groups.swap_remove(at);
            if self.groups.len() * 4 < self.groups.capacity() {
                self.groups.shrink_to(self.groups.len() * 2);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Picks one target in every group and hands it to `pick`.
    pub(super) fn pick_each(&mut self, pick: &mut impl FnMut(SharedPick<'_, S>)) {
        for group in &mut self.groups {
            if let Some(target) = group.pick(&self.filter) {
                pick(target);
            }
        }
    }

    /// Names of the groups that have local members.
    pub(super) fn local_groups(&self) -> impl Iterator<Item = &str> {
        let local = self.groups.iter().filter(|g| !g.members.is_empty());
        local.map(|g| &*g.name)
    }
}

impl<S> Group<S> {
    fn new(name: &str) -> Self {
        Group {
            name: name.into(),
            members: Members::None,
            remote_cores: 0,
            cursor: 0,
            local_cursor: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote_cores == 0
    }

    /// The next target, round-robin over local members and remote cores;
    /// `None` only for a group with neither (which is never kept).
    fn pick<'a>(&'a mut self, filter: &'a str) -> Option<SharedPick<'a, S>> {
        let local = self.members.len();
        let total = local + self.remote_cores.count_ones() as usize;
        if total == 0 {
            return None;
        }
        let at = self.cursor % total;
        self.cursor = at + 1;
        if let Some((id, data)) = self.members.as_slice().get(at) {
            return Some(SharedPick::Local(*id, data));
        }
        let core = nth_core(self.remote_cores, at - local)?;
        let group = &self.name;
        Some(SharedPick::Remote {
            core,
            filter,
            group,
        })
    }

    /// The next local member, round-robin.
    pub(super) fn pick_local(&mut self) -> Option<&(SubscriberId, S)> {
        let members = self.members.as_slice();
        if members.is_empty() {
            return None;
        }
        let at = self.local_cursor % members.len();
        self.local_cursor = at + 1;
        members.get(at)
    }
}

/// The core of the `n`th set bit of `cores` (lowest first).
fn nth_core(mut cores: u64, n: usize) -> Option<u16> {
    for _ in 0..n {
        if cores == 0 {
            return None;
        }
        cores &= cores - 1;
    }
    (cores != 0).then(|| cores.trailing_zeros() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_core_walks_set_bits_from_the_lowest() {
        let cores = 1 << 2 | 1 << 5 | 1 << 63;
        assert_eq!(nth_core(cores, 0), Some(2));
        assert_eq!(nth_core(cores, 1), Some(5));
        assert_eq!(nth_core(cores, 2), Some(63));
        assert_eq!(nth_core(cores, 3), None);
        assert_eq!(nth_core(0, 0), None);
    }
}
