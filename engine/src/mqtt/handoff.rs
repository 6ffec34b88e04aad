//! A session's new core after a move: neither a lost nor a repeated
//! publish.
//!
//! Before a session from core A lands on core B, other cores may already
//! have sent B publishes the session should get (B has other subscribers
//! of them), and B cannot match them against a session it does not have
//! yet; A may handle its own copies only after the session left. After the
//! session lands, B may still receive copies of publishes that A had put
//! in the session before sending it.
//!
//! Each core numbers the publishes it originates, and every cross-core
//! copy carries its publisher's core and number. A core remembers, per
//! other core, the last number it received straight from it; A sends
//! those marks (and its own count) with the session, so B knows what the
//! session holds: of a publish numbered `n` by core `c`, the session has
//! it if `n <= marks[c]`, and B skips such copies for a while. When the
//! session lands B notes its own marks too. A copy that A handles after
//! the session left, and that B was sent as well, A passes to B marked as
//! for the sessions that came from A (`to_arrived`); B gives it to such a
//! session only if B had handled its own copy before the session landed
//! (`n <= arrival[c]`): then the session missed it; otherwise B's own copy
//! reached it.

use std::collections::HashMap;
use std::sync::Arc;

use super::fanout::{drop_no_local, outgoing};
use super::message::Message;
use crate::core_state::CoreState;

/// How long a session that arrived skips copies it already holds. Older
/// copies would have sat in a ring for this long.
const SKIP_MS: u64 = 2_000;

/// One core's numbering of publishes and what it knows of the others'.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// Publishes this core originated.
    count: u64,
    /// Per core: the number of the last publish received straight from it.
    seen: Vec<u64>,
    /// Sessions that arrived lately, by key: what they hold already.
    arrived: HashMap<usize, Arrived>,
}

#[derive(Debug)]
struct Arrived {
    uid: u64,
    /// The core it came from.
    from: u16,
    /// What it held when it came: its old core's marks.
    marks: Box<[u64]>,
    /// This core's marks when it landed.
    arrival: Box<[u64]>,
    until_ms: u64,
}

impl Handoff {
    /// Numbers a publish this core originates.
    pub(crate) fn number_own(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    /// The number of the publish this core originated last.
    pub(crate) fn last_own(&self) -> u64 {
        self.count
    }

    /// A publish numbered `number` arrived straight from `core`.
    pub(crate) fn note(&mut self, core: u16, number: u64) {
        let c = usize::from(core);
        if self.seen.len() <= c {
            self.seen.resize(c + 1, 0);
        }
        self.seen[c] = number;
    }

    /// What a session leaving this core (`me`) holds: per core, the last
    /// publish this core handled from it.
    pub(crate) fn marks(&self, me: u16) -> Box<[u64]> {
        let mut marks = self.seen.clone();
        let me = usize::from(me);
        if marks.len() <= me {
            marks.resize(me + 1, 0);
        }
        marks[me] = self.count;
        marks.into_boxed_slice()
    }

    /// Whether session `key` got publish `number` of `core` before it
    /// came here.
    pub(crate) fn already_has(&self, key: usize, uid: u64, core: u16, number: u64) -> bool {
        self.arrived.get(&key).is_some_and(|a| {
            a.uid == uid && a.marks.get(usize::from(core)).is_some_and(|&m| number <= m)
        })
    }

    /// Whether any session arrived lately (skips may apply).
    pub(crate) fn any_arrived(&self) -> bool {
        !self.arrived.is_empty()
    }

    /// Forgets the arrivals older than [`SKIP_MS`].
    pub(crate) fn expire(&mut self, now_ms: u64) {
        self.arrived.retain(|_, a| a.until_ms > now_ms);
    }
}

impl CoreState {
    /// Session `key` arrived from core `from` holding what `marks` say;
    /// later copies it holds are skipped for a while.
    pub(crate) fn session_arrived(&mut self, key: usize, from: u16, marks: Box<[u64]>) {
        let Some(s) = self.mqtt.sessions.get(key) else {
            return;
        };
        let arrived = Arrived {
            uid: s.uid,
            from,
            marks,
            arrival: self.mqtt.handoff.marks(self.settings.core),
            until_ms: self.now_ms + SKIP_MS,
        };
        self.mqtt.handoff.arrived.insert(key, arrived);
    }

    /// A publish numbered `stamp` that core `from` handled after sessions
    /// left it for this core, which was sent its own copy: given to those
    /// sessions that landed only after this core handled that copy.
    pub(crate) fn deliver_to_arrived(&mut self, from: u16, stamp: (u16, u64), msg: &Arc<Message>) {
        let (core, number) = (usize::from(stamp.0), stamp.1);
        let missed = |a: &Arrived| {
            a.from == from
                && a.marks.get(core).is_none_or(|&m| number > m)
                && a.arrival.get(core).is_some_and(|&m| number <= m)
        };
        let keys: Vec<(usize, u64)> = (self.mqtt.handoff.arrived.iter())
            .filter(|(_, a)| missed(a))
            .map(|(&k, a)| (k, a.uid))
            .collect();
        let mut opts = Vec::new();
        for (key, uid) in keys {
            if self.mqtt.sessions.get(key).is_none_or(|s| s.uid != uid) {
                continue;
            }
            opts.clear();
            let sub = key as u64;
            self.mqtt.index.match_local(msg.topic_str(), |s, o| {
                if s == sub {
                    opts.push(*o);
                }
            });
            drop_no_local(&mut opts, Some(uid), msg);
            if opts.is_empty() {
                continue;
            }
            let out = outgoing(msg, &opts);
            let server = (crate::core_state::SERVER_ORIGIN, 0);
            self.deliver_to_subscriber(sub, out, server, &mut None);
        }
    }
}
