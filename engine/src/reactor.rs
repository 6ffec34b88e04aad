//! One core's event loop: wait for completions, drain the mesh, handle
//! completions, then apply the resulting intents to the backend. Every
//! step has a bounded budget so one busy peer cannot starve the others.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Phase};
use crate::core_state::CoreState;
use crate::metrics;
use crate::send_queue::SendQueue;
use crate::shard::ListenerKind;
use crate::sys::{Backend, Completion, SendBatch, Token};

/// Mesh messages handled per tick before completions get their turn.
const MESH_BUDGET: usize = 4096;
/// Buffers gathered into one vectored send.
const BATCH_BUFS_MAX: usize = 64;
/// Bytes gathered into one vectored send.
const BATCH_BYTES_MAX: usize = 256 * 1024;
/// Spare send batches kept for reuse; more are freed, so that a burst
/// does not leave its peak resident.
const BATCHES_RETAINED: usize = 256;
/// How often idle and HELLO timeouts are checked.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Sweeps between returns of freed memory to the OS (about 2 s).
const COLLECT_EVERY_SWEEPS: u64 = 8;

/// A core's reactor: its state plus the backend that does its I/O.
pub struct Reactor<B: Backend> {
    /// Connections, registry, mesh port.
    pub state: CoreState,
    backend: B,
    completions: Vec<Completion>,
    mesh_inbox: Vec<(usize, crate::mesh::MeshMsg)>,
    batches: Vec<SendBatch>,
    started: Instant,
    /// Wall clock at `started`; ids use it plus the monotonic clock.
    started_unix_ms: u64,
    last_tick: Instant,
    next_sweep: Instant,
    sweep_cursor: usize,
    sweeps: u64,
    stop: Arc<AtomicBool>,
    drain_deadline: Option<Instant>,
    /// Cores still draining; a core waits for all before it returns.
    cores_draining: Arc<AtomicUsize>,
    drained: bool,
    /// What each listener (by backend index) serves.
    listener_kinds: Vec<ListenerKind>,
}

impl<B: Backend> Reactor<B> {
    /// A reactor over an initialised backend (listeners already added).
    pub fn new(
        state: CoreState,
        backend: B,
        stop: Arc<AtomicBool>,
        cores_draining: Arc<AtomicUsize>,
    ) -> Self {
        let now = Instant::now();
        Reactor {
            state,
            backend,
            completions: Vec::with_capacity(1024),
            mesh_inbox: Vec::with_capacity(MESH_BUDGET),
            batches: Vec::new(),
            started: now,
            started_unix_ms: crate::ids::unix_ms(),
            last_tick: now,
            next_sweep: now + SWEEP_EVERY,
            sweep_cursor: 0,
            sweeps: 0,
            stop,
            drain_deadline: None,
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
        loop {
            self.wait()?;
            // One clock reading per tick serves timers, timeouts and ids.
            let now = Instant::now();
            self.state.now_ms = now.duration_since(self.started).as_millis() as u64;
            self.state.unix_ms = self.started_unix_ms + self.state.now_ms;
            self.last_tick = now;
            self.drain_mesh();
            self.handle_completions();
            self.apply_intents();
            self.state.mesh.wake_peers();
            if now >= self.next_sweep {
                self.sweep(now);
            }
            if self.stop.load(Ordering::Relaxed) && self.shutdown_step() {
                self.mark_drained();
                // Keep reaping until every core is done, so that accepts
                // and closes still in flight on this core's ring finish.
                if self.cores_draining.load(Ordering::Acquire) == 0 {
                    return Ok(());
                }
            }
        }
    }

    fn wait(&mut self) -> std::io::Result<()> {
        let busy = self.state.mesh.has_outbox() || !self.state.intents.resume.is_empty();
        let timeout = if busy || !self.state.mesh.prepare_sleep() {
            Some(Duration::ZERO)
        } else {
            // The tick's clock reading is a few microseconds old: the
            // sleep ends that much late, which no timer here minds.
            Some(self.next_sweep.saturating_duration_since(self.last_tick))
        };
        let r = self.backend.poll(timeout, &mut self.completions);
        self.state.mesh.woke();
        r
    }

    fn drain_mesh(&mut self) {
        let mut inbox = std::mem::take(&mut self.mesh_inbox);
        self.state.mesh.drain(MESH_BUDGET, &mut inbox);
        for (from, msg) in inbox.drain(..) {
            self.state.on_mesh(from, msg);
        }
        self.mesh_inbox = inbox;
    }

    fn handle_completions(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        for c in completions.drain(..) {
            match c {
                Completion::Accepted { stream, listener } => self.on_accept(listener, stream),
                Completion::AcceptFailed { .. } => {
                    metrics::inc(&self.state.stats.accept_errors_total);
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
                Completion::Woken => {}
            }
        }
        self.completions = completions;
    }

    fn on_accept(&mut self, listener: usize, stream: std::net::TcpStream) {
        let kind = self.listener_kinds.get(listener).copied();
        let s = &mut self.state;
        if s.conns.len() >= s.settings.limits.max_connections_per_core {
            metrics::inc(&s.stats.accept_errors_total);
            return;
        }
        let mut conn = Conn::new(s.settings.limits.max_payload_len, s.tick());
        match kind {
            Some(ListenerKind::WebSocket) => conn.ws = Some(crate::ws::WsConn::new()),
            Some(ListenerKind::Mqtt) => {
                let max = s.mqtt.cfg().max_packet_bytes;
                conn.input = crate::conn::Input::Mqtt(crate::mqtt::MqttConn::new(max));
            }
            _ => {}
        }
        let unsent_max = s.settings.limits.socket_unsent_bytes_max;
        if unsent_max > 0 && crate::sys::bound_unsent(&stream, unsent_max).is_err() {
            metrics::inc(&s.stats.accept_errors_total);
            return;
        }
        let token = s.conns.insert(conn);
        if self.backend.register(token, stream).is_err() {
            s.conns.remove(token);
            metrics::inc(&s.stats.accept_errors_total);
            return;
        }
        metrics::inc(&s.stats.connections_accepted_total);
        metrics::set(&s.stats.connections_open, s.conns.len() as u64);
        if s.draining {
            // Accepted just before the listener closed: say why, then close.
            s.send_close(
                token,
                wire::ErrorCode::GoingAway as u16,
                "server shutting down",
            );
        }
    }

    fn on_recv_closed(&mut self, token: Token) {
        let Some(conn) = self.state.conns.get_mut(token) else {
            return;
        };
        conn.recv_closed = true;
        if !conn.paused {
            self.state.begin_close(token);
        }
    }

    fn on_sent(&mut self, token: Token, result: std::io::Result<usize>, mut batch: SendBatch) {
        let s = &mut self.state;
        let Some(conn) = s.conns.get_mut(token) else {
            recycle(&mut self.batches, batch);
            return;
        };
        conn.send_in_flight = false;
        match result {
            Ok(written) => {
                metrics::add(&s.stats.bytes_out_total, written as u64);
                conn.queued_bytes = conn.queued_bytes.saturating_sub(written as u32);
                requeue_unwritten(&mut batch, written, &mut conn.send_queue);
            }
            Err(_) => {
                // The peer is gone; nothing more can be written.
                conn.send_queue.clear();
                conn.queued_bytes = 0;
                s.intents.close.push(token);
            }
        }
        recycle(&mut self.batches, batch);
        if !conn.send_queue.is_empty() {
            if !conn.dirty {
                conn.dirty = true;
                s.intents.flush.push(token);
            }
        } else {
            // Give the queue's memory back: idle connections hold none.
            conn.send_queue.release_if_empty();
            if conn.phase == Phase::Closing {
                s.intents.close.push(token);
            }
        }
        s.after_drain(token);
    }

    fn apply_intents(&mut self) {
        let mut pause = std::mem::take(&mut self.state.intents.pause);
        for token in pause.drain(..) {
            if self.state.conns.get(token).is_some_and(|c| c.paused) {
                self.backend.pause_recv(token);
            }
        }
        self.state.intents.pause = pause;
        self.resume_waiters();
        self.flush_sends();
        let mut close = std::mem::take(&mut self.state.intents.close);
        for token in close.drain(..) {
            if self.state.remove_conn(token) {
                self.backend.close(token);
            }
        }
        self.state.intents.close = close;
    }

    fn resume_waiters(&mut self) {
        let mut resume = std::mem::take(&mut self.state.intents.resume);
        self.state.mesh.flush_outbox(&mut resume);
        for token in resume.drain(..) {
            if self.state.on_resume(token) {
                self.backend.resume_recv(token);
            }
        }
        // Resuming may queue more resumes (a re-fed frame drained a queue);
        // they run next tick, which `wait` makes immediate.
        if self.state.intents.resume.is_empty() {
            self.state.intents.resume = resume;
        }
    }

    fn flush_sends(&mut self) {
        let mut flush = std::mem::take(&mut self.state.intents.flush);
        for token in flush.drain(..) {
            let Some(conn) = self.state.conns.get_mut(token) else {
                continue;
            };
            conn.dirty = false;
            if conn.send_in_flight || conn.send_queue.is_empty() {
                continue;
            }
            let mut batch = self.batches.pop().unwrap_or_default();
            let mut bytes = 0;
            // High lane first; a batch ends only where a message ends, so
            // that the next one may start with the high lane again.
            while let Some((b, more)) = conn.send_queue.pop_front() {
                bytes += b.len();
                batch.bufs.push(b);
                let full = batch.bufs.len() >= BATCH_BUFS_MAX || bytes >= BATCH_BYTES_MAX;
                if full && !more {
                    break;
                }
            }
            conn.send_in_flight = true;
            self.backend.send(token, batch);
        }
        self.state.intents.flush = flush;
    }

    /// Closes connections past their HELLO or idle timeout, a slice of the
    /// table per sweep so that a sweep's cost stays bounded.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = now + SWEEP_EVERY;
        let s = &mut self.state;
        let limits = &s.settings.limits;
        let hello_ticks = (limits.hello_timeout_ms >> 6) as u32;
        let idle_ticks = (limits.idle_timeout_ms >> 6) as u32;
        let now = s.tick();
        let cap = s.conns.capacity();
        let slice = cap / 4 + 1;
        for _ in 0..slice.min(cap) {
            let i = self.sweep_cursor % cap.max(1);
            self.sweep_cursor = i + 1;
            let Some(token) = s.conns.token_at(i) else {
                continue;
            };
            let conn = s.conns.get(token).expect("live slot");
            let age = now.wrapping_sub(conn.last_active);
            if conn.ws.is_some() && conn.phase != Phase::Closing && s.ws_sweep(token, age) {
                continue;
            }
            if s.mqtt_sweep_conn(token, age) {
                continue;
            }
            let conn = s.conns.get(token).expect("live slot");
            let expired = match conn.phase {
                Phase::ExpectHello => age > hello_ticks,
                Phase::Open => age > idle_ticks,
                Phase::Closing => false,
            };
            if expired {
                metrics::inc(&s.stats.timeouts_total);
                s.fail(token, wire::ErrorCode::IdleTimeout, "timed out");
            }
        }
        s.mqtt_sweep();
        let depth: usize = (0..s.mesh.cores())
            .filter(|&c| c != s.mesh.core())
            .map(|c| s.mesh.depth_to(c))
            .sum();
        metrics::set(&s.stats.mesh_ring_depth, depth as u64);
        self.sweeps += 1;
        if self.sweeps.is_multiple_of(COLLECT_EVERY_SWEEPS) {
            crate::mem::collect();
        }
    }

    fn mark_drained(&mut self) {
        if !self.drained {
            self.drained = true;
            if self.cores_draining.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.state.mesh.wake_all();
            }
        }
    }

    /// One step of a graceful drain; returns true when the core is done.
    fn shutdown_step(&mut self) -> bool {
        let deadline = match self.drain_deadline {
            Some(d) => d,
            None => {
                let d = Instant::now()
                    + Duration::from_millis(self.state.settings.limits.drain_timeout_ms);
                self.drain_deadline = Some(d);
                self.state.draining = true;
                self.backend.close_listeners();
                let tokens: Vec<Token> = self.state.conns.tokens().collect();
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
        if self.state.conns.is_empty() {
            return true;
        }
        if Instant::now() < deadline {
            return false;
        }
        let tokens: Vec<Token> = self.state.conns.tokens().collect();
        for t in tokens {
            if self.state.remove_conn(t) {
                self.backend.close(t);
            }
        }
        true
    }
}

/// Keeps a finished batch for reuse, up to [`BATCHES_RETAINED`].
fn recycle(pool: &mut Vec<SendBatch>, mut batch: SendBatch) {
    if pool.len() < BATCHES_RETAINED {
        batch.bufs.clear();
        pool.push(batch);
    }
}

/// Puts what a short write left behind back at the front of the queue,
/// ahead of both lanes: those bytes were committed when the batch was made.
fn requeue_unwritten(batch: &mut SendBatch, written: usize, queue: &mut SendQueue) {
    let mut skip = written;
    batch.bufs.retain_mut(|b| {
        if skip >= b.len() {
            skip -= b.len();
            return false;
        }
        let _ = b.split_to(skip);
        skip = 0;
        true
    });
    if !batch.bufs.is_empty() {
        queue.push_unwritten(&mut batch.bufs);
    }
}
