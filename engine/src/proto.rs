//! The `wire` stage: feeds received bytes to the connection's `wire`
//! [`Session`] machine and applies the steps it returns against the core
//! (admission, routing, subscriptions). All parsing happens in `wire`,
//! and every rule about which frame is valid when in the machine; this
//! module only does what a step asks.
//!
//! Glue, named: `on_bytes`, `feed_input` and `on_resume` are the byte
//! dispatch of every connection (to the WebSocket stage, the MQTT
//! machine, or this stage). The stage's own methods are `impl CoreState`
//! because its steps reach the MQTT broker's subscription index
//! (`route_topic`, `subscribe_frames`) and closing (`fail_about`,
//! `send_close`), which are `CoreState`'s; what they ask of the core is
//! `Core`'s (`route`, `queue_in`, `queue_control`, `encode_frame`).

use wire::{Control, ErrorCode, FrameHeader, FrameType, TargetKind};

use crate::conn::{Input, Phase};
use crate::core_state::CoreState;
use crate::machine::wire::{Counter, Refusal, Session, Step, Timeouts};
use crate::mesh::NameKind;
use crate::metrics;
use crate::mqtt::fanout::SentToTopic;
use crate::sys::Token;

/// Most topics one connection may hold.
pub const TOPICS_PER_CONN_MAX: usize = 1024;

impl CoreState {
    /// Bytes arrived on `token`: decode and handle every complete frame.
    pub fn on_bytes(&mut self, token: Token, data: &[u8]) {
        metrics::add(&self.core.stats.bytes_in_total, data.len() as u64);
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if conn.phase == Phase::Lingering {
            return self.on_linger_bytes(token, data.len());
        }
        if conn.ws.is_some() {
            return self.on_ws_bytes(token, data);
        }
        match conn.phase {
            Phase::Closing | Phase::Lingering => return,
            _ if conn.is_paused() => {
                conn.input.stash(data);
                return;
            }
            _ => {}
        }
        self.feed_input(token, data);
    }

    /// Feeds `data` to the connection's decoder, whichever it is.
    pub(crate) fn feed_input(&mut self, token: Token, data: &[u8]) {
        match self.core.conns.get(token).map(|c| &c.input) {
            Some(Input::Frames(_)) => self.feed_frames(token, data),
            Some(Input::Mqtt(_)) => self.feed_mqtt(token, data),
            None => {}
        }
    }

    /// Hands `data` to the connection's `wire` session (raw TCP, or the
    /// binary messages of a WebSocket) and applies each step; pauses a
    /// sender over its watermark.
    pub(crate) fn feed_frames(&mut self, token: Token, data: &[u8]) {
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        let Input::Frames(session) = &mut conn.input else {
            return;
        };
        // Lent out while its steps are applied (they need the whole core).
        let mut session = std::mem::replace(session, Session::new(0));
        let result = session.handle_input(data, |step| self.on_step(token, step));
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            // Refused by the core (draining), or closed by a step.
            session.close();
        }
        conn.input = Input::Frames(session);
        if let Err(r) = result {
            self.refuse(token, &r);
            return;
        }
        let over = conn.queued_bytes() > self.core.settings.limits.send_queue_high_bytes;
        if over {
            // A peer that sends but does not read its answers waits for them.
            self.core.pause_for_own_queue(token);
        }
    }

    /// From the sweep: ends a `wire` session past its HELLO or idle
    /// timeout (`since`, `now`: connection clock readings).
    pub(crate) fn wire_sweep(&mut self, token: Token, since: u32, now: u32) {
        let limits = &self.core.settings.limits;
        let timeouts = Timeouts::new(limits.hello_timeout_ms, limits.idle_timeout_ms);
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if !conn.phase.takes_input() {
            return;
        }
        let Input::Frames(session) = &mut conn.input else {
            return;
        };
        if let Some(r) = session.handle_timeout(since, now, timeouts) {
            self.refuse(token, &r);
        }
    }

    /// Re-reads what was stashed while paused; returns whether the
    /// connection may read from its socket again.
    pub fn on_resume(&mut self, token: Token) -> bool {
        let Some(conn) = self.core.conns.get_mut(token) else {
            return false;
        };
        if !conn.resume_reading() {
            return false;
        }
        if conn.input.buffered_len() > 0 || self.ws_buffered_len(token) > 0 {
            self.on_bytes(token, &[]);
        }
        let Some(conn) = self.core.conns.get(token) else {
            return false;
        };
        if conn.reading() == crate::flow::Reading::Finished {
            self.begin_close(token);
            return false;
        }
        !conn.is_paused() && conn.phase.takes_input()
    }

    /// Applies one step of a session; pauses the session once the
    /// connection stops taking input.
    fn on_step(&mut self, token: Token, step: Step<'_>) -> Control {
        metrics::inc(&self.core.stats.frames_in_total);
        let clock = self.core.conn_clock();
        let Some(conn) = self.core.conns.get_mut(token) else {
            return Control::Pause;
        };
        conn.last_active = clock;
        if !conn.phase.takes_input() {
            return Control::Pause;
        }
        match step {
            Step::Hello(h, hello) => self.on_hello(token, &h, &hello),
            Step::Send(h, send) => return self.on_send(token, &h, &send),
            Step::Subscribe(h, topics, subscribe) => {
                self.on_subscribe(token, &h, topics, subscribe)
            }
            Step::Ping(pong, payload) => {
                // The PONG takes the PING's lane: by default it comes after
                // everything queued before it (a PING is a barrier); with
                // HIGH_PRIORITY it overtakes queued messages (a probe).
                let (lane, _) = crate::priority::priority_of(pong.flags);
                let f = self
                    .core
                    .encode_frame(|enc, out| enc.pong(out, pong, payload));
                self.core.queue_in(token, lane, f);
            }
            Step::PeerClose => self.send_close(token, 0, "closed by peer"),
            Step::PeerError => metrics::inc(&self.core.stats.peer_errors_total),
            Step::Nothing => {}
            Step::Refuse(r) => self.refuse(token, &r),
        }
        if self
            .core
            .conns
            .get(token)
            .is_some_and(|c| !c.phase.takes_input())
        {
            Control::Pause
        } else {
            Control::Continue
        }
    }

    /// Counts a refused frame and ends the session with its reason.
    fn refuse(&mut self, token: Token, r: &Refusal) {
        let counter = match r.counter {
            Counter::UnexpectedFrame => Some(&self.core.stats.unexpected_frames_total),
            Counter::ProtocolError => Some(&self.core.stats.protocol_errors_total),
            Counter::Oversized => Some(&self.core.stats.oversized_frames_total),
            Counter::Timeout => Some(&self.core.stats.timeouts_total),
            Counter::Refused => None,
        };
        if let Some(c) = counter {
            metrics::inc(c);
        }
        self.fail_about(token, r.about.as_ref(), r.code, &r.reason);
    }

    /// Admits a HELLO's user and answers WELCOME.
    fn on_hello(&mut self, token: Token, h: &FrameHeader, hello: &wire::Hello<'_>) {
        if self.core.draining {
            let reason = "server is draining";
            return self.fail_about(token, Some(h), ErrorCode::GoingAway, reason);
        }
        let (user, change) = self.core.registry.users.join(hello.user_id, token);
        // Presence goes out before WELCOME so that anything the client does
        // after reading WELCOME finds it on every core.
        self.core.announce(NameKind::User, &user, change);
        let conn = self.core.conns.get_mut(token).expect("live");
        conn.user = Some(user);
        conn.phase = Phase::Open;
        let name = self.core.settings.server_name.clone();
        let welcome = wire::Welcome {
            connection_id: self.core.connection_id(token),
            node_id: self.core.settings.node_id,
            server_name: &name,
            max_payload_len: self.core.settings.limits.max_payload_len,
            idle_timeout_ms: self.core.settings.limits.idle_timeout_ms as u32,
        };
        let h = FrameHeader::new(FrameType::Welcome, 0);
        let f = self
            .core
            .encode_frame(|enc, out| enc.welcome(out, h, &welcome));
        self.core.queue_control(token, f);
    }

    fn on_send(&mut self, token: Token, h: &FrameHeader, send: &wire::Send<'_>) -> Control {
        let h = *h;
        let server_id = self.core.ids.next_id_at(self.core.unix_ms);
        let sender = self
            .core
            .conns
            .get(token)
            .and_then(|c| c.user.clone())
            .expect("open has user");
        let mut dh = FrameHeader::new(FrameType::Deliver, 0);
        dh.flags = wire::Flags(h.flags.0 & wire::Flags::HIGH_PRIORITY.0);
        dh.stream_id = h.stream_id;
        dh.message_id = server_id;
        let deliver = wire::Deliver {
            sender: &sender,
            target: send.target,
            body: send.body,
        };
        let out = self
            .core
            .encode_frame(|enc, out| enc.deliver(out, dh, &deliver));
        if out.len() - wire::HEADER_LEN > self.core.settings.limits.max_payload_len as usize {
            // A client need accept no payload over the max_payload_len its
            // WELCOME stated; the sender's name and the envelope can push
            // a SEND at that size over it. Refused; the stream is fine.
            metrics::inc(&self.core.stats.deliver_too_large_total);
            let mut eh = FrameHeader::new(FrameType::Error, 0);
            (eh.message_id, eh.stream_id) = (h.message_id, h.stream_id);
            let reason = "the DELIVER would exceed max_payload_len";
            self.core.send_error(token, eh, ErrorCode::TooLarge, reason);
            return Control::Continue;
        }
        metrics::inc(&self.core.stats.messages_routed_total);
        let kind = send.target.kind;
        let paused = if matches!(kind, TargetKind::Topic | TargetKind::Conversation) {
            let topic = crate::core::topic_name(kind, send.target.id);
            if !wire::mqtt::validate::topic_name(&topic) {
                let reason = "a topic name cannot hold + or #";
                self.fail_about(token, Some(&h), ErrorCode::BadFrame, reason);
                return Control::Pause;
            }
            let sent = SentToTopic {
                header: &h,
                topic: &topic,
                server_id,
                body: send.body,
                sender: &sender,
                // A droppable message may have been shed for every
                // member: no recipients is then not NoSuchTarget.
                empty_is_error: kind == TargetKind::Conversation
                    && !h.flags.contains(wire::Flags::DROPPABLE),
            };
            self.route_topic(token, &sent, out)
        } else {
            self.core.route(token, &h, send.target, server_id, out)
        };
        if paused {
            self.core.pause(token);
            return Control::Pause;
        }
        Control::Continue
    }

    fn on_subscribe(
        &mut self,
        token: Token,
        h: &FrameHeader,
        topics: wire::Topics<'_>,
        subscribe: bool,
    ) {
        for topic in topics.iter() {
            if subscribe {
                self.subscribe(token, h, topic);
            } else {
                self.unsubscribe(token, topic);
            }
            if self
                .core
                .conns
                .get(token)
                .is_some_and(|c| !c.phase.takes_input())
            {
                return;
            }
        }
        if h.flags.contains(wire::Flags::ACK_REQUESTED) {
            let mut ah = FrameHeader::new(FrameType::Ack, 0);
            ah.message_id = h.message_id;
            ah.stream_id = h.stream_id;
            let ack = wire::Ack {
                server_message_id: 0,
                recipients: topics.len() as u32,
            };
            let f = self.core.encode_frame(|enc, out| enc.ack(out, ah, &ack));
            self.core.queue_control(token, f);
        }
    }

    /// Subscribes to a topic filter (MQTT wildcards allowed).
    fn subscribe(&mut self, token: Token, h: &FrameHeader, topic: &str) {
        let conn = self.core.conns.get(token).expect("live");
        if conn.topics().iter().any(|t| &**t == topic) {
            return;
        }
        let about = Some(h);
        if conn.topics().len() >= TOPICS_PER_CONN_MAX {
            let reason = "too many subscriptions";
            return self.fail_about(token, about, ErrorCode::Overload, reason);
        }
        if !self.subscribe_frames(token, topic) {
            let reason = "not a valid topic filter";
            return self.fail_about(token, about, ErrorCode::BadFrame, reason);
        }
        self.core
            .conns
            .get_mut(token)
            .expect("live")
            .lists_mut()
            .topics
            .push(topic.into());
    }

    fn unsubscribe(&mut self, token: Token, topic: &str) {
        let conn = self.core.conns.get_mut(token).expect("live");
        let Some(i) = conn.topics().iter().position(|t| &**t == topic) else {
            return;
        };
        conn.lists_mut().topics.swap_remove(i);
        self.unsubscribe_frames(token, topic);
    }
}
