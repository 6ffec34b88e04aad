//! [`Listeners`]: the listening sockets, each with a multishot accept
//! re-armed whenever the kernel ends it.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

use io_uring::{cqueue, opcode, types};

use super::ring::{Cqe, Ring};
use super::user_data::{user_data, Op};
use crate::sys::Completion;

/// How long a listener rests after accepting failed (EMFILE, ENFILE,
/// ENOMEM). The multishot ends on an error; re-arming at once would fail
/// again at once and spin a core while the process is out of fds.
static ACCEPT_BACKOFF: types::Timespec = types::Timespec::new().nsec(10_000_000);

/// The listeners by index (the accept's payload); `None` once closed.
#[derive(Default)]
pub(super) struct Listeners {
    listeners: Vec<Option<TcpListener>>,
}

impl Listeners {
    pub(super) fn add(&mut self, ring: &mut Ring, listener: TcpListener) -> usize {
        let index = self.listeners.len();
        self.listeners.push(Some(listener));
        self.arm(ring, index);
        index
    }

    fn arm(&self, ring: &mut Ring, index: usize) {
        let Some(Some(listener)) = self.listeners.get(index) else {
            return;
        };
        // The kernel sets the flags on each accepted socket, sparing an
        // fcntl per connection.
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(Op::Accept, index as u64));
        // SAFETY: no peer address is asked for, so the op uses no memory
        // of ours.
        unsafe { ring.push(entry) };
    }

    pub(super) fn on_accept(
        &self,
        ring: &mut Ring,
        index: usize,
        cqe: Cqe,
        out: &mut Vec<Completion>,
    ) {
        if cqe.result >= 0 {
            // SAFETY: the kernel just installed this fd for us: it is an
            // open, connected TCP socket that nothing else owns.
            let stream = unsafe { TcpStream::from_raw_fd(cqe.result) };
            out.push(match stream.set_nodelay(true) {
                Ok(()) => Completion::Accepted {
                    listener: index,
                    stream,
                },
                Err(error) => Completion::AcceptFailed {
                    listener: index,
                    error,
                },
            });
        } else if cqe.result != -libc::ECANCELED {
            out.push(Completion::AcceptFailed {
                listener: index,
                error: io::Error::from_raw_os_error(-cqe.result),
            });
        }
        if cqueue::more(cqe.flags) || !matches!(self.listeners.get(index), Some(Some(_))) {
            return;
        }
        if cqe.result >= 0 || cqe.result == -libc::ECANCELED {
            // Ended without a failure (CQ overflow, or a cancel of ours
            // while the listener stays open): accept again at once.
            self.arm(ring, index);
        } else {
            let entry = opcode::Timeout::new(&ACCEPT_BACKOFF)
                .build()
                .user_data(user_data(Op::AcceptRetry, index as u64));
            // SAFETY: the timespec is a static, valid for the whole program.
            unsafe { ring.push(entry) };
        }
    }

    /// The backoff after a failed accept is over.
    pub(super) fn on_accept_retry(&self, ring: &mut Ring, index: usize) {
        self.arm(ring, index);
    }

    /// Stops accepting: each listener's fd is closed through the ring.
    pub(super) fn close_all(&mut self, ring: &mut Ring) {
        for (index, listener) in self.listeners.iter_mut().enumerate() {
            if let Some(listener) = listener.take() {
                // The accept holds the socket open: cancel it (and any
                // backoff timer), then close the fd behind them.
                ring.push_cancel(user_data(Op::Accept, index as u64));
                ring.push_cancel(user_data(Op::AcceptRetry, index as u64));
                ring.push_close(listener.into_raw_fd());
            }
        }
    }
}
