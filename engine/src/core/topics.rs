//! Topic subscriptions through the core: every stage (the `wire` stage for
//! its SUBSCRIBE frames, the broker for MQTT sessions) changes the core's
//! [`Topics`] here, so that the first local subscriber of a filter and the
//! last are announced to the other cores (`NameKind::Filter` presence),
//! whichever protocol they speak.

use super::{announce, Core};
use crate::mesh::{MeshPort, NameKind};
use crate::route::topic_index::SubscriberId;
use crate::route::topics::{SubOptions, Topics};
use crate::sys::Token;

/// The core's topic subscriptions, with the mesh their changes go out on.
pub struct TopicRoutes<'a> {
    topics: &'a mut Topics,
    mesh: &'a mut MeshPort,
}

impl Core {
    /// The topic subscriptions, to change ([`TopicRoutes`]); to match a
    /// topic, `registry.topics()`.
    pub fn topics(&mut self) -> TopicRoutes<'_> {
        TopicRoutes {
            topics: self.registry.topics_mut(),
            mesh: &mut self.mesh,
        }
    }
}

impl TopicRoutes<'_> {
    /// Subscribes `sub` to `filter` as written (`$share/{group}/...`
    /// included); false if the filter is refused.
    pub fn subscribe(&mut self, filter: &str, sub: SubscriberId, opts: SubOptions) -> bool {
        match self.topics.subscribe(filter, sub, opts) {
            Some(change) => {
                announce(self.mesh, NameKind::Filter, filter, change);
                true
            }
            None => false,
        }
    }

    /// A `wire`/WebSocket connection's subscription; false if the filter
    /// is refused.
    pub fn subscribe_frames(&mut self, filter: &str, token: Token) -> bool {
        match self.topics.subscribe_frames(filter, token) {
            Some(change) => {
                announce(self.mesh, NameKind::Filter, filter, change);
                true
            }
            None => false,
        }
    }

    /// Ends `sub`'s subscription to `filter` (an unknown one changes
    /// nothing).
    pub fn unsubscribe(&mut self, filter: &str, sub: SubscriberId) {
        let change = self.topics.unsubscribe(filter, sub);
        announce(self.mesh, NameKind::Filter, filter, change);
    }

    /// Ends a `wire`/WebSocket connection's subscription.
    pub fn unsubscribe_frames(&mut self, filter: &str, token: Token) {
        self.unsubscribe(filter, token | crate::route::topics::FRAME_SUBSCRIBER);
    }
}
