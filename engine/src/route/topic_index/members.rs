//! The local subscribers of one filter (or of one shared group): a set of
//! `(SubscriberId, S)` pairs kept in a flat list so matching walks a slice.
//!
//! Sizing: most filters have one subscriber, which is stored inline. A
//! broadcast topic can have every session of the core on it, so a big
//! set gets an id -> position map: subscribing and leaving stay O(1)
//! instead of scanning (a reconnect storm of n sessions would otherwise
//! cost n² comparisons on one core).

use hashbrown::HashMap;

/// A session on this core, as the caller names it (opaque here).
pub type SubscriberId = u64;

/// From this many members on, positions are kept in a map; below half of
/// it the map is dropped again (the gap avoids rebuilding it on every
/// join and leave around the threshold). Scanning 16 ids is cheaper than
/// hashing one.
const INDEXED_FROM: usize = 16;

/// Local subscribers; one subscriber needs no allocation.
#[derive(Debug, Default)]
pub(super) enum Members<S> {
    /// Nobody.
    #[default]
    None,
    /// Exactly one subscriber.
    One((SubscriberId, S)),
    /// Two or more (boxed: keeps the common case small).
    Many(Box<Crowd<S>>),
}

/// Two or more subscribers.
#[derive(Debug)]
pub(super) struct Crowd<S> {
    /// Every member, in no particular order (removal swaps the last in).
    list: Vec<(SubscriberId, S)>,
    /// Position of each id in `list`, once the list is long enough.
    index: Option<HashMap<SubscriberId, usize>>,
}

impl<S> Members<S> {
    /// Adds `id` or replaces its data; returns the replaced data.
    pub(super) fn insert(&mut self, id: SubscriberId, data: S) -> Option<S> {
        match self {
            Members::None => {
                *self = Members::One((id, data));
                None
            }
            Members::One((old, slot)) if *old == id => Some(std::mem::replace(slot, data)),
            Members::One(_) => {
                let Members::One(first) = std::mem::take(self) else {
                    return None;
                };
                *self = Members::Many(Box::new(Crowd::pair(first, (id, data))));
                None
            }
            Members::Many(crowd) => crowd.insert(id, data),
        }
    }

    /// Removes `id`; returns its data if it was a member.
    pub(super) fn remove(&mut self, id: SubscriberId) -> Option<S> {
        match self {
            Members::None => None,
            Members::One((old, _)) if *old != id => None,
            Members::One(_) => match std::mem::take(self) {
                Members::One((_, data)) => Some(data),
                _ => None,
            },
            Members::Many(crowd) => {
                let data = crowd.remove(id)?;
                if let Some(last) = crowd.take_if_single() {
                    *self = Members::One(last);
                }
                Some(data)
            }
        }
    }

    /// Every member with its data.
    pub(super) fn as_slice(&self) -> &[(SubscriberId, S)] {
        match self {
            Members::None => &[],
            Members::One(pair) => std::slice::from_ref(pair),
            Members::Many(crowd) => &crowd.list,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Members::None)
    }
}

impl<S> Crowd<S> {
    fn pair(a: (SubscriberId, S), b: (SubscriberId, S)) -> Self {
        Crowd {
            list: vec![a, b],
            index: None,
        }
    }

    fn position(&self, id: SubscriberId) -> Option<usize> {
        match &self.index {
            Some(map) => map.get(&id).copied(),
            None => self.list.iter().position(|(m, _)| *m == id),
        }
    }

    fn insert(&mut self, id: SubscriberId, data: S) -> Option<S> {
        if let Some(at) = self.position(id) {
            let slot = &mut self.list.get_mut(at)?.1;
            return Some(std::mem::replace(slot, data));
        }
        self.list.push((id, data));
        match &mut self.index {
            Some(map) => {
                map.insert(id, self.list.len() - 1);
            }
            None if self.list.len() >= INDEXED_FROM => self.build_index(),
            None => {}
        }
        None
    }

    fn remove(&mut self, id: SubscriberId) -> Option<S> {
        let at = self.position(id)?;
        let (_, data) = self.list.swap_remove(at);
        if let Some(map) = &mut self.index {
            map.remove(&id);
            if let Some((moved, _)) = self.list.get(at) {
                map.insert(*moved, at);
            }
        }
        self.shrink();
        Some(data)
    }

    fn build_index(&mut self) {
        let map = self.list.iter().enumerate().map(|(at, (id, _))| (*id, at));
        self.index = Some(map.collect());
    }

    /// Gives memory back after a mass leave: a crowd that was large keeps
    /// neither its map nor a list four times too big.
    fn shrink(&mut self) {
        let len = self.list.len();
        if len < INDEXED_FROM / 2 {
            self.index = None;
        }
        if len * 4 < self.list.capacity() {
            self.list.shrink_to(len * 2);
        }
        if let Some(map) = &mut self.index {
            if len * 4 < map.capacity() {
                map.shrink_to(len * 2);
            }
        }
    }

    /// The last member, taken out, when exactly one is left.
    fn take_if_single(&mut self) -> Option<(SubscriberId, S)> {
        if self.list.len() == 1 {
            self.list.pop()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<S>(m: &Members<S>) -> Vec<SubscriberId> {
        let mut v: Vec<_> = m.as_slice().iter().map(|(id, _)| *id).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn one_member_is_inline_and_replace_returns_the_old_data() {
        let mut m = Members::default();
        assert_eq!(m.insert(7, 'a'), None);
        assert!(matches!(m, Members::One(_)));
        assert_eq!(m.insert(7, 'b'), Some('a'));
        assert_eq!(m.as_slice(), &[(7, 'b')]);
        assert_eq!(m.remove(8), None);
        assert_eq!(m.remove(7), Some('b'));
        assert!(m.is_empty());
    }

    #[test]
    fn many_falls_back_to_one_then_none() {
        let mut m = Members::default();
        m.insert(1, 10);
        m.insert(2, 20);
        m.insert(3, 30);
        assert_eq!(m.insert(2, 21), Some(20));
        assert_eq!(ids(&m), [1, 2, 3]);
        assert_eq!(m.remove(1), Some(10));
        assert_eq!(m.remove(3), Some(30));
        assert!(matches!(m, Members::One((2, 21))));
        assert_eq!(m.remove(2), Some(21));
        assert!(m.is_empty());
    }

    /// The id -> position map stays right across swaps, and goes away
    /// (with the spare capacity) once the crowd is small again.
    #[test]
    fn a_large_crowd_is_indexed_and_shrinks_back() {
        let mut m = Members::default();
        for id in 0..1000u64 {
            assert_eq!(m.insert(id, id * 2), None);
        }
        assert_eq!(m.insert(501, 0), Some(1002));
        for id in (0..1000u64).filter(|id| id % 3 != 0) {
            assert!(m.remove(id).is_some(), "{id}");
        }
        let left: Vec<u64> = (0..1000).filter(|id| id % 3 == 0).collect();
        assert_eq!(ids(&m), left);
        for (id, data) in m.as_slice() {
            assert_eq!(*data, if *id == 501 { 0 } else { id * 2 });
        }
        for id in left.iter().skip(2) {
            assert!(m.remove(*id).is_some());
        }
        let Members::Many(crowd) = &m else {
            panic!("two members left");
        };
        assert!(crowd.index.is_none());
        assert!(crowd.list.capacity() <= 8);
    }
}
