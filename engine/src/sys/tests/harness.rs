//! An echo server driven through the [`Backend`] trait, the way the reactor
//! drives it, for the shared test bodies in [`super::cases`].

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::sys::{Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token};

/// Guard against a hung test; not a performance threshold.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Pool introspection the tests need from both kernel backends (whose
/// sockets are std's).
pub trait PoolStats:
    Backend<Listener = std::net::TcpListener, Stream = std::net::TcpStream>
{
    /// Buffers not lent to the reactor.
    fn bufs_available(&self) -> usize;
}

impl PoolStats for crate::sys::epoll::EpollBackend {
    fn bufs_available(&self) -> usize {
        crate::sys::epoll::EpollBackend::bufs_available(self)
    }
}

impl PoolStats for crate::sys::uring::UringBackend {
    fn bufs_available(&self) -> usize {
        crate::sys::uring::UringBackend::bufs_available(self)
    }
}

/// Creates the backend or fails the test, saying why: a backend the
/// machine refuses must not make its tests pass vacuously.
pub fn backend<B: Backend>(config: &BackendConfig) -> B {
    B::new(config).unwrap_or_else(|e| {
        panic!(
            "the {} backend was refused on this machine ({e}); its tests need it",
            B::NAME
        )
    })
}

/// Per-connection state of the echo server.
#[derive(Default)]
pub struct EchoConn {
    /// Bytes waiting to be echoed.
    pub queue: VecDeque<Bytes>,
    pub in_flight: bool,
    pub received: usize,
    pub sent: usize,
    /// `RecvClosed` arrived.
    pub recv_closed: bool,
    /// The bytes received, in order, when the server `keep`s them.
    pub bytes: Vec<u8>,
}

/// Echoes every byte back, one send in flight per connection.
pub struct Echo<B: PoolStats> {
    pub backend: B,
    pub addr: SocketAddr,
    pub conns: HashMap<Token, EchoConn>,
    /// Tokens in accept order.
    pub accepted: Vec<Token>,
    /// Received buffers not yet echoed, when `hold` is set.
    pub held: Vec<(Token, RecvBuf)>,
    /// Keep received buffers instead of releasing them.
    pub hold: bool,
    /// Do not echo; only count.
    pub sink: bool,
    /// Keep every received byte in [`EchoConn::bytes`].
    pub keep: bool,
    /// Sockets handed over by `detach`.
    pub detached: Vec<(Token, B::Stream)>,
    pub woken: usize,
    /// Completions for tokens no longer open (after `close`).
    pub stale: usize,
    out: Vec<Completion>,
    next_index: u64,
}

impl<B: PoolStats> Echo<B> {
    /// An echo server on an ephemeral port of 127.0.0.1.
    pub fn start(config: &BackendConfig) -> Echo<B> {
        let mut backend: B = backend(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(backend.add_listener(listener).unwrap(), 0);
        Echo {
            backend,
            addr,
            conns: HashMap::new(),
            accepted: Vec::new(),
            held: Vec::new(),
            hold: false,
            sink: false,
            keep: false,
            detached: Vec::new(),
            woken: 0,
            stale: 0,
            out: Vec::new(),
            // Generation 3 so that tokens look like the reactor's.
            next_index: 3 << 32,
        }
    }

    /// One `poll`, handling everything it returns.
    pub fn turn(&mut self, timeout: Duration) {
        let mut out = std::mem::take(&mut self.out);
        self.backend.poll(Some(timeout), &mut out).unwrap();
        for c in out.drain(..) {
            self.handle(c);
        }
        self.out = out;
    }

    /// Turns until `done` holds; panics after [`DEADLINE`].
    pub fn run_until(&mut self, mut done: impl FnMut(&mut Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < DEADLINE, "test hung");
            self.turn(Duration::from_millis(20));
        }
    }

    /// Registers a connection (accepted here, or detached elsewhere).
    pub fn adopt(&mut self, stream: B::Stream) -> Token {
        let token = self.next_index;
        self.next_index += 1;
        self.backend.register(token, stream).unwrap();
        self.conns.insert(token, EchoConn::default());
        token
    }

    /// Closes a connection the way the reactor does: forget it, then tell
    /// the backend.
    pub fn close(&mut self, token: Token) {
        self.conns.remove(&token);
        self.backend.close(token);
    }

    /// Releases held buffers (echoing them unless `sink`).
    pub fn release_held(&mut self) {
        for (token, buf) in std::mem::take(&mut self.held) {
            self.consume(token, buf);
        }
    }

    fn handle(&mut self, c: Completion) {
        match c {
            Completion::Accepted { stream, .. } => {
                let token = self.adopt(stream);
                self.accepted.push(token);
            }
            Completion::Detached { token, stream } => {
                assert!(
                    self.conns.contains_key(&token),
                    "Detached for an unknown token"
                );
                self.detached.push((token, stream));
            }
            Completion::AcceptFailed { error, .. } => panic!("accept failed: {error}"),
            Completion::Recv { token, buf } => {
                assert!(!buf.is_empty(), "Recv with no bytes");
                if !self.conns.contains_key(&token) {
                    self.stale += 1;
                    self.backend.release(buf);
                } else if self.hold {
                    self.held.push((token, buf));
                } else {
                    self.consume(token, buf);
                }
            }
            Completion::RecvClosed { token, .. } => match self.conns.get_mut(&token) {
                Some(conn) => {
                    assert!(!conn.recv_closed, "RecvClosed twice");
                    conn.recv_closed = true;
                }
                None => self.stale += 1,
            },
            Completion::Sent {
                token,
                result,
                batch,
            } => self.on_sent(token, result, batch),
            Completion::Woken => self.woken += 1,
        }
    }

    fn consume(&mut self, token: Token, buf: RecvBuf) {
        let bytes = Bytes::copy_from_slice(self.backend.buf(&buf));
        self.backend.release(buf);
        let Some(conn) = self.conns.get_mut(&token) else {
            self.stale += 1;
            return;
        };
        conn.received += bytes.len();
        if self.keep {
            conn.bytes.extend_from_slice(&bytes);
        }
        if !self.sink {
            conn.queue.push_back(bytes);
            self.flush(token);
        }
    }

    fn on_sent(&mut self, token: Token, result: std::io::Result<usize>, mut batch: SendBatch) {
        let Some(conn) = self.conns.get_mut(&token) else {
            self.stale += 1;
            return;
        };
        assert!(conn.in_flight, "Sent without a send");
        conn.in_flight = false;
        let mut written = result.expect("echo send failed");
        conn.sent += written;
        // Put back what a short write left, in order.
        let mut rest = Vec::new();
        for b in batch.bufs.drain(..) {
            if written >= b.len() {
                written -= b.len();
            } else {
                rest.push(b.slice(written..));
                written = 0;
            }
        }
        for b in rest.into_iter().rev() {
            conn.queue.push_front(b);
        }
        self.flush(token);
    }

    fn flush(&mut self, token: Token) {
        let conn = self.conns.get_mut(&token).unwrap();
        if conn.in_flight || conn.queue.is_empty() {
            return;
        }
        let batch = SendBatch {
            bufs: conn.queue.drain(..).collect(),
        };
        conn.in_flight = true;
        self.backend.send(token, batch);
    }
}
