//! Publishes that reach a session's old core after the session moved on.
//!
//! A core sends a publish only to the cores its replica of the index shows
//! as subscribed. When a session moves from core A to core B, a third core
//! C may still hold the old picture for a moment: its publish goes to A,
//! which no longer has the session, and B never hears of it. So A keeps,
//! for a while, what it gave away (the session's filters and the core that
//! took them) and passes such publishes on. Every cross-core publish names
//! the cores its publisher sent it to: where C did not send, A's copy is
//! an ordinary one for every subscriber there; where C did, it is only for
//! the sessions that came from A, which `handoff` gives it to if they
//! missed C's copy. No subscriber gets a copy twice.
//!
//! The third core may also have learnt that A lost the session's filters
//! before it learns that B gained them, and then sends to neither. So A
//! does not say it lost them until the window is over: until then the
//! other cores keep sending to A, which passes the publishes on.
//!
//! A reconnect storm moves many sessions at once, so the plain filters
//! given away are kept in a small topic index of their own (the new core
//! as its remote presence bit): a publish is matched once, however many
//! sessions moved.

use std::sync::Arc;

use super::message::Message;
use super::subscribe::split_shared;
use super::topic_index::TopicIndex;
use crate::core_state::CoreState;
use crate::mesh::{Lane, MeshMsg, NameKind, TopicPublish};
use crate::metrics;
use crate::route::Change;

/// How long a moved session's old core passes publishes on. A presence
/// message crosses the mesh within a tick (microseconds to a millisecond);
/// this leaves three orders of magnitude for a stalled core.
const FORWARD_MS: u64 = 2_000;

/// Filters handed to another core with a session, and until when
/// publishes for them are passed on there.
#[derive(Debug, Default)]
pub(crate) struct Forwards {
    list: Vec<Forward>,
    /// The plain filters of `list`, each with the cores that took it.
    plain: TopicIndex<()>,
}

#[derive(Debug)]
struct Forward {
    to: u16,
    filters: Vec<Box<str>>,
    /// Filters this core has no local subscriber of any more since the
    /// move; the other cores are told when the window ends.
    gone: Vec<Box<str>>,
    until_ms: u64,
}

impl Forwards {
    /// Records that `filters` moved to core `to` at `now_ms`, leaving
    /// this core without a local subscriber of `gone`.
    pub(crate) fn add(
        &mut self,
        to: u16,
        filters: Vec<Box<str>>,
        gone: Vec<Box<str>>,
        now_ms: u64,
    ) {
        if filters.is_empty() {
            return;
        }
        let f = Forward {
            to,
            filters,
            gone,
            until_ms: now_ms + FORWARD_MS,
        };
        index_plain(&mut self.plain, &f);
        self.list.push(f);
    }

    /// Forgets what is older than [`FORWARD_MS`]; returns the filters
    /// whose loss no remaining window holds back any more.
    pub(crate) fn expire(&mut self, now_ms: u64) -> Vec<Box<str>> {
        let before = self.list.len();
        let mut gone = Vec::new();
        self.list.retain_mut(|f| {
            let live = f.until_ms > now_ms;
            if !live {
                gone.append(&mut f.gone);
            }
            live
        });
        let held = |g: &str| self.list.iter().any(|f| f.gone.iter().any(|h| &**h == g));
        gone.retain(|g| !held(g));
        gone.sort_unstable();
        gone.dedup();
        if self.list.len() != before {
            // Several moves may have given the same filter to the same
            // core: rebuild rather than count.
            self.plain = TopicIndex::new();
            for f in &self.list {
                index_plain(&mut self.plain, f);
            }
        }
        gone
    }

    /// The cores that took a plain filter matching `topic` from this core
    /// in the last [`FORWARD_MS`].
    pub(crate) fn recently_took(&self, topic: &str) -> u64 {
        match self.list.is_empty() {
            true => 0,
            false => self.plain.match_local(topic, |_, _| {}),
        }
    }

    /// The core that last took shared filter `filter` of `group`.
    fn core_for_shared(&self, filter: &str, group: &str) -> Option<u16> {
        let took = |s: &str| split_shared(s) == Some((Some(group), filter));
        self.list
            .iter()
            .rev()
            .find(|f| f.filters.iter().any(|s| took(s)))
            .map(|f| f.to)
    }
}

impl CoreState {
    /// Ends the windows older than [`FORWARD_MS`] and tells the other
    /// cores about the filters this core no longer has.
    pub(crate) fn expire_forwards(&mut self) {
        for filter in self.mqtt.forwards.expire(self.now_ms) {
            if !self.has_local_filter(&filter) {
                self.announce(NameKind::Filter, &filter, Change::Down);
            }
        }
    }

    /// Passes a publish from another core on to the cores that took a
    /// matching session from this one: as an ordinary copy to a core that
    /// was not sent one, as a copy for the moved sessions only to a core
    /// that was (`handoff`).
    pub(crate) fn forward_publish(&mut self, p: &TopicPublish) {
        if self.mqtt.forwards.list.is_empty() {
            return;
        }
        let me = self.settings.core;
        let sent_to = p.sent_to | (1u64 << me);
        let mut cores = self.mqtt.forwards.recently_took(p.msg.topic_str()) & !(1u64 << me);
        while cores != 0 {
            let core = cores.trailing_zeros() as usize;
            cores &= cores - 1;
            let bit = 1u64 << core;
            let fwd = TopicPublish {
                msg: p.msg.clone(),
                frame: p.frame.clone(),
                origin_core: p.origin_core,
                origin_token: p.origin_token,
                // The origin counts answers only from the cores it sent to.
                ticket: None,
                sent_to: sent_to | bit,
                stamp: p.stamp,
                to_arrived: sent_to & bit != 0,
            };
            metrics::inc(&self.stats.mqtt_publishes_forwarded_total);
            // The normal lane: behind the SessionMoved sent on it earlier.
            self.mesh
                .send(core, Lane::Normal, MeshMsg::Publish(Box::new(fwd)));
        }
    }

    /// Passes on a shared-group publish that found no member here, if the
    /// group's member moved to another core.
    pub(crate) fn forward_shared(&mut self, msg: Arc<Message>, filter: &str, group: &str) {
        let Some(core) = self.mqtt.forwards.core_for_shared(filter, group) else {
            return;
        };
        metrics::inc(&self.stats.mqtt_publishes_forwarded_total);
        let m = MeshMsg::SharedPublish {
            msg,
            filter: filter.into(),
            group: group.into(),
        };
        self.mesh.send(core as usize, Lane::Normal, m);
    }
}

fn index_plain(index: &mut TopicIndex<()>, f: &Forward) {
    for s in &f.filters {
        if let Some((None, proper)) = split_shared(s) {
            index.set_remote(proper, None, f.to, true);
        }
    }
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
