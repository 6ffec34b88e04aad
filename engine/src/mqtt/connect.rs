//! CONNECT: credentials, the client id, the session (new, or resumed and
//! taken over from an earlier connection: always on this core, the client
//! id's home, `home`), then CONNACK.

use std::sync::Arc;

use wire::mqtt::{
    Connack, Connect, Packet, PropertiesBuf, PropertyId, PropertyValue, ProtocolVersion, ReasonCode,
};

use super::auth::{Access, AuthResult};
use super::connection::close;
use super::publish::MessageSpec;
use super::session::{Session, Terms, WillMessage};
use super::Broker;
use crate::conn::Conn;
use crate::core::Core;
use crate::machine::mqtt::reason;
use crate::metrics;
use crate::sys::Token;

/// What a CONNECT asked for.
#[derive(Debug)]
pub struct PendingConnect {
    /// The client id (assigned if the client sent none).
    pub client_id: Arc<str>,
    /// Start a new session.
    pub clean_start: bool,
    /// What the session takes on: expiry, window, will, user.
    pub terms: Terms,
    /// The id was assigned by the server (sent back in MQTT 5).
    pub assigned: bool,
    /// Server Keep Alive to announce (MQTT 5), if the client's was capped.
    pub server_keep_alive: Option<u16>,
}

impl Broker {
    /// Handles CONNECT; returns once CONNACK is queued or the session is
    /// on its way from another core.
    pub fn on_connect(
        &mut self,
        core: &mut Core,
        token: Token,
        c: &Connect<'_>,
        server_keep_alive: Option<u16>,
    ) {
        if self.leaving.send_home(core, token, c) {
            return;
        }
        if c.properties
            .get(PropertyId::AUTHENTICATION_METHOD)
            .is_some()
        {
            return self.refuse_connect(core, token, reason::BAD_AUTH_METHOD, 5);
        }
        if core.draining() {
            return self.refuse_connect(core, token, reason::UNAVAILABLE, 3);
        }
        if c.client_id.is_empty() && !c.clean_start && !c.version.is_v5() {
            // 3.1.1 §3.1.3.1: a zero-length id needs CleanSession = 1.
            return self.refuse_connect(core, token, reason::CLIENT_ID_INVALID, 2);
        }
        let auth = &self.shared.auth;
        match auth.check(c.client_id, c.username, c.password) {
            AuthResult::Allowed => {}
            AuthResult::BadCredentials => {
                return self.refuse_connect(core, token, reason::BAD_CREDENTIALS, 4)
            }
            AuthResult::NotAuthorized => {
                return self.refuse_connect(core, token, reason::NOT_AUTHORIZED, 5)
            }
        }
        if let Some(w) = &c.will {
            if !self.shared.acl.allows(c.username, Access::Publish, w.topic) {
                metrics::inc(&core.stats().mqtt_acl_denied_total);
                return self.refuse_connect(core, token, reason::NOT_AUTHORIZED, 5);
            }
        }
        let pending = self.connect_params(core, c, server_keep_alive);
        // This is the client id's home core (`home`): its session, if it
        // has one, is here.
        let existing = self.detach_local_session(core, &pending.client_id, pending.clean_start);
        self.finish_connect(core, token, pending, existing);
    }

    fn connect_params(
        &mut self,
        core: &mut Core,
        c: &Connect<'_>,
        server_keep_alive: Option<u16>,
    ) -> PendingConnect {
        let cfg = self.cfg();
        let (max_expiry, max_inflight) = (cfg.max_session_expiry_s, cfg.max_inflight);
        let expiry_s = match c.version {
            ProtocolVersion::V5 => match c.properties.get(PropertyId::SESSION_EXPIRY_INTERVAL) {
                Some(PropertyValue::U32(e)) => e.min(max_expiry),
                _ => 0,
            },
            ProtocolVersion::V311 if c.clean_start => 0,
            ProtocolVersion::V311 => max_expiry,
        };
        let client_window = match c.properties.get(PropertyId::RECEIVE_MAXIMUM) {
            Some(PropertyValue::U16(n)) => n,
            _ => u16::MAX,
        };
        let (client_id, assigned) = if c.client_id.is_empty() {
            (self.uids.client_id(core), true)
        } else {
            (Arc::from(c.client_id), false)
        };
        let will = c.will.map(|w| {
            let delay_s = match w.properties.get(PropertyId::WILL_DELAY_INTERVAL) {
                Some(PropertyValue::U32(d)) => d,
                _ => 0,
            };
            let msg = self.hub.outbox.new_message(
                core,
                MessageSpec {
                    topic: w.topic,
                    payload: w.payload,
                    props: w.properties,
                    qos: w.qos,
                    retain: w.retain,
                    origin: 0,
                    sender: &client_id,
                },
            );
            WillMessage { msg, delay_s }
        });
        PendingConnect {
            client_id,
            clean_start: c.clean_start,
            terms: Terms {
                expiry_s,
                window: client_window.min(max_inflight),
                will,
                username: c.username.map(Box::from),
            },
            assigned,
            server_keep_alive,
        }
    }

    /// CONNACK with a failure (MQTT 5 `v5`, 3.1.1 return code `v3`), then
    /// close.
    fn refuse_connect(&mut self, core: &mut Core, token: Token, v5: ReasonCode, v3: u8) {
        metrics::inc(&core.stats().mqtt_connects_refused_total);
        let is_v5 = core
            .conns()
            .get(token)
            .and_then(Conn::mqtt_ref)
            .is_some_and(|m| m.version().is_v5());
        let connack = Connack {
            session_present: false,
            reason: if is_v5 { v5 } else { ReasonCode(v3) },
            properties: wire::mqtt::Properties::EMPTY,
        };
        self.hub.outbox.send(core, token, &Packet::Connack(connack));
        close(core, token, Some(1008), "CONNECT refused");
    }

    /// Takes the local session of `client_id` off its connection (which is
    /// told 0x8E and closed) and returns its key; a clean start ends it.
    pub fn detach_local_session(
        &mut self,
        core: &mut Core,
        client_id: &str,
        clean_start: bool,
    ) -> Option<usize> {
        let key = self.hub.sessions.key_of(client_id)?;
        if let Some(old) = self.hub.sessions[key].detach() {
            metrics::inc(&core.stats().mqtt_takeovers_total);
            self.hub
                .outbox
                .disconnect(core, old, reason::TAKEN_OVER, "session taken over");
            // Its end no longer leaves the session behind.
            if let Some(m) = core.conns_mut().get_mut(old).and_then(Conn::mqtt) {
                m.take_session();
            }
            // The old connection's will goes out now unless the session
            // lives on and a will delay covers the gap (§3.1.3.2.2).
            let will = self.hub.sessions[key].take_will();
            if let Some(w) = will.filter(|w| clean_start || w.delay_s == 0) {
                self.hub.publish_will(core, w.msg);
            }
        }
        if clean_start {
            self.hub.end_session(core, key);
            return None;
        }
        Some(key)
    }

    /// Binds the connection to its session and sends CONNACK.
    pub fn finish_connect(
        &mut self,
        core: &mut Core,
        token: Token,
        mut p: PendingConnect,
        existing: Option<usize>,
    ) {
        let Some(conn) = core.conns().get(token) else {
            // Not reached: CONNECT is handled on its live connection.
            if let Some(key) = existing {
                self.hub.session_left(core, key);
            }
            return;
        };
        let version = conn
            .mqtt_ref()
            .map_or(ProtocolVersion::V311, |m| m.version());
        let session_present = existing.is_some();
        let key = match existing {
            Some(key) => key,
            None => {
                let uid = self.uids.next_uid();
                let s = Session::new(p.client_id.clone(), uid, version);
                self.hub.sessions.insert(Box::new(s))
            }
        };
        let s = &mut self.hub.sessions[key];
        s.attach(token, version, std::mem::take(&mut p.terms));
        let uid = s.uid();
        // A will delayed by the previous connection is not sent once the
        // session resumes (§3.1.3.2.2); the session is not away any more.
        self.hub.wills.resumed(key, uid);
        if let Some(m) = core.conns_mut().get_mut(token).and_then(Conn::mqtt) {
            m.accept(key as u32);
        }
        if let Some(c) = core.conns_mut().get_mut(token) {
            c.open();
        }
        self.send_connack(core, token, &p, session_present, version);
        metrics::inc(&core.stats().mqtt_connects_total);
        metrics::set(&core.stats().mqtt_sessions, self.hub.sessions.len() as u64);
        if session_present {
            self.hub.resend_inflight(core, key);
            self.hub.pump(core, key);
        }
    }

    fn send_connack(
        &mut self,
        core: &mut Core,
        token: Token,
        p: &PendingConnect,
        present: bool,
        v: ProtocolVersion,
    ) {
        let mut props = PropertiesBuf::new();
        if v.is_v5() {
            let cfg = self.cfg();
            props.push(
                PropertyId::RECEIVE_MAXIMUM,
                PropertyValue::U16(cfg.receive_maximum),
            );
            props.push(
                PropertyId::MAXIMUM_PACKET_SIZE,
                PropertyValue::U32(cfg.max_packet_bytes),
            );
            props.push(
                PropertyId::TOPIC_ALIAS_MAXIMUM,
                PropertyValue::U16(cfg.topic_alias_maximum),
            );
            if p.assigned {
                props.push(
                    PropertyId::ASSIGNED_CLIENT_IDENTIFIER,
                    PropertyValue::Str(&p.client_id),
                );
            }
            if let Some(ka) = p.server_keep_alive {
                props.push(PropertyId::SERVER_KEEP_ALIVE, PropertyValue::U16(ka));
            }
        }
        let connack = Connack {
            session_present: present,
            reason: ReasonCode::SUCCESS,
            properties: props.as_properties(),
        };
        self.hub.outbox.send(core, token, &Packet::Connack(connack));
    }
}
