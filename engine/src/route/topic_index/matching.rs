//! Matching a topic name against the trie (MQTT 5 §4.7): which slots hold
//! a filter that matches it.
//!
//! A walk follows the topic's levels down the literal child and, at every
//! node, also down the `+` child; a `#` child matches wherever the walk
//! reaches its parent, since `#` also matches the parent level ("sport/#"
//! matches "sport"). The cost is therefore the topic's level count times
//! the number of `+` branches taken, whatever the number of
//! subscriptions. Levels come from a cloned `str::Split`, so a walk does
//! not allocate; its depth is bounded by the trie's (see `node.rs`).
//!
//! The `$` rule [MQTT-4.7.2-1]: a topic starting with `$` is not matched
//! by a filter whose first level is `+` or `#`, so for such a topic the
//! walk starts at the root's literal child. (The root's own slot is never
//! used: a filter has at least one level.)
//!
//! The walk exists twice, shared and mutable, because picking a share
//! group's target moves its round-robin cursor.

use std::str::Split;

use super::node::Node;
use super::slot::Slot;

/// Calls `visit` on the slot of every filter that matches `topic`.
pub(super) fn each_match<'a, S>(
    root: &'a Node<S>,
    topic: &str,
    visit: &mut impl FnMut(&'a Slot<S>),
) {
    let mut levels = topic.split('/');
    if !topic.starts_with('$') {
        return walk(root, levels, visit);
    }
    if let Some(child) = levels.next().and_then(|first| root.literal.get(first)) {
        walk(child, levels, visit);
    }
}

/// [`each_match`] for callers that change the matching slots.
pub(super) fn each_match_mut<S>(
    root: &mut Node<S>,
    topic: &str,
    visit: &mut impl FnMut(&mut Slot<S>),
) {
    let mut levels = topic.split('/');
    if !topic.starts_with('$') {
        return walk_mut(root, levels, visit);
    }
    if let Some(child) = levels.next().and_then(|first| root.literal.get_mut(first)) {
        walk_mut(child, levels, visit);
    }
}

/// Visits the matches below `node`, which matched every level before
/// `levels`.
fn walk<'a, S>(
    node: &'a Node<S>,
    mut levels: Split<'_, char>,
    visit: &mut impl FnMut(&'a Slot<S>),
) {
    if let Some(hash) = &node.hash {
        visit(hash);
    }
    let Some(level) = levels.next() else {
        visit(&node.slot);
        return;
    };
    if let Some(plus) = &node.plus {
        walk(plus, levels.clone(), visit);
    }
    if let Some(child) = node.literal.get(level) {
        walk(child, levels, visit);
    }
}

fn walk_mut<S>(
    node: &mut Node<S>,
    mut levels: Split<'_, char>,
    visit: &mut impl FnMut(&mut Slot<S>),
) {
    if let Some(hash) = &mut node.hash {
        visit(hash);
    }
    let Some(level) = levels.next() else {
        visit(&mut node.slot);
        return;
    };
    if let Some(plus) = &mut node.plus {
        walk_mut(plus, levels.clone(), visit);
    }
    if let Some(child) = node.literal.get_mut(level) {
        walk_mut(child, levels, visit);
    }
}
