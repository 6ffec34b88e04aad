//! The only place that talks to the kernel: the I/O backend contract.
//!
//! The reactor is written against [`Backend`], a completion-style interface
//! shaped after io_uring: the reactor asks for work (register a socket,
//! send a batch, close) and later receives [`Completion`]s from
//! [`Backend::poll`]. Two implementations:
//!
//! - [`uring::UringBackend`]: one io_uring per reactor thread, multishot
//!   accept, multishot recv into a provided-buffer ring, vectored sends.
//! - [`epoll::EpollBackend`]: mio (epoll) readiness turned into the same
//!   completions, for kernels or sandboxes that refuse io_uring.
//!
//! # Contract
//!
//! - Tokens are chosen by the reactor (generational connection ids). A
//!   backend may deliver completions for a token after [`Backend::close`];
//!   the reactor recognises the stale generation and ignores them, but must
//!   still [`Backend::release`] any [`RecvBuf`] it is handed.
//! - After `register`, the backend delivers [`Completion::Recv`] for every
//!   chunk read, until [`Completion::RecvClosed`] (EOF or error), after which
//!   no more `Recv` arrive for that token. `pause_recv` stops reading as soon
//!   as it can (a few `Recv` already under way may still arrive);
//!   `resume_recv` starts again.
//! - Receive buffers come from a fixed pool: an idle connection holds none.
//!   A [`RecvBuf`] must be released promptly; when the pool is empty the
//!   backend stops reading (kernel socket buffers absorb the data) and
//!   resumes once buffers come back.
//! - At most one send is in flight per token: `send` hands the backend a
//!   batch, and exactly one [`Completion::Sent`] returns it, also when the
//!   token is closed first (then as a stale completion). `Ok(n)` means the
//!   first `n` bytes of the batch were written, in order. `n` may be
//!   less than offered: io_uring first tries the send at once and reports
//!   what fitted in the socket (only a send that found the socket full
//!   waits in the ring for room, and then reports the whole batch unless
//!   it had more than 1024 buffers or the socket failed partway); epoll
//!   waits for room and reports the whole batch. The reactor re-queues
//!   any unwritten tail. `Err` means the
//!   socket failed (or was closed) and says nothing about how much was
//!   written before.
//! - `poll` returns when at least one completion is ready, the timeout
//!   expires, or a [`Waker`] registered with `watch_waker` is woken.
//! - Nothing here allocates per message in steady state.

pub mod epoll;
#[cfg(test)]
pub mod sim;
#[cfg(test)]
mod tests;
pub mod uring;
mod waker;

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;

pub use waker::Waker;

/// Bounds the bytes an accepted socket holds not yet sent
/// (`TCP_NOTSENT_LOWAT`): past it the socket reports itself full, so the
/// rest waits in the connection's send queue, where lanes still apply.
/// One `setsockopt` per connection, none per message.
pub fn bound_unsent(stream: &TcpStream, bytes: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).map_err(|_| invalid("unsent bound over i32"))?;
    // SAFETY: the fd is an open socket borrowed from `stream` for the
    // call; the option value is a c_int on our stack, with its size given.
    let r = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Identifies a connection in completions; chosen by the reactor.
///
/// Tokens use at most the low 56 bits (slab index in bits 0..32, generation
/// in bits 32..56); the top 8 bits are the backend's, e.g. to tag the kind
/// of io_uring operation in `user_data`.
pub type Token = u64;

/// Bits of a [`Token`] the reactor may use.
pub const TOKEN_BITS: u32 = 56;

/// The slab index of a token (bits 0..32): where a backend keeps the
/// connection's state.
pub(crate) fn token_index(token: Token) -> usize {
    (token & 0xffff_ffff) as usize
}

/// The generation of a token (bits 32..56): tells a slot's current owner
/// from an earlier connection that used the same index.
pub(crate) fn token_generation(token: Token) -> u32 {
    ((token >> 32) & 0xff_ffff) as u32
}

/// A filled receive buffer lent by the backend's pool.
///
/// Read it with [`Backend::buf`], give it back with [`Backend::release`].
#[derive(Debug)]
#[must_use = "a RecvBuf must be released back to the pool"]
pub struct RecvBuf {
    /// Pool slot (io_uring buffer id, or epoll pool index).
    pub(crate) id: u16,
    /// Bytes filled.
    pub(crate) len: u32,
}

impl RecvBuf {
    /// Number of bytes received.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A batch of buffers to write in order with one vectored send.
///
/// The reactor fills `bufs`; the backend owns the batch while the send is in
/// flight and returns it in [`Completion::Sent`] so its allocation is reused.
#[derive(Debug, Default)]
pub struct SendBatch {
    /// Buffers to write, in order.
    pub bufs: Vec<Bytes>,
}

impl SendBatch {
    /// Total bytes in the batch.
    pub fn len(&self) -> usize {
        self.bufs.iter().map(Bytes::len).sum()
    }

    /// Whether the batch holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.bufs.iter().all(Bytes::is_empty)
    }
}

/// Something the backend finished. `S` is the backend's connection handle
/// ([`Backend::Stream`]): a `TcpStream` for the kernel's backends, an
/// in-memory socket for the simulated one.
#[derive(Debug)]
pub enum Completion<S = TcpStream> {
    /// A listener accepted a connection (already non-blocking, TCP_NODELAY).
    Accepted {
        /// Index returned by [`Backend::add_listener`].
        listener: usize,
        /// The new connection.
        stream: S,
    },
    /// Accepting failed (e.g. EMFILE); the backend keeps accepting.
    AcceptFailed {
        /// Index returned by [`Backend::add_listener`].
        listener: usize,
        /// What went wrong.
        error: io::Error,
    },
    /// Bytes arrived on a connection.
    Recv {
        /// The connection.
        token: Token,
        /// The bytes; release after use.
        buf: RecvBuf,
    },
    /// The connection will deliver no more bytes: EOF (`None`) or an error.
    RecvClosed {
        /// The connection.
        token: Token,
        /// `None` for an orderly EOF.
        error: Option<io::Error>,
    },
    /// A send finished; the batch comes back for reuse.
    Sent {
        /// The connection.
        token: Token,
        /// Bytes written from the front of the batch (possibly fewer than
        /// offered), or the error; see the contract in the module docs.
        result: io::Result<usize>,
        /// The batch handed to [`Backend::send`].
        batch: SendBatch,
    },
    /// A connection given up with [`Backend::detach`]: its socket, for
    /// another core's backend to register. Every `Recv` for the token came
    /// before it; nothing for the token comes after it.
    Detached {
        /// The connection, as it was named on this core.
        token: Token,
        /// Its socket.
        stream: S,
    },
    /// A watched [`Waker`] was woken.
    Woken,
}

/// Sizes fixed at start-up, per reactor thread.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Submission queue entries (io_uring); completion queue is twice this.
    pub ring_entries: u32,
    /// Bytes per pooled receive buffer.
    pub recv_buf_len: u32,
    /// Number of pooled receive buffers (a power of two, at most 32768).
    pub recv_buf_count: u16,
}

impl BackendConfig {
    /// Checks the sizes against the limits stated on each field.
    pub fn validate(&self) -> io::Result<()> {
        let count = self.recv_buf_count;
        if count == 0 || !count.is_power_of_two() || count > 32768 {
            return Err(invalid(
                "recv_buf_count must be a power of two in 1..=32768",
            ));
        }
        if self.recv_buf_len == 0 || self.recv_buf_len > i32::MAX as u32 {
            return Err(invalid("recv_buf_len must be in 1..=i32::MAX"));
        }
        if self.ring_entries == 0 {
            return Err(invalid("ring_entries must be positive"));
        }
        Ok(())
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            ring_entries: 4096,
            recv_buf_len: 16 * 1024,
            recv_buf_count: 1024,
        }
    }
}

/// A completion-style I/O backend driven by one reactor thread.
pub trait Backend: Sized {
    /// A short name for logs and metrics (`"uring"`, `"epoll"`).
    const NAME: &'static str;

    /// A listening socket, handed over by start-up.
    type Listener;

    /// An accepted connection, handed out in [`Completion::Accepted`] and
    /// back in through [`Backend::register`]; `Send`, since a detached
    /// one moves to another core.
    type Stream: std::fmt::Debug + Send + 'static;

    /// Creates the backend; fails if the kernel refuses it.
    fn new(config: &BackendConfig) -> io::Result<Self>;

    /// Starts accepting on a (non-blocking, listening) socket.
    fn add_listener(&mut self, listener: Self::Listener) -> io::Result<usize>;

    /// Stops accepting on every listener and closes them (graceful drain).
    fn close_listeners(&mut self);

    /// Bounds the bytes the connection's socket holds not yet sent
    /// ([`bound_unsent`] for the kernel's sockets), before `register`.
    fn bound_unsent(&self, stream: &Self::Stream, bytes: u32) -> io::Result<()>;

    /// Takes ownership of an accepted connection and starts receiving.
    fn register(&mut self, token: Token, stream: Self::Stream) -> io::Result<()>;

    /// Stops reading from the connection (backpressure).
    fn pause_recv(&mut self, token: Token);

    /// Starts reading again after `pause_recv`.
    fn resume_recv(&mut self, token: Token);

    /// Writes the batch; exactly one `Sent` completion follows.
    fn send(&mut self, token: Token, batch: SendBatch);

    /// Gives the connection up without closing it, so that another core
    /// can register its socket (a session lives on the core its client id
    /// hashes to). Receiving stops; receives already under way still
    /// deliver their bytes; then one [`Completion::Detached`] hands the
    /// socket over. Only with no send in flight.
    fn detach(&mut self, token: Token);

    /// Shuts the connection's write side (the peer reads EOF after every
    /// byte sent so far) and keeps reading: `Recv` goes on until
    /// `RecvClosed`. Called with no send in flight, and no `send` after.
    fn shutdown_write(&mut self, token: Token);

    /// Shuts the connection down and closes its socket. Completions for the
    /// token may still arrive afterwards (see the contract).
    fn close(&mut self, token: Token);

    /// Watches a waker: when it is woken, `poll` returns `Woken`.
    fn watch_waker(&mut self, waker: &Waker) -> io::Result<()>;

    /// Submits queued work and waits up to `timeout` (`None`: forever) for
    /// completions, appending them to `out`.
    fn poll(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Completion<Self::Stream>>,
    ) -> io::Result<()>;

    /// The bytes of a received buffer.
    fn buf(&self, buf: &RecvBuf) -> &[u8];

    /// Gives a received buffer back to the pool.
    fn release(&mut self, buf: RecvBuf);

    /// The monotonic clock, in nanoseconds. The reactor reads time only
    /// here (once per tick), so that a simulated backend, whose `poll`
    /// moves its own clock instead of sleeping, runs the engine in
    /// simulated time.
    fn now_ns(&self) -> u64 {
        monotonic_ns()
    }
}

/// Where an engine's clocks start: one reading of the backends' monotonic
/// clock and of the wall clock, taken once for every core, so that their
/// millisecond clocks agree (a time one core records is compared on
/// another, e.g. a message's expiry).
#[derive(Clone, Copy, Debug)]
pub struct Epoch {
    /// The monotonic clock ([`Backend::now_ns`]) at the epoch.
    pub mono_ns: u64,
    /// Unix milliseconds at the epoch (message ids).
    pub unix_ms: u64,
}

impl Epoch {
    /// Now, by the kernel's clocks (the io_uring and epoll backends').
    pub fn kernel() -> Epoch {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Epoch {
            mono_ns: monotonic_ns(),
            unix_ms,
        }
    }
}

/// For a backend's wake-up timer (absolute CLOCK_MONOTONIC ns), now due
/// at `armed`: the deadline `after` from now if the timer must be set to
/// it, `None` if it is due no later already (a timer due early only costs
/// the reactor one more wait).
pub(crate) fn deadline_to_arm(armed: Option<u64>, after: Duration) -> Option<u64> {
    let deadline = monotonic_ns().saturating_add(after.as_nanos() as u64);
    armed.is_none_or(|a| a > deadline).then_some(deadline)
}

/// CLOCK_MONOTONIC in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
