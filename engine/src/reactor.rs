//! One core's event loop: wait for completions, drain the mesh, handle
//! completions, then apply the resulting intents to the backend. Every
//! step has a bounded budget so one busy peer cannot starve the others.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::conn::{Conn, Phase};
use crate::core::closing::AfterFlush;
use crate::core_state::CoreState;
use crate::metrics;
use crate::sys::{Backend, Completion, Epoch, SendBatch, Token};
use crate::timers::Clock;

/// Mesh messages handled per tick before completions get their turn.
const MESH_BUDGET: usize = 4096;
/// Buffers gathered into one vectored send.
const BATCH_BUFS_MAX: usize = 64;
/// Bytes gathered into one vectored send.
const BATCH_BYTES_MAX: usize = 256 * 1024;
/// Spare send batches kept for reuse; more are freed, so that a burst
/// does not leave its peak resident.
const BATCHES_RETAINED: usize = 256;
/// How often timers are checked: per-core ones every sweep, each
/// connection's once per four sweeps (the sweep covers a quarter of the
/// table), so a timer fires at most about a second after its interval.
const SWEEP_EVERY_NS: u64 = 250_000_000;
/// Sweeps between returns of freed memory to the OS (about 2 s).
const COLLECT_EVERY_SWEEPS: u64 = 8;

/// What a listener serves; the reactor looks it up by listener index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// The `wire` protocol over TCP.
    Wire,
    /// WebSocket (HTTP upgrade first).
    WebSocket,
    /// MQTT over TCP.
    Mqtt,
}

/// A core's reactor: its state plus the backend that does its I/O.
pub struct Reactor<B: Backend> {
    /// Connections, registry, mesh port.
    state: CoreState,
    backend: B,
    completions: Vec<Completion<B::Stream>>,
    mesh_inbox: Vec<(usize, crate::mesh::MeshMsg)>,
    batches: Vec<SendBatch>,
    /// The engine's epoch, the same for every core so that their clocks
    /// agree: `now_ms` counts from it.
    epoch: Epoch,
    last_tick_ns: u64,
    next_sweep_ns: u64,
    sweep_cursor: usize,
    sweeps: u64,
    stop: Arc<AtomicBool>,
    drain_deadline_ns: Option<u64>,
    /// Cores still draining; a core waits for all before it returns.
    cores_draining: Arc<AtomicUsize>,
    drained: bool,
    /// What each listener (by backend index) serves.
    listener_kinds: Vec<ListenerKind>,
}

impl<B: Backend> Reactor<B> {
    /// The core's state (the simulator's checks).
    pub fn state(&self) -> &CoreState {
        &self.state
    }

    /// A reactor over an initialised backend (listeners already added),
    /// counting time from `epoch` (read from the same clock as the
    /// backend's, once for every core).
    pub fn new(
        state: CoreState,
        backend: B,
        epoch: Epoch,
        stop: Arc<AtomicBool>,
        cores_draining: Arc<AtomicUsize>,
    ) -> Self {
        let now = backend.now_ns();
        let mut state = state;
        let clock = Clock {
            now_ms: state.core().clock().now_ms,
            unix_ms: epoch.unix_ms + (now.saturating_sub(epoch.mono_ns)) / 1_000_000,
        };
        state.core_mut().set_clock(clock);
        Reactor {
            state,
            backend,
            completions: Vec::with_capacity(1024),
            mesh_inbox: Vec::with_capacity(MESH_BUDGET),
            batches: Vec::new(),
            epoch,
            last_tick_ns: now,
            next_sweep_ns: now + SWEEP_EVERY_NS,
            sweep_cursor: 0,
            sweeps: 0,
            stop,
            drain_deadline_ns: None,
            cores_draining,
            drained: false,
            listener_kinds: Vec::new(),
        }
    }

    /// Says what each listener serves, indexed as the backend numbered them.
    pub fn set_listener_kinds(&mut self, kinds: Vec<ListenerKind>) {
        self.listener_kinds = kinds;
    }

    /// The backend (for adding listeners before `run`).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Runs until a stop is requested and every connection has drained.
    pub fn run(&mut self) -> std::io::Result<()> {
        while self.tick()? == Tick::Running {}
        Ok(())
    }

    /// One turn of the loop: wait for completions (not at all if work is
    /// waiting), then handle them and the mesh. A simulated backend's
    /// `poll` never blocks, so a simulator calls this for each core in
    /// turn, in one thread.
    pub fn tick(&mut self) -> std::io::Result<Tick> {
        self.wait()?;
        // One clock reading per tick serves timers, timeouts and ids.
        // Read after the wait returns: everything this tick handles
        // happened before it, so a time recorded from it is never earlier
        // than the event (see `timers`).
        let now = self.backend.now_ns();
        let now_ms = now.saturating_sub(self.epoch.mono_ns) / 1_000_000;
        self.state.core_mut().set_clock(Clock {
            now_ms,
            unix_ms: self.epoch.unix_ms + now_ms,
        });
        self.last_tick_ns = now;
        self.drain_mesh();
        self.handle_completions();
        self.apply_intents();
        self.state.core_mut().mesh_mut().wake_peers();
        if now >= self.next_sweep_ns {
            self.sweep(now);
        }
        if self.stop.load(Ordering::Relaxed) && self.shutdown_step(now) {
            self.mark_drained();
            // Keep reaping until every core is done, so that accepts
            // and closes still in flight on this core's ring finish.
            if self.cores_draining.load(Ordering::Acquire) == 0 {
                return Ok(Tick::Done);
            }
        }
        Ok(Tick::Running)
    }

    fn wait(&mut self) -> std::io::Result<()> {
        let busy = self.state.core().mesh().has_outbox()
            || !self.state.core_mut().intents_mut().resume.is_empty();
        let timeout = if busy || !self.state.core_mut().mesh_mut().prepare_sleep() {
            Some(Duration::ZERO)
        } else {
            // The tick's clock reading is a few microseconds old: the
            // sleep ends that much late, which no timer here minds.
            Some(Duration::from_nanos(
                self.next_sweep_ns.saturating_sub(self.last_tick_ns),
            ))
        };
        let r = self.backend.poll(timeout, &mut self.completions);
        self.state.core_mut().mesh_mut().woke();
        r
    }

    fn drain_mesh(&mut self) {
        let mut inbox = std::mem::take(&mut self.mesh_inbox);
        self.state
            .core_mut()
            .mesh_mut()
            .drain(MESH_BUDGET, &mut inbox);
        for (from, msg) in inbox.drain(..) {
            match msg {
                crate::mesh::MeshMsg::Adopt(arrival) => self.adopt(*arrival),
                msg => self.state.on_mesh(from, msg),
            }
        }
        self.mesh_inbox = inbox;
    }

    fn handle_completions(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        for c in completions.drain(..) {
            match c {
                Completion::Accepted { stream, listener } => self.on_accept(listener, stream),
                Completion::AcceptFailed { .. } => {
                    metrics::inc(&self.state.core().stats().accept_errors_total);
                }
                Completion::Recv { token, buf } => {
                    self.state.on_bytes(token, self.backend.buf(&buf));
                    self.backend.release(buf);
                }
                Completion::RecvClosed { token, .. } => self.on_recv_closed(token),
                Completion::Sent {
                    token,
                    result,
                    batch,
                } => self.on_sent(token, result, batch),
                Completion::Detached { token, stream } => {
                    if let Some((home, msg)) = self.state.on_detached(token, Box::new(stream)) {
                        self.state.send_arrival(home, msg);
                    }
                }
                Completion::Woken => {}
            }
        }
        self.completions = completions;
    }

    fn on_accept(&mut self, listener: usize, stream: B::Stream) {
        let kind = self.listener_kinds.get(listener).copied();
        let s = &mut self.state;
        if s.core().conns().len() >= s.core().settings().limits.max_connections_per_core {
            metrics::inc(&s.core().stats().accept_errors_total);
            return;
        }
        let mut conn = Conn::new(
            s.core().settings().limits.max_payload_len,
            s.core().clock().conn_clock(),
        );
        match kind {
            Some(ListenerKind::WebSocket) => conn.set_ws(Some(crate::machine::ws::WsConn::new())),
            Some(ListenerKind::Mqtt) => {
                let max = s.broker().cfg().max_packet_bytes;
                conn.set_input(crate::conn::Input::Mqtt(crate::mqtt::MqttConn::new(max)));
            }
            _ => {}
        }
        let unsent_max = s.core().settings().limits.socket_unsent_bytes_max;
        if unsent_max > 0 && self.backend.bound_unsent(&stream, unsent_max).is_err() {
            metrics::inc(&s.core().stats().accept_errors_total);
            return;
        }
        let token = s.core_mut().conns_mut().insert(conn);
        if self.backend.register(token, stream).is_err() {
            s.core_mut().conns_mut().remove(token);
            metrics::inc(&s.core().stats().accept_errors_total);
            return;
        }
        metrics::inc(&s.core().stats().connections_accepted_total);
        metrics::set(
            &s.core().stats().connections_open,
            s.core().conns().open() as u64,
        );
        if s.core().draining() {
            // Accepted just before the listener closed: say why, then close.
            s.send_close(
                token,
                wire::ErrorCode::GoingAway as u16,
                "server shutting down",
            );
        }
    }

    /// A connection another core sent here, its client id's home.
    fn adopt(&mut self, arrival: crate::mesh::Arrival) {
        let crate::mesh::Arrival { stream, ws, bytes } = arrival;
        // Every core runs the same backend: the stream is ours.
        let Ok(stream) = stream.downcast::<B::Stream>() else {
            return;
        };
        let Some(token) = self.state.adopt(ws) else {
            return; // full: dropping the socket closes it
        };
        if self.backend.register(token, *stream).is_err() {
            self.state.core_mut().conns_mut().remove(token);
            metrics::inc(&self.state.core().stats().accept_errors_total);
            return;
        }
        self.state.on_adopted(token, &bytes);
    }

    fn on_recv_closed(&mut self, token: Token) {
        let Some(conn) = self.state.core_mut().conns_mut().get_mut(token) else {
            return;
        };
        conn.peer_finished_sending();
        if conn.phase() == Phase::Lingering {
            // The peer read its reason and closed: the linger is over.
            self.state.core_mut().intents_mut().close.push(token);
        } else if !conn.is_paused() {
            self.state.begin_close(token);
        }
    }

    fn on_sent(&mut self, token: Token, result: std::io::Result<usize>, mut batch: SendBatch) {
        let s = &mut self.state;
        let Some(conn) = s.core_mut().conns_mut().get_mut(token) else {
            recycle(&mut self.batches, batch);
            return;
        };
        let written = result.ok();
        let more = conn.sent(written, &mut batch);
        let linger = !more && conn.is_flushed() && conn.phase() == Phase::Closing;
        match written {
            Some(written) => metrics::add(&s.core().stats().bytes_out_total, written as u64),
            // The peer is gone; nothing more can be written.
            None => s.core_mut().intents_mut().close.push(token),
        }
        if more {
            s.core_mut().intents_mut().flush.push(token);
        } else if linger {
            s.core_mut().intents_mut().linger.push(token);
        }
        recycle(&mut self.batches, batch);
        let backlogged = s.mqtt_backlogged(token);
        s.core_mut().after_drain(token, backlogged);
    }

    fn apply_intents(&mut self) {
        let mut pause = std::mem::take(&mut self.state.core_mut().intents_mut().pause);
        for token in pause.drain(..) {
            if self
                .state
                .core()
                .conns()
                .get(token)
                .is_some_and(Conn::is_paused)
            {
                self.backend.pause_recv(token);
            }
        }
        self.state.core_mut().intents_mut().pause = pause;
        self.resume_waiters();
        self.flush_sends();
        self.detach_leaving();
        self.start_lingering();
        let mut close = std::mem::take(&mut self.state.core_mut().intents_mut().close);
        for token in close.drain(..) {
            if self.state.remove_conn(token) {
                self.backend.close(token);
            }
        }
        self.state.core_mut().intents_mut().close = close;
    }

    /// Connections whose final frames are written: shut their write side
    /// and keep reading (see [`crate::core::closing`]), or close them.
    fn start_lingering(&mut self) {
        let mut linger = std::mem::take(&mut self.state.core_mut().intents_mut().linger);
        for token in linger.drain(..) {
            match self.state.after_final_flush(token) {
                AfterFlush::Linger { resume_recv } => {
                    self.backend.shutdown_write(token);
                    if resume_recv {
                        self.backend.resume_recv(token);
                    }
                }
                AfterFlush::Close => self.state.core_mut().intents_mut().close.push(token),
                AfterFlush::Nothing => {}
            }
        }
        self.state.core_mut().intents_mut().linger = linger;
    }

    fn resume_waiters(&mut self) {
        let mut resume = std::mem::take(&mut self.state.core_mut().intents_mut().resume);
        self.state.core_mut().mesh_mut().flush_outbox(&mut resume);
        for token in resume.drain(..) {
            if self.state.on_resume(token) {
                self.backend.resume_recv(token);
            }
        }
        // Resuming may queue more resumes (a re-fed frame drained a queue);
        // they run next tick, which `wait` makes immediate.
        if self.state.core_mut().intents_mut().resume.is_empty() {
            self.state.core_mut().intents_mut().resume = resume;
        }
    }

    fn flush_sends(&mut self) {
        let mut flush = std::mem::take(&mut self.state.core_mut().intents_mut().flush);
        for token in flush.drain(..) {
            let Some(conn) = self.state.core_mut().conns_mut().get_mut(token) else {
                continue;
            };
            if !conn.leave_flush_list() {
                continue;
            }
            let mut batch = self.batches.pop().unwrap_or_default();
            // High lane first; a batch ends only where a message ends, so
            // that the next one may start with the high lane again.
            conn.fill_batch(&mut batch, BATCH_BUFS_MAX, BATCH_BYTES_MAX);
            self.backend.send(token, batch);
        }
        self.state.core_mut().intents_mut().flush = flush;
    }

    /// Detaches the connections leaving for another core whose sends are
    /// done; the others wait for their `Sent` (the contract allows no
    /// detach with a send in flight).
    fn detach_leaving(&mut self) {
        let mut detach = std::mem::take(&mut self.state.core_mut().intents_mut().detach);
        detach.retain(|&token| {
            let Some(conn) = self.state.core().conns().get(token) else {
                return false;
            };
            if matches!(conn.phase(), Phase::Closing | Phase::Lingering) {
                return false;
            }
            if !conn.is_flushed() {
                return true;
            }
            self.backend.detach(token);
            false
        });
        self.state.core_mut().intents_mut().detach = detach;
    }

    /// Closes connections past their HELLO or idle timeout, a slice of the
    /// table per sweep so that a sweep's cost stays bounded; WebSocket and
    /// MQTT connections have their own timers.
    fn sweep(&mut self, now_ns: u64) {
        self.next_sweep_ns = now_ns + SWEEP_EVERY_NS;
        let s = &mut self.state;
        let now = s.core().clock().conn_clock();
        let cap = s.core().conns().capacity();
        let slice = cap / 4 + 1;
        for _ in 0..slice.min(cap) {
            let i = self.sweep_cursor % cap.max(1);
            self.sweep_cursor = i + 1;
            let Some(token) = s.core().conns().token_at(i) else {
                continue;
            };
            let conn = s.core().conns().get(token).expect("live slot");
            let since = conn.last_active();
            if s.core_mut().linger_sweep(token, since, now) {
                continue;
            }
            let conn = s.core().conns().get(token).expect("live slot");
            if conn.is_ws() && conn.phase() != Phase::Closing && s.ws_sweep(token, since, now) {
                continue;
            }
            if s.mqtt_sweep_conn(token, since, now) {
                continue;
            }
            s.wire_sweep(token, since, now);
        }
        s.mqtt_sweep();
        let mesh = s.core().mesh();
        let depth: usize = (0..mesh.cores())
            .filter(|&c| c != mesh.core())
            .map(|c| mesh.depth_to(c))
            .sum();
        metrics::set(&s.core().stats().mesh_ring_depth, depth as u64);
        self.sweeps += 1;
        if self.sweeps.is_multiple_of(COLLECT_EVERY_SWEEPS) {
            crate::mem::collect();
        }
    }

    fn mark_drained(&mut self) {
        if !self.drained {
            self.drained = true;
            if self.cores_draining.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.state.core_mut().mesh_mut().wake_all();
            }
        }
    }

    /// One step of a graceful drain; returns true when the core is done.
    fn shutdown_step(&mut self, now_ns: u64) -> bool {
        let deadline = match self.drain_deadline_ns {
            Some(d) => d,
            None => {
                let d = now_ns + self.state.core().settings().limits.drain_timeout_ms * 1_000_000;
                self.drain_deadline_ns = Some(d);
                self.state.core_mut().start_draining();
                self.backend.close_listeners();
                let tokens: Vec<Token> = self.state.core().conns().tokens().collect();
                for t in tokens {
                    self.state.send_close(
                        t,
                        wire::ErrorCode::GoingAway as u16,
                        "server shutting down",
                    );
                }
                self.apply_intents();
                d
            }
        };
        if self.state.core().conns().is_empty() {
            return true;
        }
        if now_ns < deadline {
            return false;
        }
        let tokens: Vec<Token> = self.state.core().conns().tokens().collect();
        for t in tokens {
            if self.state.remove_conn(t) {
                self.backend.close(t);
            }
        }
        true
    }
}

/// What [`Reactor::tick`] left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// The core goes on.
    Running,
    /// A stop was requested and every core has drained.
    Done,
}

/// Keeps a finished batch for reuse, up to [`BATCHES_RETAINED`].
fn recycle(pool: &mut Vec<SendBatch>, mut batch: SendBatch) {
    if pool.len() < BATCHES_RETAINED {
        batch.bufs.clear();
        pool.push(batch);
    }
}
