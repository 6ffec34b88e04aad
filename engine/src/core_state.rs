//! Everything one reactor core owns besides its I/O backend: connections,
//! the registry, the mesh port, and the delivery logic between them.
//!
//! `CoreState` never calls the backend. It records what the backend must do
//! (flush, pause, resume, close) in intent lists that the reactor applies
//! after each batch of completions; this keeps the protocol logic testable
//! and lets a received buffer stay borrowed from the backend while frames
//! are handled.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use slab::Slab;
use wire::{ErrorCode, FrameHeader, FrameType, TargetKind};

use crate::config::Limits;
use crate::conn::{ConnTable, Phase};
use crate::ids::IdGenerator;
use crate::mesh::{Delivery, Lane, MeshMsg, MeshPort, NameKind};
use crate::metrics::{self, CoreStats};
use crate::priority::{priority_of, Shed};
use crate::route::{Change, Registry};
use crate::sys::Token;

/// The origin core of messages the server publishes itself (wills): no
/// connection to pause.
pub const SERVER_ORIGIN: u16 = u16::MAX;

/// Arena refill size: frames are encoded into one growing buffer and split
/// off as `Bytes`, so encoding allocates once per this many bytes.
const ARENA_BYTES: usize = 64 * 1024;

/// An ACK owed to a sender once every remote core has answered.
#[derive(Debug)]
struct PendingAck {
    token: Token,
    /// The SEND's header: its ids and flags are what the answer echoes.
    send: FrameHeader,
    server_message_id: u64,
    cores_left: u32,
    recipients: u32,
    /// A user target with nobody online is an error, a topic is not.
    empty_is_error: bool,
}

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
    /// The MQTT broker's shared settings and node-wide maps.
    pub mqtt: Arc<crate::mqtt::BrokerShared>,
}

/// What one reactor core owns besides its backend and its protocol
/// stages: connections, routing, the mesh port and delivery between them.
pub struct Core {
    /// Static settings.
    pub settings: CoreSettings,
    /// Live connections.
    pub conns: ConnTable,
    /// Users and topics.
    pub registry: Registry,
    /// Rings to and from other cores.
    pub mesh: MeshPort,
    /// Message ids, shared by the node's cores.
    pub ids: Arc<IdGenerator>,
    /// Counters.
    pub stats: Arc<CoreStats>,
    /// Work for the backend.
    pub intents: Intents,
    /// Monotonic clock, in milliseconds since the process epoch, read once
    /// per tick (timers: see [`crate::timers`]).
    pub now_ms: u64,
    /// Wall clock in Unix milliseconds: the epoch's wall clock plus
    /// `now_ms`, so it never steps and agrees between cores (message ids,
    /// wills, session and message expiry).
    pub unix_ms: u64,
    /// SIGTERM received: no new connections or HELLOs.
    pub draining: bool,
    /// Connections in the table that are lingering (not open any more).
    pub lingering: usize,
    pub(crate) encoder: wire::Encoder,
    pub(crate) arena: BytesMut,
    /// A JSON text message's frame, reused (WebSocket envelope endpoint).
    pub(crate) json_frame: BytesMut,
    /// An outbound frame's JSON form, reused.
    pub(crate) json_text: Vec<u8>,
    /// The WebSocket messages of the frame being fanned out, per form.
    pub(crate) ws_forms: crate::machine::ws::SharedForms,
    acks: Slab<PendingAck>,
    scratch: Vec<Token>,
}

/// One core: its [`Core`] and the protocol stages that act on it.
pub struct CoreState {
    /// Connections, routing, mesh, delivery.
    pub core: Core,
    /// The MQTT broker's share of this core (and the topic index that
    /// `wire` subscriptions use too).
    pub mqtt: crate::mqtt::Broker,
}

impl CoreState {
    /// State for one core.
    pub fn new(
        settings: CoreSettings,
        mesh: MeshPort,
        ids: Arc<IdGenerator>,
        stats: Arc<CoreStats>,
    ) -> CoreState {
        let mqtt = crate::mqtt::Broker::new(settings.mqtt.clone(), settings.core);
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
            MeshMsg::Resume(token) => self.core.intents.resume.push(token),
            MeshMsg::Presence {
                kind,
                name,
                present,
            } => {
                let Ok(name) = std::str::from_utf8(&name) else {
                    return;
                };
                match kind {
                    NameKind::User => {
                        self.core
                            .registry
                            .users
                            .set_remote(name, from as u16, present)
                    }
                    NameKind::Filter => self.filter_presence(name, from as u16, present),
                }
            }
            other => self.on_mqtt_mesh(from, other),
        }
    }
}

impl Core {
    /// The core part of one core's state.
    fn new(
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
            lingering: 0,
            encoder: wire::Encoder::new(),
            arena: BytesMut::new(),
            json_frame: BytesMut::new(),
            json_text: Vec::new(),
            ws_forms: crate::machine::ws::SharedForms::new(),
            acks: Slab::new(),
            scratch: Vec::new(),
        }
    }

    /// The clock reading in the form connections store it
    /// ([`crate::timers::conn_clock`]).
    pub fn conn_clock(&self) -> u32 {
        crate::timers::conn_clock(self.now_ms)
    }

    /// The encode buffer; split the frame off with [`Core::take_frame`].
    pub fn arena(&mut self) -> &mut BytesMut {
        reserve(&mut self.arena)
    }

    /// Everything encoded into the arena since the last call, as one frame.
    pub fn take_frame(&mut self) -> Bytes {
        self.arena.split().freeze()
    }

    /// Encodes one frame into the arena with the core's encoder and returns
    /// it. Borrows the two fields apart: swapping the encoder out would
    /// build (and allocate) a fresh one per frame.
    pub fn encode_frame<F>(&mut self, f: F) -> Bytes
    where
        F: FnOnce(&mut wire::Encoder, &mut BytesMut),
    {
        self.arena();
        f(&mut self.encoder, &mut self.arena);
        self.take_frame()
    }

    /// Copies a short name into the arena and returns it as `Bytes`.
    pub(crate) fn arena_bytes(&mut self, s: &[u8]) -> Bytes {
        self.arena().put_slice(s);
        self.take_frame()
    }

    /// Sends a message built by `f` to every other core.
    pub(crate) fn broadcast(&mut self, f: impl Fn() -> MeshMsg) {
        let me = self.settings.core as usize;
        for core in (0..self.mesh.cores()).filter(|&c| c != me) {
            self.mesh.send(core, Lane::High, f());
        }
    }

    /// Routes an encoded DELIVER frame to a user or connection target on
    /// every core that has it. Returns true if the sending connection must
    /// pause.
    pub fn route(
        &mut self,
        from: Token,
        header: &FrameHeader,
        target: wire::Target<'_>,
        server_id: u64,
        frame: Bytes,
    ) -> bool {
        let (kind, id) = (target.kind, target.id);
        let me = self.settings.core;
        let remote = self.members_of(kind, id) & !(1u64 << me);
        let members = std::mem::take(&mut self.scratch);
        let priority = priority_of(header.flags);
        // A target with connections whose every copy was shed exists:
        // no recipients is then not NoSuchTarget.
        let empty_is_error = priority.1 == Shed::Never || (members.is_empty() && remote == 0);
        let (count, mut pause) = self.deliver_local(&members, &frame, priority, (me, from));
        self.scratch = members;
        let ticket = self.ack_ticket(from, header, server_id, count, remote, empty_is_error);
        let Some(ticket) = ticket else {
            if remote == 0 {
                return pause;
            }
            return self.deliver_remote(from, header, kind, id, frame, remote, None) || pause;
        };
        pause |= self.deliver_remote(from, header, kind, id, frame, remote, Some(ticket));
        pause
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver_remote(
        &mut self,
        from: Token,
        header: &FrameHeader,
        kind: TargetKind,
        id: &str,
        frame: Bytes,
        remote: u64,
        ticket: Option<u32>,
    ) -> bool {
        let me = self.settings.core;
        let target = self.target_bytes(kind, id);
        let priority = priority_of(header.flags);
        let mut pause = false;
        let mut bits = remote;
        while bits != 0 {
            let core = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let d = Delivery {
                kind,
                target: target.clone(),
                frame: frame.clone(),
                origin_core: me,
                origin_token: from,
                ticket,
                priority,
            };
            if priority.1 == Shed::IfBehind {
                // A droppable message never waits for ring space.
                if self
                    .mesh
                    .try_send(core, priority.0, MeshMsg::Deliver(d))
                    .is_err()
                {
                    metrics::inc(&self.stats.shed_total);
                    // That core will not answer the ticket: settle its share.
                    if let Some(t) = ticket {
                        self.on_delivered(t, 0);
                    }
                }
                continue;
            }
            if !self.mesh.send(core, priority.0, MeshMsg::Deliver(d)) {
                metrics::inc(&self.stats.mesh_ring_full_total);
                self.mesh.wait_for_ring(core, priority.0, from);
                pause = true;
            }
        }
        pause
    }

    /// Fills `scratch` with the local members of a user or connection
    /// target and returns the bitmask of cores that have members. (Topics
    /// and conversations go through the subscription index instead.)
    fn members_of(&mut self, kind: TargetKind, id: &str) -> u64 {
        self.scratch.clear();
        let me = self.settings.core;
        if kind != TargetKind::Connection {
            let Some(p) = self.registry.users.get(id) else {
                return 0;
            };
            self.scratch.extend_from_slice(p.local.as_slice());
            return p.remote_cores;
        }
        let Some((core, token)) = parse_connection_id(id) else {
            return 0;
        };
        if core != me {
            return 1u64 << core;
        }
        if self
            .conns
            .get(token)
            .is_some_and(|c| c.phase == Phase::Open)
        {
            self.scratch.push(token);
        }
        0
    }

    fn target_bytes(&mut self, kind: TargetKind, id: &str) -> Bytes {
        match kind {
            TargetKind::Connection => {
                let token = parse_connection_id(id).map_or(0, |(_, t)| t);
                self.arena_bytes(&token.to_be_bytes())
            }
            _ => self.arena_bytes(id.as_bytes()),
        }
    }

    /// Answers a SEND whose local recipients are counted: now if no other
    /// core is involved, else through an ack ticket that the other cores'
    /// `Delivered` answers settle (if the sender asked for an ACK).
    pub(crate) fn ack_ticket(
        &mut self,
        from: Token,
        header: &FrameHeader,
        server_id: u64,
        recipients: u32,
        remote: u64,
        empty_is_error: bool,
    ) -> Option<u32> {
        if remote == 0 {
            self.answer_send(from, header, server_id, recipients, empty_is_error);
            return None;
        }
        let wants_ack = header.flags.contains(wire::Flags::ACK_REQUESTED);
        wants_ack.then(|| {
            self.acks.insert(PendingAck {
                token: from,
                send: *header,
                server_message_id: server_id,
                cores_left: remote.count_ones(),
                recipients,
                empty_is_error,
            }) as u32
        })
    }

    /// ACK or ERROR for a SEND once its recipients are known.
    fn answer_send(
        &mut self,
        token: Token,
        header: &FrameHeader,
        server_id: u64,
        recipients: u32,
        empty_is_error: bool,
    ) {
        if recipients == 0 && empty_is_error {
            metrics::inc(&self.stats.no_target_total);
            let mut h = FrameHeader::new(FrameType::Error, 0);
            h.message_id = header.message_id;
            h.stream_id = header.stream_id;
            self.send_error(token, h, ErrorCode::NoSuchTarget, "no such target");
            return;
        }
        if header.flags.contains(wire::Flags::ACK_REQUESTED) {
            let mut h = FrameHeader::new(FrameType::Ack, 0);
            h.message_id = header.message_id;
            h.stream_id = header.stream_id;
            let ack = wire::Ack {
                server_message_id: server_id,
                recipients,
            };
            let f = self.encode_frame(|enc, out| enc.ack(out, h, &ack));
            self.queue_control(token, f);
        }
    }

    /// Queues an ERROR frame (the connection stays open).
    pub fn send_error(&mut self, token: Token, h: FrameHeader, code: ErrorCode, reason: &str) {
        let f = self.encode_frame(|enc, out| enc.error(out, h, &wire::ErrorMsg { code, reason }));
        self.queue_control(token, f);
    }

    pub(crate) fn on_delivery(&mut self, from: usize, d: Delivery) {
        self.scratch.clear();
        match d.kind {
            TargetKind::Connection => {
                let token = d
                    .target
                    .first_chunk::<8>()
                    .map_or(0, |b| u64::from_be_bytes(*b));
                if self
                    .conns
                    .get(token)
                    .is_some_and(|c| c.phase == Phase::Open)
                {
                    self.scratch.push(token);
                }
            }
            _ => {
                let name = std::str::from_utf8(&d.target).unwrap_or("");
                if let Some(p) = self.registry.users.get(name) {
                    self.scratch.extend_from_slice(p.local.as_slice());
                }
            }
        }
        let members = std::mem::take(&mut self.scratch);
        let origin = (d.origin_core, d.origin_token);
        let (count, _) = self.deliver_local(&members, &d.frame, d.priority, origin);
        self.scratch = members;
        if let Some(ticket) = d.ticket {
            let reply = MeshMsg::Delivered {
                ticket,
                recipients: count,
            };
            self.mesh.send(from, Lane::High, reply);
        }
    }

    /// A core's answer to a ticketed delivery: `recipients` more; the
    /// last answer sends the ACK.
    pub(crate) fn on_delivered(&mut self, ticket: u32, recipients: u32) {
        let Some(p) = self.acks.get_mut(ticket as usize) else {
            return;
        };
        p.recipients += recipients;
        p.cores_left -= 1;
        if p.cores_left > 0 {
            return;
        }
        let p = self.acks.remove(ticket as usize);
        if self.conns.get(p.token).is_some() {
            self.answer_send(
                p.token,
                &p.send,
                p.server_message_id,
                p.recipients,
                p.empty_is_error,
            );
        }
    }

    /// Tells every other core about a presence change.
    pub fn announce(&mut self, kind: NameKind, name: &str, change: Change) {
        if change == Change::None {
            return;
        }
        let me = self.settings.core as usize;
        for core in (0..self.mesh.cores()).filter(|&c| c != me) {
            let msg = MeshMsg::Presence {
                kind,
                name: Bytes::copy_from_slice(name.as_bytes()),
                present: change == Change::Up,
            };
            self.mesh.send(core, Lane::High, msg);
        }
    }

    /// The connection id clients see: core in the top byte, token below.
    pub fn connection_id(&self, token: Token) -> u64 {
        (u64::from(self.settings.core) << 56) | token
    }
}

/// The encode arena with room for a frame: refilled in [`ARENA_BYTES`]
/// steps so that encoding allocates once per that many bytes.
pub(crate) fn reserve(arena: &mut BytesMut) -> &mut BytesMut {
    if arena.capacity() - arena.len() < 4096 {
        arena.reserve(ARENA_BYTES);
    }
    arena
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

/// Parses a connection id (decimal) into (core, token).
pub fn parse_connection_id(id: &str) -> Option<(u16, Token)> {
    let n: u64 = id.parse().ok()?;
    Some(((n >> 56) as u16, n & ((1 << 56) - 1)))
}

/// One core alone (a mesh of one), with `cfg`'s settings, for unit tests
/// that drive a core's state with no backend.
#[cfg(test)]
pub(crate) fn test_core(cfg: &crate::config::Config) -> CoreState {
    let waker = crate::sys::Waker::new().expect("eventfd");
    let (_, mut ports) = crate::mesh::build(vec![waker], 64);
    let broker = crate::mqtt::BrokerShared::new(&cfg.mqtt);
    let settings = crate::shard::core_settings(cfg, 0, &broker);
    let ids = Arc::new(IdGenerator::new(cfg.node_id));
    CoreState::new(settings, ports.remove(0), ids, Arc::default())
}
