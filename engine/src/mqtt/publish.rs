//! PUBLISH from a client, and the acknowledgement flows both ways: PUBACK
//! (QoS 1), PUBREC / PUBREL / PUBCOMP (QoS 2), §4.3.

use std::sync::Arc;

use wire::mqtt::{Ack, Packet, Properties, PropertyId, PropertyValue, QoS, ReasonCode};

use super::auth::Access;
use super::inbound::reason;
use crate::conn::Conn;
use crate::core_state::CoreState;
use crate::machine::mqtt::{AwaitAck, Message, Meta, Parts, PublishIn};
use crate::metrics;
use crate::sys::Token;

/// The parts of a new message, borrowed from the packet that carried it.
pub struct MessageSpec<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// The PUBLISH (or will) properties; the forwardable ones are kept.
    pub props: Properties<'a>,
    /// QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Publishing session uid (no-local), 0 for none.
    pub origin: u64,
    /// Client or user id.
    pub sender: &'a str,
}

impl CoreState {
    /// Handles a PUBLISH from a connected client.
    pub(crate) fn on_publish(&mut self, token: Token, publish: &PublishIn<'_>) {
        metrics::inc(&self.core.stats.mqtt_publishes_in_total);
        let Some(key) = self.session_of(token) else {
            return;
        };
        let (p, topic) = (publish.packet(), publish.topic());
        if let Some(id) = p.packet_id.filter(|_| p.qos == QoS::ExactlyOnce) {
            let s = &self.mqtt.sessions[key];
            if s.awaits_release(id) {
                // A resent QoS 2 PUBLISH: answer again, route once.
                return self.mqtt_send(token, &Packet::Pubrec(Ack::new(id)));
            }
            if s.unreleased() >= usize::from(self.mqtt.cfg().receive_maximum) {
                return self.mqtt_fail(
                    token,
                    reason::RECEIVE_MAXIMUM_EXCEEDED,
                    "over Receive Maximum",
                );
            }
        }
        let username = self.mqtt.sessions[key].username.clone();
        let acl = &self.mqtt.shared.acl;
        let allowed = acl.is_empty() || acl.allows(username.as_deref(), Access::Publish, topic);
        let mut code = ReasonCode::SUCCESS;
        if allowed {
            let (uid, client) = {
                let s = &self.mqtt.sessions[key];
                (s.uid, s.client_id.clone())
            };
            let msg = self.new_message(MessageSpec {
                topic,
                payload: p.payload,
                props: p.properties,
                qos: p.qos,
                retain: p.retain,
                origin: uid,
                sender: &client,
            });
            let me = self.core.settings.core;
            if self.publish_message((me, token), msg, None) {
                self.core.pause(token);
            }
        } else {
            metrics::inc(&self.core.stats.mqtt_acl_denied_total);
            code = reason::NOT_AUTHORIZED;
        }
        let v5 = self
            .core
            .conns
            .get(token)
            .and_then(Conn::mqtt_ref)
            .is_some_and(|m| m.version().is_v5());
        let ack = |id| Ack {
            packet_id: id,
            reason: if v5 { code } else { ReasonCode::SUCCESS },
            properties: Properties::EMPTY,
        };
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => self.mqtt_send(token, &Packet::Puback(ack(id))),
            (QoS::ExactlyOnce, Some(id)) => {
                if code == ReasonCode::SUCCESS {
                    self.mqtt.sessions[key].flows_mut().awaiting_rel.push(id);
                }
                self.mqtt_send(token, &Packet::Pubrec(ack(id)));
            }
            _ => {}
        }
    }

    /// PUBACK, PUBREC or PUBCOMP for a message the server sent.
    pub(crate) fn on_ack_in(&mut self, token: Token, a: &Ack<'_>, got: AwaitAck) {
        let Some(key) = self.session_of(token) else {
            return;
        };
        let s = &mut self.mqtt.sessions[key];
        if got == AwaitAck::Pubrec && a.reason.0 >= 0x80 {
            // A refused QoS 2 delivery ends there (§4.3.3).
            s.abandon(a.packet_id);
            return self.pump_session(key);
        }
        match s.on_ack(a.packet_id, got) {
            Ok(Some(_)) => self.pump_session(key),
            Ok(None) => {
                self.mqtt_send(token, &Packet::Pubrel(Ack::new(a.packet_id)));
            }
            // An ack for an id not in flight (a duplicate after a resend)
            // is harmless; PUBREC must still be answered (§4.3.3).
            Err(_) if got == AwaitAck::Pubrec => {
                let mut rel = Ack::new(a.packet_id);
                rel.reason = reason::PACKET_ID_NOT_FOUND;
                self.mqtt_send(token, &Packet::Pubrel(rel));
            }
            Err(_) => {}
        }
    }

    /// PUBREL from the client: its QoS 2 message is released; PUBCOMP.
    pub(crate) fn on_pubrel(&mut self, token: Token, a: &Ack<'_>) {
        let Some(key) = self.session_of(token) else {
            return;
        };
        let s = &mut self.mqtt.sessions[key];
        let known = s.release(a.packet_id);
        let v5 = s.version.is_v5();
        let mut comp = Ack::new(a.packet_id);
        if !known && v5 {
            comp.reason = reason::PACKET_ID_NOT_FOUND;
        }
        self.mqtt_send(token, &Packet::Pubcomp(comp));
    }

    /// Copies a message off the packet into the arena (one copy for all
    /// its subscribers) with the properties that are forwarded.
    pub(crate) fn new_message(&mut self, m: MessageSpec<'_>) -> Arc<Message> {
        let mut expires_at = 0;
        let props = &mut self.mqtt.props;
        props.clear();
        for p in m.props.iter() {
            match p.id {
                PropertyId::PAYLOAD_FORMAT_INDICATOR
                | PropertyId::CONTENT_TYPE
                | PropertyId::RESPONSE_TOPIC
                | PropertyId::CORRELATION_DATA
                | PropertyId::USER_PROPERTY => {
                    props.push(p.id, p.value);
                }
                PropertyId::MESSAGE_EXPIRY_INTERVAL => {
                    if let PropertyValue::U32(s) = p.value {
                        expires_at = self.core.unix_ms + u64::from(s) * 1000;
                    }
                }
                _ => {}
            }
        }
        let id = self.core.ids.next_id_at(self.core.unix_ms);
        let parts = Parts {
            topic: m.topic,
            payload: m.payload,
            props: self.mqtt.props.as_properties().as_bytes(),
            sender: m.sender,
        };
        let meta = Meta {
            qos: m.qos,
            retain: m.retain,
            high_priority: false,
            droppable: false,
            expires_at,
            origin: m.origin,
            id,
        };
        let arena = crate::core_state::reserve(&mut self.core.arena);
        Arc::new(Message::new(arena, parts, meta))
    }
}
