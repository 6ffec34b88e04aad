//! The glue of one core: its [`Core`] and the protocol stages that act on
//! it (the MQTT broker in `mqtt/`, the `wire` stage [`WireStage`] in
//! `proto.rs`, the WebSocket stage in `ws/`), the mesh dispatch between
//! them, and the end of a connection: closing with a reason (handed to
//! [`WireStage::send_close`], which picks a `wire` CLOSE, MQTT DISCONNECT
//! or a WebSocket close) and what the stages clean up once the core has
//! taken a connection out of routing.
//!
//! - [`dispatch`]: bytes by connection kind, an adopted connection's
//!   bytes, the resume, the sweeps.
//! - [`mqtt`]: what the reactor and the end of a connection ask of the
//!   broker, handed to it with the core as a parameter.

mod dispatch;
mod mqtt;

use std::sync::Arc;

use crate::conn::Input;
use crate::core::closing::{AfterFlush, Removed, Unrouted};
pub use crate::core::Core;
use crate::core::CoreSettings;
use crate::ids::IdGenerator;
use crate::mesh::{MeshMsg, MeshPort};
use crate::metrics::CoreStats;
use crate::proto::WireStage;
use crate::sys::Token;

/// One core: its [`Core`] and the protocol stages that act on it.
pub struct CoreState {
    /// Connections, routing, mesh, delivery.
    core: Core,
    /// The MQTT broker's share of this core (its sessions; the topic
    /// index is the core's).
    mqtt: crate::mqtt::Broker,
}

/// The reactor's (and the tests') way in.
impl CoreState {
    /// The core.
    #[inline]
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core, to change.
    #[inline]
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// The MQTT broker.
    #[inline]
    pub fn broker(&self) -> &crate::mqtt::Broker {
        &self.mqtt
    }

    /// The MQTT broker, to change.
    #[inline]
    pub fn broker_mut(&mut self) -> &mut crate::mqtt::Broker {
        &mut self.mqtt
    }

    /// The core and the broker, borrowed together.
    #[inline]
    pub fn parts_mut(&mut self) -> (&mut Core, &mut crate::mqtt::Broker) {
        (&mut self.core, &mut self.mqtt)
    }
}

impl CoreState {
    /// State for one core; `broker` is what the node's cores share of the
    /// MQTT broker.
    pub fn new(
        settings: CoreSettings,
        broker: Arc<crate::mqtt::BrokerShared>,
        mesh: MeshPort,
        ids: Arc<IdGenerator>,
        stats: Arc<CoreStats>,
    ) -> CoreState {
        let mqtt = crate::mqtt::Broker::new(broker, settings.core);
        CoreState {
            core: Core::new(settings, mesh, ids, stats),
            mqtt,
        }
    }

    /// Handles a message from another core.
    pub fn on_mesh(&mut self, from: usize, msg: MeshMsg) {
        match msg {
            MeshMsg::Deliver(d) => self.core.on_delivery(from, d),
            MeshMsg::Delivered { ticket, recipients } => self.core.on_delivered(ticket, recipients),
            MeshMsg::Pause(token) => self.core.pause(token),
            MeshMsg::Resume(token) => self.core.intents_mut().resume.push(token),
            MeshMsg::Presence {
                kind,
                name,
                present,
            } => {
                let Ok(name) = std::str::from_utf8(&name) else {
                    return;
                };
                let registry = self.core.registry_mut();
                registry.set_remote(kind, name, from as u16, present);
            }
            other => self.on_mqtt_mesh(from, other),
        }
    }

    /// Queues CLOSE (or the MQTT / WebSocket equivalent) and moves the
    /// connection to `Closing` ([`WireStage::send_close`]).
    pub fn send_close(&mut self, token: Token, code: u16, reason: &str) {
        WireStage::new(&mut self.core, &mut self.mqtt).send_close(token, code, reason);
    }

    /// [`Core::begin_close`], for the stages.
    pub fn begin_close(&mut self, token: Token) {
        self.core.begin_close(token);
    }

    /// Removes a connection and everything that refers to it (a lingering
    /// one was taken out of routing already). Returns false if it was gone.
    pub fn remove_conn(&mut self, token: Token) -> bool {
        match self.core.remove_conn(token) {
            Removed::Gone => false,
            Removed::Lingered => true,
            Removed::Unrouted(unrouted) => {
                self.unrouted(unrouted);
                true
            }
        }
    }

    /// A closing connection's final frames are written: it lingers (out of
    /// routing), or closes at once if the peer will send nothing more.
    pub fn after_final_flush(&mut self, token: Token) -> AfterFlush {
        let (after, unrouted) = self.core.after_final_flush(token);
        if let Some(unrouted) = unrouted {
            self.unrouted(unrouted);
        }
        after
    }

    /// The stages' share of a connection leaving routing: it is no longer
    /// leaving for its home core, its `wire` subscriptions go, its MQTT
    /// session is left behind; then the senders waiting on it resume.
    fn unrouted(&mut self, unrouted: Unrouted) {
        let token = unrouted.token();
        self.mqtt.leaving_mut().forget(token);
        for topic in unrouted.topics() {
            self.core.topics().unsubscribe_frames(topic, token);
        }
        if let Input::Mqtt(m) = unrouted.input() {
            self.mqtt_conn_removed(token, m);
        }
        self.core.resume_waiters(unrouted.into_waiters());
    }
}

/// One core alone (a mesh of one), with `cfg`'s settings, for unit tests
/// that drive a core's state with no backend.
#[cfg(test)]
pub(crate) fn test_core(cfg: &crate::config::Config) -> CoreState {
    let waker = crate::sys::Waker::new().expect("eventfd");
    let (_, mut ports) = crate::mesh::build(vec![waker], 64);
    let broker = crate::mqtt::BrokerShared::new(&cfg.mqtt);
    let settings = crate::shard::core_settings(cfg, 0);
    let ids = Arc::new(IdGenerator::new(cfg.node_id));
    CoreState::new(settings, broker, ports.remove(0), ids, Arc::default())
}
