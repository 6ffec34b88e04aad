//! The thin glue between the core's dispatch and the broker: what the
//! reactor, the `wire` stage, the WebSocket stage and the connection's
//! end call on `CoreState`, each handed to the broker with the core as a
//! parameter.

use std::any::Any;

use bytes::Bytes;

use crate::core_state::CoreState;
use crate::machine::mqtt::MqttConn;
use crate::machine::ws::WsConn;
use crate::mesh::{Lane, MeshMsg};
use crate::mqtt::fanout::SentToTopic;
use crate::sys::Token;

impl CoreState {
    /// MQTT bytes read on `token` (TCP, or WebSocket binary messages).
    pub(crate) fn feed_mqtt(&mut self, token: Token, data: &[u8]) {
        self.mqtt.feed(&mut self.core, token, data);
    }

    /// A `wire` SEND to a topic (see [`crate::mqtt::Hub::route_topic`]).
    pub(crate) fn route_topic(&mut self, from: Token, s: &SentToTopic<'_>, frame: Bytes) -> bool {
        self.mqtt
            .hub_mut()
            .route_topic(&mut self.core, from, s, frame)
    }

    /// Whether the MQTT session on `token` still queues too much for its
    /// paused publishers to resume.
    pub(crate) fn mqtt_backlogged(&mut self, token: Token) -> bool {
        self.mqtt.hub_mut().backlogged(&self.core, token)
    }

    /// An MQTT connection left the table.
    pub(crate) fn mqtt_conn_removed(&mut self, token: Token, m: &MqttConn) {
        self.mqtt.conn_removed(&mut self.core, token, m);
    }

    /// The broker's per-core timers (wills, session expiry).
    pub fn mqtt_sweep(&mut self) {
        self.mqtt.hub_mut().sweep(&mut self.core);
    }

    /// One connection's MQTT timers; false if it is not MQTT.
    pub fn mqtt_sweep_conn(&mut self, token: Token, since: u32, now: u32) -> bool {
        self.mqtt.sweep_conn(&mut self.core, token, since, now)
    }

    /// Ends an MQTT connection for an engine reason.
    pub(crate) fn mqtt_close_for(&mut self, token: Token, code: u16) {
        self.mqtt.close_for(&mut self.core, token, code);
    }

    /// The broker's mesh messages.
    pub(crate) fn on_mqtt_mesh(&mut self, from: usize, msg: MeshMsg) {
        self.mqtt.hub_mut().on_mesh(&mut self.core, from, msg);
    }

    /// A `wire`/WebSocket subscription to a topic filter.
    pub(crate) fn subscribe_frames(&mut self, token: Token, filter: &str) -> bool {
        self.mqtt
            .hub_mut()
            .subscribe_frames(&mut self.core, token, filter)
    }

    /// Ends a `wire`/WebSocket subscription.
    pub(crate) fn unsubscribe_frames(&mut self, token: Token, filter: &str) {
        self.mqtt
            .hub_mut()
            .unsubscribe_frames(&mut self.core, token, filter);
    }

    /// Another core's presence change for a filter.
    pub(crate) fn filter_presence(&mut self, filter: &str, core: u16, present: bool) {
        self.mqtt.hub_mut().filter_presence(filter, core, present);
    }

    /// The socket of a connection sent home, handed over by the backend.
    pub fn on_detached(
        &mut self,
        token: Token,
        stream: Box<dyn Any + Send>,
    ) -> Option<(usize, MeshMsg)> {
        self.mqtt
            .leaving_mut()
            .on_detached(&mut self.core, token, stream)
    }

    /// A slot for a connection sent here, its home.
    pub fn adopt(&mut self, ws: Option<Box<WsConn>>) -> Option<Token> {
        self.mqtt.adopt(&mut self.core, ws)
    }

    /// Reads what an adopted connection brought: its MQTT bytes, then any
    /// WebSocket frames its reader still holds.
    pub fn on_adopted(&mut self, token: Token, bytes: &[u8]) {
        self.feed_mqtt(token, bytes);
        let paused = self.core.conns.get(token).is_none_or(|c| c.is_paused());
        if !paused && self.ws_buffered_len(token) > 0 {
            self.on_ws_bytes(token, &[]);
        }
    }

    /// Forgets a connection that was closed before it could leave.
    pub(crate) fn forget_leaving(&mut self, token: Token) {
        self.mqtt.leaving_mut().forget(token);
    }

    /// The mesh message that brings a connection home, sent on the high
    /// lane: it is control traffic and must not wait behind data.
    pub fn send_arrival(&mut self, home: usize, msg: MeshMsg) {
        self.core.mesh.send(home, Lane::High, msg);
    }
}
