//! Ring creation and the feature probe: everything that decides, at
//! start-up, whether io_uring can be used here. Any refusal becomes an
//! `io::Error`, so the caller falls back to epoll.
//!
//! What the backend needs, and the oldest kernel that has it:
//! - `FEAT_NODROP` (5.5): completions are never lost when the CQ is full,
//!   which multishot ops make possible.
//! - `FEAT_EXT_ARG` (5.11): `poll` waits with a timeout without a timeout op.
//! - opcodes ACCEPT, RECV, SENDMSG, ASYNC_CANCEL, CLOSE, SHUTDOWN, POLL_ADD.
//! - provided-buffer rings (5.19), checked by registering ours.
//! - multishot recv (6.0), checked by running one on a socket pair: older
//!   kernels reject the flag with EINVAL, which no feature bit reveals.
//!
//! Multishot accept (5.19) and `SKIP_SUCCESS` (5.17) come with those.
//! Because 6.0 is required anyway, `EXT_ARG` is too, and `poll` has no
//! timeout-op fallback.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use io_uring::{cqueue, opcode, types, IoUring, Probe};

use super::buf_ring::{ProvidedBufRing, BUF_GROUP};

/// Creates a ring with the cheapest task-running mode the kernel accepts.
///
/// `SINGLE_ISSUER | DEFER_TASKRUN` (6.1) runs completion work only when
/// this thread asks for events, so it is never interrupted for it;
/// `COOP_TASKRUN` (5.19) at least avoids interrupting it with IPIs. Each
/// tier that the kernel rejects as unknown (EINVAL) falls to the next; any
/// other error (EPERM from a seccomp filter, ENOSYS, io_uring_disabled)
/// means io_uring is refused and is returned.
pub(super) fn build_ring(entries: u32) -> io::Result<IoUring> {
    let tiers: [fn(&mut io_uring::Builder); 3] = [
        |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        },
        |b| {
            b.setup_coop_taskrun().setup_taskrun_flag();
        },
        |_| {},
    ];
    let mut last = None;
    for tier in tiers {
        let mut builder = IoUring::builder();
        // CLAMP: a too-large `ring_entries` shrinks to the kernel's limit
        // instead of failing. SUBMIT_ALL: one bad SQE does not hold back
        // the ones queued after it.
        builder.setup_clamp().setup_submit_all();
        tier(&mut builder);
        match builder.build(entries) {
            Ok(ring) => return Ok(ring),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(refused("io_uring_setup", e)),
        }
    }
    Err(refused("io_uring_setup", last.expect("three tiers tried")))
}

/// Checks the features and opcodes listed in the module docs.
pub(super) fn probe(ring: &IoUring) -> io::Result<()> {
    let params = ring.params();
    if !params.is_feature_nodrop() {
        return Err(unsupported("IORING_FEAT_NODROP (Linux 5.5)"));
    }
    if !params.is_feature_ext_arg() {
        return Err(unsupported("IORING_FEAT_EXT_ARG (Linux 5.11)"));
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| refused("IORING_REGISTER_PROBE", e))?;
    let needed = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::Close::CODE, "CLOSE"),
        (opcode::Shutdown::CODE, "SHUTDOWN"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(unsupported(name));
        }
    }
    Ok(())
}

/// Runs one multishot recv on a socket pair: one byte, then EOF. Needs the
/// buffer ring registered and all of its buffers available; leaves it so.
/// The ring must be otherwise idle (no other op may complete meanwhile).
/// `live` is left true if the recv may still be in flight (only when the
/// ring itself fails).
pub(super) fn probe_multishot_recv(
    ring: &mut IoUring,
    bufs: &mut ProvidedBufRing,
    live: &mut bool,
) -> io::Result<()> {
    let (ours, mut theirs) = UnixStream::pair()?;
    // Queue the byte and the EOF first, so the recv finds both at once.
    theirs.write_all(&[1])?;
    drop(theirs);
    let recv = opcode::RecvMulti::new(types::Fd(ours.as_raw_fd()), BUF_GROUP)
        .build()
        .user_data(0);
    // SAFETY: the recv writes only into the registered buffer ring, which
    // `bufs` keeps alive beyond this function; `ours` stays open until the
    // final CQE is reaped below.
    unsafe { ring.submission().push(&recv) }
        .map_err(|_| io::Error::other("submission queue full at start-up"))?;
    *live = true;
    let (mut bytes, mut ended) = (None, None);
    while ended.is_none() {
        ring.submit_and_wait(1)
            .map_err(|e| refused("io_uring_enter", e))?;
        for cqe in ring.completion() {
            if let Some(id) = cqueue::buffer_select(cqe.flags()) {
                bufs.lend(id);
                bufs.recycle(id);
            }
            if cqueue::more(cqe.flags()) {
                bytes = Some(cqe.result());
            } else {
                ended = Some(cqe.result());
            }
        }
    }
    *live = false;
    match (bytes, ended) {
        (Some(1), Some(0)) => Ok(()),
        (_, Some(e)) if e < 0 => Err(unsupported_os("multishot recv (Linux 6.0)", -e)),
        other => Err(io::Error::other(format!(
            "multishot recv probe: unexpected completions {other:?}"
        ))),
    }
}

fn refused(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("io_uring refused: {what}: {e}"))
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("io_uring lacks {what}"))
}

fn unsupported_os(what: &str, errno: i32) -> io::Error {
    let os = io::Error::from_raw_os_error(errno);
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("io_uring lacks {what}: {os}"),
    )
}

#[cfg(test)]
mod tests {
    use std::io;

    use crate::sys::uring::UringBackend;
    use crate::sys::{Backend, BackendConfig};

    /// Installs, on the calling thread only, a seccomp filter that fails
    /// `io_uring_setup` with EPERM, as Docker's default profile does.
    fn deny_io_uring_setup() {
        let stmt = |code: u32, k: u32| libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let filter = [
            // Load the syscall number (offset 0 of `seccomp_data`).
            stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
            // If io_uring_setup, fall through to EPERM; else skip to allow.
            libc::sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                jt: 0,
                jf: 1,
                k: libc::SYS_io_uring_setup as u32,
            },
            stmt(
                libc::BPF_RET | libc::BPF_K,
                libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            ),
            stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        ];
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: prctl with integer arguments; no memory involved.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        // SAFETY: `prog` points at `filter`, both alive for the call; the
        // kernel copies the program.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    }

    #[test]
    fn refused_io_uring_is_an_error_not_a_panic() {
        // A thread of its own: the filter stays with the thread.
        std::thread::spawn(|| {
            deny_io_uring_setup();
            let error = match UringBackend::new(&BackendConfig::default()) {
                Ok(_) => panic!("io_uring_setup was denied, yet the backend started"),
                Err(e) => e,
            };
            assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
            assert!(error.to_string().contains("io_uring refused"), "{error}");
        })
        .join()
        .unwrap();
    }
}
