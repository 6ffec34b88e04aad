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
//! connection (`closing.rs`). It knows no protocol stage: the stages (`wire`
//! in `proto.rs`, `mqtt/`, `ws/`) act on it, and the glue
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

use bytes::{BufMut, Bytes, BytesMut};
use wire::TargetKind;

use self::acks::Acks;
pub(crate) use self::arena::reserve;
use self::targets::Targets;
pub use self::targets::{connection_id, parse_connection_id};
use crate::config::Limits;
use crate::conn::ConnTable;
use crate::ids::IdGenerator;
use crate::mesh::{MeshMsg, MeshPort, NameKind};
use crate::metrics::CoreStats;
use crate::route::{Change, Registry};
use crate::sys::Token;

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
    /// Monotonic clock, in milliseconds since the process epoch, read once
    /// per tick (timers: see [`crate::timers`]).
    now_ms: u64,
    /// Wall clock in Unix milliseconds: the epoch's wall clock plus
    /// `now_ms`, so it never steps and agrees between cores (message ids,
    /// wills, session and message expiry).
    unix_ms: u64,
    /// SIGTERM received: no new connections or HELLOs.
    draining: bool,
    encoder: wire::Encoder,
    arena: BytesMut,
    /// A JSON text message's frame, reused (WebSocket envelope endpoint).
    json_frame: BytesMut,
    /// An outbound frame's JSON form, reused.
    json_text: Vec<u8>,
    /// The WebSocket messages of the frame being fanned out, per form.
    ws_forms: crate::machine::ws::SharedForms,
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
            now_ms: 0,
            unix_ms: crate::ids::unix_ms(),
            draining: false,
            encoder: wire::Encoder::new(),
            arena: BytesMut::new(),
            json_frame: BytesMut::new(),
            json_text: Vec::new(),
            ws_forms: crate::machine::ws::SharedForms::new(),
            acks: Acks::default(),
            targets: Targets::default(),
        }
    }

    /// The clock reading in the form connections store it
    /// ([`crate::timers::conn_clock`]).
    pub fn conn_clock(&self) -> u32 {
        crate::timers::conn_clock(self.now_ms)
    }

    /// Encodes one frame into the arena with the core's encoder and returns
    /// it. Borrows the two fields apart: swapping the encoder out would
    /// build (and allocate) a fresh one per frame.
    pub fn encode_frame<F>(&mut self, f: F) -> Bytes
    where
        F: FnOnce(&mut wire::Encoder, &mut BytesMut),
    {
        f(&mut self.encoder, reserve(&mut self.arena));
        self.arena.split().freeze()
    }

    /// Copies a short name into the arena and returns it as `Bytes`.
    pub(crate) fn arena_bytes(&mut self, s: &[u8]) -> Bytes {
        let arena = reserve(&mut self.arena);
        arena.put_slice(s);
        arena.split().freeze()
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

    /// Users and topics.
    #[inline]
    pub fn registry(&mut self) -> &mut Registry {
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
    pub fn intents(&mut self) -> &mut Intents {
        &mut self.intents
    }

    /// Monotonic clock, in milliseconds since the process epoch, read once
    /// per tick (timers: see [`crate::timers`]).
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Wall clock in Unix milliseconds: the epoch's wall clock plus
    /// `now_ms`, so it never steps and agrees between cores (message ids,
    /// wills, session and message expiry).
    #[inline]
    pub fn unix_ms(&self) -> u64 {
        self.unix_ms
    }

    /// The reactor's clock reading for this tick (both clocks move
    /// together).
    #[inline]
    pub fn set_clock(&mut self, now_ms: u64, unix_ms: u64) {
        self.now_ms = now_ms;
        self.unix_ms = unix_ms;
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

    /// The encode arena, for a stage that writes a frame of its own
    /// (see [`reserve`]).
    #[inline]
    pub(crate) fn arena(&mut self) -> &mut BytesMut {
        &mut self.arena
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
