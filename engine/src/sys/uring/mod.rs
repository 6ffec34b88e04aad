//! [`UringBackend`]: one io_uring per reactor thread.
//!
//! Multishot accept per listener (`accept`), multishot recv into a
//! provided-buffer ring (`recv`, `buf_ring`), one `SENDMSG` in flight
//! per connection from a pool of send slots (`send`), shutdown and close
//! through the ring (`close`), wakers watched by multishot poll
//! (`wake`), the reactor's deadline as a timeout op (`timer`). This file
//! owns the ring itself: submitting, waiting, and
//! turning CQEs into [`Completion`]s.
//!
//! `user_data` layout: the op kind (`Op`) in the top 8 bits, and in the
//! low 56 the reactor's token (recv), a listener index (accept), a send
//! slot index (send) or a waker index (wake).
//!
//! Created and used on one thread (the ring may be set up single-issuer);
//! nothing here requires `Send`.

mod accept;
mod buf_ring;
mod close;
mod recv;
mod send;
mod send_slots;
mod setup;
mod timer;
mod wake;

use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use io_uring::{squeue, types, IoUring};

use self::buf_ring::ProvidedBufRing;
use self::send_slots::SendSlots;
use super::gather::Gather;
use super::{
    token_generation, token_index, Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token,
    Waker, TOKEN_BITS,
};

/// What a CQE completes; the top 8 bits of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// Start-up probe; never seen after `new`.
    Probe = 0,
    Accept = 1,
    Recv = 2,
    Send = 3,
    Wake = 4,
    /// Shutdown, cancel and close: fire and forget, their CQEs (only on
    /// failure, with `SKIP_SUCCESS`) are dropped.
    Ignore = 5,
    /// The backoff timer before re-arming a failed accept.
    AcceptRetry = 6,
    /// The timeout op that ends a wait at the reactor's deadline.
    WakeTimer = 7,
}

const PAYLOAD_MASK: u64 = (1 << TOKEN_BITS) - 1;

fn user_data(op: Op, payload: u64) -> u64 {
    debug_assert_eq!(payload & !PAYLOAD_MASK, 0);
    (op as u64) << TOKEN_BITS | payload
}

fn op_of(user_data: u64) -> Option<Op> {
    Some(match user_data >> TOKEN_BITS {
        0 => Op::Probe,
        1 => Op::Accept,
        2 => Op::Recv,
        3 => Op::Send,
        4 => Op::Wake,
        5 => Op::Ignore,
        6 => Op::AcceptRetry,
        7 => Op::WakeTimer,
        _ => return None,
    })
}

/// Slot flags (low 8 bits of `Slot::tag`; the generation is above them).
/// The reactor wants bytes (registered and not paused).
const WANT_RECV: u32 = 1 << 0;
/// A multishot recv is live in the kernel (its final CQE not yet reaped).
const ARMED: u32 = 1 << 1;
/// EOF or an error was reported; never re-armed.
const RECV_DONE: u32 = 1 << 2;
/// On the starved list, waiting for buffers.
const STARVED: u32 = 1 << 3;
/// Being detached: handed over once no recv is live.
const DETACHING: u32 = 1 << 4;

/// Per-connection state, indexed by the token's slab index: 8 bytes.
struct Slot {
    /// The socket; `None` when free (4 bytes: `OwnedFd` has a niche).
    fd: Option<OwnedFd>,
    /// Generation of the owning token (bits 8..32) and flags (bits 0..8).
    tag: u32,
}

// The per-connection cost this backend promises.
const _: () = assert!(size_of::<Slot>() == 8);

impl Slot {
    const FREE: Slot = Slot { fd: None, tag: 0 };

    fn owned_by(&self, token: Token) -> bool {
        self.fd.is_some() && self.tag >> 8 == token_generation(token)
    }

    fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

/// A reaped CQE, copied out so handlers may use the ring.
#[derive(Clone, Copy)]
struct Cqe {
    user_data: u64,
    result: i32,
    flags: u32,
}

/// The io_uring backend; see the module docs.
pub struct UringBackend {
    ring: IoUring,
    /// Receive buffers. `ManuallyDrop`: freed only once no recv can write
    /// into them (see `Drop`).
    bufs: ManuallyDrop<ProvidedBufRing>,
    slots: Vec<Slot>,
    listeners: Vec<Option<TcpListener>>,
    /// Connections whose recv ended with ENOBUFS; may hold stale tokens.
    starved: VecDeque<Token>,
    /// In-flight sends. `ManuallyDrop` for the same reason as `bufs`.
    sends: ManuallyDrop<SendSlots>,
    wakers: Vec<Waker>,
    /// Completions produced outside `poll`, handed out by the next one.
    done: Vec<Completion>,
    /// CQEs reaped and not yet dispatched.
    cqes: Vec<Cqe>,
    /// Recvs and sends (the ops that use our memory) whose final CQE has
    /// not been reaped.
    in_flight: usize,
    /// A submit failure that `poll` must report.
    fatal: Option<io::Error>,
    /// `Woken` was reported by this `poll` already.
    woken: bool,
    /// Ends waits at the reactor's deadline.
    timer: timer::WakeTimer,
    /// Scratch for sends of many small buffers (`send_now`).
    gather: Gather,
}

impl Backend for UringBackend {
    const NAME: &'static str = "uring";
    type Listener = TcpListener;
    type Stream = TcpStream;

    fn new(config: &BackendConfig) -> io::Result<Self> {
        config.validate()?;
        let mut ring = setup::build_ring(config.ring_entries)?;
        setup::probe(&ring)?;
        let mut bufs =
            ProvidedBufRing::register(&ring, config.recv_buf_count, config.recv_buf_len)?;
        let mut recv_live = false;
        if let Err(e) = setup::probe_multishot_recv(&mut ring, &mut bufs, &mut recv_live) {
            if recv_live {
                // The ring failed under the probe's recv, which may still
                // write into the buffers: leak them rather than unmap them.
                std::mem::forget(bufs);
            }
            return Err(e);
        }
        let cq_entries = ring.params().cq_entries() as usize;
        Ok(UringBackend {
            ring,
            bufs: ManuallyDrop::new(bufs),
            slots: Vec::new(),
            listeners: Vec::new(),
            starved: VecDeque::new(),
            sends: ManuallyDrop::new(SendSlots::default()),
            wakers: Vec::new(),
            done: Vec::new(),
            // One full CQ per poll is the usual most; more grows it once.
            cqes: Vec::with_capacity(cq_entries),
            in_flight: 0,
            fatal: None,
            woken: false,
            timer: timer::WakeTimer::default(),
            gather: Gather::default(),
        })
    }

    fn add_listener(&mut self, listener: TcpListener) -> io::Result<usize> {
        self.add_listener_inner(listener)
    }

    fn close_listeners(&mut self) {
        self.close_listeners_inner();
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
        debug_assert!(self.slots[index].fd.is_none(), "slot {index} in use");
        // No fcntl: io_uring's socket ops ignore O_NONBLOCK, and the only
        // synchronous call made on the fd (shutdown) never blocks.
        let fd = OwnedFd::from(stream);
        self.slots[index] = Slot {
            fd: Some(fd),
            tag: token_generation(token) << 8 | WANT_RECV,
        };
        self.arm_recv(token);
        Ok(())
    }

    fn pause_recv(&mut self, token: Token) {
        self.pause_recv_inner(token);
    }

    fn resume_recv(&mut self, token: Token) {
        self.resume_recv_inner(token);
    }

    fn send(&mut self, token: Token, batch: SendBatch) {
        self.send_inner(token, batch);
    }

    fn detach(&mut self, token: Token) {
        self.detach_inner(token);
    }

    fn shutdown_write(&mut self, token: Token) {
        self.shutdown_write_inner(token);
    }

    fn close(&mut self, token: Token) {
        self.close_inner(token);
    }

    fn watch_waker(&mut self, waker: &Waker) -> io::Result<()> {
        self.watch_waker_inner(waker);
        Ok(())
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        out.append(&mut self.done);
        self.rearm_starved();
        let ready = !out.is_empty();
        let busy = ready || !self.cqes.is_empty() || !self.ring.completion().is_empty();
        // Completions already in hand with nothing to submit: skip the
        // syscall; the next poll enters the ring.
        if !(ready && self.ring.submission().is_empty()) {
            self.enter(if busy { Some(Duration::ZERO) } else { timeout })?;
        }
        self.reap();
        self.woken = false;
        self.dispatch(out);
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn buf(&self, buf: &RecvBuf) -> &[u8] {
        self.bufs.filled(buf.id, buf.len)
    }

    fn release(&mut self, buf: RecvBuf) {
        self.bufs.recycle(buf.id);
    }
}

impl UringBackend {
    /// Buffers in the ring (not lent out).
    pub fn bufs_available(&self) -> usize {
        self.bufs.available()
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

    /// Queues an SQE, submitting what is queued when the SQ is full.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` (buffers, msghdr, iovecs) must stay valid
    /// until the op's final CQE is reaped (or the ring is gone).
    unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the caller keeps the entry's memory valid as required.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                match e.raw_os_error() {
                    // CQ overflowing or the kernel short of memory: take
                    // completions off the CQ (dispatched by the next poll),
                    // then try again.
                    Some(libc::EBUSY | libc::EAGAIN | libc::EINTR) => self.reap(),
                    _ => {
                        // The ring is broken; `poll` reports it and the
                        // reactor stops. Dropping the entry is then moot.
                        self.fatal = Some(e);
                        return;
                    }
                }
            }
        }
    }

    /// Submits queued SQEs and waits up to `timeout` for one completion.
    /// A zero timeout only collects what is there; a longer one is a
    /// timeout op in the ring (`timer`), so the wait itself has none.
    fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let result = match timeout {
            Some(t) if t.is_zero() => {
                let ts = types::Timespec::new();
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            Some(t) => {
                self.arm_wake_timer(t);
                self.ring.submit_and_wait(1)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            // Timed out, interrupted, the CQ needs reaping first, or the
            // kernel was briefly short of memory for requests: all are a
            // normal return from `poll`; queued SQEs go in with the next.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Copies every available CQE to `self.cqes`.
    fn reap(&mut self) {
        for cqe in self.ring.completion() {
            self.cqes.push(Cqe {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }

    /// Turns reaped CQEs into completions. Handlers may reap more (when
    /// the SQ is full); those are handled in the same loop.
    fn dispatch(&mut self, out: &mut Vec<Completion>) {
        let mut i = 0;
        while i < self.cqes.len() {
            let cqe = self.cqes[i];
            i += 1;
            let payload = cqe.user_data & PAYLOAD_MASK;
            match op_of(cqe.user_data) {
                Some(Op::Accept) => self.on_accept(payload as usize, cqe, out),
                Some(Op::Recv) => self.on_recv(payload, cqe, out),
                Some(Op::Send) => self.on_send(payload as u32, cqe, out),
                Some(Op::Wake) => self.on_wake(payload as usize, cqe, out),
                Some(Op::AcceptRetry) => self.on_accept_retry(payload as usize),
                Some(Op::WakeTimer) => self.on_wake_timer(payload as u32),
                Some(Op::Ignore | Op::Probe) => {}
                None => debug_assert!(false, "unknown user_data {:#x}", cqe.user_data),
            }
        }
        self.cqes.clear();
    }

    /// Gives the socket's fd up for an io_uring close; the slot is freed.
    fn take_fd(&mut self, token: Token) -> Option<RawFd> {
        let slot = self.slot_mut(token)?;
        let fd = slot.fd.take().map(IntoRawFd::into_raw_fd);
        *slot = Slot::FREE;
        fd
    }
}

impl Drop for UringBackend {
    /// Cancels every op and waits for the recvs and sends to end before the
    /// memory they use (buffers, msghdrs) is freed. If they do not end
    /// after a bounded wait, that memory is leaked rather than freed under
    /// the kernel.
    fn drop(&mut self) {
        self.cancel_all();
        let mut out = Vec::new();
        for _ in 0..100 {
            if self.in_flight == 0 {
                break;
            }
            if self.enter(Some(Duration::from_millis(10))).is_err() {
                break;
            }
            self.reap();
            self.dispatch(&mut out);
            // Returned batches and buffers are dropped with `out`; buffers
            // need no release: the ring goes away.
            out.clear();
        }
        if self.in_flight == 0 {
            // SAFETY: no recv or send is in flight, so the kernel no longer
            // uses the buffers or send slots; they are dropped once.
            unsafe {
                ManuallyDrop::drop(&mut self.bufs);
                ManuallyDrop::drop(&mut self.sends);
            }
        }
    }
}
