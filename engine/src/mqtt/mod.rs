//! The MQTT 3.1.1 and 5.0 broker on the reactor.
//!
//! An MQTT connection is an ordinary [`Conn`](crate::conn::Conn) whose
//! input is an [`MqttConn`] (over TCP, or inside WebSocket binary messages
//! on the `mqtt` endpoint). Each core runs a [`Broker`]: the sessions of
//! the client ids whose home it is ([`home`]), its replica of the
//! subscription index and of the retained messages. Parsing is `wire::mqtt`'s; these modules decide what packets
//! mean.
//!
//! - [`inbound`]: a connection's packets, dispatched.
//! - [`home`]: each client id's home core, and connections sent there.
//! - [`connect`]: CONNECT, CONNACK, session take-over and resumption.
//! - [`publish`]: PUBLISH in, and the acknowledgement flows both ways.
//! - [`fanout`]: a message to every matching subscriber on every core.
//! - [`outbound`]: a message to one session: window, queue, encoding.
//! - [`subscribe`]: SUBSCRIBE, UNSUBSCRIBE, retained messages on subscribe.
//! - [`lifecycle`]: keep-alive, wills, session expiry, connection end.
//! - [`session`], [`message`], [`retained`], [`auth`]: the
//!   state these act on.

pub mod auth;
pub mod connect;
pub mod fanout;
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

use wire::mqtt::PropertiesBuf;

use crate::config::MqttConfig;
pub use crate::machine::mqtt::MqttConn;
use crate::route::topic_index::{SubscriberId, TopicIndex};
use auth::{Acl, Authenticator};
use retained::RetainedStore;
use session::SubOptions;

/// Index entries with this bit set are `wire`/WebSocket envelope
/// connections (the low bits are their token), not MQTT sessions.
pub const FRAME_SUBSCRIBER: SubscriberId = 1 << 63;

/// What every core's broker shares.
pub struct BrokerShared {
    /// The `[mqtt]` section.
    pub cfg: MqttConfig,
    /// CONNECT credentials.
    pub auth: Box<dyn Authenticator>,
    /// Topic rules.
    pub acl: Acl,
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

/// One core's broker.
pub struct Broker {
    /// Shared settings and node-wide maps.
    pub shared: Arc<BrokerShared>,
    /// Sessions owned by this core, by key and by client id.
    pub sessions: sessions::Sessions,
    /// This core's replica of the subscription index.
    pub index: TopicIndex<SubOptions>,
    /// This core's copy of the retained messages.
    pub retained: RetainedStore,
    /// Persistent sessions whose client is away: (session key, uid),
    /// checked for expiry by the sweep.
    pub(crate) away: Vec<(usize, u64)>,
    /// Wills waiting for their delay: (unix ms due, session uid, will).
    pub(crate) delayed_wills: Vec<lifecycle::DelayedWill>,
    /// Connections on their way to their client id's home core.
    pub(crate) leaving: home::Leaving,
    /// Encode scratch for packets.
    pub(crate) out: Vec<u8>,
    /// Property scratch for outgoing PUBLISHes.
    pub(crate) props: PropertiesBuf,
    /// Whole QoS 0 packets shared by the subscribers of one fan-out.
    pub(crate) shared_packets: outbound::SharedPackets,
    /// Match scratch: (subscriber, options) pairs of one publish.
    pub(crate) matches: Vec<(SubscriberId, SubOptions)>,
    next_uid: u64,
}

impl Broker {
    /// An empty broker for core `core`.
    pub fn new(shared: Arc<BrokerShared>, core: u16) -> Broker {
        Broker {
            shared,
            sessions: sessions::Sessions::default(),
            index: TopicIndex::new(),
            retained: RetainedStore::default(),
            away: Vec::new(),
            delayed_wills: Vec::new(),
            leaving: home::Leaving::default(),
            out: Vec::new(),
            props: PropertiesBuf::new(),
            matches: Vec::new(),
            shared_packets: outbound::SharedPackets::default(),
            next_uid: (u64::from(core) << 48) | 1,
        }
    }

    /// A node-unique session id (core in the top bits, never 0).
    pub fn next_uid(&mut self) -> u64 {
        let uid = self.next_uid;
        self.next_uid += 1;
        uid
    }

    /// The `[mqtt]` settings.
    pub fn cfg(&self) -> &MqttConfig {
        &self.shared.cfg
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
