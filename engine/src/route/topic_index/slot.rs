//! Everything subscribed to one filter: the plain subscribers and the
//! share groups, each as local members plus remote-core bits.
//!
//! A slot only knows its own filter; finding it (and pruning the trie
//! around it) is the node's job.

use super::members::Members;
use super::members::SubscriberId;
use super::shared::Shared;
use crate::route::change::Change;

/// The subscriptions of one filter.
#[derive(Debug)]
pub(super) struct Slot<S> {
    /// Plain (non-shared) subscribers on this core.
    pub(super) local: Members<S>,
    /// Bit c set: core c has at least one plain subscriber.
    pub(super) remote_cores: u64,
    /// Share groups; boxed because most filters have none.
    pub(super) shared: Option<Box<Shared<S>>>,
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Slot {
            local: Members::None,
            remote_cores: 0,
            shared: None,
        }
    }
}

impl<S> Slot<S> {
    /// Whether nothing, local or remote, is subscribed here.
    pub(super) fn is_empty(&self) -> bool {
        self.local.is_empty() && self.remote_cores == 0 && self.shared.is_none()
    }

    /// Adds or replaces `id` in the plain set or in `group`.
    pub(super) fn insert(
        &mut self,
        filter: &str,
        group: Option<&str>,
        id: SubscriberId,
        data: S,
    ) -> (Option<S>, Change) {
        let members = match group {
            None => &mut self.local,
            Some(name) => {
                let shared = self
                    .shared
                    .get_or_insert_with(|| Box::new(Shared::new(filter)));
                &mut shared.group_or_insert(name).members
            }
        };
        let first = members.is_empty();
        let old = members.insert(id, data);
        (old, if first { Change::Up } else { Change::None })
    }

    /// Removes `id` from the plain set or from `group`.
    pub(super) fn remove(&mut self, group: Option<&str>, id: SubscriberId) -> (Option<S>, Change) {
        let Some(members) = self.members_mut(group) else {
            return (None, Change::None);
        };
        let old = members.remove(id);
        let last = old.is_some() && members.is_empty();
        self.prune(group);
        (old, if last { Change::Down } else { Change::None })
    }

    /// Sets or clears `core_bit` for the plain set or for `group`.
    pub(super) fn set_remote(
        &mut self,
        filter: &str,
        group: Option<&str>,
        core_bit: u64,
        present: bool,
    ) {
        let cores = match (group, present) {
            (None, _) => &mut self.remote_cores,
            (Some(name), true) => {
                let shared = self
                    .shared
                    .get_or_insert_with(|| Box::new(Shared::new(filter)));
                &mut shared.group_or_insert(name).remote_cores
            }
            (Some(name), false) => match self.shared.as_mut().and_then(|s| s.group_mut(name)) {
                Some(g) => &mut g.remote_cores,
                None => return,
            },
        };
        if present {
            *cores |= core_bit;
        } else {
            *cores &= !core_bit;
            self.prune(group);
        }
    }

    /// The members of the plain set or of an existing group.
    fn members_mut(&mut self, group: Option<&str>) -> Option<&mut Members<S>> {
        match group {
            None => Some(&mut self.local),
            Some(name) => Some(&mut self.shared.as_mut()?.group_mut(name)?.members),
        }
    }

    /// Drops `group` once it is empty, and the shared part once it has no
    /// group left.
    fn prune(&mut self, group: Option<&str>) {
        let (Some(name), Some(shared)) = (group, self.shared.as_mut()) else {
            return;
        };
        shared.prune(name);
        if shared.is_empty() {
            self.shared = None;
        }
    }
}
