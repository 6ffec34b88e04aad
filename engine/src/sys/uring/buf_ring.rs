//! [`ProvidedBufRing`]: the receive buffers, lent to the kernel through a
//! registered provided-buffer ring (`IORING_REGISTER_PBUF_RING`).
//!
//! It owns two anonymous mappings: the ring of `io_uring_buf` entries the
//! kernel takes buffers from, and one contiguous block of `count × len`
//! bytes cut into the buffers. A buffer is, at any time, either in the ring
//! (the kernel may fill it), or named by a CQE and lent to the reactor
//! until [`ProvidedBufRing::recycle`] puts it back at the ring's tail.
//! Pages of the block are committed only once the kernel first fills them.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id our recvs select from (one group per ring).
pub(super) const BUF_GROUP: u16 = 0;

/// Receive buffers shared with the kernel; see the module docs.
pub(super) struct ProvidedBufRing {
    /// `count` ring entries, page aligned as the kernel requires.
    ring: Mapping,
    /// `count × len` bytes of buffers.
    block: Mapping,
    /// Bytes per buffer.
    len: u32,
    /// Buffers (and ring entries): a power of two.
    count: u16,
    /// Our copy of the tail: entries published to the kernel, wrapping.
    tail: u16,
    /// Buffers named by a CQE and not yet recycled.
    lent: u16,
}

impl ProvidedBufRing {
    /// Maps the ring and buffers, fills the ring with every buffer and
    /// registers it with `ring` as group [`BUF_GROUP`].
    pub(super) fn register(ring: &IoUring, count: u16, len: u32) -> io::Result<ProvidedBufRing> {
        debug_assert!(count.is_power_of_two() && count <= 32768);
        let entries = Mapping::new(usize::from(count) * size_of::<BufRingEntry>())?;
        let block = Mapping::new(usize::from(count) * len as usize)?;
        let mut bufs = ProvidedBufRing {
            ring: entries,
            block,
            len,
            count,
            tail: 0,
            lent: count,
        };
        for id in 0..count {
            bufs.recycle(id);
        }
        // SAFETY: the ring mapping holds `count` entries, is page aligned,
        // and lives as long as `bufs`; the owner (`UringBackend`) keeps
        // `bufs` alive until the io_uring is gone or every op that could
        // use the group has completed (see its `Drop`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.ring.ptr.as_ptr() as u64,
                count,
                BUF_GROUP,
                0,
            )?;
        }
        Ok(bufs)
    }

    /// Marks buffer `id` as lent: a CQE named it.
    pub(super) fn lend(&mut self, id: u16) {
        debug_assert!(id < self.count);
        debug_assert!(
            self.lent < self.count,
            "kernel lent more buffers than exist"
        );
        self.lent += 1;
    }

    /// Puts a lent buffer back at the ring's tail, visible to the kernel
    /// at once.
    pub(super) fn recycle(&mut self, id: u16) {
        debug_assert!(id < self.count && self.lent > 0);
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.block.ptr.as_ptr() as u64 + u64::from(id) * u64::from(self.len);
        let entries = self.ring.ptr.as_ptr().cast::<BufRingEntry>();
        // SAFETY: `slot < count`, so the entry is inside the ring mapping.
        // The kernel reads only entries between its head and our published
        // tail; this one is at our (unpublished) tail, and at most `count`
        // buffers exist, so the kernel has consumed it already.
        let entry = unsafe { &mut *entries.add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.len);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
        self.lent -= 1;
        // SAFETY: `entries` is the page-aligned base of the ring, as
        // `tail` requires; the tail field overlays entry 0's reserved
        // bytes, which the kernel never reads as part of a buffer.
        let tail = unsafe { BufRingEntry::tail(entries) }.cast_mut();
        // SAFETY: the tail is a naturally aligned u16 in our mapping that
        // the kernel reads concurrently; we are its only writer. Release
        // makes the entry written above visible before the new tail.
        unsafe { AtomicU16::from_ptr(tail) }.store(self.tail, Ordering::Release);
    }

    /// The first `filled` bytes of buffer `id`, which must be lent.
    pub(super) fn filled(&self, id: u16, filled: u32) -> &[u8] {
        assert!(id < self.count && filled <= self.len, "bad RecvBuf");
        let offset = usize::from(id) * self.len as usize;
        // SAFETY: the range is inside the block mapping. The buffer is lent
        // (the caller holds the `RecvBuf` a CQE produced), so the kernel
        // does not write it until it is recycled, which needs `&mut self`
        // and so ends this borrow first.
        unsafe { std::slice::from_raw_parts(self.block.ptr.as_ptr().add(offset), filled as usize) }
    }

    /// Buffers in the ring, available to the kernel.
    pub(super) fn available(&self) -> usize {
        usize::from(self.count - self.lent)
    }
}

/// An anonymous, private, read-write mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // MAP_POPULATE: the kernel cycles through every provided buffer in
        // ring order, so all of them become resident under any traffic.
        // Paying for that at start-up makes the pool a visible fixed cost
        // instead of memory that seems to grow with connections.
        // SAFETY: an anonymous mapping at an address of the kernel's
        // choosing touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` describe a mapping made in `new` and not
        // unmapped since; nothing borrows it (no `&self` outlives drop).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
