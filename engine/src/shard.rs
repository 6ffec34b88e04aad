//! Start-up: one reactor thread per core, each pinned, each with its own
//! backend and its own `SO_REUSEPORT` listener, joined by the mesh.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{BackendChoice, Config};
use crate::core::CoreSettings;
use crate::core_state::CoreState;
use crate::ids::IdGenerator;
use crate::mesh::{self, MeshPort, MeshShared};
use crate::metrics::{CoreStats, Metrics};
use crate::reactor::{ListenerKind, Reactor};
use crate::sys::epoll::EpollBackend;
use crate::sys::uring::UringBackend;
use crate::sys::{Backend, BackendConfig, Epoch, Waker};

/// Listen backlog per core.
const LISTEN_BACKLOG: i32 = 4096;

/// The running engine: its threads and what they share.
pub struct Engine {
    /// Address the wire listeners are bound to (port resolved).
    pub wire_addr: SocketAddr,
    /// Address the WebSocket listeners are bound to, if served.
    pub ws_addr: Option<SocketAddr>,
    /// Address the MQTT listeners are bound to, if served.
    pub mqtt_addr: Option<SocketAddr>,
    /// The backend chosen.
    pub backend: &'static str,
    /// Per-core counters.
    pub metrics: Metrics,
    /// Set to stop every core (graceful drain).
    pub stop: Arc<AtomicBool>,
    mesh: Arc<MeshShared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Engine {
    /// Starts every core and returns once all are listening.
    pub fn start(cfg: &Config) -> io::Result<Engine> {
        let n = cfg.thread_count();
        let bcfg = BackendConfig {
            ring_entries: cfg.limits.ring_entries,
            recv_buf_len: cfg.limits.recv_buf_len,
            recv_buf_count: cfg.limits.recv_buf_count,
        };
        let backend = choose_backend(cfg.backend, &bcfg)?;
        let wire = bind_listeners(cfg.wire_addr, n)?;
        let wire_addr = wire[0].local_addr()?;
        let ws = match cfg.websocket.enabled {
            true => bind_listeners(cfg.websocket.addr, n)?,
            false => Vec::new(),
        };
        let ws_addr = ws.first().map(TcpListener::local_addr).transpose()?;
        let mqtt = match cfg.mqtt.enabled {
            true => bind_listeners(cfg.mqtt.addr, n)?,
            false => Vec::new(),
        };
        let mqtt_addr = mqtt.first().map(TcpListener::local_addr).transpose()?;
        let (mut ws, mut mqtt) = (ws.into_iter(), mqtt.into_iter());
        let listeners = wire.into_iter().map(|w| {
            let mut l = vec![(ListenerKind::Wire, w)];
            l.extend(ws.next().map(|s| (ListenerKind::WebSocket, s)));
            l.extend(mqtt.next().map(|s| (ListenerKind::Mqtt, s)));
            l
        });
        let broker = crate::mqtt::BrokerShared::new(&cfg.mqtt);
        let wakers = (0..n)
            .map(|_| Waker::new())
            .collect::<io::Result<Vec<_>>>()?;
        let (mesh, ports) = mesh::build(wakers.clone(), cfg.limits.mesh_ring_slots);
        let ids = Arc::new(IdGenerator::new(cfg.node_id));
        let stop = Arc::new(AtomicBool::new(false));
        let cores_draining = Arc::new(AtomicUsize::new(n));
        let stats: Vec<Arc<CoreStats>> = (0..n).map(|_| Arc::default()).collect();
        let ready = Arc::new(Barrier::new(n + 1));
        let epoch = Epoch::kernel();
        let mut threads = Vec::with_capacity(n);
        let zipped = ports.into_iter().zip(listeners).zip(wakers).enumerate();
        for (core, ((port, listener), waker)) in zipped {
            let start = CoreStart {
                settings: core_settings(cfg, core),
                broker: broker.clone(),
                epoch,
                port,
                ids: ids.clone(),
                stats: stats[core].clone(),
                listeners: listener,
                waker,
                bcfg: bcfg.clone(),
                stop: stop.clone(),
                cores_draining: cores_draining.clone(),
                ready: ready.clone(),
                pin: cfg.pin_threads.then_some(core),
            };
            let spawn = std::thread::Builder::new().name(format!("sb-core-{core}"));
            let handle = match backend {
                "uring" => spawn.spawn(move || start.run::<UringBackend>())?,
                _ => spawn.spawn(move || start.run::<EpollBackend>())?,
            };
            threads.push(handle);
        }
        ready.wait();
        let metrics = Metrics {
            cores: stats,
            backend,
        };
        Ok(Engine {
            wire_addr,
            ws_addr,
            mqtt_addr,
            backend,
            metrics,
            stop,
            mesh,
            threads,
        })
    }

    /// A handle that can stop the engine from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: self.stop.clone(),
            mesh: self.mesh.clone(),
        }
    }

    /// Waits for every core to finish; the first error wins.
    pub fn join(self) -> io::Result<()> {
        let mut result = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("reactor thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Stops the engine from any thread (signal handler, tests).
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    mesh: Arc<MeshShared>,
}

impl Stopper {
    /// Asks every core to drain and stop.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.mesh.wake_all();
    }
}

/// What a core thread needs to start.
struct CoreStart {
    settings: CoreSettings,
    /// What every core shares of the MQTT broker.
    broker: Arc<crate::mqtt::BrokerShared>,
    epoch: Epoch,
    port: MeshPort,
    ids: Arc<IdGenerator>,
    stats: Arc<CoreStats>,
    listeners: Vec<(ListenerKind, TcpListener)>,
    waker: Waker,
    bcfg: BackendConfig,
    stop: Arc<AtomicBool>,
    cores_draining: Arc<AtomicUsize>,
    ready: Arc<Barrier>,
    pin: Option<usize>,
}

impl CoreStart {
    fn run<B: Backend<Listener = TcpListener>>(self) -> io::Result<()> {
        if let Some(core) = self.pin {
            pin_to_cpu(core);
        }
        let mut kinds = Vec::new();
        let setup = || -> io::Result<B> {
            let mut backend = B::new(&self.bcfg)?;
            backend.watch_waker(&self.waker)?;
            for (kind, listener) in self.listeners {
                let index = backend.add_listener(listener)?;
                if kinds.len() <= index {
                    kinds.resize(index + 1, ListenerKind::Wire);
                }
                kinds[index] = kind;
            }
            Ok(backend)
        };
        let backend = setup();
        // Every core reaches the barrier, even on failure, so start-up
        // never hangs; the error surfaces through `join`.
        self.ready.wait();
        // Built on its own thread: core state is `!Send` (it shares
        // interned names through `Rc`).
        let state = CoreState::new(self.settings, self.broker, self.port, self.ids, self.stats);
        let mut reactor = Reactor::new(state, backend?, self.epoch, self.stop, self.cores_draining);
        reactor.set_listener_kinds(kinds);
        reactor.run()
    }
}

/// What core `core` is told at start-up.
pub fn core_settings(cfg: &Config, core: usize) -> CoreSettings {
    CoreSettings {
        core: core as u16,
        node_id: cfg.node_id,
        server_name: Arc::from(cfg.server_name.as_str()),
        limits: cfg.limits.clone(),
        websocket: Arc::new(cfg.websocket.clone()),
    }
}

/// Picks the backend: io_uring unless refused (or epoll is asked for).
fn choose_backend(choice: BackendChoice, bcfg: &BackendConfig) -> io::Result<&'static str> {
    match choice {
        BackendChoice::Epoll => Ok(EpollBackend::NAME),
        BackendChoice::Uring => UringBackend::new(bcfg).map(|_| UringBackend::NAME),
        BackendChoice::Auto => match UringBackend::new(bcfg) {
            Ok(_) => Ok(UringBackend::NAME),
            Err(e) => {
                eprintln!("switchboard: io_uring unavailable ({e}); using epoll");
                Ok(EpollBackend::NAME)
            }
        },
    }
}

/// One `SO_REUSEPORT` listener per core on the same address; a port of 0
/// is resolved by the first bind and reused by the rest.
fn bind_listeners(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpListener>> {
    let mut addr = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

fn pin_to_cpu(core: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set, CPU_SET
    // writes inside it, and sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
