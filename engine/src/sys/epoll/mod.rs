//! [`EpollBackend`]: mio (epoll, edge-triggered) readiness turned into the
//! completions of the [`Backend`] contract, for kernels and sandboxes that
//! refuse io_uring.
//!
//! It owns the listeners, the connection sockets, a fixed receive-buffer
//! pool (`pool`) and the sends that could not finish at once
//! (`send`). Reads happen in `poll`: readiness puts a connection on a
//! ready list, and the list is worked through with a bounded number of
//! reads per connection per `poll`, so one fast sender cannot starve the
//! rest. Sends are written at once and, when the socket is full, finished
//! on writability; `Sent` then reports the whole batch (see `send`). The
//! reactor's deadline is a timerfd in the set (`timer`).

mod pool;
mod send;
mod timer;

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

use self::pool::BufPool;
use self::send::{PendingSends, WriteOutcome};
use super::{
    token_generation, token_index, Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token,
    Waker, TOKEN_BITS,
};

/// Reads per connection per `poll` before others get a turn. Four reads of
/// the default 16 KiB buffer move 64 KiB: enough to amortise the poll,
/// small enough that a bulk sender delays an interactive one by well under
/// a millisecond.
const READS_PER_POLL: usize = 4;

/// Connections accepted per listener per `poll`, for the same fairness
/// reason: an accept storm must not stall the connections already open.
const ACCEPTS_PER_POLL: usize = 64;

/// Readiness events fetched per `epoll_wait`. More readiness stays queued
/// in the kernel for the next call; 1024 × 12 bytes is allocated once.
const EVENTS_CAPACITY: usize = 1024;

/// mio token tags in the bits above the reactor's tokens.
const TAG_LISTENER: usize = 1 << TOKEN_BITS;
const TAG_WAKER: usize = 2 << TOKEN_BITS;
const TAG_TIMER: usize = 3 << TOKEN_BITS;
const TAG_MASK: usize = 0xff << TOKEN_BITS;

/// Slot flags (low 8 bits of `Slot::tag`; the generation is above them).
const PAUSED: u32 = 1 << 0;
/// Queued on the ready list (so it is queued at most once).
const READY: u32 = 1 << 1;
/// EOF or an error was reported; no more reads.
const RECV_DONE: u32 = 1 << 2;

/// Per-connection state: 12 bytes, indexed by the token's slab index.
struct Slot {
    /// The socket; `None` when the slot is free. (4 bytes: `OwnedFd` has a
    /// niche for -1.)
    stream: Option<TcpStream>,
    /// Generation of the owning token (bits 8..32) and flags (bits 0..8).
    tag: u32,
    /// Index of the unfinished send in `PendingSends`, or `NO_SEND`.
    send: u32,
}

const NO_SEND: u32 = u32::MAX;

// The per-connection cost this backend promises.
const _: () = assert!(size_of::<Slot>() == 12);

impl Slot {
    const FREE: Slot = Slot {
        stream: None,
        tag: 0,
        send: NO_SEND,
    };

    fn owned_by(&self, token: Token) -> bool {
        self.stream.is_some() && self.tag >> 8 == token_generation(token)
    }
}

/// What one turn of reading a connection ended with.
enum ReadOutcome {
    /// Nothing more to read now (or never again).
    Idle,
    /// Stopped by the per-poll budget or an empty pool: keep it ready.
    MoreLater,
}

/// The epoll (mio) backend; see the module docs.
pub struct EpollBackend {
    poll: Poll,
    events: Events,
    pool: BufPool,
    slots: Vec<Slot>,
    listeners: Vec<Option<TcpListener>>,
    /// Listeners that stopped at `ACCEPTS_PER_POLL` with more queued.
    listeners_ready: Vec<usize>,
    /// Connections with unread data; may hold stale tokens, skipped.
    ready: VecDeque<Token>,
    sends: PendingSends,
    /// Completions produced outside `poll` (sends that finished at once,
    /// sends cut short by `close`), handed out by the next `poll`.
    done: Vec<Completion>,
    wakers: Vec<Waker>,
    /// Ends waits at the reactor's deadline.
    timer: timer::WakeTimer,
    /// The last poll handed out completions without waiting.
    skipped_wait: bool,
}

impl Backend for EpollBackend {
    const NAME: &'static str = "epoll";
    type Listener = TcpListener;
    type Stream = TcpStream;

    fn new(config: &BackendConfig) -> io::Result<Self> {
        config.validate()?;
        let poll = Poll::new()?;
        let timer = timer::WakeTimer::new()?;
        poll.registry().register(
            &mut SourceFd(&timer.fd()),
            mio::Token(TAG_TIMER),
            Interest::READABLE,
        )?;
        Ok(EpollBackend {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            pool: BufPool::new(config.recv_buf_count, config.recv_buf_len),
            slots: Vec::new(),
            listeners: Vec::new(),
            listeners_ready: Vec::new(),
            ready: VecDeque::new(),
            sends: PendingSends::default(),
            done: Vec::new(),
            wakers: Vec::new(),
            timer,
            skipped_wait: false,
        })
    }

    fn add_listener(&mut self, listener: TcpListener) -> io::Result<usize> {
        listener.set_nonblocking(true)?;
        let index = self.listeners.len();
        let fd = listener.as_raw_fd();
        let token = mio::Token(TAG_LISTENER | index);
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        self.listeners.push(Some(listener));
        Ok(index)
    }

    fn close_listeners(&mut self) {
        // Closing the last fd of a socket removes it from the epoll set.
        for l in &mut self.listeners {
            *l = None;
        }
        self.listeners_ready.clear();
    }

    fn bound_unsent(&self, stream: &TcpStream, bytes: u32) -> io::Result<()> {
        super::bound_unsent(stream, bytes)
    }

    fn register(&mut self, token: Token, stream: TcpStream) -> io::Result<()> {
        debug_assert_eq!(token >> TOKEN_BITS, 0, "token uses the backend's bits");
        let index = token_index(token);
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || Slot::FREE);
        }
        debug_assert!(self.slots[index].stream.is_none(), "slot {index} in use");
        stream.set_nonblocking(true)?;
        let fd = stream.as_raw_fd();
        // Edge-triggered read and write interest, registered once: writable
        // edges only come after a write found the socket full, so idle
        // connections cost no events. If data is already waiting, epoll
        // reports it right away.
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), mio::Token(token as usize), interest)?;
        self.slots[index] = Slot {
            stream: Some(stream),
            tag: token_generation(token) << 8,
            send: NO_SEND,
        };
        Ok(())
    }

    fn pause_recv(&mut self, token: Token) {
        if let Some(slot) = self.slot_mut(token) {
            slot.tag |= PAUSED;
        }
    }

    fn resume_recv(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        slot.tag &= !PAUSED;
        // Readiness edges seen while paused were dropped, so try a read:
        // at worst it finds nothing (one EAGAIN).
        self.mark_ready(token);
    }

    fn send(&mut self, token: Token, batch: SendBatch) {
        // A borrow of `slots` alone (not `self.slot`), so that the
        // blocked send below may use `self.sends`.
        let slot = self.slots.get(token_index(token));
        let Some(slot) = slot.filter(|s| s.owned_by(token)) else {
            let result = Err(io::ErrorKind::NotConnected.into());
            self.done.push(sent(token, result, batch));
            return;
        };
        debug_assert_eq!(slot.send, NO_SEND, "two sends in flight for {token:#x}");
        let stream = slot.stream.as_ref().expect("owned slot has a stream");
        match send::write_batch(stream, &batch, 0) {
            WriteOutcome::Done(n) => self.done.push(sent(token, Ok(n), batch)),
            WriteOutcome::Failed(e) => self.done.push(sent(token, Err(e), batch)),
            WriteOutcome::Blocked(written) => {
                let id = self.sends.insert(token, batch, written);
                self.slots[token_index(token)].send = id;
            }
        }
    }

    fn detach(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        debug_assert_eq!(slot.send, NO_SEND, "detach with a send in flight");
        let stream = slot.stream.take();
        *slot = Slot::FREE;
        let Some(stream) = stream else { return };
        // Reads here are synchronous: none is under way. The socket leaves
        // this epoll set (another core's set takes it); ready-list entries
        // for the token go stale.
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&stream.as_raw_fd()));
        self.done.push(Completion::Detached { token, stream });
    }

    fn shutdown_write(&mut self, token: Token) {
        if let Some(stream) = self.slot(token).and_then(|s| s.stream.as_ref()) {
            // No send is pending (the contract), so the FIN follows every
            // byte written. Reading goes on: readiness still reaches us.
            // ENOTCONN means the peer reset; the next read reports it.
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    }

    fn close(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        let send = slot.send;
        // Dropping the stream closes the fd, which also removes it from the
        // epoll set (we hold the only fd for the socket), so no deregister
        // syscall is needed. Ready-list entries for the token go stale.
        *slot = Slot::FREE;
        if send != NO_SEND {
            let (batch, _) = self.sends.remove(send);
            let result = Err(io::ErrorKind::ConnectionAborted.into());
            self.done.push(sent(token, result, batch));
        }
    }

    fn watch_waker(&mut self, waker: &Waker) -> io::Result<()> {
        let token = mio::Token(TAG_WAKER | self.wakers.len());
        let fd = waker.fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        self.wakers.push(waker.clone());
        Ok(())
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        out.append(&mut self.done);
        // Sends that finished at once are all this poll has: hand them
        // out without a non-blocking epoll_wait that would find nothing
        // (the next poll waits). Never twice in a row, so events are
        // still collected while sends keep finishing.
        if !out.is_empty() && !self.skipped_wait {
            self.skipped_wait = true;
            self.accept_ready(out);
            self.read_ready(out);
            return Ok(());
        }
        self.skipped_wait = false;
        let has_work = !out.is_empty()
            || !self.listeners_ready.is_empty()
            || (!self.ready.is_empty() && self.pool.available() > 0);
        let timeout = match timeout {
            _ if has_work => Some(Duration::ZERO),
            // A deadline goes to the timerfd, so the wait has none; if
            // the timer cannot be set, the wait takes it after all.
            Some(t) if !t.is_zero() => self.timer.arm(t).err().map(|_| t),
            t => t,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.dispatch_events(out);
        self.accept_ready(out);
        self.read_ready(out);
        Ok(())
    }

    fn buf(&self, buf: &RecvBuf) -> &[u8] {
        self.pool.filled(buf.id, buf.len)
    }

    fn release(&mut self, buf: RecvBuf) {
        self.pool.put(buf.id);
    }
}

impl EpollBackend {
    /// Buffers currently in the pool (not lent out).
    pub fn bufs_available(&self) -> usize {
        self.pool.available()
    }

    fn slot(&self, token: Token) -> Option<&Slot> {
        self.slots
            .get(token_index(token))
            .filter(|s| s.owned_by(token))
    }

    fn slot_mut(&mut self, token: Token) -> Option<&mut Slot> {
        self.slots
            .get_mut(token_index(token))
            .filter(|s| s.owned_by(token))
    }

    /// Queues the connection for reading unless it is queued, paused or
    /// done reading.
    fn mark_ready(&mut self, token: Token) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        if slot.tag & (READY | PAUSED | RECV_DONE) == 0 {
            slot.tag |= READY;
            self.ready.push_back(token);
        }
    }

    fn dispatch_events(&mut self, out: &mut Vec<Completion>) {
        // Moved out (an empty `Events` does not allocate) so that handlers
        // may use the rest of `self`; moved back after.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            let key = event.token().0;
            match key & TAG_MASK {
                TAG_LISTENER => self.listeners_ready.push(key & !TAG_MASK),
                TAG_TIMER => self.timer.fired(),
                TAG_WAKER => {
                    if let Some(w) = self.wakers.get(key & !TAG_MASK) {
                        w.drain();
                        out.push(Completion::Woken);
                    }
                }
                _ => {
                    let token = key as Token;
                    // Errors and hang-ups are found by the read or write
                    // they wake up.
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.mark_ready(token);
                    }
                    if event.is_writable() || event.is_write_closed() || event.is_error() {
                        self.continue_send(token, out);
                    }
                }
            }
        }
        self.events = events;
    }

    /// Writes more of the token's unfinished send, if it has one.
    fn continue_send(&mut self, token: Token, out: &mut Vec<Completion>) {
        let slot = self.slots.get(token_index(token));
        let Some(slot) = slot.filter(|s| s.owned_by(token)) else {
            return;
        };
        if slot.send == NO_SEND {
            return;
        }
        let id = slot.send;
        let stream = slot.stream.as_ref().expect("owned slot has a stream");
        let (batch, written) = self.sends.get(id);
        let result = match send::write_batch(stream, batch, written) {
            WriteOutcome::Blocked(written) => {
                self.sends.set_written(id, written);
                return;
            }
            WriteOutcome::Done(n) => Ok(n),
            WriteOutcome::Failed(e) => Err(e),
        };
        self.slots[token_index(token)].send = NO_SEND;
        let (batch, _) = self.sends.remove(id);
        out.push(sent(token, result, batch));
    }

    fn accept_ready(&mut self, out: &mut Vec<Completion>) {
        let mut ready = std::mem::take(&mut self.listeners_ready);
        ready.sort_unstable();
        ready.dedup();
        let mut again = Vec::new();
        for index in ready.drain(..) {
            if self.accept_some(index, out) {
                again.push(index);
            }
        }
        // `again` is empty (no allocation) unless a storm hit the budget.
        ready.append(&mut again);
        self.listeners_ready = ready;
    }

    /// Accepts up to the budget; true if more may be queued.
    fn accept_some(&mut self, index: usize, out: &mut Vec<Completion>) -> bool {
        let Some(Some(listener)) = self.listeners.get(index) else {
            return false;
        };
        for _ in 0..ACCEPTS_PER_POLL {
            let accepted = listener.accept().and_then(|(stream, _)| {
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                Ok(stream)
            });
            match accepted {
                Ok(stream) => out.push(Completion::Accepted {
                    listener: index,
                    stream,
                }),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EMFILE and friends: report and wait for the next edge
                // rather than spin on a queue we cannot drain.
                Err(error) => {
                    out.push(Completion::AcceptFailed {
                        listener: index,
                        error,
                    });
                    return false;
                }
            }
        }
        true
    }

    /// Works through the ready list once: every connection on it gets up
    /// to `READS_PER_POLL` reads, until the pool runs dry.
    fn read_ready(&mut self, out: &mut Vec<Completion>) {
        for _ in 0..self.ready.len() {
            if self.pool.available() == 0 {
                // Kernel socket buffers hold the data until buffers are
                // released; the queued tokens are read then.
                return;
            }
            let Some(token) = self.ready.pop_front() else {
                return;
            };
            let Some(slot) = self.slot_mut(token) else {
                continue; // closed since it was queued
            };
            if slot.tag & (PAUSED | RECV_DONE) != 0 {
                slot.tag &= !READY;
                continue;
            }
            match self.read_some(token, out) {
                ReadOutcome::Idle => self.slots[token_index(token)].tag &= !READY,
                ReadOutcome::MoreLater => self.ready.push_back(token),
            }
        }
    }

    /// Reads up to the budget from an owned, unpaused connection.
    fn read_some(&mut self, token: Token, out: &mut Vec<Completion>) -> ReadOutcome {
        let slot = &mut self.slots[token_index(token)];
        let stream = slot.stream.as_ref().expect("owned slot has a stream");
        for _ in 0..READS_PER_POLL {
            let Some(id) = self.pool.take() else {
                return ReadOutcome::MoreLater;
            };
            let buf_len = self.pool.buf_len();
            match (&*stream).read(self.pool.slot_mut(id)) {
                Ok(0) => {
                    self.pool.put(id);
                    slot.tag |= RECV_DONE;
                    out.push(Completion::RecvClosed { token, error: None });
                    return ReadOutcome::Idle;
                }
                Ok(n) => {
                    let buf = RecvBuf { id, len: n as u32 };
                    out.push(Completion::Recv { token, buf });
                    // A short read emptied the socket buffer; new data
                    // brings a new edge, so the EAGAIN read is skipped.
                    if n < buf_len {
                        return ReadOutcome::Idle;
                    }
                }
                Err(e) => {
                    self.pool.put(id);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return ReadOutcome::Idle,
                        io::ErrorKind::Interrupted => {}
                        _ => {
                            slot.tag |= RECV_DONE;
                            out.push(Completion::RecvClosed {
                                token,
                                error: Some(e),
                            });
                            return ReadOutcome::Idle;
                        }
                    }
                }
            }
        }
        ReadOutcome::MoreLater
    }
}

fn sent(token: Token, result: io::Result<usize>, batch: SendBatch) -> Completion {
    Completion::Sent {
        token,
        result,
        batch,
    }
}
