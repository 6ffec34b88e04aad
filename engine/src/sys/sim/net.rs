//! The simulated network: in-memory TCP connections between test clients
//! and the cores' simulated backends, one seeded random source, and the
//! simulated clock. Everything is single-threaded (`Rc<RefCell<_>>`): the
//! simulator runs every core in turn on one thread, so a run is a pure
//! function of its seed.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// A small, fast, seedable generator (SplitMix64). Hand-written so that a
/// seed replays the same run whatever a dependency's next version does.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_5eed_5eed_5eed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }
}

/// Faults the network injects, each as a probability in per mille.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// A receive hands the core only part of what is readable.
    pub short_read: u32,
    /// A send writes only part of its batch.
    pub short_write: u32,
    /// A finished send is reported on a later poll instead of this one.
    pub late_send: u32,
    /// A poll reports nothing this time although work is ready (the
    /// core's wake-up comes late).
    pub late_wake: u32,
}

/// One simulated TCP connection.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// The core whose listener accepted it.
    pub core: usize,
    /// The listener's index on that core.
    pub listener: usize,
    /// Client to server bytes not yet read by the core.
    pub to_server: VecDeque<u8>,
    /// Server to client bytes not yet read by the client.
    pub to_client: VecDeque<u8>,
    /// Bytes `to_client` may hold (the client's receive window plus the
    /// server's send buffer): a client that stops reading fills it.
    pub to_client_cap: usize,
    /// The client sent FIN: the core reads EOF after `to_server`.
    pub client_closed: bool,
    /// The client reset the connection.
    pub reset: bool,
    /// The core closed its socket.
    pub server_closed: bool,
    /// The core shut its write side (lingering close): the client reads
    /// EOF after what was sent, and may still write.
    pub server_write_shut: bool,
    /// The core was told about the EOF or reset.
    pub eof_reported: bool,
}

/// What the cores' backends and the test clients share.
#[derive(Debug)]
pub struct NetState {
    /// The simulated monotonic clock, in nanoseconds.
    pub now_ns: u64,
    /// The run's one source of randomness.
    pub rng: Rng,
    /// Injected faults.
    pub faults: Faults,
    pub(crate) pipes: Vec<Pipe>,
    /// Per port: the cores listening (listener index on each).
    listeners: Vec<(u16, Vec<(usize, usize)>)>,
    /// Per core: connections waiting to be accepted.
    pub(crate) backlog: Vec<VecDeque<usize>>,
    /// Completions handed out by cores' backends since the last look
    /// (the scheduler's measure of progress).
    pub(crate) activity: u64,
}

/// A handle on the shared network state.
#[derive(Clone, Debug)]
pub struct SimNet(pub(crate) Rc<RefCell<NetState>>);

/// A client's end of a simulated connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(pub usize);

/// Bytes a client's connection buffers toward the client unless told
/// otherwise: of the order of a loopback socket's buffers.
const TO_CLIENT_CAP_DEFAULT: usize = 256 * 1024;

impl SimNet {
    /// A network for `cores` cores, driven by `seed`.
    pub fn new(cores: usize, seed: u64, faults: Faults) -> SimNet {
        SimNet(Rc::new(RefCell::new(NetState {
            now_ns: 1_000_000_000,
            rng: Rng::new(seed),
            faults,
            pipes: Vec::new(),
            listeners: Vec::new(),
            backlog: (0..cores).map(|_| VecDeque::new()).collect(),
            activity: 0,
        })))
    }

    /// The shared state, for the backends and the simulator.
    pub fn state(&self) -> std::cell::RefMut<'_, NetState> {
        self.0.borrow_mut()
    }

    /// Records that `core` listens on `port` as its listener `index`.
    pub(crate) fn listen(&self, port: u16, core: usize, index: usize) {
        let mut s = self.state();
        match s.listeners.iter_mut().find(|(p, _)| *p == port) {
            Some((_, cores)) => cores.push((core, index)),
            None => s.listeners.push((port, vec![(core, index)])),
        }
    }

    /// Stops every listener of `core` (drain).
    pub(crate) fn unlisten(&self, core: usize) {
        for (_, cores) in &mut self.state().listeners {
            cores.retain(|&(c, _)| c != core);
        }
    }

    /// Opens a connection to `port`; one of the cores listening there
    /// takes it, chosen by the seed (as `SO_REUSEPORT` spreads them).
    /// `None` if nobody listens.
    pub fn connect(&self, port: u16) -> Option<ClientId> {
        let mut s = self.state();
        let cores = s.listeners.iter().find(|(p, _)| *p == port)?.1.clone();
        if cores.is_empty() {
            return None;
        }
        let (core, listener) = cores[s.rng.below(cores.len() as u64) as usize];
        let id = s.pipes.len();
        s.pipes.push(Pipe {
            core,
            listener,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            to_client_cap: TO_CLIENT_CAP_DEFAULT,
            client_closed: false,
            reset: false,
            server_closed: false,
            server_write_shut: false,
            eof_reported: false,
        });
        s.backlog[core].push_back(id);
        Some(ClientId(id))
    }

    /// The core that accepted the client's connection.
    pub fn core_of(&self, c: ClientId) -> usize {
        self.state().pipes[c.0].core
    }

    /// Queues bytes from the client; false if the connection is gone.
    pub fn write(&self, c: ClientId, bytes: &[u8]) -> bool {
        let mut s = self.state();
        let p = &mut s.pipes[c.0];
        if p.client_closed || p.reset || p.server_closed {
            return false;
        }
        p.to_server.extend(bytes);
        true
    }

    /// Takes up to `max` bytes the server sent to the client.
    pub fn read(&self, c: ClientId, max: usize) -> Vec<u8> {
        let mut s = self.state();
        let p = &mut s.pipes[c.0];
        let n = max.min(p.to_client.len());
        p.to_client.drain(..n).collect()
    }

    /// Whether the server closed the connection (or its write side) and
    /// the client has read everything it sent.
    pub fn is_closed_by_server(&self, c: ClientId) -> bool {
        let s = self.0.borrow();
        let p = &s.pipes[c.0];
        (p.server_closed || p.server_write_shut) && p.to_client.is_empty()
    }

    /// The client closes its side (FIN) or resets the connection.
    pub fn close(&self, c: ClientId, reset: bool) {
        let mut s = self.state();
        let p = &mut s.pipes[c.0];
        p.client_closed = true;
        if reset {
            p.reset = true;
            p.to_client.clear();
        }
    }

    /// Sets how many bytes may wait for the client to read them.
    pub fn set_window(&self, c: ClientId, bytes: usize) {
        self.state().pipes[c.0].to_client_cap = bytes.max(1);
    }

    /// The simulated clock.
    pub fn now_ns(&self) -> u64 {
        self.0.borrow().now_ns
    }

    /// Moves the clock forward.
    pub fn advance(&self, ns: u64) {
        self.state().now_ns += ns;
    }

    /// Completions handed out since the last call.
    pub fn take_activity(&self) -> u64 {
        std::mem::take(&mut self.state().activity)
    }
}
