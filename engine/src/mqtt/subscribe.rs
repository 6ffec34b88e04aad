//! SUBSCRIBE and UNSUBSCRIBE (§3.8, §3.10): each filter is checked and
//! answered on its own; retained messages follow the SUBACK. The index
//! entries are the core's (`core.topics()`, which also tells the other
//! cores); a session keeps its own list of filters beside them.

use wire::mqtt::{
    Packet, Properties, PropertyId, PropertyValue, QoS, ReasonCode, RetainHandling, Suback,
    Subscribe, Subscription, Unsuback, Unsubscribe,
};

use super::auth::Access;
use super::connection::session_of;
use super::fanout::may_read;
use super::flows::Outgoing;
use super::session::SubOptions;
use super::{Broker, Hub};
use crate::core::Core;
use crate::machine::mqtt::reason;
use crate::metrics;
use crate::sys::Token;

pub use crate::route::topics::split_shared;

impl Broker {
    /// SUBSCRIBE: one reason code per filter, then retained messages.
    pub fn on_subscribe(&mut self, core: &mut Core, token: Token, s: &Subscribe<'_>) {
        let Some(key) = session_of(core, token) else {
            return;
        };
        let sub_id = match s.properties.get(PropertyId::SUBSCRIPTION_IDENTIFIER) {
            Some(PropertyValue::VarInt(id)) => id,
            _ => 0,
        };
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        for f in &s.filters {
            if f.options.no_local && f.filter.starts_with("$share/") {
                // §3.8.3.1: No Local on a shared subscription.
                return self.fail(
                    core,
                    token,
                    ReasonCode::PROTOCOL_ERROR,
                    "no-local on a shared subscription",
                );
            }
            let (code, send_retained) = self.subscribe_one(core, key, f, sub_id);
            codes.push(code);
            if send_retained {
                retained.push((f.filter, f.options.qos));
            }
        }
        let suback = Suback {
            packet_id: s.packet_id,
            properties: Properties::EMPTY,
            reasons: &codes,
        };
        self.hub.outbox.send(core, token, &Packet::Suback(suback));
        for (filter, qos) in retained {
            self.hub.send_retained(core, key, filter, qos, sub_id);
        }
    }

    /// One SUBSCRIBE entry: its reason code (granted QoS or failure) and
    /// whether retained messages follow.
    fn subscribe_one(
        &mut self,
        core: &mut Core,
        key: usize,
        f: &Subscription<'_>,
        sub_id: u32,
    ) -> (u8, bool) {
        let v5 = self.hub.sessions[key].version().is_v5();
        let fail = |code: ReasonCode| (if v5 { code.0 } else { 0x80 }, false);
        let Some((group, _)) = split_shared(f.filter) else {
            return fail(reason::FILTER_INVALID);
        };
        let user = self.hub.sessions[key].username();
        if !self.shared.acl.allows(user, Access::Subscribe, f.filter) {
            metrics::inc(&core.stats().mqtt_acl_denied_total);
            return fail(reason::NOT_AUTHORIZED);
        }
        let max = self.cfg().max_subscriptions;
        let s = &self.hub.sessions[key];
        let existed = s.sub(f.filter).is_some();
        if !existed && s.subs().len() >= max {
            return fail(reason::QUOTA_EXCEEDED);
        }
        let opts = SubOptions {
            qos: f.options.qos,
            no_local: f.options.no_local,
            retain_as_published: f.options.retain_as_published,
            id: sub_id,
        };
        if !core.topics().subscribe(f.filter, key as u64, opts) {
            return fail(reason::FILTER_INVALID);
        }
        self.hub.sessions[key].set_sub(f.filter, opts);
        let send_retained = group.is_none()
            && match f.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
        (f.options.qos as u8, send_retained)
    }

    /// UNSUBSCRIBE: one reason code per filter (MQTT 5).
    pub fn on_unsubscribe(&mut self, core: &mut Core, token: Token, u: &Unsubscribe<'_>) {
        let Some(key) = session_of(core, token) else {
            return;
        };
        let mut codes = Vec::with_capacity(u.filters.len());
        for f in &u.filters {
            let code = if self.hub.sessions[key].remove_sub(f) {
                core.topics().unsubscribe(f, key as u64);
                0x00
            } else {
                0x11 // No subscription existed.
            };
            codes.push(code);
        }
        let unsuback = Unsuback {
            packet_id: u.packet_id,
            properties: Properties::EMPTY,
            reasons: &codes,
        };
        self.hub
            .outbox
            .send(core, token, &Packet::Unsuback(unsuback));
    }
}

impl Hub {
    /// The retained messages matching a new subscription, RETAIN set.
    pub fn send_retained(
        &mut self,
        core: &mut Core,
        key: usize,
        filter: &str,
        qos: QoS,
        sub_id: u32,
    ) {
        let mut found = Vec::new();
        self.retained
            .matching(filter, core.clock().unix_ms, |m| found.push(m.clone()));
        for msg in found {
            if !may_read(&self.shared, &self.sessions, key, msg.topic_str()) {
                continue;
            }
            let out = Outgoing {
                qos: qos.min(msg.meta.qos),
                retain: true,
                sub_ids: if sub_id != 0 {
                    vec![sub_id]
                } else {
                    Vec::new()
                },
                msg,
            };
            self.deliver(core, key, out);
        }
    }

    /// Takes a session's subscriptions out of this core's index.
    pub fn unindex_session(&mut self, core: &mut Core, key: usize) {
        for (filter, _) in self.sessions[key].subs() {
            core.topics().unsubscribe(filter, key as u64);
        }
    }
}
