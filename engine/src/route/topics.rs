//! Topic subscriptions of every protocol on one core: MQTT sessions and
//! `wire`/WebSocket envelope connections share one namespace and one
//! [`TopicIndex`]. The core owns it ([`crate::core::Core`]'s registry);
//! the stages subscribe and unsubscribe through [`Topics`], and the broker's
//! fan-out matches here and delivers to whatever it finds (a session key,
//! or a connection token marked [`FRAME_SUBSCRIBER`]).
//!
//! Filters arrive as written (`$share/{group}/{filter}` included) and are
//! split here ([`split_shared`]). The [`Change`] each update returns is
//! what the caller announces to the other cores (`NameKind::Filter`
//! presence), which record it with [`Topics::set_remote`].

use wire::mqtt::validate::{shared_filter, topic_filter};
use wire::mqtt::QoS;

use super::change::Change;
use super::topic_index::{SharedPick, SubscriberId, TopicIndex};
use crate::sys::Token;

/// Index entries with this bit set are `wire`/WebSocket envelope
/// connections (the low bits are their token), not MQTT sessions.
pub const FRAME_SUBSCRIBER: SubscriberId = 1 << 63;

/// A subscription's options (the data the topic index keeps per entry).
/// MQTT's; a `wire` subscriber has [`SubOptions::FRAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubOptions {
    /// Granted QoS.
    pub qos: QoS,
    /// Not delivered the session's own publishes.
    pub no_local: bool,
    /// Keep the RETAIN flag as published (else cleared on live delivery).
    pub retain_as_published: bool,
    /// Subscription Identifier (MQTT 5), 0 for none.
    pub id: u32,
}

impl SubOptions {
    /// What a `wire`/WebSocket subscriber is given: QoS 0, nothing else.
    pub const FRAMES: SubOptions = SubOptions {
        qos: QoS::AtMostOnce,
        no_local: false,
        retain_as_published: false,
        id: 0,
    };
}

/// A filter split into its share group (if any) and the filter proper;
/// `None` if it is not a valid filter.
pub fn split_shared(filter: &str) -> Option<(Option<&str>, &str)> {
    match shared_filter(filter) {
        Ok(Some(s)) => Some((Some(s.group), s.filter)),
        Ok(None) if topic_filter(filter) => Some((None, filter)),
        _ => None,
    }
}

/// One core's topic subscriptions, every protocol's.
#[derive(Debug, Default)]
pub struct Topics {
    index: TopicIndex<SubOptions>,
}

impl Topics {
    /// Subscribes `sub` to `filter` as written (or replaces its options).
    /// `None` if the filter is refused; else what to announce.
    pub fn subscribe(
        &mut self,
        filter: &str,
        sub: SubscriberId,
        opts: SubOptions,
    ) -> Option<Change> {
        let (group, proper) = split_shared(filter)?;
        let (_, change) = self.index.insert(proper, group, sub, opts).ok()?;
        Some(change)
    }

    /// A `wire`/WebSocket connection's subscription to `filter`.
    pub fn subscribe_frames(&mut self, filter: &str, token: Token) -> Option<Change> {
        self.subscribe(filter, token | FRAME_SUBSCRIBER, SubOptions::FRAMES)
    }

    /// Ends `sub`'s subscription to `filter` as written; what to announce.
    pub fn unsubscribe(&mut self, filter: &str, sub: SubscriberId) -> Change {
        match split_shared(filter) {
            Some((group, proper)) => self.index.remove(proper, group, sub).1,
            None => Change::None,
        }
    }

    /// Another core gained its first or lost its last subscriber of
    /// `filter` (`$share/{group}/` included).
    pub fn set_remote(&mut self, filter: &str, core: u16, present: bool) {
        if let Some((group, proper)) = split_shared(filter) {
            self.index.set_remote(proper, group, core, present);
        }
    }

    /// [`TopicIndex::match_local`]: the local plain subscriptions matching
    /// `topic`, and the other cores that need a copy. Does not allocate.
    pub fn match_local(&self, topic: &str, local: impl FnMut(SubscriberId, &SubOptions)) -> u64 {
        self.index.match_local(topic, local)
    }

    /// [`TopicIndex::match_shared`]: one target per matching share group.
    pub fn match_shared(&mut self, topic: &str, pick: impl FnMut(SharedPick<'_, SubOptions>)) {
        self.index.match_shared(topic, pick)
    }

    /// [`TopicIndex::pick_shared_local`]: a local member of a share group
    /// picked for this core by another.
    pub fn pick_shared_local(
        &mut self,
        filter: &str,
        group: &str,
    ) -> Option<(SubscriberId, SubOptions)> {
        self.index.pick_shared_local(filter, group)
    }

    /// Number of local subscriptions, plain and shared.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there is no local subscription.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_and_session_subscribers_share_a_filter() {
        let mut t = Topics::default();
        assert_eq!(t.subscribe_frames("a/+", 7), Some(Change::Up));
        assert_eq!(
            t.subscribe("a/+", 3, SubOptions::FRAMES),
            Some(Change::None)
        );
        assert_eq!(t.subscribe_frames("a/#/b", 7), None);
        let mut seen = Vec::new();
        t.match_local("a/x", |sub, _| seen.push(sub));
        seen.sort_unstable();
        assert_eq!(seen, vec![3, 7 | FRAME_SUBSCRIBER]);
        assert_eq!(t.unsubscribe("a/+", 3), Change::None);
        assert_eq!(t.unsubscribe("a/+", 7 | FRAME_SUBSCRIBER), Change::Down);
        assert!(t.is_empty());
    }

    #[test]
    fn shared_filters_are_split() {
        let mut t = Topics::default();
        assert_eq!(
            t.subscribe("$share/g/s", 1, SubOptions::FRAMES),
            Some(Change::Up)
        );
        let mut picked = Vec::new();
        t.match_shared("s", |p| {
            if let SharedPick::Local(sub, _) = p {
                picked.push(sub)
            }
        });
        assert_eq!(picked, vec![1]);
        assert_eq!(t.unsubscribe("$share/g/s", 1), Change::Down);
    }
}
