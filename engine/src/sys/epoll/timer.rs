//! The reactor's sleep deadline as a timerfd in the epoll set.
//!
//! `epoll_wait` with a timeout arms a kernel timer on every sleep and
//! cancels it on every wake-up. The reactor's deadline (the next sweep)
//! moves only every 250 ms, so a timerfd set once per deadline serves
//! every sleep until it, and the wait itself carries no timer (the same
//! reasoning as the io_uring backend's `timer`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::sys::deadline_to_arm;

/// A timerfd and the deadline it is set to.
pub(super) struct WakeTimer {
    fd: OwnedFd,
    /// CLOCK_MONOTONIC ns it fires at, if set and not yet seen firing.
    armed_ns: Option<u64>,
}

impl WakeTimer {
    pub(super) fn new() -> io::Result<WakeTimer> {
        let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: plain syscall with constant arguments.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakeTimer { fd, armed_ns: None })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes sure the timer fires no later than `after` from now. A timer
    /// due earlier is kept: it only costs the reactor one more wait.
    pub(super) fn arm(&mut self, after: Duration) -> io::Result<()> {
        let Some(deadline) = deadline_to_arm(self.armed_ns, after) else {
            return Ok(());
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (deadline / 1_000_000_000) as libc::time_t,
                tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked
        // for. Setting the timer also clears an expiry not yet read, so
        // the next one is a fresh edge for the edge-triggered epoll set.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed_ns = Some(deadline);
        Ok(())
    }

    /// The timer fired.
    pub(super) fn fired(&mut self) {
        self.armed_ns = None;
    }
}
