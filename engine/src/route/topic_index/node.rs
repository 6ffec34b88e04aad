//! The trie: one node per filter prefix, keyed by level, with the `+` and
//! `#` children in their own fields so a topic level never has to be
//! compared with them.
//!
//! This file owns the shape of the trie: finding a filter's slot,
//! creating the path to it, and pruning nodes that hold nothing once a
//! change is applied. Matching topics against it is in `matching.rs`.
//!
//! Every walk here follows one filter's levels, so its depth is bounded by
//! the filter's level count, which the index checks against
//! [`FILTER_LEVELS_MAX`](super::FILTER_LEVELS_MAX) before creating nodes;
//! a walk never goes deeper than nodes that exist, whatever its input.

use hashbrown::HashMap;
use std::str::Split;

use super::slot::Slot;

/// The subscriptions of one filter prefix and the nodes below it.
#[derive(Debug)]
pub(super) struct Node<S> {
    /// The filter that ends at this node (levels from the root to here).
    pub(super) slot: Slot<S>,
    /// Children by literal level (the empty level included).
    pub(super) literal: HashMap<Box<str>, Node<S>>,
    /// The `+` child.
    pub(super) plus: Option<Box<Node<S>>>,
    /// The filter "this prefix, then `#`": a leaf, as `#` is always last.
    pub(super) hash: Option<Box<Slot<S>>>,
}

impl<S> Default for Node<S> {
    fn default() -> Self {
        Node {
            slot: Slot::default(),
            literal: HashMap::new(),
            plus: None,
            hash: None,
        }
    }
}

impl<S> Node<S> {
    /// Whether the node holds nothing and has no children: it can go.
    fn is_empty(&self) -> bool {
        self.slot.is_empty()
            && self.literal.is_empty()
            && self.plus.is_none()
            && self.hash.is_none()
    }

    /// The slot of `filter` below this node, creating the path to it.
    /// `filter` must have passed [`check_filter`](super::check_filter).
    /// A literal level's key is allocated even when its child exists:
    /// subscribing is not the hot path, and looking up first and inserting
    /// on a miss inside this loop is a shape the borrow checker refuses.
    pub(super) fn slot_or_insert(&mut self, filter: &str) -> &mut Slot<S> {
        let mut node = self;
        for level in filter.split('/') {
            node = match level {
                "#" => return node.hash.get_or_insert_with(Box::default),
                "+" => node.plus.get_or_insert_with(Box::default),
                _ => node.literal.entry(level.into()).or_default(),
            };
        }
        &mut node.slot
    }

    /// The slot of `filter` below this node, if the path exists.
    pub(super) fn slot_mut(&mut self, filter: &str) -> Option<&mut Slot<S>> {
        let mut node = self;
        for level in filter.split('/') {
            node = match level {
                "#" => return node.hash.as_deref_mut(),
                "+" => node.plus.as_deref_mut()?,
                _ => node.literal.get_mut(level)?,
            };
        }
        Some(&mut node.slot)
    }

    /// Applies `op` to the slot at the end of `levels`, if the path
    /// exists, then drops every node on the path that was left empty.
    pub(super) fn update<R>(
        &mut self,
        mut levels: Split<'_, char>,
        op: impl FnOnce(&mut Slot<S>) -> R,
    ) -> Option<R> {
        let Some(level) = levels.next() else {
            return Some(op(&mut self.slot));
        };
        match level {
            "#" => {
                let slot = self.hash.as_deref_mut()?;
                let out = op(slot);
                if slot.is_empty() {
                    self.hash = None;
                }
                Some(out)
            }
            "+" => {
                let child = self.plus.as_deref_mut()?;
                let out = child.update(levels, op);
                if child.is_empty() {
                    self.plus = None;
                }
                out
            }
            _ => {
                let child = self.literal.get_mut(level)?;
                let out = child.update(levels, op);
                if child.is_empty() {
                    self.remove_literal(level);
                }
                out
            }
        }
    }

    /// Drops an emptied child, and the map's spare room after a mass
    /// unsubscribe (a map keeps its capacity otherwise).
    fn remove_literal(&mut self, level: &str) {
        self.literal.remove(level);
        let len = self.literal.len();
        if len * 4 < self.literal.capacity() {
            self.literal.shrink_to(len * 2);
        }
    }

    /// Number of nodes in this subtree, this one included.
    pub(super) fn count(&self) -> usize {
        let below: usize = self.literal.values().map(Node::count).sum();
        1 + below + self.plus.as_ref().map_or(0, |p| p.count())
    }

    /// Calls `f(filter, group)` for every plain filter and every share
    /// group with local members in this subtree. `path` holds this node's
    /// filter prefix and `depth` its level count (so the root, depth 0,
    /// is told apart from a first level that is empty).
    pub(super) fn each_local_filter(
        &self,
        path: &mut String,
        depth: usize,
        f: &mut impl FnMut(&str, Option<&str>),
    ) {
        if depth > 0 {
            report_slot(&self.slot, path, f);
        }
        if let Some(hash) = &self.hash {
            with_level(path, depth, "#", |path| report_slot(hash, path, f));
        }
        if let Some(plus) = &self.plus {
            with_level(path, depth, "+", |path| {
                plus.each_local_filter(path, depth + 1, f)
            });
        }
        for (level, child) in &self.literal {
            with_level(path, depth, level, |path| {
                child.each_local_filter(path, depth + 1, f)
            });
        }
    }
}

/// Runs `body` with `level` appended to `path`, then restores `path`.
fn with_level(path: &mut String, depth: usize, level: &str, body: impl FnOnce(&mut String)) {
    let len = path.len();
    if depth > 0 {
        path.push('/');
    }
    path.push_str(level);
    body(path);
    path.truncate(len);
}

fn report_slot<S>(slot: &Slot<S>, filter: &str, f: &mut impl FnMut(&str, Option<&str>)) {
    if !slot.local.is_empty() {
        f(filter, None);
    }
    if let Some(shared) = &slot.shared {
        for group in shared.local_groups() {
            f(filter, Some(group));
        }
    }
}
