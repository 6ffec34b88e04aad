//! The index's rules, one test per rule; `proptests.rs` checks matching
//! against a naive matcher.

use super::*;

/// An index holding one plain subscription per filter; subscriber i is
/// `filters[i]`, its data the filter text.
fn index_of(filters: &[&str]) -> TopicIndex<String> {
    let mut index = TopicIndex::new();
    for (sub, filter) in filters.iter().enumerate() {
        index
            .insert(filter, None, sub as u64, filter.to_string())
            .unwrap();
    }
    index
}

/// The filters (as their data) that match `topic`, sorted.
fn matches(index: &TopicIndex<String>, topic: &str) -> Vec<String> {
    let mut found = Vec::new();
    index.match_local(topic, |_, filter| found.push(filter.clone()));
    found.sort();
    found
}

fn assert_matches(filters: &[&str], topic: &str, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(
        matches(&index_of(filters), topic),
        expected,
        "topic {topic:?}"
    );
}

#[test]
fn a_literal_filter_matches_its_own_levels_only() {
    let filters = ["a/b", "a", "a/b/c", "b/a"];
    assert_matches(&filters, "a/b", &["a/b"]);
    assert_matches(&filters, "a", &["a"]);
    assert_matches(&filters, "a/c", &[]);
    assert_matches(&filters, "A/b", &[]);
}

#[test]
fn plus_matches_exactly_one_level_even_an_empty_one() {
    let filters = ["a/+", "+/+", "/+", "+", "a/+/c"];
    assert_matches(&filters, "a/b", &["a/+", "+/+"]);
    assert_matches(&filters, "a/", &["a/+", "+/+"]);
    assert_matches(&filters, "a", &["+"]);
    assert_matches(&filters, "/finance", &["+/+", "/+"]);
    assert_matches(&filters, "a/b/c", &["a/+/c"]);
    assert_matches(&filters, "a//c", &["a/+/c"]);
    assert_matches(&filters, "a/b/c/d", &[]);
}

#[test]
fn hash_matches_the_parent_and_any_number_of_levels() {
    let filters = ["sport/#", "#", "sport/tennis/#", "+/#"];
    assert_matches(&filters, "sport", &["sport/#", "#", "+/#"]);
    assert_matches(&filters, "sport/", &["sport/#", "#", "+/#"]);
    let deep = ["sport/#", "#", "sport/tennis/#", "+/#"];
    assert_matches(&filters, "sport/tennis/player1/ranking", &deep);
    assert_matches(&filters, "sport/tennis", &deep);
    assert_matches(&filters, "other", &["#", "+/#"]);
    assert_matches(&filters, "/", &["#", "+/#"]);
}

#[test]
fn dollar_topics_are_not_matched_by_a_leading_wildcard() {
    let filters = ["#", "+/x", "+", "+/#", "$SYS/#", "$SYS/+", "$SYS"];
    assert_matches(&filters, "$SYS/x", &["$SYS/#", "$SYS/+"]);
    assert_matches(&filters, "$SYS", &["$SYS/#", "$SYS"]);
    assert_matches(&filters, "$x", &[]);
    // Only the first level counts: `$` further down is an ordinary level.
    assert_matches(&filters, "a/$x", &["#", "+/#"]);
    assert_matches(&filters, "x/x", &["#", "+/x", "+/#"]);
}

#[test]
fn empty_levels_are_real_levels() {
    let filters = ["a//b", "a/b", "a/+/b", "/a", "+/a", "//"];
    assert_matches(&filters, "a//b", &["a//b", "a/+/b"]);
    assert_matches(&filters, "a/b", &["a/b"]);
    assert_matches(&filters, "/a", &["/a", "+/a"]);
    assert_matches(&filters, "//", &["//"]);
}

#[test]
fn overlapping_filters_of_one_subscriber_are_reported_separately() {
    let mut index = TopicIndex::new();
    index.insert("a/+", None, 7, 1).unwrap();
    index.insert("a/#", None, 7, 2).unwrap();
    index.insert("a/b", None, 8, 3).unwrap();
    let mut found = Vec::new();
    index.match_local("a/b", |sub, data| found.push((sub, *data)));
    found.sort_unstable();
    assert_eq!(found, [(7, 1), (7, 2), (8, 3)]);
}

#[test]
fn insert_replaces_and_returns_the_old_data() {
    let mut index = TopicIndex::new();
    assert_eq!(index.insert("a/b", None, 1, 'x'), Ok((None, Change::Up)));
    assert_eq!(
        index.insert("a/b", None, 1, 'y'),
        Ok((Some('x'), Change::None))
    );
    assert_eq!(
        index.insert("a/b", Some("g"), 1, 'z'),
        Ok((None, Change::Up))
    );
    assert_eq!(
        index.insert("a/b", Some("g"), 1, 'w'),
        Ok((Some('z'), Change::None))
    );
    assert_eq!(index.len(), 2);
    let mut found = Vec::new();
    index.match_local("a/b", |sub, data| found.push((sub, *data)));
    assert_eq!(found, [(1, 'y')]);
}

#[test]
fn first_join_is_up_and_last_leave_is_down_per_filter_and_group() {
    let mut index = TopicIndex::new();
    let up = |r: Result<(Option<()>, Change), FilterError>| r.map(|(_, c)| c);
    assert_eq!(up(index.insert("t", None, 1, ())), Ok(Change::Up));
    assert_eq!(up(index.insert("t", None, 2, ())), Ok(Change::None));
    assert_eq!(up(index.insert("t", Some("g"), 1, ())), Ok(Change::Up));
    assert_eq!(up(index.insert("t", Some("h"), 1, ())), Ok(Change::Up));
    assert_eq!(up(index.insert("t", Some("g"), 3, ())), Ok(Change::None));
    assert_eq!(up(index.insert("t/+", None, 1, ())), Ok(Change::Up));

    assert_eq!(index.remove("t", None, 1), (Some(()), Change::None));
    assert_eq!(index.remove("t", None, 1), (None, Change::None));
    assert_eq!(index.remove("t", None, 2), (Some(()), Change::Down));
    assert_eq!(index.remove("t", Some("g"), 1), (Some(()), Change::None));
    assert_eq!(index.remove("t", Some("h"), 1), (Some(()), Change::Down));
    assert_eq!(index.remove("t", Some("g"), 3), (Some(()), Change::Down));
    assert_eq!(index.remove("t", Some("g"), 3), (None, Change::None));
    assert_eq!(index.remove("nope", Some("g"), 3), (None, Change::None));
    assert_eq!(index.len(), 1);
}

#[test]
fn remote_presence_does_not_count_as_local() {
    let mut index = TopicIndex::new();
    index.set_remote("t", None, 4, true);
    assert_eq!(
        index.insert("t", None, 1, ()).map(|(_, c)| c),
        Ok(Change::Up)
    );
    assert_eq!(index.remove("t", None, 1).1, Change::Down);
    assert!(index.is_empty());
    assert_eq!(index.match_local("t", |_, _| {}), 1 << 4);
}

#[test]
fn match_local_returns_the_union_of_remote_cores_of_plain_matches() {
    let mut index: TopicIndex<()> = TopicIndex::new();
    index.set_remote("a/+", None, 1, true);
    index.set_remote("a/#", None, 2, true);
    index.set_remote("a/#", None, 63, true);
    index.set_remote("a/b", None, 1, true);
    index.set_remote("b/#", None, 5, true);
    index.set_remote("a/b", Some("g"), 6, true);
    assert_eq!(
        index.match_local("a/b", |_, _| {}),
        1 << 1 | 1 << 2 | 1 << 63
    );
    assert_eq!(index.match_local("a", |_, _| {}), 1 << 2 | 1 << 63);
    assert_eq!(index.match_local("c", |_, _| {}), 0);

    index.set_remote("a/#", None, 2, false);
    index.set_remote("a/#", None, 9, false);
    assert_eq!(index.match_local("a", |_, _| {}), 1 << 63);
}

#[test]
fn cores_beyond_the_mask_and_refused_filters_are_ignored() {
    let mut index: TopicIndex<()> = TopicIndex::new();
    index.set_remote("a", None, 64, true);
    index.set_remote("a", None, u16::MAX, true);
    index.set_remote("a/#/b", None, 1, true);
    assert_eq!(index.node_count(), 0);
    assert_eq!(index.match_local("a", |_, _| {}), 0);
}

#[test]
fn refused_filters_leave_no_trace() {
    let mut index = TopicIndex::new();
    let deep = "a/".repeat(FILTER_LEVELS_MAX) + "a";
    assert_eq!(index.insert(&deep, None, 1, ()), Err(FilterError::TooDeep));
    let deepest = "+/".repeat(FILTER_LEVELS_MAX - 1) + "#";
    assert_eq!(
        index.insert(&deepest, None, 1, ()).map(|(_, c)| c),
        Ok(Change::Up)
    );
    assert_eq!(index.remove(&deepest, None, 1).1, Change::Down);
    for bad in ["a/#/b", "a+", "", "#/"] {
        assert_eq!(
            index.insert(bad, None, 1, ()),
            Err(FilterError::Invalid),
            "{bad:?}"
        );
    }
    assert_eq!(index.remove("a/#/b", None, 1), (None, Change::None));
    assert_eq!(index.node_count(), 0);
    assert!(index.is_empty());
}

/// A topic deeper than any filter costs no deeper walk than the trie.
#[test]
fn a_very_deep_topic_is_matched_without_trouble() {
    let mut index = TopicIndex::new();
    let filter = "+/".repeat(FILTER_LEVELS_MAX - 1) + "#";
    index.insert(&filter, None, 1, ()).unwrap();
    index.insert("#", None, 2, ()).unwrap();
    let topic = "x/".repeat(32_000);
    let mut found = Vec::new();
    index.match_local(&topic, |sub, _| found.push(sub));
    found.sort_unstable();
    assert_eq!(found, [1, 2]);
    let mut picked = 0;
    index.match_shared(&topic, |_| picked += 1);
    assert_eq!(picked, 0);
}

#[test]
fn removing_everything_prunes_every_node() {
    let mut index = TopicIndex::new();
    let filters = ["a/b/c", "a/+/c", "a/#", "#", "+", "/", "//x", "$SYS/+/y"];
    for (i, filter) in filters.iter().enumerate() {
        let sub = i as u64;
        index.insert(filter, None, sub, ()).unwrap();
        index.insert(filter, None, sub + 100, ()).unwrap();
        index.insert(filter, Some("g"), sub, ()).unwrap();
        index.set_remote(filter, None, 3, true);
        index.set_remote(filter, Some("h"), 4, true);
    }
    assert_eq!(index.len(), filters.len() * 3);
    assert!(index.node_count() > 0);
    for (i, filter) in filters.iter().enumerate() {
        let sub = i as u64;
        index.remove(filter, None, sub);
        index.remove(filter, None, sub + 100);
        index.remove(filter, Some("g"), sub);
        index.set_remote(filter, None, 3, false);
    }
    assert!(index.is_empty());
    assert!(index.node_count() > 0, "group h still has core 4");
    for filter in filters {
        index.set_remote(filter, Some("h"), 4, false);
    }
    assert_eq!(index.node_count(), 0);
    assert_eq!(index.shared_slots, 0);
    assert!(index.root.literal.capacity() <= 4, "spare room given back");
}

/// Every matching group gets one pick per publish, and its targets (local
/// members, then remote cores) take turns.
#[test]
fn shared_picks_rotate_over_local_members_and_remote_cores() {
    let mut index = TopicIndex::new();
    index.insert("s/+", Some("g"), 10, "g:10").unwrap();
    index.insert("s/+", Some("g"), 11, "g:11").unwrap();
    index.set_remote("s/+", Some("g"), 3, true);
    index.set_remote("s/+", Some("g"), 5, true);
    index.insert("s/#", Some("other"), 12, "other:12").unwrap();
    index.insert("s/x", None, 13, "plain").unwrap();
    let mut picks = Vec::new();
    for _ in 0..8 {
        index.match_shared("s/x", |pick| picks.push(describe(&pick)));
    }
    let in_g: Vec<&str> = picks
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("g:"))
        .collect();
    let cycle = ["g:10", "g:11", "g:core 3 s/+", "g:core 5 s/+"];
    assert_eq!(in_g, [cycle, cycle].concat());
    let in_other = picks.iter().filter(|p| p.starts_with("other:"));
    assert!(in_other.clone().all(|p| p == "other:12"));
    assert_eq!(in_other.count(), 8);
    assert_eq!(picks.len(), 16);
}

/// A local pick as its data, a remote one as `group:core N filter`.
fn describe(pick: &SharedPick<'_, &str>) -> String {
    match pick {
        SharedPick::Local(_, label) => label.to_string(),
        SharedPick::Remote {
            core,
            filter,
            group,
        } => format!("{group}:core {core} {filter}"),
    }
}

#[test]
fn shared_groups_follow_the_dollar_rule_and_stay_out_of_match_local() {
    let mut index = TopicIndex::new();
    index.insert("#", Some("g"), 1, ()).unwrap();
    let mut picked = 0;
    index.match_shared("$SYS/x", |_| picked += 1);
    assert_eq!(picked, 0);
    index.match_shared("a/x", |_| picked += 1);
    assert_eq!(picked, 1);
    assert_eq!(
        index.match_local("a/x", |_, _| panic!("shared is not plain")),
        0
    );
}

#[test]
fn a_remote_delivery_rotates_over_local_members_only() {
    let mut index = TopicIndex::new();
    assert_eq!(index.pick_shared_local("s/#", "g"), None);
    index.insert("s/#", Some("g"), 1, 'a').unwrap();
    index.insert("s/#", Some("g"), 2, 'b').unwrap();
    index.set_remote("s/#", Some("g"), 7, true);
    let picks: Vec<_> = (0..4)
        .filter_map(|_| index.pick_shared_local("s/#", "g"))
        .collect();
    assert_eq!(picks, [(1, 'a'), (2, 'b'), (1, 'a'), (2, 'b')]);
    assert_eq!(index.pick_shared_local("s/#", "h"), None);
    assert_eq!(index.pick_shared_local("s/+", "g"), None);
    index.remove("s/#", Some("g"), 1);
    index.remove("s/#", Some("g"), 2);
    assert_eq!(
        index.pick_shared_local("s/#", "g"),
        None,
        "only core 7 is left"
    );
}

#[test]
fn each_local_filter_replays_local_presence_only() {
    let mut index = TopicIndex::new();
    for filter in ["a/b", "a/#", "#", "+/x", "/a", "//"] {
        index.insert(filter, None, 1, ()).unwrap();
    }
    index.insert("a/b", Some("g"), 1, ()).unwrap();
    index.insert("a/b", Some("h"), 2, ()).unwrap();
    index.set_remote("a/b", Some("r"), 3, true);
    index.set_remote("remote/only", None, 3, true);
    let mut seen = Vec::new();
    index.each_local_filter(|filter, group| seen.push(format!("{filter} {group:?}")));
    seen.sort();
    let expected = [
        "# None",
        "+/x None",
        "// None",
        "/a None",
        "a/# None",
        "a/b None",
        "a/b Some(\"g\")",
        "a/b Some(\"h\")",
    ];
    assert_eq!(seen, expected);
}

/// A node per filter level is what a subscription costs; with 8 bytes of
/// data, one subscriber fits in the node without another allocation.
#[test]
fn a_node_stays_small() {
    assert_eq!(std::mem::size_of::<members::Members<u64>>(), 24);
    assert_eq!(std::mem::size_of::<slot::Slot<u64>>(), 40);
    let node = std::mem::size_of::<node::Node<u64>>();
    assert!(node <= 104, "Node grew to {node} bytes");
}
