//! The memory of in-flight sends: each `SENDMSG`'s msghdr and iovecs in a
//! pooled slot that the kernel may read until its CQE arrives (the ops
//! themselves are in `send.rs`).

use crate::sys::{SendBatch, Token};

/// The kernel's limit on iovecs per sendmsg (UIO_MAXIOV).
const IOV_MAX: usize = 1024;

/// An in-flight send's memory. Boxed so the msghdr's address stays put
/// while the pool's `Vec` grows.
struct SendSlot {
    token: Token,
    batch: SendBatch,
    /// Points into `batch`; its allocation is reused from send to send.
    iovecs: Vec<libc::iovec>,
    /// Points at `iovecs`.
    msg: libc::msghdr,
}

/// Pool of send slots, as many as the most sends ever in flight at once
/// (so sized by busy connections, not by all connections).
#[derive(Default)]
pub(super) struct SendSlots {
    /// `None`: freed after a burst (see [`SLOTS_RETAINED`]); the id stays
    /// valid and the slot is made again when next needed.
    slots: Vec<Option<Box<SendSlot>>>,
    free: Vec<u32>,
}

/// Free slots kept allocated for reuse. A burst (ten thousand WELCOMEs in
/// one tick) would otherwise leave its peak number of slots resident for
/// good; past this many free ones, a finished slot's memory is released.
const SLOTS_RETAINED: usize = 256;

fn new_slot() -> Box<SendSlot> {
    Box::new(SendSlot {
        token: 0,
        batch: SendBatch::default(),
        iovecs: Vec::new(),
        // SAFETY: msghdr is plain data; all zeroes is a valid empty header.
        msg: unsafe { std::mem::zeroed() },
    })
}

impl SendSlots {
    /// Takes a slot for `batch` and points its msghdr at the batch's
    /// bytes. Returns the slot id and the msghdr.
    pub(super) fn fill(&mut self, token: Token, batch: SendBatch) -> (u32, *const libc::msghdr) {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut **self.slots[id as usize].get_or_insert_with(new_slot);
        slot.token = token;
        slot.batch = batch;
        slot.iovecs.clear();
        let bufs = slot.batch.bufs.iter().filter(|b| !b.is_empty());
        slot.iovecs.extend(bufs.take(IOV_MAX).map(|b| libc::iovec {
            iov_base: b.as_ptr().cast_mut().cast(),
            iov_len: b.len(),
        }));
        slot.msg.msg_iov = slot.iovecs.as_mut_ptr();
        slot.msg.msg_iovlen = slot.iovecs.len();
        (id, &slot.msg)
    }

    /// Frees the slot; returns its token and batch.
    pub(super) fn finish(&mut self, id: u32) -> (Token, SendBatch) {
        debug_assert!(!self.free.contains(&id), "send slot {id} freed twice");
        let entry = &mut self.slots[id as usize];
        let slot = entry.as_mut().expect("a slot in flight is allocated");
        // The iovecs would dangle once the batch leaves; forget them.
        slot.iovecs.clear();
        let done = (slot.token, std::mem::take(&mut slot.batch));
        if self.free.len() >= SLOTS_RETAINED {
            *entry = None;
        }
        self.free.push(id);
        done
    }
}
