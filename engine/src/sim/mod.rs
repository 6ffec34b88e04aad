//! The deterministic simulator: the whole multi-core engine (every core's
//! reactor, state and mesh) on the simulated backend, in one thread, in
//! simulated time, driven by one seed.
//!
//! [`World`] builds the cores as start-up does, then turns them: each
//! [`World::step`] ticks every core once in an order the seed picks (so
//! mesh messages, completions and wake-ups interleave differently per
//! seed), and moves the clock when nothing happened. Test clients write
//! and read bytes through [`SimNet`] between steps. A scenario that fails
//! names its seed; running it with that seed replays it exactly.
//!
//! Only the clock and the scheduling are simulated: the protocol code,
//! the connection table, the mesh rings and the reactor are the ones that
//! run in production.

mod client;
mod mqtt_client;
mod scenarios;

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

use crate::config::Config;
use crate::core_state::CoreState;
use crate::ids::IdGenerator;
use crate::mesh;
use crate::metrics::CoreStats;
use crate::reactor::ListenerKind;
use crate::reactor::{Reactor, Tick};
use crate::shard::core_settings;
use crate::sys::sim::net::SimNet;
use crate::sys::sim::{Faults, SimBackend, SimListener};
use crate::sys::{Backend, BackendConfig, Epoch, Waker};

pub use client::WireClient;

/// The simulated ports of the three listeners.
pub const WIRE_PORT: u16 = 7070;
/// WebSocket.
pub const WS_PORT: u16 = 8080;
/// MQTT.
pub const MQTT_PORT: u16 = 1883;

/// Simulated time a step takes while cores are busy.
const BUSY_STEP_NS: u64 = 20_000;
/// Simulated time skipped when no core had anything to do.
const IDLE_STEP_NS: u64 = 1_000_000;

/// Every core of one engine, and the network they share.
pub struct World {
    /// The network and clock.
    pub net: SimNet,
    cores: Vec<Reactor<SimBackend>>,
    stats: Vec<Arc<CoreStats>>,
    stop: Arc<AtomicBool>,
    done: Vec<bool>,
    order: Vec<usize>,
}

impl World {
    /// An engine of `cores` cores configured by `cfg`, driven by `seed`.
    pub fn new(cfg: &Config, cores: usize, seed: u64, faults: Faults) -> World {
        let net = SimNet::new(cores, seed, faults);
        let bcfg = BackendConfig {
            ring_entries: cfg.limits.ring_entries,
            recv_buf_len: cfg.limits.recv_buf_len,
            recv_buf_count: cfg.limits.recv_buf_count,
        };
        let broker = crate::mqtt::BrokerShared::new(&cfg.mqtt);
        let wakers: Vec<Waker> = (0..cores).map(|_| Waker::new().expect("eventfd")).collect();
        let (_shared, ports) = mesh::build(wakers, cfg.limits.mesh_ring_slots);
        let ids = Arc::new(IdGenerator::new(cfg.node_id));
        let stop = Arc::new(AtomicBool::new(false));
        let draining = Arc::new(AtomicUsize::new(cores));
        let stats: Vec<Arc<CoreStats>> = (0..cores).map(|_| Arc::default()).collect();
        // A fixed date: ids and expiry times replay with the seed.
        let epoch = Epoch {
            mono_ns: net.now_ns(),
            unix_ms: 1_780_000_000_000,
        };
        let reactors = ports
            .into_iter()
            .enumerate()
            .map(|(core, port)| {
                let mut backend = SimBackend::on(net.clone(), core, &bcfg);
                let mut kinds = Vec::new();
                for (kind, p) in [
                    (ListenerKind::Wire, WIRE_PORT),
                    (ListenerKind::WebSocket, WS_PORT),
                    (ListenerKind::Mqtt, MQTT_PORT),
                ] {
                    backend.add_listener(SimListener(p)).expect("sim listen");
                    kinds.push(kind);
                }
                let settings = core_settings(cfg, core);
                let state = CoreState::new(
                    settings,
                    broker.clone(),
                    port,
                    ids.clone(),
                    stats[core].clone(),
                );
                let mut r = Reactor::new(state, backend, epoch, stop.clone(), draining.clone());
                r.set_listener_kinds(kinds);
                r
            })
            .collect();
        World {
            net,
            cores: reactors,
            stats,
            stop,
            done: vec![false; cores],
            order: (0..cores).collect(),
        }
    }

    /// Ticks every core once, in an order the seed picks, then moves the
    /// clock: a little if anything happened, a millisecond if not.
    /// Returns whether anything happened.
    pub fn step(&mut self) -> bool {
        self.shuffle_order();
        for i in 0..self.order.len() {
            let core = self.order[i];
            if self.done[core] {
                continue;
            }
            let tick = self.cores[core]
                .tick()
                .expect("a simulated poll never fails");
            self.done[core] = tick == Tick::Done;
        }
        let busy = self.net.take_activity() > 0
            || self.cores.iter().any(|r| {
                r.state().core().mesh().has_inbound() || r.state().core().mesh().has_outbox()
            });
        self.net
            .advance(if busy { BUSY_STEP_NS } else { IDLE_STEP_NS });
        busy
    }

    /// Steps until `done` holds (true) or `limit_ns` of simulated time
    /// passed (false).
    pub fn run_until(&mut self, limit_ns: u64, mut done: impl FnMut(&mut World) -> bool) -> bool {
        let end = self.net.now_ns() + limit_ns;
        while self.net.now_ns() < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Asks every core to drain, then steps until all are done (true) or
    /// `limit_ns` passed (false).
    pub fn shut_down(&mut self, limit_ns: u64) -> bool {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.run_until(limit_ns, |w| w.done.iter().all(|&d| d))
    }

    /// A core's state, to check invariants.
    pub fn core(&self, core: usize) -> &CoreState {
        self.cores[core].state()
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// A counter summed over cores.
    pub fn counter(&self, read: impl Fn(&CoreStats) -> u64) -> u64 {
        self.stats.iter().map(|s| read(s)).sum()
    }

    fn shuffle_order(&mut self) {
        let mut s = self.net.state();
        for i in (1..self.order.len()).rev() {
            let j = s.rng.below(i as u64 + 1) as usize;
            self.order.swap(i, j);
        }
    }
}

/// The seeds to run: `SIM_SEEDS` of them (default `default`) starting at
/// `SIM_SEED_BASE` (default 0), or just `SIM_SEED` to replay one.
pub fn seeds(default: u64) -> std::ops::Range<u64> {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = env("SIM_SEED") {
        return seed..seed + 1;
    }
    let base = env("SIM_SEED_BASE").unwrap_or(0);
    base..base + env("SIM_SEEDS").unwrap_or(default)
}

/// Runs `scenario` for every seed of [`seeds`]; a failure panics with the
/// seed and the command that replays it.
pub fn for_each_seed(name: &str, default: u64, scenario: impl Fn(u64) -> Result<(), String>) {
    for seed in seeds(default) {
        if let Err(e) = scenario(seed) {
            panic!(
                "simulation {name} failed with seed {seed}: {e}\n\
                 replay: SIM_SEED={seed} cargo test -p switchboard sim::scenarios::{name}"
            );
        }
    }
}
