//! Retained messages (MQTT §3.3.1.3): the last RETAIN message of each
//! topic, kept for subscribers that come later.
//!
//! Every core keeps the whole store so that a SUBSCRIBE is answered from
//! local memory; a change is applied on the publishing core and broadcast
//! over the mesh. The copies share one `Arc<Message>`, so replication
//! costs an index entry per core, not the payload.

use std::collections::HashMap;
use std::sync::Arc;

use super::message::Message;

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

/// One core's copy of the retained messages.
#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: HashMap<Box<str>, Arc<Message>>,
}

impl RetainedStore {
    /// Stores, replaces or (with an empty payload) clears `msg`'s topic.
    pub fn apply(&mut self, msg: &Arc<Message>, max: usize) -> Retained {
        let topic = msg.topic_str();
        if msg.payload().is_empty() {
            self.by_topic.remove(topic);
            return Retained::Cleared;
        }
        if let Some(slot) = self.by_topic.get_mut(topic) {
            *slot = msg.clone();
            return Retained::Stored;
        }
        if self.by_topic.len() >= max {
            return Retained::Full;
        }
        self.by_topic.insert(topic.into(), msg.clone());
        Retained::Stored
    }

    /// Calls `f` with each live retained message matching `filter`.
    /// A filter without wildcards is one lookup; a wildcard filter scans
    /// the store (subscribes are rare next to publishes).
    pub fn matching(&self, filter: &str, unix_ms: u64, mut f: impl FnMut(&Arc<Message>)) {
        let live = |m: &&Arc<Message>| !m.expired(unix_ms);
        if !filter.contains(['+', '#']) {
            self.by_topic
                .get(filter)
                .filter(live)
                .into_iter()
                .for_each(f);
            return;
        }
        self.by_topic
            .iter()
            .filter(|(t, _)| wire::mqtt::validate::filter_matches(filter, t))
            .map(|(_, m)| m)
            .filter(live)
            .for_each(&mut f);
    }

    /// Drops expired messages (from the sweep).
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
