//! A message to one session: QoS 0 goes straight out, QoS 1 and 2 take a
//! packet id while the in-flight window has room and wait in the
//! session's queue otherwise (or while the client is away). Also the
//! encoding of every packet the broker sends.

use std::sync::Arc;

use bytes::Bytes;
use wire::mqtt::{
    Ack, Packet, PropertiesBuf, PropertyId, PropertyValue, ProtocolVersion, Publish, QoS,
    ReasonCode,
};

use super::flows::{AwaitAck, Outgoing};
use super::publish::MessageSpec;
use super::sessions::Sessions;
use super::Hub;
use crate::config::MqttConfig;
use crate::conn::Conn;
use crate::core::Core;
use crate::machine::mqtt::{ws_code, AliasUse, Message, Meta, Parts};
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

/// Payloads up to this many bytes are copied in behind each PUBLISH head
/// (one send buffer); larger ones follow it as a shared handle, uncopied.
const INLINE_PAYLOAD_MAX: usize = 1024;

/// The whole QoS 0 PUBLISH of the message being fanned out, per protocol
/// version and RETAIN flag, for every subscriber that gets the same bytes
/// (no packet id, alias, subscription id or expiry): encoded once per
/// publish instead of once per subscriber. Valid only during one fan-out.
#[derive(Debug, Default)]
pub struct SharedPackets {
    msg: usize,
    packets: [Option<Bytes>; 4],
}

impl SharedPackets {
    /// Starts caching for `msg` (dropping what the last one left).
    pub fn begin(&mut self, msg: &Arc<Message>) {
        *self = SharedPackets {
            msg: Arc::as_ptr(msg) as usize,
            ..SharedPackets::default()
        };
    }

    /// Ends the fan-out: nothing may match a later message that happens
    /// to reuse the address.
    pub fn end(&mut self) {
        *self = SharedPackets::default();
    }

    fn get(&self, msg: &Arc<Message>, variant: usize) -> Option<Bytes> {
        (self.msg == Arc::as_ptr(msg) as usize).then(|| self.packets[variant].clone())?
    }

    fn put(&mut self, msg: &Arc<Message>, variant: usize, packet: &Bytes) {
        if self.msg == Arc::as_ptr(msg) as usize {
            self.packets[variant] = Some(packet.clone());
        }
    }
}

/// Encoding scratch and the packets shared by one fan-out: every packet
/// the broker sends is encoded here.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Encode scratch for packets.
    out: Vec<u8>,
    /// Property scratch for outgoing PUBLISHes.
    props: PropertiesBuf,
    /// Whole QoS 0 packets shared by the subscribers of one fan-out.
    shared_packets: SharedPackets,
}

impl Outbox {
    /// Encodes `packet` for the connection's protocol version and queues it.
    pub fn send(&mut self, core: &mut Core, token: Token, packet: &Packet<'_>) {
        let Some(v) = core
            .conns()
            .get(token)
            .and_then(Conn::mqtt_ref)
            .map(|m| m.version())
        else {
            return;
        };
        self.out.clear();
        if wire::mqtt::encode(packet, v, &mut self.out).is_ok() {
            let b = core.scratch().arena_bytes(&self.out);
            core.queue_in(token, Lane::Normal, b);
        }
    }

    /// Sends DISCONNECT (MQTT 5, connected clients only: the machine
    /// decides) and closes.
    pub fn disconnect(&mut self, core: &mut Core, token: Token, reason: ReasonCode, what: &str) {
        let Some(conn) = core.conns_mut().get_mut(token) else {
            return;
        };
        if !conn.phase().takes_input() {
            return;
        }
        let Some(m) = conn.mqtt() else {
            return;
        };
        self.out.clear();
        if m.close(reason, what, &mut self.out) {
            let b = core.scratch().arena_bytes(&self.out);
            core.queue_in(token, Lane::Normal, b);
        }
        super::connection::close(core, token, Some(ws_code(reason)), what);
    }

    /// Copies a message off the packet into the arena (one copy for all
    /// its subscribers) with the properties that are forwarded.
    pub fn new_message(&mut self, core: &mut Core, m: MessageSpec<'_>) -> Arc<Message> {
        let mut expires_at = 0;
        let props = &mut self.props;
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
                        expires_at = core.clock().unix_ms + u64::from(s) * 1000;
                    }
                }
                _ => {}
            }
        }
        let id = core.ids().next_id_at(core.clock().unix_ms);
        let parts = Parts {
            topic: m.topic,
            payload: m.payload,
            props: self.props.as_properties().as_bytes(),
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
        let arena = crate::core::reserve(core.scratch().arena());
        Arc::new(Message::new(arena, parts, meta))
    }

    /// Starts a fan-out of `msg`: its QoS 0 packets may be shared.
    pub fn begin_fanout(&mut self, msg: &Arc<Message>) {
        self.shared_packets.begin(msg);
    }

    /// Ends the fan-out.
    pub fn end_fanout(&mut self) {
        self.shared_packets.end();
    }

    /// Encodes one PUBLISH for `token` and queues it; the payload follows
    /// its head uncopied on TCP. Returns whether the queue is over its
    /// high watermark.
    pub fn write_publish(
        &mut self,
        core: &mut Core,
        token: Token,
        out: &Outgoing,
        packet_id: Option<u16>,
        dup: bool,
    ) -> Option<bool> {
        let conn = core.conns_mut().get_mut(token)?;
        let is_ws = conn.is_ws();
        let m = conn.mqtt()?;
        let (v, max) = (m.version(), m.max_packet_out());
        let msg: &Arc<Message> = &out.msg;
        let alias = m.alias_for(msg);
        let shareable = packet_id.is_none()
            && alias.is_none()
            && out.sub_ids.is_empty()
            && msg.meta.expires_at == 0;
        let variant = usize::from(v.is_v5()) * 2 + usize::from(out.retain);
        if shareable {
            if let Some(packet) = self.shared_packets.get(msg, variant) {
                metrics::inc(&core.stats().mqtt_publishes_out_total);
                if max != 0 && packet.len() > max as usize {
                    metrics::inc(&core.stats().mqtt_oversized_packets_total);
                    return Some(false);
                }
                return core.queue_in(token, Lane::Normal, packet);
            }
        }
        let mut head = std::mem::take(&mut self.out);
        head.clear();
        let now = core.clock().unix_ms;
        let encoded = self.encode_publish_head(now, out, packet_id, dup, v, alias, &mut head);
        let payload = msg.payload();
        let too_big = max != 0 && head.len() + payload.len() > max as usize;
        let r = if encoded.is_err() || too_big {
            // MQTT 5 §3.1.2.11.4: a packet over the client's maximum is
            // dropped as if it had been delivered.
            metrics::inc(&core.stats().mqtt_oversized_packets_total);
            if let Some(AliasUse::Assign(a)) = alias {
                if let Some(m) = core.conns_mut().get_mut(token).and_then(Conn::mqtt) {
                    m.forget_alias(a);
                }
            }
            Some(false)
        } else if is_ws || payload.len() <= INLINE_PAYLOAD_MAX {
            // One buffer: a small payload is cheaper to copy than to send
            // as a second iovec, and WebSocket clients get one packet per
            // message.
            head.extend_from_slice(payload);
            let packet = core.scratch().arena_bytes(&head);
            if shareable {
                self.shared_packets.put(msg, variant, &packet);
            }
            core.queue_in(token, Lane::Normal, packet)
        } else {
            let b = core.scratch().arena_bytes(&head);
            // Head and payload are one message: nothing may come between.
            core.queue_part(token, Lane::Normal, b, true);
            core.queue_part(token, Lane::Normal, msg.payload_bytes(), false)
        };
        self.out = head;
        metrics::inc(&core.stats().mqtt_publishes_out_total);
        r
    }

    /// Encodes a PUBLISH head for this connection's version and alias.
    #[allow(clippy::too_many_arguments)]
    fn encode_publish_head(
        &mut self,
        unix_ms: u64,
        out: &Outgoing,
        packet_id: Option<u16>,
        dup: bool,
        v: ProtocolVersion,
        alias: Option<AliasUse>,
        head: &mut Vec<u8>,
    ) -> Result<(), wire::mqtt::EncodeError> {
        let msg = &out.msg;
        let props = &mut self.props;
        props.clear();
        if v.is_v5() {
            props.extend_from_block(msg.props());
            if let Some(left) = msg.expiry_left_s(unix_ms) {
                props.push(
                    PropertyId::MESSAGE_EXPIRY_INTERVAL,
                    PropertyValue::U32(left),
                );
            }
            for &id in &out.sub_ids {
                props.push(
                    PropertyId::SUBSCRIPTION_IDENTIFIER,
                    PropertyValue::VarInt(id),
                );
            }
        }
        let topic = match alias {
            Some(AliasUse::Assign(a)) => {
                props.push(PropertyId::TOPIC_ALIAS, PropertyValue::U16(a));
                msg.topic_str()
            }
            Some(AliasUse::Reuse(a)) => {
                props.push(PropertyId::TOPIC_ALIAS, PropertyValue::U16(a));
                ""
            }
            None => msg.topic_str(),
        };
        let p = Publish {
            dup,
            qos: out.qos,
            retain: out.retain,
            topic,
            packet_id,
            properties: props.as_properties(),
            payload: &[],
        };
        p.encode_head(msg.payload().len(), v, head)
    }
}

/// Queues bytes already in MQTT form.
pub fn send_raw(core: &mut Core, token: Token, bytes: &[u8]) {
    let b = core.scratch().arena_bytes(bytes);
    core.queue_in(token, Lane::Normal, b);
}

impl Sessions {
    /// Offers `out` to session `key`; returns the connection it was
    /// written to and whether that connection's queue is now over its
    /// high watermark (for backpressure on the publisher).
    pub fn deliver(
        &mut self,
        core: &mut Core,
        outbox: &mut Outbox,
        cfg: &MqttConfig,
        key: usize,
        out: Outgoing,
    ) -> Option<(Token, bool)> {
        let (cap, policy) = (cfg.offline_queue_messages, cfg.offline_queue_full);
        let s = self.get_mut(key)?;
        let token = s.conn();
        let flows = s.flows_mut();
        let Some(token) = token else {
            // Away: QoS 0 is not kept for absent clients (MQTT §3.1.2.4
            // leaves it optional; mosquitto does the same by default).
            if out.qos != QoS::AtMostOnce && flows.enqueue(out, cap, policy) {
                metrics::inc(&core.stats().mqtt_queue_dropped_total);
            }
            return None;
        };
        if out.qos == QoS::AtMostOnce {
            return outbox
                .write_publish(core, token, &out, None, false)
                .map(|o| (token, o));
        }
        if !flows.window_open() || flows.queued() > 0 {
            if flows.enqueue(out, cap, policy) {
                metrics::inc(&core.stats().mqtt_queue_dropped_total);
            }
            // A connected client that acknowledges slower than it is fed
            // pauses its publishers once half its queue is used, so that
            // the queue bound drops messages only for clients that are
            // away (or when many publishers land at once).
            return Some((token, flows.queued() * 2 >= cap));
        }
        let packet_id = flows.start_flight(out.clone());
        outbox
            .write_publish(core, token, &out, Some(packet_id), false)
            .map(|o| (token, o))
    }

    /// Whether the MQTT session on `token` still queues more than a
    /// quarter of its bound `cap`: its paused publishers wait until it
    /// is not.
    pub fn backlogged(&self, core: &Core, cap: usize, token: Token) -> bool {
        let key = core
            .conns()
            .get(token)
            .and_then(Conn::mqtt_ref)
            .and_then(|m| m.session());
        key.and_then(|k| self.get(k as usize))
            .is_some_and(|s| s.flows().queued() * 4 > cap)
    }

    /// Moves queued messages into the window while it has room.
    pub fn pump(&mut self, core: &mut Core, outbox: &mut Outbox, key: usize) {
        let now = core.clock().unix_ms;
        loop {
            let Some(s) = self.get_mut(key) else {
                return;
            };
            let Some(token) = s.conn() else {
                return;
            };
            let flows = s.flows_mut();
            if !flows.window_open() {
                return;
            }
            let Some(out) = flows.pop_queued() else {
                return;
            };
            if out.msg.expired(now) {
                continue;
            }
            let packet_id = (out.qos != QoS::AtMostOnce).then(|| flows.start_flight(out.clone()));
            outbox.write_publish(core, token, &out, packet_id, false);
        }
    }

    /// After a reconnect: every message still in flight goes again, in
    /// order, PUBLISH with DUP or PUBREL (MQTT §4.4).
    pub fn resend_inflight(&mut self, core: &mut Core, outbox: &mut Outbox, key: usize) {
        let Some(s) = self.get(key) else {
            return;
        };
        let Some(token) = s.conn() else {
            return;
        };
        for f in s.flows().inflight() {
            match f.awaiting {
                AwaitAck::Pubcomp => {
                    outbox.send(core, token, &Packet::Pubrel(Ack::new(f.packet_id)));
                }
                _ => {
                    outbox.write_publish(core, token, &f.out, Some(f.packet_id), true);
                }
            }
        }
    }
}

impl Hub {
    /// Offers `out` to session `key` (see [`Sessions::deliver`]).
    pub fn deliver(&mut self, core: &mut Core, key: usize, out: Outgoing) -> Option<(Token, bool)> {
        let cfg = &self.shared.cfg;
        self.sessions.deliver(core, &mut self.outbox, cfg, key, out)
    }

    /// Moves session `key`'s queued messages into its window.
    pub fn pump(&mut self, core: &mut Core, key: usize) {
        self.sessions.pump(core, &mut self.outbox, key);
    }

    /// Sends session `key`'s messages in flight again (a reconnect).
    pub fn resend_inflight(&mut self, core: &mut Core, key: usize) {
        self.sessions.resend_inflight(core, &mut self.outbox, key);
    }

    /// Whether the MQTT session on `token` still queues more than a
    /// quarter of its bound: its paused publishers wait until it is not.
    pub fn backlogged(&self, core: &Core, token: Token) -> bool {
        let cap = self.shared.cfg.offline_queue_messages;
        self.sessions.backlogged(core, cap, token)
    }
}

/// Shares a DELIVER frame of `msg` for `wire`/WebSocket subscribers.
pub fn deliver_frame(core: &mut Core, msg: &Message) -> Bytes {
    let mut h = wire::FrameHeader::new(wire::FrameType::Deliver, 0);
    h.message_id = msg.meta.id;
    if msg.meta.high_priority {
        h.flags = wire::Flags::HIGH_PRIORITY;
    }
    let sender = msg.sender();
    let d = wire::Deliver {
        sender,
        target: wire::Target {
            kind: wire::TargetKind::Topic,
            id: msg.topic_str(),
        },
        body: msg.payload(),
    };
    core.scratch()
        .encode_frame(|enc, buf| enc.deliver(buf, h, &d))
}
