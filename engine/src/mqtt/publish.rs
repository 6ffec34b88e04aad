//! PUBLISH from a client, and the acknowledgement flows both ways: PUBACK
//! (QoS 1), PUBREC / PUBREL / PUBCOMP (QoS 2), §4.3.

use wire::mqtt::{Ack, Packet, Properties, QoS, ReasonCode};

use super::auth::Access;
use super::connection::session_of;
use super::Broker;
use crate::conn::Conn;
use crate::core::Core;
use crate::machine::mqtt::reason;
use crate::machine::mqtt::{AwaitAck, PublishIn};
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

impl Broker {
    /// Handles a PUBLISH from a connected client.
    pub fn on_publish(&mut self, core: &mut Core, token: Token, publish: &PublishIn<'_>) {
        metrics::inc(&core.stats().mqtt_publishes_in_total);
        let Some(key) = session_of(core, token) else {
            return;
        };
        let (p, topic) = (publish.packet(), publish.topic());
        if let Some(id) = p.packet_id.filter(|_| p.qos == QoS::ExactlyOnce) {
            let flows = self.hub.sessions[key].flows();
            if flows.awaits_release(id) {
                // A resent QoS 2 PUBLISH: answer again, route once.
                return self
                    .hub
                    .outbox
                    .send(core, token, &Packet::Pubrec(Ack::new(id)));
            }
            if flows.unreleased() >= usize::from(self.cfg().receive_maximum) {
                return self.fail(
                    core,
                    token,
                    reason::RECEIVE_MAXIMUM_EXCEEDED,
                    "over Receive Maximum",
                );
            }
        }
        let s = &self.hub.sessions[key];
        let acl = &self.shared.acl;
        let allowed = acl.is_empty() || acl.allows(s.username(), Access::Publish, topic);
        let mut code = ReasonCode::SUCCESS;
        if allowed {
            let msg = self.hub.outbox.new_message(
                core,
                MessageSpec {
                    topic,
                    payload: p.payload,
                    props: p.properties,
                    qos: p.qos,
                    retain: p.retain,
                    origin: s.uid(),
                    sender: s.client_id(),
                },
            );
            let me = core.settings().core;
            if self.hub.publish_message(core, (me, token), msg, None) {
                core.pause(token);
            }
        } else {
            metrics::inc(&core.stats().mqtt_acl_denied_total);
            code = reason::NOT_AUTHORIZED;
        }
        let v5 = core
            .conns()
            .get(token)
            .and_then(Conn::mqtt_ref)
            .is_some_and(|m| m.version().is_v5());
        let ack = |id| Ack {
            packet_id: id,
            reason: if v5 { code } else { ReasonCode::SUCCESS },
            properties: Properties::EMPTY,
        };
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                self.hub.outbox.send(core, token, &Packet::Puback(ack(id)))
            }
            (QoS::ExactlyOnce, Some(id)) => {
                if code == ReasonCode::SUCCESS {
                    self.hub.sessions[key].flows_mut().await_release(id);
                }
                self.hub.outbox.send(core, token, &Packet::Pubrec(ack(id)));
            }
            _ => {}
        }
    }

    /// PUBACK, PUBREC or PUBCOMP for a message the server sent.
    pub fn on_ack_in(&mut self, core: &mut Core, token: Token, a: &Ack<'_>, got: AwaitAck) {
        let Some(key) = session_of(core, token) else {
            return;
        };
        let flows = self.hub.sessions[key].flows_mut();
        if got == AwaitAck::Pubrec && a.reason.0 >= 0x80 {
            // A refused QoS 2 delivery ends there (§4.3.3).
            flows.abandon(a.packet_id);
            return self.hub.pump(core, key);
        }
        match flows.on_ack(a.packet_id, got) {
            Ok(Some(_)) => self.hub.pump(core, key),
            Ok(None) => {
                self.hub
                    .outbox
                    .send(core, token, &Packet::Pubrel(Ack::new(a.packet_id)));
            }
            // An ack for an id not in flight (a duplicate after a resend)
            // is harmless; PUBREC must still be answered (§4.3.3).
            Err(_) if got == AwaitAck::Pubrec => {
                let mut rel = Ack::new(a.packet_id);
                rel.reason = reason::PACKET_ID_NOT_FOUND;
                self.hub.outbox.send(core, token, &Packet::Pubrel(rel));
            }
            Err(_) => {}
        }
    }

    /// PUBREL from the client: its QoS 2 message is released; PUBCOMP.
    pub fn on_pubrel(&mut self, core: &mut Core, token: Token, a: &Ack<'_>) {
        let Some(key) = session_of(core, token) else {
            return;
        };
        let s = &mut self.hub.sessions[key];
        let known = s.flows_mut().release(a.packet_id);
        let v5 = s.version().is_v5();
        let mut comp = Ack::new(a.packet_id);
        if !known && v5 {
            comp.reason = reason::PACKET_ID_NOT_FOUND;
        }
        self.hub.outbox.send(core, token, &Packet::Pubcomp(comp));
    }
}
