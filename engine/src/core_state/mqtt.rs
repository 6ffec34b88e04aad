//! The thin glue between the reactor and the broker: what the reactor
//! and the connection's end call on `CoreState`, each handed to the broker
//! with the core as a parameter. (The `wire` and WebSocket stages reach
//! the broker themselves: they borrow it with the core.)

use std::any::Any;

use crate::core_state::CoreState;
use crate::machine::mqtt::MqttConn;
use crate::machine::ws::WsConn;
use crate::mesh::{Lane, MeshMsg};
use crate::sys::Token;

impl CoreState {
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

    /// The broker's mesh messages.
    pub(crate) fn on_mqtt_mesh(&mut self, from: usize, msg: MeshMsg) {
        self.mqtt.hub_mut().on_mesh(&mut self.core, from, msg);
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
        let max_packet_bytes = self.mqtt.cfg().max_packet_bytes;
        crate::mqtt::home::adopt(&mut self.core, max_packet_bytes, ws)
    }

    /// The mesh message that brings a connection home, sent on the high
    /// lane: it is control traffic and must not wait behind data.
    pub fn send_arrival(&mut self, home: usize, msg: MeshMsg) {
        self.core.mesh_mut().send(home, Lane::High, msg);
    }
}
