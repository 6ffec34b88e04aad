//! Random filters and topics from a small alphabet of levels (so that
//! matches are frequent), the trie against a naive matcher that reads
//! §4.7 one filter at a time.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// Whether `filter` matches `topic`, straight from the rules.
fn naive_match(filter: &str, topic: &str) -> bool {
    let leading_wildcard = filter.starts_with('+') || filter.starts_with('#');
    if topic.starts_with('$') && leading_wildcard {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            _ => return false,
        }
    }
}

const LEVELS: [&str; 4] = ["a", "b", "$x", ""];

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&LEVELS[..]), 1..5)
        .prop_map(|levels| levels.join("/"))
}

fn filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![prop::sample::select(&LEVELS[..]), Just("+")];
    let levels = prop::collection::vec(level, 0..5);
    (levels, any::<bool>()).prop_filter_map("a filter is not empty", |(mut levels, hash)| {
        if hash {
            levels.push("#");
        }
        let filter = levels.join("/");
        (!filter.is_empty()).then_some(filter)
    })
}

/// Distinct filters, each with a subscriber id (its position) and a
/// remote core (its position modulo 64).
fn filters() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(filter(), 1..40).prop_map(|set| set.into_iter().collect())
}

/// The ids of the filters that match `topic`, by the naive rules.
fn expected(filters: &[String], topic: &str) -> Vec<u64> {
    let matching = filters
        .iter()
        .enumerate()
        .filter(|(_, f)| naive_match(f, topic));
    matching.map(|(i, _)| i as u64).collect()
}

fn remote_bits(ids: &[u64]) -> u64 {
    ids.iter().fold(0, |bits, id| bits | 1 << (id % 64))
}

proptest! {
    #[test]
    fn match_local_agrees_with_the_naive_matcher(filters in filters(), topics in prop::collection::vec(topic(), 1..20)) {
        let mut index = TopicIndex::new();
        for (i, filter) in filters.iter().enumerate() {
            index.insert(filter, None, i as u64, filter.clone()).unwrap();
            index.set_remote(filter, None, (i % 64) as u16, true);
        }
        let mut replayed = Vec::new();
        index.each_local_filter(|filter, group| {
            assert_eq!(group, None);
            replayed.push(filter.to_string());
        });
        replayed.sort();
        prop_assert_eq!(&replayed, &filters);
        for topic in &topics {
            let mut found = Vec::new();
            let remote = index.match_local(topic, |sub, data| {
                assert_eq!(data, &filters[sub as usize]);
                found.push(sub);
            });
            found.sort_unstable();
            let want = expected(&filters, topic);
            prop_assert_eq!(&found, &want, "topic {:?}", topic);
            prop_assert_eq!(remote, remote_bits(&want));
        }
        for (i, filter) in filters.iter().enumerate() {
            prop_assert_eq!(index.remove(filter, None, i as u64).1, Change::Down);
            index.set_remote(filter, None, (i % 64) as u16, false);
        }
        prop_assert_eq!(index.node_count(), 0);
    }

    #[test]
    fn match_shared_picks_once_per_matching_group(filters in filters(), topics in prop::collection::vec(topic(), 1..20)) {
        let mut index = TopicIndex::new();
        for (i, filter) in filters.iter().enumerate() {
            index.insert(filter, Some("g"), i as u64, ()).unwrap();
        }
        for topic in &topics {
            let mut found = Vec::new();
            index.match_shared(topic, |pick| match pick {
                SharedPick::Local(sub, _) => found.push(sub),
                SharedPick::Remote { .. } => found.push(u64::MAX),
            });
            found.sort_unstable();
            prop_assert_eq!(&found, &expected(&filters, topic), "topic {:?}", topic);
        }
    }

    /// Random subscribe and unsubscribe sequences keep `len` right and
    /// leave nothing behind.
    #[test]
    fn churn_leaves_nothing_behind(ops in prop::collection::vec((filter(), 0..4u64, any::<bool>()), 1..60)) {
        let mut index = TopicIndex::new();
        let mut live = BTreeSet::new();
        for (filter, sub, shared) in &ops {
            let group = shared.then_some("g");
            let key = (filter.clone(), *sub, *shared);
            if live.remove(&key) {
                prop_assert!(index.remove(filter, group, *sub).0.is_some());
            } else {
                prop_assert!(index.insert(filter, group, *sub, ()).unwrap().0.is_none());
                live.insert(key);
            }
            prop_assert_eq!(index.len(), live.len());
        }
        for (filter, sub, shared) in &live {
            index.remove(filter, shared.then_some("g"), *sub);
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.node_count(), 0);
        prop_assert_eq!(index.shared_slots, 0);
    }
}

#[test]
fn the_naive_matcher_knows_the_rules() {
    assert!(naive_match("sport/#", "sport"));
    assert!(naive_match("+/+", "/finance"));
    assert!(!naive_match("+", "/finance"));
    assert!(!naive_match("#", "$SYS"));
    assert!(naive_match("$SYS/#", "$SYS"));
    assert!(!naive_match("a/+", "a"));
}
