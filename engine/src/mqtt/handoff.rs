//! A session's new core after a move: neither a lost nor a repeated
//! publish.
//!
//! Before a session from core A lands on core B, other cores may already
//! have sent B publishes the session should get (B has other subscribers
//! of them), and B cannot match them against a session it does not have
//! yet; A may handle its copies only after the session left, and then
//! does not pass them on (B was sent them). After the session lands, B may
//! still receive copies of publishes that A had put in the session before
//! sending it.
//!
//! Each core numbers the publishes it originates, and every cross-core
//! copy carries its publisher's core and number. A core remembers, per
//! other core, the last number it received straight from it; A sends
//! those marks (and its own count) with the session. So B knows exactly
//! what the session already holds: of a publish numbered `n` by core `c`,
//! the session has it if `n <= marks[c]`. With more than one core, B
//! keeps the last [`RECENT_MAX`] publishes it handled (at most
//! [`RECENT_BYTES_MAX`] of them) and gives a session
//! that lands the ones it lacks; later copies it already holds are
//! skipped. A core that lags another by more than that many publishes on
//! the same publisher's stream can still lose one for a moving session.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::message::Message;
use super::subscribe::split_shared;
use super::SubOptions;
use crate::core_state::CoreState;

/// How long a session that arrived skips copies it already holds. Older
/// copies would have sat in a ring for this long.
const SKIP_MS: u64 = 2_000;

/// Publishes kept for sessions that may land here, at most...
const RECENT_MAX: usize = 16_384;
/// ... and their bytes (topic, payload, properties) at most.
const RECENT_BYTES_MAX: usize = 16 << 20;

/// One core's numbering of publishes and what it knows of the others'.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// Publishes this core originated.
    count: u64,
    /// Per core: the number of the last publish received straight from it.
    seen: Vec<u64>,
    /// The last publishes handled here, for sessions that land.
    recent: VecDeque<Held>,
    /// Bytes of the messages in `recent`.
    recent_bytes: usize,
    /// Sessions that arrived lately, by key: what they hold already.
    arrived: HashMap<usize, Arrived>,
}

#[derive(Debug)]
struct Held {
    core: u16,
    number: u64,
    msg: Arc<Message>,
}

#[derive(Debug)]
struct Arrived {
    uid: u64,
    marks: Box<[u64]>,
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

    /// Keeps a publish for sessions that may land here.
    fn remember(&mut self, core: u16, number: u64, msg: &Arc<Message>) {
        self.recent_bytes += msg.size();
        while self.recent.len() >= RECENT_MAX || self.recent_bytes > RECENT_BYTES_MAX {
            let Some(old) = self.recent.pop_front() else {
                break;
            };
            self.recent_bytes -= old.msg.size();
        }
        self.recent.push_back(Held {
            core,
            number,
            msg: msg.clone(),
        });
    }

    /// Forgets the arrivals older than [`SKIP_MS`].
    pub(crate) fn expire(&mut self, now_ms: u64) {
        self.arrived.retain(|_, a| a.until_ms > now_ms);
    }
}

impl CoreState {
    /// Keeps a publish (numbered `number` by `core`) for sessions that
    /// may land here; a node of one core has none.
    pub(crate) fn remember_publish(&mut self, core: u16, number: u64, msg: &Arc<Message>) {
        if self.mesh.cores() > 1 {
            self.mqtt.handoff.remember(core, number, msg);
        }
    }

    /// Session `key` arrived holding what `marks` say: give it the kept
    /// publishes it lacks, and let later copies it holds be skipped.
    pub(crate) fn session_arrived(&mut self, key: usize, marks: Box<[u64]>) {
        let Some(s) = self.mqtt.sessions.get(key) else {
            return;
        };
        let (uid, subs) = (s.uid, s.subs().to_vec());
        let lacks = |h: &Held| marks.get(usize::from(h.core)).is_none_or(|&m| h.number > m);
        let due: Vec<(Arc<Message>, Vec<SubOptions>)> = (self.mqtt.handoff.recent.iter())
            .filter(|h| lacks(h))
            .filter_map(|h| Some((h.msg.clone(), matching(&subs, uid, &h.msg)?)))
            .collect();
        let until_ms = self.now_ms + SKIP_MS;
        let arrived = Arrived {
            uid,
            marks,
            until_ms,
        };
        self.mqtt.handoff.arrived.insert(key, arrived);
        for (msg, opts) in due {
            let out = super::fanout::outgoing(&msg, &opts);
            let server = (crate::core_state::SERVER_ORIGIN, 0);
            self.deliver_to_subscriber(key as u64, out, server, &mut None);
        }
    }
}

/// The options of the session's plain subscriptions that `msg` matches
/// (no-local ones left out for its own publishes); `None` if none.
fn matching(subs: &[(Box<str>, SubOptions)], uid: u64, msg: &Message) -> Option<Vec<SubOptions>> {
    let own = msg.meta.origin == uid;
    let topic = msg.topic_str();
    let opts: Vec<SubOptions> = subs
        .iter()
        .filter(|(_, o)| !(own && o.no_local))
        .filter(|(f, _)| match split_shared(f) {
            Some((None, proper)) => wire::mqtt::validate::filter_matches(proper, topic),
            _ => false,
        })
        .map(|(_, o)| *o)
        .collect();
    (!opts.is_empty()).then_some(opts)
}
