//! Retained messages (MQTT §3.3.1.3): the last RETAIN message of each
//! topic, kept for subscribers that come later.
//!
//! Every core keeps the whole store so that a SUBSCRIBE is answered from
//! local memory; a change is applied on the publishing core and broadcast
//! over the mesh. The copies share one `Arc<Message>`, so replication
//! costs an index entry per core, not the payload.
//!
//! Topics are kept in order, so a wildcard SUBSCRIBE looks only at the
//! topics under its literal prefix (`devices/42/+/state` reads
//! `devices/42/...`, not every device's topics); only a filter that starts
//! with a wildcard reads them all. Expired messages are dropped when the
//! store is full (at most once a second) and never delivered.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::machine::mqtt::Message;

/// What storing a retained message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retained {
    /// Stored (new topic or replaced).
    Stored,
    /// An empty payload cleared the topic.
    Cleared,
    /// The store is full: a new topic was not kept.
    Full,
}

/// How often a full store may be searched for expired messages: each
/// search reads every topic.
const PURGE_EVERY_MS: u64 = 1_000;

/// One core's copy of the retained messages.
#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: BTreeMap<Box<str>, Arc<Message>>,
    /// Unix ms of the last search for expired messages.
    purged_at: u64,
}

impl RetainedStore {
    /// Stores, replaces or (with an empty payload) clears `msg`'s topic;
    /// a full store first drops what has expired by `unix_ms`.
    pub fn apply(&mut self, msg: &Arc<Message>, max: usize, unix_ms: u64) -> Retained {
        let topic = msg.topic_str();
        if msg.payload().is_empty() {
            self.by_topic.remove(topic);
            return Retained::Cleared;
        }
        if let Some(slot) = self.by_topic.get_mut(topic) {
            *slot = msg.clone();
            return Retained::Stored;
        }
        if self.by_topic.len() >= max && unix_ms >= self.purged_at + PURGE_EVERY_MS {
            self.purged_at = unix_ms;
            self.expire(unix_ms);
        }
        if self.by_topic.len() >= max {
            return Retained::Full;
        }
        self.by_topic.insert(topic.into(), msg.clone());
        Retained::Stored
    }

    /// Calls `f` with each live retained message matching `filter`, in
    /// topic order.
    pub fn matching(&self, filter: &str, unix_ms: u64, mut f: impl FnMut(&Arc<Message>)) {
        let live = |m: &&Arc<Message>| !m.expired(unix_ms);
        let Some(wild) = filter.find(['+', '#']) else {
            self.by_topic
                .get(filter)
                .filter(live)
                .into_iter()
                .for_each(f);
            return;
        };
        // The levels before the first wildcard are literal: only topics
        // starting with them can match. `a/#` also matches `a` itself.
        let prefix = &filter[..wild];
        if filter[wild..].starts_with('#') && !prefix.is_empty() {
            let parent = &prefix[..prefix.len() - 1];
            self.by_topic
                .get(parent)
                .filter(live)
                .into_iter()
                .for_each(&mut f);
        }
        self.by_topic
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(t, _)| t.starts_with(prefix))
            .filter(|(t, _)| wire::mqtt::validate::filter_matches(filter, t))
            .map(|(_, m)| m)
            .filter(live)
            .for_each(&mut f);
    }

    /// Drops expired messages.
    pub fn expire(&mut self, unix_ms: u64) {
        self.by_topic.retain(|_, m| !m.expired(unix_ms));
    }

    /// Topics retained.
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;
    use wire::mqtt::QoS;

    use super::*;
    use crate::machine::mqtt::{Meta, Parts};

    fn msg(topic: &str, expires_at: u64) -> Arc<Message> {
        let parts = Parts {
            topic,
            payload: b"x",
            props: &[],
            sender: "t",
        };
        let meta = Meta {
            qos: QoS::AtMostOnce,
            retain: true,
            high_priority: false,
            droppable: false,
            expires_at,
            origin: 0,
            id: 1,
        };
        Arc::new(Message::new(&mut BytesMut::new(), parts, meta))
    }

    fn store(topics: &[&str]) -> RetainedStore {
        let mut s = RetainedStore::default();
        for t in topics {
            s.apply(&msg(t, 0), usize::MAX, 0);
        }
        s
    }

    fn found(s: &RetainedStore, filter: &str) -> Vec<String> {
        let mut out = Vec::new();
        s.matching(filter, 0, |m| out.push(m.topic_str().to_owned()));
        out.sort();
        out
    }

    #[test]
    fn wildcards_read_under_their_prefix() {
        let s = store(&["a", "a/b", "a/b/c", "ab", "ab/c", "b/a", "$SYS/x", "a/"]);
        assert_eq!(found(&s, "a/#"), ["a", "a/", "a/b", "a/b/c"]);
        assert_eq!(found(&s, "a/+"), ["a/", "a/b"]);
        assert_eq!(found(&s, "+/c"), ["ab/c"]);
        assert_eq!(found(&s, "#").len(), 7, "every topic but $SYS/x");
        assert_eq!(found(&s, "$SYS/#"), ["$SYS/x"]);
        assert_eq!(found(&s, "ab"), ["ab"]);
    }

    #[test]
    fn a_full_store_makes_room_by_dropping_expired_messages() {
        let mut s = RetainedStore::default();
        assert_eq!(s.apply(&msg("old", 5_000), 1, 0), Retained::Stored);
        assert_eq!(s.apply(&msg("new", 0), 1, 4_000), Retained::Full);
        assert_eq!(s.apply(&msg("new", 0), 1, 6_000), Retained::Stored);
        assert_eq!(s.len(), 1);
        assert_eq!(found(&s, "new"), ["new"]);
    }

    proptest! {
        /// The prefix-range search finds exactly what a scan of every
        /// topic finds.
        #[test]
        fn matching_agrees_with_a_full_scan(
            topics in prop::collection::vec("(\\$?[ab]{0,2})(/[ab]{0,2}){0,3}", 0..24),
            filter in "(#|\\+|[ab]{0,2})(/(#|\\+|[ab]{0,2})){0,3}",
        ) {
            let valid = |t: &&str| wire::mqtt::validate::topic_name(t);
            let refs: Vec<&str> = topics.iter().map(String::as_str).filter(valid).collect();
            let s = store(&refs);
            prop_assume!(wire::mqtt::validate::topic_filter(&filter));
            let mut want: Vec<String> = s
                .by_topic
                .keys()
                .filter(|t| wire::mqtt::validate::filter_matches(&filter, t))
                .map(|t| t.to_string())
                .collect();
            want.sort();
            prop_assert_eq!(found(&s, &filter), want);
        }
    }
}
