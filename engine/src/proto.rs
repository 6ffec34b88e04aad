//! The `wire` stage: feeds received bytes to the connection's `wire`
//! [`Session`] machine and applies the steps it returns against the core
//! (admission, routing, subscriptions). All parsing happens in `wire`,
//! and every rule about which frame is valid when in the machine; this
//! module only does what a step asks.
//!
//! [`WireStage`] borrows the core and the MQTT broker for one call. What
//! its steps ask of the core is `Core`'s: `route`, `queue_in`, its
//! `scratch().encode_frame`, and SUBSCRIBE / UNSUBSCRIBE in the core's
//! topic index (`core.topics()`, shared with MQTT sessions). The broker is
//! needed for a SEND to a topic or conversation, which reaches MQTT
//! subscribers too (`Broker::route_topic`, matching in the core's index),
//! and for an MQTT connection's way of closing. The glue (`CoreState`)
//! builds one per call from its byte dispatch, its sweep and its
//! `send_close`; the WebSocket stage builds one for the envelope
//! endpoint's messages.

use wire::{Control, ErrorCode, FrameHeader, FrameType, TargetKind};

use crate::conn::Input;
use crate::core::Core;
use crate::machine::wire::{Counter, Refusal, Session, Step, Timeouts};
use crate::mesh::{Lane, NameKind};
use crate::metrics;
use crate::mqtt::fanout::SentToTopic;
use crate::mqtt::Broker;
use crate::sys::Token;

/// Most topics one connection may hold.
pub const TOPICS_PER_CONN_MAX: usize = 1024;

/// The `wire` stage over one core, for one call: the core, and the MQTT
/// broker whose sessions a SEND to a topic may reach.
pub(crate) struct WireStage<'a> {
    core: &'a mut Core,
    broker: &'a mut Broker,
}

impl<'a> WireStage<'a> {
    /// The stage over `core`, with `broker`'s sessions.
    pub(crate) fn new(core: &'a mut Core, broker: &'a mut Broker) -> WireStage<'a> {
        WireStage { core, broker }
    }

    /// Hands `data` to the connection's `wire` session (raw TCP, or the
    /// binary messages of a WebSocket) and applies each step; pauses a
    /// sender over its watermark.
    pub(crate) fn feed(&mut self, token: Token, data: &[u8]) {
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        let Input::Frames(session) = conn.input_mut() else {
            return;
        };
        // Lent out while its steps are applied (they need the whole core).
        let mut session = std::mem::replace(session, Session::new(0));
        let result = session.handle_input(data, |step| self.on_step(token, step));
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        if !conn.phase().takes_input() {
            // Refused by the core (draining), or closed by a step.
            session.close();
        }
        conn.set_input(Input::Frames(session));
        if let Err(r) = result {
            self.refuse(token, &r);
            return;
        }
        let over = conn.queued_bytes() > self.core.settings().limits.send_queue_high_bytes;
        if over {
            // A peer that sends but does not read its answers waits for them.
            self.core.pause_for_own_queue(token);
        }
    }

    /// From the sweep: ends a `wire` session past its HELLO or idle
    /// timeout (`since`, `now`: connection clock readings).
    pub(crate) fn sweep(&mut self, token: Token, since: u32, now: u32) {
        let limits = &self.core.settings().limits;
        let timeouts = Timeouts::new(limits.hello_timeout_ms, limits.idle_timeout_ms);
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        if !conn.phase().takes_input() {
            return;
        }
        let Input::Frames(session) = conn.input_mut() else {
            return;
        };
        if let Some(r) = session.handle_timeout(since, now, timeouts) {
            self.refuse(token, &r);
        }
    }

    /// Sends ERROR and CLOSE, then closes once they are written.
    pub(crate) fn fail(&mut self, token: Token, code: ErrorCode, reason: &str) {
        self.fail_about(token, None, code, reason);
    }

    /// [`WireStage::fail`] for an error a frame caused: the ERROR carries
    /// that frame's message id and stream id, so that the client can tell
    /// which request failed (errors about the stream itself carry 0s).
    pub(crate) fn fail_about(
        &mut self,
        token: Token,
        about: Option<&FrameHeader>,
        code: ErrorCode,
        reason: &str,
    ) {
        let Some(conn) = self.core.conns().get(token) else {
            return;
        };
        if !conn.phase().takes_input() {
            return;
        }
        if conn.mqtt_ref().is_some() {
            return self.broker.close_for(self.core, token, code as u16);
        }
        let mut h = FrameHeader::new(FrameType::Error, 0);
        if let Some(about) = about {
            h.message_id = about.message_id;
            h.stream_id = about.stream_id;
        }
        self.send_error(token, h, code, reason);
        self.send_close(token, code as u16, reason);
    }

    /// Queues CLOSE (or the MQTT / WebSocket equivalent) and moves the
    /// connection to `Closing` (unless it is closing already: its last
    /// frame is queued).
    pub(crate) fn send_close(&mut self, token: Token, code: u16, reason: &str) {
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        if !conn.phase().takes_input() {
            return;
        }
        if conn.mqtt_ref().is_some() {
            return self.broker.close_for(self.core, token, code);
        }
        let ws_close = conn.ws_mut().map(|ws| ws.engine_close(code));
        let h = FrameHeader::new(FrameType::Close, 0);
        let f = self
            .core
            .scratch()
            .encode_frame(|enc, out| enc.close(out, h, &wire::Close { code, reason }));
        match ws_close {
            // The envelope endpoint gets the `wire` CLOSE frame first,
            // then the close handshake starts.
            Some((envelope, ws_code)) => {
                if envelope {
                    self.core.queue_ws_frame(token, Lane::Normal, f);
                }
                self.core.ws_close(token, Some(ws_code), reason);
            }
            // CLOSE is the last frame: it goes behind everything queued.
            None => _ = self.core.queue_in(token, Lane::Normal, f),
        }
        self.core.begin_close(token);
    }

    /// Queues an ERROR frame (the connection stays open).
    fn send_error(&mut self, token: Token, h: FrameHeader, code: ErrorCode, reason: &str) {
        let f = self
            .core
            .scratch()
            .encode_frame(|enc, out| enc.error(out, h, &wire::ErrorMsg { code, reason }));
        self.core.queue_in(token, Lane::High, f);
    }

    /// Applies one step of a session; pauses the session once the
    /// connection stops taking input.
    fn on_step(&mut self, token: Token, step: Step<'_>) -> Control {
        metrics::inc(&self.core.stats().frames_in_total);
        let clock = self.core.clock().conn_clock();
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return Control::Pause;
        };
        conn.touch(clock);
        if !conn.phase().takes_input() {
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
                    .scratch()
                    .encode_frame(|enc, out| enc.pong(out, pong, payload));
                self.core.queue_in(token, lane, f);
            }
            Step::PeerClose => self.send_close(token, 0, "closed by peer"),
            Step::PeerError => metrics::inc(&self.core.stats().peer_errors_total),
            Step::Nothing => {}
            Step::Refuse(r) => self.refuse(token, &r),
        }
        if self
            .core
            .conns()
            .get(token)
            .is_some_and(|c| !c.phase().takes_input())
        {
            Control::Pause
        } else {
            Control::Continue
        }
    }

    /// Counts a refused frame and ends the session with its reason.
    fn refuse(&mut self, token: Token, r: &Refusal) {
        let counter = match r.counter {
            Counter::UnexpectedFrame => Some(&self.core.stats().unexpected_frames_total),
            Counter::ProtocolError => Some(&self.core.stats().protocol_errors_total),
            Counter::Oversized => Some(&self.core.stats().oversized_frames_total),
            Counter::Timeout => Some(&self.core.stats().timeouts_total),
            Counter::Refused => None,
        };
        if let Some(c) = counter {
            metrics::inc(c);
        }
        self.fail_about(token, r.about.as_ref(), r.code, &r.reason);
    }

    /// Admits a HELLO's user and answers WELCOME.
    fn on_hello(&mut self, token: Token, h: &FrameHeader, hello: &wire::Hello<'_>) {
        if self.core.draining() {
            let reason = "server is draining";
            return self.fail_about(token, Some(h), ErrorCode::GoingAway, reason);
        }
        let (user, change) = self
            .core
            .registry_mut()
            .users_mut()
            .join(hello.user_id, token);
        // Presence goes out before WELCOME so that anything the client does
        // after reading WELCOME finds it on every core.
        self.core.announce(NameKind::User, &user, change);
        let conn = self.core.conns_mut().get_mut(token).expect("live");
        conn.set_user(user);
        conn.open();
        let name = self.core.settings().server_name.clone();
        let welcome = wire::Welcome {
            connection_id: crate::core::connection_id(self.core.settings().core, token),
            node_id: self.core.settings().node_id,
            server_name: &name,
            max_payload_len: self.core.settings().limits.max_payload_len,
            idle_timeout_ms: self.core.settings().limits.idle_timeout_ms as u32,
        };
        let h = FrameHeader::new(FrameType::Welcome, 0);
        let f = self
            .core
            .scratch()
            .encode_frame(|enc, out| enc.welcome(out, h, &welcome));
        self.core.queue_in(token, Lane::High, f);
    }

    fn on_send(&mut self, token: Token, h: &FrameHeader, send: &wire::Send<'_>) -> Control {
        let h = *h;
        let server_id = self.core.ids().next_id_at(self.core.clock().unix_ms);
        let sender = self
            .core
            .conns()
            .get(token)
            .and_then(|c| c.user().cloned())
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
            .scratch()
            .encode_frame(|enc, out| enc.deliver(out, dh, &deliver));
        if out.len() - wire::HEADER_LEN > self.core.settings().limits.max_payload_len as usize {
            // A client need accept no payload over the max_payload_len its
            // WELCOME stated; the sender's name and the envelope can push
            // a SEND at that size over it. Refused; the stream is fine.
            metrics::inc(&self.core.stats().deliver_too_large_total);
            let mut eh = FrameHeader::new(FrameType::Error, 0);
            (eh.message_id, eh.stream_id) = (h.message_id, h.stream_id);
            let reason = "the DELIVER would exceed max_payload_len";
            self.send_error(token, eh, ErrorCode::TooLarge, reason);
            return Control::Continue;
        }
        metrics::inc(&self.core.stats().messages_routed_total);
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
            self.broker.route_topic(self.core, token, &sent, out)
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
                .conns()
                .get(token)
                .is_some_and(|c| !c.phase().takes_input())
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
            let f = self
                .core
                .scratch()
                .encode_frame(|enc, out| enc.ack(out, ah, &ack));
            self.core.queue_in(token, Lane::High, f);
        }
    }

    /// Subscribes to a topic filter (MQTT wildcards allowed).
    fn subscribe(&mut self, token: Token, h: &FrameHeader, topic: &str) {
        let conn = self.core.conns().get(token).expect("live");
        if conn.topics().iter().any(|t| &**t == topic) {
            return;
        }
        let about = Some(h);
        if conn.topics().len() >= TOPICS_PER_CONN_MAX {
            let reason = "too many subscriptions";
            return self.fail_about(token, about, ErrorCode::Overload, reason);
        }
        if !self.core.topics().subscribe_frames(topic, token) {
            let reason = "not a valid topic filter";
            return self.fail_about(token, about, ErrorCode::BadFrame, reason);
        }
        self.core
            .conns_mut()
            .get_mut(token)
            .expect("live")
            .add_topic(topic.into());
    }

    fn unsubscribe(&mut self, token: Token, topic: &str) {
        let conn = self.core.conns_mut().get_mut(token).expect("live");
        if conn.remove_topic(topic) {
            self.core.topics().unsubscribe_frames(topic, token);
        }
    }
}
