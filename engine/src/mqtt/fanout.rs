//! A message to every matching subscriber on every core, MQTT sessions and
//! `wire`/WebSocket connections alike (one topic namespace).
//!
//! The publishing core matches its replica of the index (the core's,
//! [`crate::route::topics`]): local
//! subscribers get the message at once, and each other core whose bit is
//! set on a matching filter gets one mesh message and matches its own
//! replica. Shared subscription groups are decided here, once: one member
//! (local, or one other core that then picks a local member).

use std::sync::Arc;

use bytes::Bytes;
use wire::mqtt::QoS;

use super::auth::Access;
use super::flows::Outgoing;
use super::outbound::deliver_frame;
use super::retained::Retained;
use super::session::SubOptions;
use super::sessions::Sessions;
use super::{Broker, BrokerShared, Hub};
use crate::core::{Core, SERVER_ORIGIN};
use crate::machine::mqtt::{Message, Meta, Parts};
use crate::mesh::{Lane, MeshMsg, TopicPublish};
use crate::metrics;
use crate::priority::Shed;
use crate::route::topic_index::SharedPick;
use crate::route::topics::FRAME_SUBSCRIBER;
use crate::sys::Token;

/// What one core's share of a publish reached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fanout {
    /// Connections and sessions the message was given to.
    pub recipients: u32,
    /// Other cores with matching subscriptions.
    pub remote: u64,
    /// The (local) publisher must pause: a recipient is over its watermark.
    pub pause: bool,
}

/// A shared-group delivery decided on this core for another.
struct RemotePick {
    core: u16,
    filter: Box<str>,
    group: Box<str>,
}

impl Hub {
    /// Publishes `msg` from `origin` (core, token; core [`SERVER_ORIGIN`]
    /// for the server itself, e.g. a will): retained store, subscribers here, shared
    /// groups, then the other cores. `ticket` is a `wire` SEND's ack
    /// ticket for the other cores' answers. Returns whether the origin
    /// connection must pause.
    pub fn publish_message(
        &mut self,
        core: &mut Core,
        origin: (u16, Token),
        msg: Arc<Message>,
        ticket: Option<u32>,
    ) -> bool {
        let f = self.publish_here(core, origin, &msg, None);
        self.publish_remote(core, origin, msg, None, f.remote, ticket) || f.pause
    }

    /// The local half of a publish: retained store, subscribers on this
    /// core, shared groups. `frame` is the DELIVER frame if the caller
    /// has it already.
    pub fn publish_here(
        &mut self,
        core: &mut Core,
        origin: (u16, Token),
        msg: &Arc<Message>,
        frame: Option<Bytes>,
    ) -> Fanout {
        if msg.meta.retain {
            self.retain(core, msg);
            core.mesh_mut().broadcast(|| MeshMsg::Retain(msg.clone()));
        }
        let mut frame = frame;
        let mut f = self.fan_out(core, origin, msg, &mut frame);
        let (n, pause) = self.fan_out_shared(core, origin, msg);
        f.recipients += n;
        f.pause |= pause;
        f
    }

    /// Sends `msg` to the cores in `remote`; returns whether the origin
    /// must pause (a ring was full).
    pub fn publish_remote(
        &mut self,
        core: &mut Core,
        origin: (u16, Token),
        msg: Arc<Message>,
        frame: Option<Bytes>,
        remote: u64,
        ticket: Option<u32>,
    ) -> bool {
        let me = core.settings().core;
        let lane = if msg.meta.high_priority {
            Lane::High
        } else {
            Lane::Normal
        };
        let mut pause = false;
        let mut bits = remote & !(1u64 << me);
        while bits != 0 {
            let to = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let p = TopicPublish {
                msg: msg.clone(),
                frame: frame.clone(),
                origin_core: origin.0,
                origin_token: origin.1,
                ticket,
            };
            let p = MeshMsg::Publish(Box::new(p));
            if msg.meta.droppable {
                // A droppable message never waits for ring space.
                if core.mesh_mut().try_send(to, lane, p).is_err() {
                    metrics::inc(&core.stats().shed_total);
                    // That core will not answer the ticket: settle its share.
                    if let Some(t) = ticket {
                        core.on_delivered(t, 0);
                    }
                }
                continue;
            }
            if !core.mesh_mut().send(to, lane, p) {
                metrics::inc(&core.stats().mesh_ring_full_total);
                if origin.0 == me {
                    core.mesh_mut().wait_for_ring(to, lane, origin.1);
                    pause = true;
                }
            }
        }
        pause
    }

    /// A publish from another core: its subscribers here (shared groups
    /// were decided by the publishing core).
    pub fn on_topic_publish(&mut self, core: &mut Core, from: usize, mut p: TopicPublish) {
        let origin = (p.origin_core, p.origin_token);
        let f = self.fan_out(core, origin, &p.msg, &mut p.frame);
        if let Some(ticket) = p.ticket {
            let reply = MeshMsg::Delivered {
                ticket,
                recipients: f.recipients,
            };
            core.mesh_mut().send(from, Lane::High, reply);
        }
    }

    /// A shared-group member picked for this core by another.
    pub fn on_shared_publish(
        &mut self,
        core: &mut Core,
        msg: Arc<Message>,
        filter: &str,
        group: &str,
    ) {
        match core
            .registry_mut()
            .topics_mut()
            .pick_shared_local(filter, group)
        {
            Some((sub, opts)) => {
                let out = outgoing(&msg, &[opts]);
                self.deliver_to_subscriber(core, sub, out, (SERVER_ORIGIN, 0), &mut None);
            }
            // The member left since the publishing core picked this one
            // (the presence of its filter was on its way): as MQTT allows
            // for a subscription ending while a message is in flight.
            None => metrics::inc(&core.stats().mqtt_shared_member_gone_total),
        }
    }

    /// A retained message published on another core.
    pub fn retain(&mut self, core: &mut Core, msg: &Arc<Message>) {
        let max = self.shared.cfg.max_retained;
        if self.retained.apply(msg, max, core.clock().unix_ms) == Retained::Full {
            metrics::inc(&core.stats().mqtt_retained_full_total);
        }
    }

    /// Every matching non-shared subscription on this core; a subscriber
    /// with several matching filters gets one copy (§4.7: the highest QoS,
    /// every subscription identifier).
    fn fan_out(
        &mut self,
        core: &mut Core,
        origin: (u16, Token),
        msg: &Arc<Message>,
        frame: &mut Option<Bytes>,
    ) -> Fanout {
        self.matches.clear();
        let topic = msg.topic_str();
        let matches = &mut self.matches;
        let remote = core
            .registry_mut()
            .topics()
            .match_local(topic, |sub, o| matches.push((sub, *o)));
        let mut matches = std::mem::take(&mut self.matches);
        matches.sort_unstable_by_key(|m| m.0);
        let mut f = Fanout {
            remote,
            ..Fanout::default()
        };
        let mut opts = Vec::new();
        self.outbox.begin_fanout(msg);
        for run in matches.chunk_by(|a, b| a.0 == b.0) {
            let sub = run[0].0;
            opts.clear();
            opts.extend(run.iter().map(|m| m.1));
            let session = (sub & FRAME_SUBSCRIBER == 0)
                .then(|| self.sessions.get(sub as usize))
                .flatten();
            let uid = session.map(|s| s.uid());
            drop_no_local(&mut opts, uid, msg);
            if opts.is_empty() {
                continue;
            }
            let out = outgoing(msg, &opts);
            if let Some(pause) = self.deliver_to_subscriber(core, sub, out, origin, frame) {
                f.recipients += 1;
                f.pause |= pause;
            }
        }
        self.outbox.end_fanout();
        core.scratch().end_shared_forms();
        self.matches = matches;
        metrics::add(
            &core.stats().messages_delivered_total,
            u64::from(f.recipients),
        );
        f
    }

    /// One member of every matching shared group: here, or on the core
    /// the round robin names.
    fn fan_out_shared(
        &mut self,
        core: &mut Core,
        origin: (u16, Token),
        msg: &Arc<Message>,
    ) -> (u32, bool) {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        let topics = core.registry_mut().topics_mut();
        topics.match_shared(msg.topic_str(), |pick| match pick {
            SharedPick::Local(sub, o) => local.push((sub, *o)),
            SharedPick::Remote {
                core,
                filter,
                group,
            } => remote.push(RemotePick {
                core,
                filter: filter.into(),
                group: group.into(),
            }),
        });
        let (mut n, mut pause) = (0, false);
        for (sub, o) in local {
            let out = outgoing(msg, &[o]);
            if let Some(p) = self.deliver_to_subscriber(core, sub, out, origin, &mut None) {
                n += 1;
                pause |= p;
            }
        }
        for r in remote {
            let m = MeshMsg::SharedPublish {
                msg: msg.clone(),
                filter: r.filter,
                group: r.group,
            };
            core.mesh_mut().send(r.core as usize, Lane::Normal, m);
        }
        (n, pause)
    }

    /// Gives `out` to one index entry: a session, or a `wire` connection
    /// (as a DELIVER frame, encoded once per publish). Returns whether the
    /// origin must pause, `None` if nothing was written or queued.
    pub fn deliver_to_subscriber(
        &mut self,
        core: &mut Core,
        sub: u64,
        out: Outgoing,
        origin: (u16, Token),
        frame: &mut Option<Bytes>,
    ) -> Option<bool> {
        let (token, over) = if sub & FRAME_SUBSCRIBER != 0 {
            let token = sub & !FRAME_SUBSCRIBER;
            let meta = &out.msg.meta;
            let shed = if meta.droppable {
                Shed::IfBehind
            } else {
                Shed::Never
            };
            if core.sheds(token, shed) {
                return None;
            }
            let bytes = match frame {
                Some(b) => b.clone(),
                None => frame.insert(deliver_frame(core, &out.msg)).clone(),
            };
            if bytes.len() - wire::HEADER_LEN > core.settings().limits.max_payload_len as usize {
                // A `wire` client accepts no payload over the max its
                // WELCOME stated (an MQTT packet may be larger).
                metrics::inc(&core.stats().deliver_too_large_total);
                return None;
            }
            let lane = if meta.high_priority {
                Lane::High
            } else {
                Lane::Normal
            };
            let over = core.queue_in(token, lane, bytes)?;
            // A droppable message is shed, never waited for.
            (token, over && shed == Shed::Never)
        } else {
            if !may_read(
                &self.shared,
                &self.sessions,
                sub as usize,
                out.msg.topic_str(),
            ) {
                metrics::inc(&core.stats().mqtt_acl_denied_total);
                return None;
            }
            match self.deliver(core, sub as usize, out) {
                Some(written) => written,
                None => return Some(false),
            }
        };
        Some(over && core.wait_on(token, origin))
    }
}

/// Whether session `key`'s user may receive messages on `topic`: the
/// ACL's subscribe rules are checked on every delivery as well as on
/// SUBSCRIBE, so a wildcard filter cannot reach a denied subtree.
pub fn may_read(shared: &BrokerShared, sessions: &Sessions, key: usize, topic: &str) -> bool {
    let acl = &shared.acl;
    acl.is_empty()
        || sessions
            .get(key)
            .is_none_or(|s| acl.allows(s.username(), Access::Subscribe, topic))
}

/// Leaves out the no-local subscriptions of session `uid` if it
/// published `msg` itself.
pub fn drop_no_local(opts: &mut Vec<SubOptions>, uid: Option<u64>, msg: &Message) {
    if uid.is_some_and(|u| u == msg.meta.origin) {
        opts.retain(|o| !o.no_local);
    }
}

/// The delivery of `msg` under the merged options of a subscriber's
/// matching subscriptions.
pub fn outgoing(msg: &Arc<Message>, opts: &[SubOptions]) -> Outgoing {
    let qos = opts.iter().map(|o| o.qos).max().unwrap_or(QoS::AtMostOnce);
    Outgoing {
        msg: msg.clone(),
        qos: qos.min(msg.meta.qos),
        retain: msg.meta.retain && opts.iter().any(|o| o.retain_as_published),
        sub_ids: opts.iter().filter(|o| o.id != 0).map(|o| o.id).collect(),
    }
}

/// A `wire` SEND to a topic or conversation, as the topic path needs it.
pub struct SentToTopic<'a> {
    /// The SEND's header (ids and flags the ACK echoes).
    pub header: &'a wire::FrameHeader,
    /// The topic name (`$conversation/<id>` for a conversation).
    pub topic: &'a str,
    /// The server message id.
    pub server_id: u64,
    /// The body.
    pub body: &'a [u8],
    /// The sending user.
    pub sender: &'a str,
    /// Nobody subscribed is an error (conversations), not normal pub/sub.
    pub empty_is_error: bool,
}

impl Broker {
    /// A `wire` SEND to a topic (the `wire` stage's way into the core's
    /// topic routing): MQTT subscribers get it as a QoS 0
    /// PUBLISH, `wire` subscribers the DELIVER `frame`. Returns whether
    /// the sender must pause.
    pub fn route_topic(
        &mut self,
        core: &mut Core,
        from: Token,
        s: &SentToTopic<'_>,
        frame: Bytes,
    ) -> bool {
        let parts = Parts {
            topic: s.topic,
            // MQTT subscribers need the body on its own: one copy per SEND.
            payload: s.body,
            props: &[],
            sender: s.sender,
        };
        let meta = Meta {
            qos: QoS::AtMostOnce,
            retain: false,
            high_priority: s.header.flags.contains(wire::Flags::HIGH_PRIORITY),
            droppable: s.header.flags.contains(wire::Flags::DROPPABLE),
            expires_at: 0,
            origin: 0,
            id: s.server_id,
        };
        let arena = crate::core::reserve(core.scratch().arena());
        let msg = Arc::new(Message::new(arena, parts, meta));
        let me = core.settings().core;
        let f = self
            .hub
            .publish_here(core, (me, from), &msg, Some(frame.clone()));
        let remote = f.remote & !(1u64 << me);
        let ticket = core.ack_ticket(
            from,
            s.header,
            s.server_id,
            f.recipients,
            remote,
            s.empty_is_error,
        );
        self.hub
            .publish_remote(core, (me, from), msg, Some(frame), remote, ticket)
            || f.pause
    }
}
