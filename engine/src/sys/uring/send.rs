//! Sends: one `SENDMSG` per connection in flight, its msghdr and iovecs in
//! a pooled slot that the kernel may read until the CQE arrives.
//!
//! A send is first tried at once with a non-blocking `sendmsg`: when the
//! socket has room (nearly always) that is the whole cost, and `Sent` may
//! report a short count if it had room for only part. Otherwise it goes
//! through the ring, where `MSG_WAITALL` makes the kernel finish the whole
//! batch (waiting for socket space as needed); there a batch of more than
//! `IOV_MAX` buffers is sent in part and reported short, and a failure
//! after some bytes reports those bytes.

use std::io;

use io_uring::{opcode, types};

use super::ring::Cqe;
use super::user_data::{user_data, Op};
use super::UringBackend;
use crate::sys::{Completion, SendBatch, Token};

impl UringBackend {
    pub(super) fn send_inner(&mut self, token: Token, batch: SendBatch) {
        let Some(slot) = self.slots.get(token) else {
            let result = Err(io::ErrorKind::NotConnected.into());
            self.done.push(sent(token, result, batch));
            return;
        };
        if batch.is_empty() {
            self.done.push(sent(token, Ok(0), batch));
            return;
        }
        let fd = slot.raw_fd();
        // Most sends find room in the socket: write them now, without a
        // ring round trip (and without a completion that would end the
        // next wait early). Only a full socket goes through the ring,
        // which waits for room.
        match send_now(fd, &batch) {
            Ok(0) => {}
            Ok(n) => return self.done.push(sent(token, Ok(n), batch)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return self.done.push(sent(token, Err(e), batch)),
        }
        let (id, msg) = self.sends.fill(token, batch);
        let entry = opcode::SendMsg::new(types::Fd(fd), msg)
            .flags((libc::MSG_NOSIGNAL | libc::MSG_WAITALL) as u32)
            .build()
            .user_data(user_data(Op::Send, u64::from(id)));
        // SAFETY: the msghdr and iovecs live in a boxed slot that is not
        // reused before this op's CQE (`finish` runs on it), and the bytes
        // they point at are owned by the slot's batch; `Drop` keeps the
        // pool alive until every send's CQE.
        unsafe { self.ring.push(entry) };
        self.in_flight += 1;
    }

    pub(super) fn on_send(&mut self, id: u32, cqe: Cqe, out: &mut Vec<Completion>) {
        self.in_flight -= 1;
        let (token, batch) = self.sends.finish(id);
        let result = if cqe.result >= 0 {
            Ok(cqe.result as usize)
        } else {
            Err(io::Error::from_raw_os_error(-cqe.result))
        };
        out.push(sent(token, result, batch));
    }
}

/// Iovecs per immediate send; the reactor's batches are at most 64
/// buffers, larger ones are written in part (a short `Sent`).
const IOVECS_NOW: usize = 64;

/// One non-blocking `sendmsg` of as much of `batch` as fits; `Ok(0)` or
/// `WouldBlock` when the socket is full. One iovec per buffer: copying
/// many small buffers into one first saved the kernel its iovec
/// allocation but cost more at max than it saved
/// (`bench-results/regression-2026-12-08.md`).
fn send_now(fd: std::os::fd::RawFd, batch: &SendBatch) -> io::Result<usize> {
    let mut slices = [io::IoSlice::new(&[]); IOVECS_NOW];
    let mut count = 0;
    for buf in batch.bufs.iter().filter(|b| !b.is_empty()).take(IOVECS_NOW) {
        slices[count] = io::IoSlice::new(buf);
        count += 1;
    }
    // SAFETY: msghdr is plain data; all zeroes is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = slices.as_mut_ptr().cast();
    msg.msg_iovlen = count;
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `msg` points at `count` iovecs on our stack, each naming
    // bytes owned by `batch`, all alive for the duration of the call; the
    // kernel only reads them. `fd` is an open socket owned by the slot.
    let n = unsafe { libc::sendmsg(fd, &msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn sent(token: Token, result: io::Result<usize>, batch: SendBatch) -> Completion {
    Completion::Sent {
        token,
        result,
        batch,
    }
}
