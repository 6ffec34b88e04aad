//! [`Waker`]: an eventfd that lets another thread end a backend's `poll`.
//!
//! The eventfd is shared through an `Arc`, so clones handed to other cores
//! keep it open as long as any of them lives. This module owns only the
//! eventfd; each backend decides how to watch it (epoll registration or an
//! io_uring read) and reports [`Completion::Woken`](super::Completion::Woken).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Arc;

/// Wakes a reactor sleeping in [`Backend::poll`](super::Backend::poll).
///
/// Cheap to clone; `Send + Sync`. Wakes coalesce: many `wake`s before the
/// backend notices produce one `Woken`.
#[derive(Clone, Debug)]
pub struct Waker {
    /// The eventfd, as a `File` so that reads, writes and close are safe.
    fd: Arc<File>,
}

impl Waker {
    /// Creates a non-blocking, close-on-exec eventfd with a zero counter.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; it returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd, is open, and nothing
        // else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        Ok(Waker { fd: Arc::new(file) })
    }

    /// Wakes the watching backend. Never blocks.
    pub fn wake(&self) {
        // EAGAIN means the counter is at its maximum: a wake-up is already
        // pending, which is all a wake promises. Other errors cannot happen
        // for an eventfd we own, so they are ignored too.
        let _ = (&*self.fd).write(&1u64.to_ne_bytes());
    }

    /// Resets the counter, so that the next `wake` is seen as new.
    pub fn drain(&self) {
        // A read returns the counter and zeroes it; EAGAIN means it was
        // already zero.
        let mut counter = [0u8; 8];
        let _ = (&*self.fd).read(&mut counter);
    }

    /// The eventfd, for a backend to watch. Valid while this waker lives.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(w: &Waker) -> Option<u64> {
        let mut c = [0u8; 8];
        (&*w.fd).read(&mut c).ok().map(|_| u64::from_ne_bytes(c))
    }

    #[test]
    fn wake_then_drain_resets() {
        let w = Waker::new().unwrap();
        assert_eq!(counter(&w), None, "a new waker is not woken");
        w.wake();
        w.clone().wake();
        assert_eq!(counter(&w), Some(2));
        w.wake();
        w.drain();
        assert_eq!(counter(&w), None, "drain resets the counter");
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Waker>();
    }
}
