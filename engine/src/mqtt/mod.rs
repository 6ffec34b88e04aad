//! The MQTT 3.1.1 and 5.0 broker on the reactor: the stage that applies
//! what each connection's MQTT machine ([`crate::machine::mqtt`]) returns,
//! with the core ([`Core`](crate::core::Core)) as a parameter.
//!
//! An MQTT connection is an ordinary [`Conn`](crate::conn::Conn) whose
//! input is an [`MqttConn`] machine (over TCP, or inside WebSocket binary
//! messages on the `mqtt` endpoint): it decodes and checks each packet.
//! Each core runs a [`Broker`]: the sessions of the client ids whose home
//! it is ([`home`]) and its replica of the retained messages (the
//! subscription index is the core's, `route/topics.rs`). Two types split
//! the work:
//!
//! - [`Broker`]: one connection's events (CONNECT, PUBLISH in, acks,
//!   SUBSCRIBE, DISCONNECT), its end, its timers, its way home;
//! - [`Hub`]: where messages meet sessions: fan-out on every core, a
//!   session's delivery window and queue, retained messages, wills and
//!   session expiry; it matches publishes in the core's subscription
//!   index ([`crate::route::topics`]), which MQTT sessions and `wire`
//!   subscribers share;
//!
//! with the [`sessions::Sessions`] table and the [`outbound::Outbox`]
//! (encoding, and every packet the broker sends) beside them. Nothing here
//! names `CoreState`: the glue that the core's dispatch calls is
//! `core_state/mqtt.rs`, above this module.
//!
//! - [`inbound`]: a connection's events, applied; how it ends.
//! - [`home`]: each client id's home core, and connections sent there.
//! - [`connect`]: CONNECT, CONNACK, session take-over and resumption.
//! - [`publish`]: PUBLISH in, and the acknowledgement flows both ways.
//! - [`fanout`]: a message to every matching subscriber on every core.
//! - [`outbound`]: a message to one session: window, queue, encoding.
//! - [`subscribe`]: SUBSCRIBE, UNSUBSCRIBE, retained messages on subscribe.
//! - [`lifecycle`]: wills, session expiry, connection end.
//! - [`session`], [`flows`], [`retained`], [`auth`]: the state these act
//!   on.

pub mod auth;
pub mod connect;
pub mod connection;
pub mod fanout;
pub mod flows;
pub mod home;
pub mod inbound;
pub mod lifecycle;
pub mod outbound;
pub mod publish;
pub mod retained;
pub mod session;
pub mod sessions;
pub mod subscribe;

use std::sync::Arc;

use crate::config::MqttConfig;
pub use crate::machine::mqtt::MqttConn;
use crate::route::topic_index::SubscriberId;
use auth::{Acl, Authenticator};
use retained::RetainedStore;
use session::SubOptions;

/// What every core's broker shares.
pub struct BrokerShared {
    /// The `[mqtt]` section.
    cfg: MqttConfig,
    /// CONNECT credentials.
    auth: Box<dyn Authenticator>,
    /// Topic rules.
    acl: Acl,
}

impl std::fmt::Debug for BrokerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerShared").finish_non_exhaustive()
    }
}

impl BrokerShared {
    /// From the config, with the static user list as authenticator.
    pub fn new(cfg: &MqttConfig) -> Arc<BrokerShared> {
        Arc::new(BrokerShared {
            cfg: cfg.clone(),
            auth: Box::new(auth::StaticUsers::new(cfg)),
            acl: Acl::new(cfg),
        })
    }
}

/// One core's broker: what one connection's events do.
pub struct Broker {
    /// Shared settings and node-wide maps.
    shared: Arc<BrokerShared>,
    /// Sessions, retained messages, wills.
    hub: Hub,
    /// Connections on their way to their client id's home core.
    leaving: home::Leaving,
    /// Session ids, and client ids for clients that send none.
    uids: home::Uids,
}

/// Where messages meet sessions on one core: the sessions and their
/// queues, this core's copy of the retained messages, the wills and
/// expiries waiting. (The subscription index is the core's.)
pub struct Hub {
    /// Shared settings and topic rules.
    shared: Arc<BrokerShared>,
    /// Sessions owned by this core, by key and by client id.
    sessions: sessions::Sessions,
    /// This core's copy of the retained messages.
    retained: RetainedStore,
    /// Sessions whose client is away and wills waiting for their delay.
    wills: lifecycle::Wills,
    /// Encoding scratch and the packets shared by one fan-out.
    outbox: outbound::Outbox,
    /// Match scratch: (subscriber, options) pairs of one publish.
    matches: Vec<(SubscriberId, SubOptions)>,
}

impl Broker {
    /// An empty broker for core `core`.
    pub fn new(shared: Arc<BrokerShared>, core: u16) -> Broker {
        Broker {
            hub: Hub {
                shared: shared.clone(),
                sessions: sessions::Sessions::default(),
                retained: RetainedStore::default(),
                wills: lifecycle::Wills::default(),
                outbox: outbound::Outbox::default(),
                matches: Vec::new(),
            },
            shared,
            leaving: home::Leaving::default(),
            uids: home::Uids::new(core),
        }
    }

    /// The `[mqtt]` settings.
    pub fn cfg(&self) -> &MqttConfig {
        &self.shared.cfg
    }

    /// Sessions, subscriptions, retained messages and wills, for the
    /// glue (`core_state::mqtt`) to hand the core to.
    pub fn hub_mut(&mut self) -> &mut Hub {
        &mut self.hub
    }

    /// Connections on their way home, for the glue.
    pub fn leaving_mut(&mut self) -> &mut home::Leaving {
        &mut self.leaving
    }
}

#[cfg(test)]
mod size_tests {
    /// An idle device pays for these besides its slot (docs/benchmarks.md:
    /// memory per idle connection).
    #[test]
    fn idle_device_state_stays_small() {
        let conn = std::mem::size_of::<crate::machine::mqtt::MqttConn>();
        let session = std::mem::size_of::<super::session::Session>();
        println!("MqttConn {conn} Session {session}");
        assert!(
            conn <= 200 && session <= 300,
            "MqttConn {conn}, Session {session}"
        );
    }
}
