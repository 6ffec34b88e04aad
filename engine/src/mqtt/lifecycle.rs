//! How connections and sessions end: keep-alive and CONNECT timeouts, the
//! will (now, or after its delay), session expiry, and the mesh messages
//! that carry the broker's work between cores.

use std::sync::Arc;

use crate::core_state::CoreState;
use crate::mesh::MeshMsg;
use crate::metrics;
use crate::sys::Token;
use crate::timers;

use super::inbound::reason;
use crate::machine::mqtt::{Limits, Message, MqttConn};

/// A will waiting out its delay: (due at, in `unix_ms`; the session's uid;
/// the message).
pub(crate) type DelayedWill = (u64, u64, Arc<Message>);

impl CoreState {
    /// A connection left the table: its session is left behind (kept for
    /// its expiry, or ended) and its will goes out.
    pub(crate) fn mqtt_conn_removed(&mut self, token: Token, m: &MqttConn) {
        let Some(key) = m.session().map(|k| k as usize) else {
            return;
        };
        if self
            .mqtt
            .sessions
            .get(key)
            .is_some_and(|s| s.conn() == Some(token))
        {
            self.session_left(key);
        }
    }

    /// The session's client is gone: publish or delay its will, then keep
    /// the session until it expires, or end it now.
    pub(crate) fn session_left(&mut self, key: usize) {
        let now = self.core.unix_ms;
        let Some(s) = self.mqtt.sessions.get_mut(key) else {
            return;
        };
        s.set_conn(None);
        s.ended_at_ms = now;
        let (will, expiry, uid) = (s.will.take(), s.expiry_s, s.uid);
        if let Some(w) = will {
            if w.delay_s == 0 || expiry == 0 {
                self.publish_will(w.msg);
            } else {
                // The session's end publishes it anyway (`end_session`).
                let delay_ms = u64::from(w.delay_s.min(expiry)) * 1000;
                self.mqtt.delayed_wills.push((now + delay_ms, uid, w.msg));
            }
        }
        if expiry == 0 {
            self.end_session(key);
        } else {
            self.mqtt.away.push((key, uid));
        }
    }

    /// Ends a session: its subscriptions go, a will still delayed goes
    /// out now (§3.1.3.2.2), and the client id is free again.
    pub(crate) fn end_session(&mut self, key: usize) {
        if !self.mqtt.sessions.contains(key) {
            return;
        }
        self.unindex_session(key);
        let s = self.mqtt.sessions.remove(key);
        self.mqtt.away.retain(|&(k, _)| k != key);
        let uid = s.uid;
        let mut due = Vec::new();
        self.mqtt.delayed_wills.retain(|w| {
            let mine = w.1 == uid;
            if mine {
                due.push(w.2.clone());
            }
            !mine
        });
        for msg in due {
            self.publish_will(msg);
        }
        metrics::set(
            &self.core.stats.mqtt_sessions,
            self.mqtt.sessions.len() as u64,
        );
    }

    /// Timers, from the reactor's sweep: delayed wills that are due and
    /// sessions that expired, at the tick's `unix_ms`.
    pub fn mqtt_sweep(&mut self) {
        let now = self.core.unix_ms;
        for msg in take_due_wills(&mut self.mqtt.delayed_wills, now) {
            self.publish_will(msg);
        }
        let expired: Vec<usize> = self
            .mqtt
            .away
            .iter()
            .filter(|&&(key, uid)| {
                self.mqtt
                    .sessions
                    .get(key)
                    .is_some_and(|s| s.uid == uid && s.expired(now))
            })
            .map(|&(key, _)| key)
            .collect();
        for key in expired {
            metrics::inc(&self.core.stats.mqtt_sessions_expired_total);
            self.end_session(key);
        }
    }

    /// Keep-alive and CONNECT timeouts of one MQTT connection, last active
    /// at `since` (connection clock) and swept at `now`. Returns false for
    /// other connections, which the generic idle timeout then covers.
    pub fn mqtt_sweep_conn(&mut self, token: Token, since: u32, now: u32) -> bool {
        let Some(conn) = self.core.conns.get(token) else {
            return false;
        };
        let Some(m) = conn.mqtt_ref() else {
            return false;
        };
        // A connection closing for another reason has no timer left.
        if conn.phase.takes_input() {
            let limits = Limits::new(self.mqtt.cfg());
            if let Some(close) = m.handle_timeout(since, now, &limits) {
                self.mqtt_end(token, close);
            }
        }
        true
    }

    /// Ends an MQTT connection for an engine reason (drain, overload):
    /// DISCONNECT with the matching MQTT 5 code.
    pub(crate) fn mqtt_close_for(&mut self, token: Token, code: u16) {
        use wire::ErrorCode as E;
        let r = match code {
            c if c == E::GoingAway as u16 => reason::SHUTTING_DOWN,
            c if c == E::IdleTimeout as u16 => reason::KEEP_ALIVE_TIMEOUT,
            c if c == E::Overload as u16 => reason::QUOTA_EXCEEDED,
            0 => reason::NORMAL,
            _ => reason::UNSPECIFIED,
        };
        self.mqtt_disconnect(token, r, "closed by the server");
    }

    /// The broker's mesh messages.
    pub(crate) fn on_mqtt_mesh(&mut self, from: usize, msg: MeshMsg) {
        match msg {
            MeshMsg::Publish(p) => self.on_topic_publish(from, *p),
            MeshMsg::SharedPublish { msg, filter, group } => {
                self.on_shared_publish(msg, &filter, &group);
            }
            MeshMsg::Retain(msg) => self.retain(&msg),
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
