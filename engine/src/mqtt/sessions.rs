//! The sessions a core owns, by key and by client id.
//!
//! The client-id index stores only each session's key (4 bytes a slot)
//! and hashes the id held by the session itself, instead of a map that
//! would keep a second handle to every id: an idle device is mostly this
//! table's bookkeeping, so it is kept lean (docs/benchmarks.md).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use slab::Slab;

use super::session::Session;

/// A core's sessions.
#[derive(Default)]
pub struct Sessions {
    /// Boxed: the slab grows by doubling, and a spare slot should cost a
    /// pointer, not a session.
    slab: Slab<Box<Session>>,
    by_client: HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl Sessions {
    /// Stores a session (its client id must not be here yet).
    pub fn insert(&mut self, s: Box<Session>) -> usize {
        let hash = self.hasher.hash_one(s.client_id());
        let key = self.slab.insert(s);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.by_client.insert_unique(hash, key as u32, |&k| {
            hasher.hash_one(slab[k as usize].client_id())
        });
        key
    }

    /// Removes and returns session `key`.
    pub fn remove(&mut self, key: usize) -> Box<Session> {
        let hash = self.hasher.hash_one(self.slab[key].client_id());
        if let Ok(entry) = self.by_client.find_entry(hash, |&k| k as usize == key) {
            entry.remove();
        }
        self.slab.remove(key)
    }

    /// The key of `client_id`'s session here.
    pub fn key_of(&self, client_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(client_id);
        let slab = &self.slab;
        self.by_client
            .find(hash, |&k| slab[k as usize].client_id() == client_id)
            .map(|&k| k as usize)
    }

    /// Session `key`, if it exists.
    pub fn get(&self, key: usize) -> Option<&Session> {
        self.slab.get(key).map(|b| &**b)
    }

    /// Session `key`, mutably.
    pub fn get_mut(&mut self, key: usize) -> Option<&mut Session> {
        self.slab.get_mut(key).map(|b| &mut **b)
    }

    /// Whether `key` names a session.
    pub fn contains(&self, key: usize) -> bool {
        self.slab.contains(key)
    }

    /// Sessions here.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}

impl std::ops::Index<usize> for Sessions {
    type Output = Session;
    fn index(&self, key: usize) -> &Session {
        &self.slab[key]
    }
}

impl std::ops::IndexMut<usize> for Sessions {
    fn index_mut(&mut self, key: usize) -> &mut Session {
        &mut self.slab[key]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::mqtt::ProtocolVersion;

    #[test]
    fn sessions_are_found_by_client_id_until_removed() {
        let mut t = Sessions::default();
        let mut keys = Vec::new();
        for i in 0..100 {
            let s = Session::new(format!("c{i}").into(), i, ProtocolVersion::V5);
            keys.push(t.insert(Box::new(s)));
        }
        assert_eq!(t.key_of("c42"), Some(keys[42]));
        let s = t.remove(keys[42]);
        assert_eq!(s.client_id(), "c42");
        assert_eq!(t.key_of("c42"), None);
        assert_eq!(t.key_of("c43"), Some(keys[43]));
        assert_eq!(t.len(), 99);
    }
}
