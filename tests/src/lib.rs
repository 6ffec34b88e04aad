//! Support for the end-to-end tests: start the real `switchboard` binary
//! ([`Server`]) and talk to it over real loopback sockets ([`WireClient`]).
//!
//! Nothing here is a mock: frames are built and parsed with the `wire`
//! crate and travel through the kernel to the engine's reactors.

mod binary;
mod client;
pub mod flood;
pub mod frames;
pub mod mqtt;
mod server;
pub mod ws;

use std::sync::{Mutex, MutexGuard};

pub use binary::switchboard_bin;
pub use client::{ReadError, WireClient, TIMEOUT};
pub use flood::{flood_body, Flood};
pub use frames::{core_of, Delivered, OwnedFrame};
pub use server::{http_get, parse_metrics, Backend, Server};

/// Held by tests that use thousands of file descriptors, so that two of
/// them never run at once in one test process (the open-file limit is per
/// process). Under a per-test-process runner (nextest) it costs nothing.
pub fn heavy_lock() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Raises this process's soft open-file limit to its hard limit (servers
/// started afterwards inherit it) and checks that at least `needed` file
/// descriptors are allowed.
pub fn ensure_open_files(needed: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert_eq!(r, 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
    assert!(
        lim.rlim_cur >= needed,
        "this test needs {needed} open files; the hard limit is {} (raise it with ulimit -Hn)",
        lim.rlim_cur
    );
}

/// Polls `cond` until it holds; panics with `what` after `timeout`. For
/// effects that become visible asynchronously (a gauge after a close):
/// the timeout only stops a broken server from hanging the test.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A client that has been welcomed, with its connection id.
pub struct Welcomed {
    /// The connection.
    pub client: WireClient,
    /// The id WELCOME gave it.
    pub connection_id: u64,
    /// The user it said HELLO as.
    pub user: String,
}

impl Welcomed {
    /// The core that holds this connection.
    pub fn core(&self) -> u64 {
        core_of(self.connection_id)
    }
}

/// Connects and says HELLO as `user(i)` for i = 0, 1, … until every core
/// of `server` holds at least `per_core` of the connections (the kernel
/// spreads accepts over the cores' `SO_REUSEPORT` listeners by hash).
/// With `keep_extra` every connection is returned, else exactly
/// `per_core` per core (the rest are closed).
pub fn connect_on_every_core(
    server: &Server,
    per_core: usize,
    user: impl Fn(usize) -> String,
    keep_extra: bool,
) -> Vec<Welcomed> {
    /// Connections tried before concluding the kernel does not spread
    /// them: 2^-200-ish odds for two cores with a fair hash.
    const ATTEMPTS_MAX: usize = 200;
    let cores = server.threads();
    let mut counts = vec![0usize; cores];
    let mut out = Vec::new();
    for i in 0..ATTEMPTS_MAX {
        if counts.iter().all(|&n| n >= per_core) {
            return out;
        }
        let mut client = WireClient::connect(server.wire_addr());
        let name = user(i);
        let connection_id = client.hello(&name);
        let core = core_of(connection_id) as usize;
        assert!(
            core < cores,
            "connection id {connection_id:#x} names core {core}"
        );
        if keep_extra || counts[core] < per_core {
            counts[core] += 1;
            out.push(Welcomed {
                client,
                connection_id,
                user: name,
            });
        }
    }
    panic!("after {ATTEMPTS_MAX} connections the cores hold {counts:?}, wanted {per_core} each");
}
