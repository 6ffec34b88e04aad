//! Vectored writes for the epoll backend, and the sends that wait for the
//! socket to become writable.
//!
//! `Sent` semantics here: a send that cannot finish at once is kept and
//! continued on each writable edge, so `Sent` reports the whole batch
//! (`Ok(batch.len())`) unless the socket fails, in which case it reports
//! the error and nothing about how much was written before it.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;

use crate::sys::{SendBatch, Token};

/// Slices per `writev`. The reactor's batches are at most 64 buffers;
/// larger batches take more than one call. 64 × 16 bytes of stack.
const IOVECS_PER_WRITE: usize = 64;

/// How far a write got.
pub(super) enum WriteOutcome {
    /// Every byte of the batch is written; the batch's length.
    Done(usize),
    /// The socket is full; bytes written so far (from the front).
    Blocked(usize),
    /// The socket failed.
    Failed(io::Error),
}

/// Writes `batch` from byte `written` on until it is done or the socket
/// is full.
pub(super) fn write_batch(
    stream: &TcpStream,
    batch: &SendBatch,
    mut written: usize,
) -> WriteOutcome {
    let total = batch.len();
    while written < total {
        let mut slices = [IoSlice::new(&[]); IOVECS_PER_WRITE];
        let count = fill_slices(&mut slices, batch, written);
        match (&*stream).write_vectored(&slices[..count]) {
            Ok(0) => return WriteOutcome::Failed(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return WriteOutcome::Blocked(written)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return WriteOutcome::Failed(e),
        }
    }
    WriteOutcome::Done(total)
}

/// Points `slices` at the batch's bytes after the first `skip`; returns how
/// many slices were filled.
fn fill_slices<'a>(slices: &mut [IoSlice<'a>], batch: &'a SendBatch, mut skip: usize) -> usize {
    let mut count = 0;
    for buf in &batch.bufs {
        if skip >= buf.len() {
            skip -= buf.len();
            continue;
        }
        if count == slices.len() {
            break;
        }
        slices[count] = IoSlice::new(&buf[skip..]);
        skip = 0;
        count += 1;
    }
    count
}

/// Sends waiting for writability: a slab whose entries (and their batches'
/// allocations) are reused, sized by the busiest moment so far.
#[derive(Default)]
pub(super) struct PendingSends {
    entries: Vec<Pending>,
    free: Vec<u32>,
}

struct Pending {
    token: Token,
    batch: SendBatch,
    written: usize,
}

impl PendingSends {
    /// Stores a send; returns its id.
    pub(super) fn insert(&mut self, token: Token, batch: SendBatch, written: usize) -> u32 {
        let entry = Pending {
            token,
            batch,
            written,
        };
        match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        }
    }

    /// The batch and bytes written so far.
    pub(super) fn get(&self, id: u32) -> (&SendBatch, usize) {
        let e = &self.entries[id as usize];
        (&e.batch, e.written)
    }

    pub(super) fn set_written(&mut self, id: u32, written: usize) {
        self.entries[id as usize].written = written;
    }

    /// Takes the send out; returns its batch and the owning token.
    pub(super) fn remove(&mut self, id: u32) -> (SendBatch, Token) {
        let e = &mut self.entries[id as usize];
        debug_assert!(!self.free.contains(&id), "send {id} removed twice");
        self.free.push(id);
        (std::mem::take(&mut e.batch), e.token)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn slices_skip_written_bytes() {
        let batch = SendBatch {
            bufs: vec![Bytes::from_static(b"abc"), Bytes::from_static(b"defg")],
        };
        let mut slices = [IoSlice::new(&[]); 4];
        let n = fill_slices(&mut slices, &batch, 4);
        assert_eq!(n, 1);
        assert_eq!(&*slices[0], b"efg");
        assert_eq!(fill_slices(&mut slices, &batch, 0), 2);
        assert_eq!(fill_slices(&mut slices, &batch, 7), 0);
    }
}
