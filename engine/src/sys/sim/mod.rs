//! The simulated backend: the [`Backend`] contract over in-memory
//! connections ([`net`]), for running the whole multi-core engine on one
//! thread, in simulated time, reproducibly from a seed.
//!
//! It keeps the contract's promises the way the kernel backends do,
//! including the ones that are easy to get wrong: receives arrive in
//! pieces of any size, a send may write only part of its batch (the
//! reactor requeues the rest), a send to a client that stops reading
//! waits for room, completions may come a poll late, and a closed token's
//! last send still completes (stale). `poll` never blocks: it reports what
//! is ready and leaves the waiting to the simulator, which moves the clock
//! when no core has anything to do.

pub mod net;

use std::io;
use std::time::Duration;

use slab::Slab;

use super::{Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token, Waker};
use net::SimNet;

pub use net::{ClientId, Faults, Rng};

/// A simulated listening socket: the port it listens on.
#[derive(Debug)]
pub struct SimListener(pub u16);

/// A simulated accepted connection.
#[derive(Debug)]
pub struct SimStream(usize);

/// What the backend knows of a registered connection.
#[derive(Debug)]
struct Conn {
    token: Token,
    pipe: usize,
    paused: bool,
    /// The batch being written, if any.
    send: Option<SendBatch>,
}

/// Receives handed out per connection per poll, so that one busy client
/// cannot fill a poll (the kernel backends bound theirs too).
const RECVS_PER_POLL: usize = 4;

/// One core's simulated backend.
pub struct SimBackend {
    net: SimNet,
    core: usize,
    recv_buf_len: usize,
    recv_bufs_max: usize,
    bufs: Slab<Vec<u8>>,
    listeners: Vec<Option<SimListener>>,
    conns: Vec<Conn>,
    /// Completions held back a poll (late sends).
    late: Vec<Completion<SimStream>>,
}

impl SimBackend {
    /// The backend of `core` on `net`.
    pub fn on(net: SimNet, core: usize, config: &BackendConfig) -> SimBackend {
        SimBackend {
            net,
            core,
            recv_buf_len: config.recv_buf_len as usize,
            recv_bufs_max: usize::from(config.recv_buf_count),
            bufs: Slab::new(),
            listeners: Vec::new(),
            conns: Vec::new(),
            late: Vec::new(),
        }
    }

    fn conn_index(&self, token: Token) -> Option<usize> {
        self.conns.iter().position(|c| c.token == token)
    }

    fn accept(&mut self, out: &mut Vec<Completion<SimStream>>) {
        let mut s = self.net.state();
        while let Some(pipe) = s.backlog[self.core].pop_front() {
            let listener = s.pipes[pipe].listener;
            out.push(Completion::Accepted {
                listener,
                stream: SimStream(pipe),
            });
        }
    }

    fn receive(&mut self, out: &mut Vec<Completion<SimStream>>) {
        let mut s = self.net.state();
        for conn in &self.conns {
            if conn.paused {
                continue;
            }
            let pipe = conn.pipe;
            for _ in 0..RECVS_PER_POLL {
                let ready = s.pipes[pipe].to_server.len();
                if ready == 0 || self.bufs.len() >= self.recv_bufs_max {
                    break;
                }
                let mut n = ready.min(self.recv_buf_len);
                let short = s.faults.short_read;
                if s.rng.chance(short) {
                    n = 1 + s.rng.below(n as u64) as usize;
                }
                let bytes: Vec<u8> = s.pipes[pipe].to_server.drain(..n).collect();
                let id = self.bufs.insert(bytes);
                out.push(Completion::Recv {
                    token: conn.token,
                    buf: RecvBuf {
                        id: id as u16,
                        len: n as u32,
                    },
                });
            }
            let p = &mut s.pipes[pipe];
            if p.to_server.is_empty() && p.client_closed && !p.eof_reported {
                p.eof_reported = true;
                let error = p.reset.then(|| io::ErrorKind::ConnectionReset.into());
                out.push(Completion::RecvClosed {
                    token: conn.token,
                    error,
                });
            }
        }
    }

    fn write(&mut self, out: &mut Vec<Completion<SimStream>>) {
        let mut s = self.net.state();
        for conn in &mut self.conns {
            let Some(batch) = conn.send.as_ref() else {
                continue;
            };
            let p = &s.pipes[conn.pipe];
            let result = if p.reset {
                Err(io::ErrorKind::BrokenPipe.into())
            } else {
                let room = p.to_client_cap.saturating_sub(p.to_client.len());
                let mut n = room.min(batch.len());
                if n == 0 {
                    continue;
                }
                let short = s.faults.short_write;
                if s.rng.chance(short) {
                    n = 1 + s.rng.below(n as u64) as usize;
                }
                let mut left = n;
                let p = &mut s.pipes[conn.pipe];
                for b in &batch.bufs {
                    let take = left.min(b.len());
                    p.to_client.extend(&b[..take]);
                    left -= take;
                }
                Ok(n)
            };
            let batch = conn.send.take().expect("checked above");
            let done = Completion::Sent {
                token: conn.token,
                result,
                batch,
            };
            let late = s.faults.late_send;
            match s.rng.chance(late) {
                true => self.late.push(done),
                false => out.push(done),
            }
        }
    }
}

impl Backend for SimBackend {
    const NAME: &'static str = "sim";
    type Listener = SimListener;
    type Stream = SimStream;

    /// A backend on a network of its own (one core); the simulator uses
    /// [`SimBackend::on`] to share one network between cores.
    fn new(config: &BackendConfig) -> io::Result<Self> {
        config.validate()?;
        Ok(SimBackend::on(
            SimNet::new(1, 0, Faults::default()),
            0,
            config,
        ))
    }

    fn add_listener(&mut self, listener: SimListener) -> io::Result<usize> {
        let index = self.listeners.len();
        self.net.listen(listener.0, self.core, index);
        self.listeners.push(Some(listener));
        Ok(index)
    }

    fn close_listeners(&mut self) {
        self.net.unlisten(self.core);
        self.listeners.clear();
    }

    fn bound_unsent(&self, _stream: &SimStream, _bytes: u32) -> io::Result<()> {
        // A simulated socket holds what its window allows (`set_window`).
        Ok(())
    }

    fn register(&mut self, token: Token, stream: SimStream) -> io::Result<()> {
        debug_assert!(self.conn_index(token).is_none(), "token registered twice");
        // A detached connection may come from another core.
        self.net.state().pipes[stream.0].core = self.core;
        self.conns.push(Conn {
            token,
            pipe: stream.0,
            paused: false,
            send: None,
        });
        Ok(())
    }

    fn pause_recv(&mut self, token: Token) {
        if let Some(i) = self.conn_index(token) {
            self.conns[i].paused = true;
        }
    }

    fn resume_recv(&mut self, token: Token) {
        if let Some(i) = self.conn_index(token) {
            self.conns[i].paused = false;
        }
    }

    fn send(&mut self, token: Token, batch: SendBatch) {
        match self.conn_index(token) {
            Some(i) => {
                debug_assert!(self.conns[i].send.is_none(), "two sends in flight");
                self.conns[i].send = Some(batch);
            }
            // Closed first: the batch still comes back, as a failure.
            None => self.late.push(Completion::Sent {
                token,
                result: Err(io::ErrorKind::NotConnected.into()),
                batch,
            }),
        }
    }

    fn detach(&mut self, token: Token) {
        let Some(i) = self.conn_index(token) else {
            return;
        };
        let conn = self.conns.swap_remove(i);
        debug_assert!(conn.send.is_none(), "detach with a send in flight");
        self.late.push(Completion::Detached {
            token,
            stream: SimStream(conn.pipe),
        });
    }

    fn shutdown_write(&mut self, token: Token) {
        // The client reads EOF once it has read what was sent; reading
        // from it goes on.
        if let Some(i) = self.conn_index(token) {
            let pipe = self.conns[i].pipe;
            self.net.state().pipes[pipe].server_write_shut = true;
        }
    }

    fn close(&mut self, token: Token) {
        let Some(i) = self.conn_index(token) else {
            return;
        };
        let conn = self.conns.swap_remove(i);
        self.net.state().pipes[conn.pipe].server_closed = true;
        if let Some(batch) = conn.send {
            self.late.push(Completion::Sent {
                token,
                result: Err(io::ErrorKind::NotConnected.into()),
                batch,
            });
        }
    }

    fn watch_waker(&mut self, _waker: &Waker) -> io::Result<()> {
        // The simulator turns every core in turn: nobody sleeps, so nobody
        // needs waking.
        Ok(())
    }

    fn poll(
        &mut self,
        _timeout: Option<Duration>,
        out: &mut Vec<Completion<SimStream>>,
    ) -> io::Result<()> {
        let start = out.len();
        out.append(&mut self.late);
        let late_wake = {
            let mut s = self.net.state();
            let p = s.faults.late_wake;
            s.rng.chance(p)
        };
        if !late_wake {
            self.accept(out);
            self.receive(out);
            self.write(out);
        }
        self.net.state().activity += (out.len() - start) as u64;
        Ok(())
    }

    fn buf(&self, buf: &RecvBuf) -> &[u8] {
        &self.bufs[usize::from(buf.id)][..buf.len()]
    }

    fn release(&mut self, buf: RecvBuf) {
        self.bufs.remove(usize::from(buf.id));
    }

    fn now_ns(&self) -> u64 {
        self.net.now_ns()
    }
}
