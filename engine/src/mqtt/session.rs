//! A client's session: what outlives its network connection when the
//! client asks for a persistent session (MQTT 5 §4.1): subscriptions,
//! messages in flight each way and the queue of messages waiting for a
//! free slot in the in-flight window or for the client to come back (its
//! [`Flows`]), and what its current connection set: the protocol, the
//! user, the will and the Session Expiry Interval.
//!
//! A session lives on its client id's home core and never leaves it
//! ([`super::home`]): a client reconnecting on another core is sent there.

use std::num::NonZeroU64;
use std::sync::Arc;

use wire::mqtt::ProtocolVersion;

use super::flows::Flows;
use crate::machine::mqtt::Message;
use crate::sys::Token;

/// A subscription's options: kept by the core's topic index per entry.
pub use crate::route::topics::SubOptions;

/// A subscription: the filter as written and its options.
pub type Subscription = (Box<str>, SubOptions);

/// The will: published when the connection ends without DISCONNECT.
#[derive(Clone, Debug)]
pub struct WillMessage {
    /// The message (its `retain` is the will's RETAIN).
    pub msg: Arc<Message>,
    /// MQTT 5 Will Delay Interval (s).
    pub delay_s: u32,
}

/// What a connection's CONNECT sets on its session.
#[derive(Debug, Default)]
pub struct Terms {
    /// Session Expiry Interval (s) after the connection ends.
    pub expiry_s: u32,
    /// The in-flight window towards the client.
    pub window: u16,
    /// The connection's will.
    pub will: Option<WillMessage>,
    /// The user name (ACL checks).
    pub username: Option<Box<str>>,
}

/// A client's session.
#[derive(Debug)]
pub struct Session {
    /// The client identifier.
    client_id: Arc<str>,
    /// Node-unique id (no-local checks, index entries across moves).
    uid: u64,
    /// The protocol of its latest connection.
    version: ProtocolVersion,
    /// The connection on this core, while connected (token + 1, so that
    /// the option costs no extra word).
    conn: Option<NonZeroU64>,
    /// Session Expiry Interval (s) after the connection ends; 0 ends the
    /// session with the connection, `u32::MAX` never.
    expiry_s: u32,
    /// The core's clock (`Clock::unix_ms`) when the connection ended;
    /// expiry counts from it, in milliseconds.
    ended_at_ms: u64,
    /// Subscriptions as the client wrote them (`$share/..` included);
    /// boxed so that a session without any pays one pointer.
    #[allow(clippy::box_collection)]
    subs: Option<Box<Vec<Subscription>>>,
    /// Messages in flight each way, the window and the queue.
    flows: Flows,
    /// The user name of the current connection (ACL checks).
    username: Option<Box<str>>,
    /// The will of the current connection.
    will: Option<WillMessage>,
}

impl Session {
    /// A new, empty session.
    pub fn new(client_id: Arc<str>, uid: u64, version: ProtocolVersion) -> Session {
        Session {
            client_id,
            uid,
            version,
            conn: None,
            expiry_s: 0,
            ended_at_ms: 0,
            subs: None,
            flows: Flows::default(),
            username: None,
            will: None,
        }
    }

    /// The client identifier.
    #[inline]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The node-unique session id (no-local checks, the wills' and away
    /// lists' check that a key still names the same session).
    #[inline]
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// The protocol of its latest connection.
    #[inline]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The user name of the current connection (ACL checks).
    #[inline]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The connection on this core, while connected.
    #[inline]
    pub fn conn(&self) -> Option<Token> {
        self.conn.map(|t| t.get() - 1)
    }

    /// Binds the session to connection `token` (protocol `version`) and
    /// takes on what its CONNECT asked for.
    pub fn attach(&mut self, token: Token, version: ProtocolVersion, terms: Terms) {
        self.version = version;
        self.set_conn(Some(token));
        self.expiry_s = terms.expiry_s;
        self.flows.set_window(terms.window);
        self.will = terms.will;
        self.username = terms.username;
    }

    /// Unbinds the session from its connection (taken over by a new one)
    /// and returns that connection.
    pub fn detach(&mut self) -> Option<Token> {
        let old = self.conn();
        self.set_conn(None);
        old
    }

    /// The connection ended at `now_ms` (`Clock::unix_ms`, the core's wall
    /// clock): the session is away from then on, its expiry counting from
    /// it. Returns the will, to publish now or after its delay.
    pub fn ended(&mut self, now_ms: u64) -> Option<WillMessage> {
        self.set_conn(None);
        self.ended_at_ms = now_ms;
        self.will.take()
    }

    /// Session Expiry Interval (s) after the connection ends; 0 ends the
    /// session with the connection, `u32::MAX` never.
    #[inline]
    pub fn expiry_s(&self) -> u32 {
        self.expiry_s
    }

    /// Whether the session, away since it [`ended`](Session::ended), has
    /// outlived its Session Expiry Interval at `now_ms` (never while
    /// connected, never for `u32::MAX`).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.conn.is_none()
            && self.expiry_s != u32::MAX
            && crate::timers::passed(self.ended_at_ms, now_ms, u64::from(self.expiry_s) * 1000)
    }

    /// What the client's DISCONNECT asks of the session: the will is
    /// dropped unless `keep_will`, and a Session Expiry Interval in it
    /// (capped at `max_expiry_s`) replaces the session's. Returns false,
    /// keeping the expiry, if that would make persistent a session that
    /// was to end with its connection (§3.14.2.2.2: a protocol error).
    pub fn on_disconnect(
        &mut self,
        keep_will: bool,
        expiry_s: Option<u32>,
        max_expiry_s: u32,
    ) -> bool {
        if !keep_will {
            self.will = None;
        }
        if let Some(e) = expiry_s {
            if self.expiry_s == 0 && e != 0 {
                return false;
            }
            self.expiry_s = e.min(max_expiry_s);
        }
        true
    }

    /// Takes the will of the current connection.
    #[inline]
    pub fn take_will(&mut self) -> Option<WillMessage> {
        self.will.take()
    }

    /// Messages in flight each way, the window and the queue.
    #[inline]
    pub fn flows(&self) -> &Flows {
        &self.flows
    }

    /// The flows, to change.
    #[inline]
    pub fn flows_mut(&mut self) -> &mut Flows {
        &mut self.flows
    }

    /// The options of the subscription to `filter`, if any.
    pub fn sub(&self, filter: &str) -> Option<&SubOptions> {
        self.subs()
            .iter()
            .find(|(f, _)| &**f == filter)
            .map(|(_, o)| o)
    }

    /// Subscriptions, as the client wrote them.
    pub fn subs(&self) -> &[Subscription] {
        self.subs.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Adds or replaces the subscription to `filter`.
    pub fn set_sub(&mut self, filter: &str, opts: SubOptions) {
        let subs = self.subs.get_or_insert_with(Box::default);
        match subs.iter_mut().find(|(f, _)| &**f == filter) {
            Some(entry) => entry.1 = opts,
            None => subs.push((filter.into(), opts)),
        }
    }

    /// Removes the subscription to `filter`; false if there was none.
    pub fn remove_sub(&mut self, filter: &str) -> bool {
        let Some(subs) = self.subs.as_mut() else {
            return false;
        };
        let Some(i) = subs.iter().position(|(f, _)| &**f == filter) else {
            return false;
        };
        subs.swap_remove(i);
        if subs.is_empty() {
            self.subs = None;
        }
        true
    }

    /// Binds the session to a connection (or to none).
    fn set_conn(&mut self, token: Option<Token>) {
        // Tokens stay below 2^56 (conn/table.rs), so + 1 cannot overflow.
        self.conn = token.and_then(|t| NonZeroU64::new(t + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock reading far from zero, as a Unix clock is.
    const T0: u64 = 1_800_000_000_123;

    fn terms(expiry_s: u32) -> Terms {
        Terms {
            expiry_s,
            window: 10,
            will: Some(WillMessage {
                msg: Arc::new(crate::machine::mqtt::message::test_message(1, 0)),
                delay_s: 0,
            }),
            username: Some("u".into()),
        }
    }

    #[test]
    fn session_expiry_counts_in_milliseconds() {
        let mut s = Session::new("dev".into(), 1, ProtocolVersion::V5);
        s.attach(7, ProtocolVersion::V5, terms(2));
        assert_eq!(s.conn(), Some(7));
        assert!(!s.expired(u64::MAX), "a connected session does not expire");
        assert!(s.ended(T0 + 999).is_some(), "its will");
        assert_eq!(s.conn(), None);
        assert!(!s.expired(T0 + 2_999));
        assert!(s.expired(T0 + 3_000));
        s.attach(1, ProtocolVersion::V311, terms(2));
        assert!(!s.expired(u64::MAX), "a connected session does not expire");
        assert_eq!(s.detach(), Some(1));
        assert_eq!(s.conn(), None);
    }

    #[test]
    fn a_disconnect_cannot_make_an_ending_session_persistent() {
        let mut s = Session::new("dev".into(), 1, ProtocolVersion::V5);
        s.attach(1, ProtocolVersion::V5, terms(0));
        assert!(!s.on_disconnect(true, Some(5), 60));
        assert_eq!(s.expiry_s(), 0);
        assert!(s.take_will().is_some(), "kept");
        s.attach(1, ProtocolVersion::V5, terms(10));
        assert!(s.on_disconnect(false, Some(120), 60));
        assert_eq!(s.expiry_s(), 60, "capped");
        assert!(s.take_will().is_none(), "dropped");
        assert!(s.on_disconnect(true, Some(0), 60));
        assert_eq!(s.expiry_s(), 0);
    }
}
