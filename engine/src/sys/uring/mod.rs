//! [`UringBackend`]: one io_uring per reactor thread.
//!
//! Multishot accept per listener (`accept`), multishot recv into a
//! provided-buffer ring (`recv`, `buf_ring`), one `SENDMSG` in flight
//! per connection from a pool of send slots (`send`, `send_slots`),
//! shutdown and close through the ring (`close`), wakers watched by
//! multishot poll (`wake`), the reactor's deadline as a timeout op
//! (`timer`). The ring itself (submitting, waiting, reaping) is `ring`,
//! the connection table `slots`, the `user_data` encoding `user_data`.
//! This file puts them together: it implements [`Backend`] and turns
//! CQEs into [`Completion`]s.
//!
//! Created and used on one thread (the ring may be set up single-issuer);
//! nothing here requires `Send`.

mod accept;
mod buf_ring;
mod close;
mod recv;
mod ring;
mod send;
mod send_slots;
mod setup;
mod slots;
mod timer;
mod user_data;
mod wake;

use std::io;
use std::mem::ManuallyDrop;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

use self::accept::Listeners;
use self::buf_ring::ProvidedBufRing;
use self::ring::Ring;
use self::send_slots::SendSlots;
use self::slots::Slots;
use self::user_data::{op_of, Op, PAYLOAD_MASK};
use self::wake::Wakers;
use super::{Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token, Waker};

/// The io_uring backend; see the module docs.
pub struct UringBackend {
    ring: Ring,
    /// Receive buffers. `ManuallyDrop`: freed only once no recv can write
    /// into them (see `Drop`).
    bufs: ManuallyDrop<ProvidedBufRing>,
    slots: Slots,
    listeners: Listeners,
    /// In-flight sends. `ManuallyDrop` for the same reason as `bufs`.
    sends: ManuallyDrop<SendSlots>,
    wakers: Wakers,
    /// Completions produced outside `poll`, handed out by the next one.
    done: Vec<Completion>,
    /// Recvs and sends (the ops that use our memory) whose final CQE has
    /// not been reaped.
    in_flight: usize,
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
        Ok(UringBackend {
            ring: Ring::new(ring),
            bufs: ManuallyDrop::new(bufs),
            slots: Slots::default(),
            listeners: Listeners::default(),
            sends: ManuallyDrop::new(SendSlots::default()),
            wakers: Wakers::default(),
            done: Vec::new(),
            in_flight: 0,
        })
    }

    fn add_listener(&mut self, listener: TcpListener) -> io::Result<usize> {
        Ok(self.listeners.add(&mut self.ring, listener))
    }

    fn close_listeners(&mut self) {
        self.listeners.close_all(&mut self.ring);
    }

    fn bound_unsent(&self, stream: &TcpStream, bytes: u32) -> io::Result<()> {
        super::bound_unsent(stream, bytes)
    }

    fn register(&mut self, token: Token, stream: TcpStream) -> io::Result<()> {
        // No fcntl: io_uring's socket ops ignore O_NONBLOCK, and the only
        // synchronous call made on the fd (shutdown) never blocks.
        self.slots.insert(token, OwnedFd::from(stream));
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
        close::shutdown_write(&self.slots, token);
    }

    fn close(&mut self, token: Token) {
        close::close(&mut self.slots, &mut self.ring, token);
    }

    fn watch_waker(&mut self, waker: &Waker) -> io::Result<()> {
        self.wakers.watch(&mut self.ring, waker);
        Ok(())
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        if let Some(e) = self.ring.take_fatal() {
            return Err(e);
        }
        out.append(&mut self.done);
        self.rearm_starved();
        let ready = !out.is_empty();
        let busy = ready || self.ring.has_completions();
        // Completions already in hand with nothing to submit: skip the
        // syscall; the next poll enters the ring.
        if !ready || self.ring.has_submissions() {
            self.ring
                .enter(if busy { Some(Duration::ZERO) } else { timeout })?;
        }
        self.ring.reap();
        self.wakers.new_poll();
        self.dispatch(out);
        match self.ring.take_fatal() {
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

    /// Turns reaped CQEs into completions. Handlers may reap more (when
    /// the SQ is full); those are handled in the same loop.
    fn dispatch(&mut self, out: &mut Vec<Completion>) {
        while let Some(cqe) = self.ring.next_cqe() {
            let payload = cqe.user_data & PAYLOAD_MASK;
            let ring = &mut self.ring;
            match op_of(cqe.user_data) {
                Some(Op::Accept) => self.listeners.on_accept(ring, payload as usize, cqe, out),
                Some(Op::Recv) => self.on_recv(payload, cqe, out),
                Some(Op::Send) => self.on_send(payload as u32, cqe, out),
                Some(Op::Wake) => self.wakers.on_wake(ring, payload as usize, cqe, out),
                Some(Op::AcceptRetry) => self.listeners.on_accept_retry(ring, payload as usize),
                Some(Op::WakeTimer) => ring.on_wake_timer(payload as u32),
                Some(Op::Ignore | Op::Probe) => {}
                None => debug_assert!(false, "unknown user_data {:#x}", cqe.user_data),
            }
        }
    }
}

impl Drop for UringBackend {
    /// Cancels every op and waits for the recvs and sends to end before the
    /// memory they use (buffers, msghdrs) is freed. If they do not end
    /// after a bounded wait, that memory is leaked rather than freed under
    /// the kernel.
    fn drop(&mut self) {
        // Stop everything: nothing re-arms, every op in the ring is
        // cancelled.
        self.slots.stop_recv();
        self.listeners.close_all(&mut self.ring);
        self.wakers.clear();
        self.ring.push_cancel_all();
        let mut out = Vec::new();
        for _ in 0..100 {
            if self.in_flight == 0 {
                break;
            }
            if self.ring.enter(Some(Duration::from_millis(10))).is_err() {
                break;
            }
            self.ring.reap();
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
