//! The upgrade, applied: the transport decides it
//! ([`crate::machine::ws::WsConn::handle_upgrade`]); this queues its response, counts it and
//! sets up the protocol on top for the endpoint chosen.

use crate::conn::Input;
use crate::machine::ws::{Endpoint, Upgrade, UpgradeSettings};
use crate::metrics;
use crate::priority::Lane;
use crate::sys::Token;

use super::WsStage;

impl WsStage<'_> {
    /// Bytes of an upgrade request arrived.
    pub(crate) fn on_handshake(&mut self, token: Token, data: &[u8]) {
        let mqtt_enabled = self.broker.cfg().enabled;
        let core = &mut *self.core;
        let websocket = std::sync::Arc::clone(&core.settings().websocket);
        let settings = UpgradeSettings::new(&websocket, mqtt_enabled);
        let Some(ws) = core.conns_mut().get_mut(token).and_then(|c| c.ws_mut()) else {
            return;
        };
        match ws.handle_upgrade(data, settings) {
            Upgrade::Pending => {}
            Upgrade::Refused(response) => {
                metrics::inc(&self.core.stats().ws_handshake_failures_total);
                self.core.queue_part(token, Lane::Normal, response, false);
                self.core.begin_close(token);
            }
            Upgrade::Accepted {
                endpoint,
                response,
                rest,
            } => {
                self.upgraded(token, endpoint);
                metrics::inc(&self.core.stats().ws_upgrades_total);
                self.core.queue_part(token, Lane::Normal, response, false);
                if !rest.is_empty() {
                    self.on_bytes(token, &rest);
                }
            }
        }
    }

    /// Sets up the protocol on top of a connection just upgraded.
    fn upgraded(&mut self, token: Token, endpoint: Endpoint) {
        let clock = self.core.clock().conn_clock();
        let max_packet = self.broker.cfg().max_packet_bytes;
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        conn.touch(clock);
        match endpoint {
            Endpoint::Echo => {
                conn.open();
                // No HELLO comes: the idle timeout applies.
                if let Input::Frames(session) = conn.input_mut() {
                    session.open();
                }
            }
            Endpoint::Mqtt => conn.set_input(Input::Mqtt(crate::mqtt::MqttConn::new(max_packet))),
            Endpoint::Envelope { .. } => {}
        }
    }
}
