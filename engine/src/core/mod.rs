//! What one reactor core owns besides its I/O backend and its protocol
//! stages: connections, routing, the mesh port, and delivery between them.
//!
//! `Core` never calls the backend. It records what the backend must do
//! (flush, pause, resume, close) in intent lists that the reactor applies
//! after each batch of completions; this keeps the logic testable and lets
//! a received buffer stay borrowed from the backend while frames are
//! handled. Its methods live beside the concept they serve: queueing
//! (`delivery.rs`), routing to local and remote members (`routing.rs`),
//! ACK tickets (`acks.rs`), backpressure (`backpressure.rs`), the end of a
//! connection (`closing.rs`), writing to a WebSocket connection (`ws.rs`);
//! the buffers frames are written into are its [`Scratch`] (`arena.rs`),
//! its clocks one [`Clock`] value. It knows no protocol stage: the stages
//! (`wire` in `proto.rs`, `mqtt/`, `ws/`) act on it, and the glue
//! ([`crate::core_state::CoreState`]) joins them.

pub mod acks;
mod arena;
pub mod backpressure;
pub mod closing;
pub mod delivery;
pub mod routing;
pub mod targets;
pub mod topics;
mod ws;

use std::sync::Arc;

use bytes::Bytes;
use wire::TargetKind;

use self::acks::Acks;
pub(crate) use self::arena::reserve;
pub use self::arena::Scratch;
use self::targets::Targets;
pub use self::targets::{connection_id, parse_connection_id};
use crate::config::Limits;
use crate::conn::ConnTable;
use crate::ids::IdGenerator;
use crate::mesh::{MeshMsg, MeshPort, NameKind};
use crate::metrics::CoreStats;
use crate::route::{Change, Registry};
use crate::sys::Token;
use crate::timers::Clock;

/// The origin core of messages the server publishes itself (wills): no
/// connection to pause.
pub const SERVER_ORIGIN: u16 = u16::MAX;

/// Work for the backend, collected while handling completions.
#[derive(Debug, Default)]
pub struct Intents {
    /// Connections with frames to write.
    pub flush: Vec<Token>,
    /// Connections whose reads must stop.
    pub pause: Vec<Token>,
    /// Connections whose reads may start again.
    pub resume: Vec<Token>,
    /// Connections to close now.
    pub close: Vec<Token>,
    /// Connections to detach from the backend (once no send is in
    /// flight) and send to another core (`mqtt::home`).
    pub detach: Vec<Token>,
    /// Connections whose final frames are written: linger, then close.
    pub linger: Vec<Token>,
}

/// Static per-core settings.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// This core's index in the mesh.
    pub core: u16,
    /// Node id (WELCOME).
    pub node_id: u16,
    /// Server name (WELCOME).
    pub server_name: Arc<str>,
    /// Bounds.
    pub limits: Limits,
    /// The WebSocket endpoints and limits.
    pub websocket: Arc<crate::config::WebSocketConfig>,
}

/// What one reactor core owns besides its backend and its protocol
/// stages: connections, routing, the mesh port and delivery between them.
pub struct Core {
    /// Static settings.
    settings: CoreSettings,
    /// Live connections.
    conns: ConnTable,
    /// Users and topics.
    registry: Registry,
    /// Rings to and from other cores.
    mesh: MeshPort,
    /// Message ids, shared by the node's cores.
    ids: Arc<IdGenerator>,
    /// Counters.
    stats: Arc<CoreStats>,
    /// Work for the backend.
    intents: Intents,
    /// The clocks, read once per tick by the reactor (timers: see
    /// [`crate::timers`]).
    clock: Clock,
    /// SIGTERM received: no new connections or HELLOs.
    draining: bool,
    /// The buffers frames are written into, reused.
    scratch: Scratch,
    /// SENDs waiting for other cores' answers before their ACK.
    acks: Acks,
    /// The local members of the target being delivered to.
    targets: Targets,
}

impl Core {
    /// The core part of one core's state.
    pub fn new(
        settings: CoreSettings,
        mesh: MeshPort,
        ids: Arc<IdGenerator>,
        stats: Arc<CoreStats>,
    ) -> Core {
        let max_conns = settings.limits.max_connections_per_core;
        Core {
            settings,
            conns: ConnTable::with_capacity(max_conns),
            registry: Registry::default(),
            mesh,
            ids,
            stats,
            intents: Intents::default(),
            clock: Clock {
                now_ms: 0,
                unix_ms: crate::ids::unix_ms(),
            },
            draining: false,
            scratch: Scratch::new(),
            acks: Acks::default(),
            targets: Targets::default(),
        }
    }

    /// Tells every other core about a presence change.
    pub fn announce(&mut self, kind: NameKind, name: &str, change: Change) {
        announce(&mut self.mesh, kind, name, change);
    }
}

/// Read and write access for the stages and the reactor: what they may
/// look at or change directly, without any of the Core's invariants at
/// stake (those are kept by the methods in this module's files).
impl Core {
    /// Static settings.
    #[inline]
    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    /// Live connections.
    #[inline]
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// Live connections, to change one.
    #[inline]
    pub fn conns_mut(&mut self) -> &mut ConnTable {
        &mut self.conns
    }

    /// Users and topics, to join, leave or match.
    #[inline]
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The rings to and from the other cores.
    #[inline]
    pub fn mesh(&self) -> &MeshPort {
        &self.mesh
    }

    /// The rings to and from the other cores, to send or drain.
    #[inline]
    pub fn mesh_mut(&mut self) -> &mut MeshPort {
        &mut self.mesh
    }

    /// Message ids, shared by the node's cores.
    #[inline]
    pub fn ids(&self) -> &IdGenerator {
        &self.ids
    }

    /// Counters.
    #[inline]
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    /// Work for the backend, recorded for the reactor to apply.
    #[inline]
    pub fn intents_mut(&mut self) -> &mut Intents {
        &mut self.intents
    }

    /// This tick's clock readings (timers: see [`crate::timers`]).
    #[inline]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The reactor's clock readings for this tick (both clocks move
    /// together).
    #[inline]
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// SIGTERM received: no new connections or HELLOs.
    #[inline]
    pub fn draining(&self) -> bool {
        self.draining
    }

    /// Starts the drain (SIGTERM): from now on no new connections or HELLOs.
    #[inline]
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// The buffers frames are written into: the encoder and its arena.
    #[inline]
    pub fn scratch(&mut self) -> &mut Scratch {
        &mut self.scratch
    }
}

/// Tells the other cores that this one gained its first (`Up`) or lost
/// its last (`Down`) member of `name`.
fn announce(mesh: &mut MeshPort, kind: NameKind, name: &str, change: Change) {
    if change == Change::None {
        return;
    }
    mesh.broadcast(|| MeshMsg::Presence {
        kind,
        name: Bytes::copy_from_slice(name.as_bytes()),
        present: change == Change::Up,
    });
}

/// Topic name of a topic or conversation target: conversations live
/// beside topics as `$conversation/<id>` until the dispatcher stage owns
/// them (the `$` keeps MQTT wildcards off them).
pub(crate) fn topic_name(kind: TargetKind, id: &str) -> std::borrow::Cow<'_, str> {
    if kind == TargetKind::Conversation {
        format!("$conversation/{id}").into()
    } else {
        id.into()
    }
}
