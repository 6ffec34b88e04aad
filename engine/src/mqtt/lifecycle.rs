//! How connections and sessions end: the will (now, or after its delay),
//! session expiry, and the mesh messages that carry the broker's work
//! between cores. (A connection's own timers, the CONNECT timeout and
//! keep-alive, are its machine's: `crate::machine::mqtt`.)

use std::sync::Arc;

use super::{Broker, Hub};
use crate::core::{Core, SERVER_ORIGIN};
use crate::machine::mqtt::{Message, MqttConn};
use crate::mesh::MeshMsg;
use crate::metrics;
use crate::sys::Token;
use crate::timers;

/// A will waiting out its delay: (due at, in `unix_ms`; the session's uid;
/// the message).
pub(crate) type DelayedWill = (u64, u64, Arc<Message>);

/// Sessions whose client is away and wills waiting for their delay.
#[derive(Debug, Default)]
pub struct Wills {
    /// Persistent sessions whose client is away: (session key, uid),
    /// checked for expiry by the sweep.
    away: Vec<(usize, u64)>,
    /// Wills waiting for their delay.
    delayed: Vec<DelayedWill>,
}

impl Wills {
    /// Session `key` (`uid`) resumed: it is not away, and a will its
    /// previous connection delayed is not sent (§3.1.3.2.2).
    pub fn resumed(&mut self, key: usize, uid: u64) {
        self.away.retain(|&(k, _)| k != key);
        self.delayed.retain(|w| w.1 != uid);
    }

    /// Session `key`'s wills, taken off the delay (it ends), and its
    /// place among the away sessions.
    fn take_session(&mut self, key: usize, uid: u64) -> Vec<Arc<Message>> {
        self.away.retain(|&(k, _)| k != key);
        let mut due = Vec::new();
        self.delayed.retain(|w| {
            let mine = w.1 == uid;
            if mine {
                due.push(w.2.clone());
            }
            !mine
        });
        due
    }
}

impl Broker {
    /// A connection left the table: its session is left behind (kept for
    /// its expiry, or ended) and its will goes out.
    pub fn conn_removed(&mut self, core: &mut Core, token: Token, m: &MqttConn) {
        let Some(key) = m.session().map(|k| k as usize) else {
            return;
        };
        if self
            .hub
            .sessions
            .get(key)
            .is_some_and(|s| s.conn() == Some(token))
        {
            self.hub.session_left(core, key);
        }
    }
}

impl Hub {
    /// Publishes a will (wills obey the ACL checked at CONNECT).
    pub fn publish_will(&mut self, core: &mut Core, msg: Arc<Message>) {
        metrics::inc(&core.stats().mqtt_wills_published_total);
        self.publish_message(core, (SERVER_ORIGIN, 0), msg, None);
    }

    /// The session's client is gone: publish or delay its will, then keep
    /// the session until it expires, or end it now.
    pub fn session_left(&mut self, core: &mut Core, key: usize) {
        let now = core.clock().unix_ms;
        let Some(s) = self.sessions.get_mut(key) else {
            return;
        };
        let (will, expiry, uid) = (s.ended(now), s.expiry_s(), s.uid());
        if let Some(w) = will {
            if w.delay_s == 0 || expiry == 0 {
                self.publish_will(core, w.msg);
            } else {
                // The session's end publishes it anyway (`end_session`).
                let delay_ms = u64::from(w.delay_s.min(expiry)) * 1000;
                self.wills.delayed.push((now + delay_ms, uid, w.msg));
            }
        }
        if expiry == 0 {
            self.end_session(core, key);
        } else {
            self.wills.away.push((key, uid));
        }
    }

    /// Ends a session: its subscriptions go, a will still delayed goes
    /// out now (§3.1.3.2.2), and the client id is free again.
    pub fn end_session(&mut self, core: &mut Core, key: usize) {
        if !self.sessions.contains(key) {
            return;
        }
        self.unindex_session(core, key);
        let s = self.sessions.remove(key);
        for msg in self.wills.take_session(key, s.uid()) {
            self.publish_will(core, msg);
        }
        metrics::set(&core.stats().mqtt_sessions, self.sessions.len() as u64);
    }

    /// Timers, from the reactor's sweep: delayed wills that are due and
    /// sessions that expired, at the tick's `unix_ms`.
    pub fn sweep(&mut self, core: &mut Core) {
        let now = core.clock().unix_ms;
        for msg in take_due_wills(&mut self.wills.delayed, now) {
            self.publish_will(core, msg);
        }
        let expired: Vec<usize> = self
            .wills
            .away
            .iter()
            .filter(|&&(key, uid)| {
                self.sessions
                    .get(key)
                    .is_some_and(|s| s.uid() == uid && s.expired(now))
            })
            .map(|&(key, _)| key)
            .collect();
        for key in expired {
            metrics::inc(&core.stats().mqtt_sessions_expired_total);
            self.end_session(core, key);
        }
    }

    /// The broker's mesh messages.
    pub fn on_mesh(&mut self, core: &mut Core, from: usize, msg: MeshMsg) {
        match msg {
            MeshMsg::Publish(p) => self.on_topic_publish(core, from, *p),
            MeshMsg::SharedPublish { msg, filter, group } => {
                self.on_shared_publish(core, msg, &filter, &group);
            }
            MeshMsg::Retain(msg) => self.retain(core, &msg),
            _ => {}
        }
    }
}

/// Takes the wills whose delay is over at `now` (`unix_ms`) out of
/// `delayed`.
fn take_due_wills(delayed: &mut Vec<DelayedWill>, now: u64) -> Vec<Arc<Message>> {
    let mut due = Vec::new();
    delayed.retain(|w| {
        let is_due = timers::due(w.0, now);
        if is_due {
            due.push(w.2.clone());
        }
        !is_due
    });
    due
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
