//! The epoll backend's receive-buffer pool: one allocation cut into
//! `count` buffers of `len` bytes, lent by index.
//!
//! It owns the memory and the free list only; which connection reads into
//! which buffer is the backend's business.

/// Fixed pool of equal receive buffers.
pub(super) struct BufPool {
    /// `count * len` bytes, allocated once and touched at start-up, so the
    /// pool is resident from the start as the io_uring backend's provided
    /// buffers are: a burst of reads would otherwise fault in a page per
    /// buffer it lands in, and that fixed cost would show up as memory per
    /// connection.
    mem: Box<[u8]>,
    /// Bytes per buffer.
    len: usize,
    /// Ids of buffers not lent out; a stack so the most recently used
    /// (cache-warm) buffer is lent next.
    free: Vec<u16>,
    /// Which buffers are lent, to catch double releases in debug builds.
    #[cfg(debug_assertions)]
    lent: Vec<bool>,
}

impl BufPool {
    /// A pool of `count` buffers of `len` bytes, all free.
    pub(super) fn new(count: u16, len: u32) -> BufPool {
        let (count, len) = (usize::from(count), len as usize);
        let mut mem = vec![0u8; count * len].into_boxed_slice();
        for page in mem.chunks_mut(4096) {
            // A write, so the kernel maps a page of its own (a read would
            // map the shared zero page).
            page[0] = 1;
        }
        BufPool {
            mem,
            len,
            // Reversed so that buffer 0 is lent first (easier to read in
            // a debugger; no other reason).
            free: (0..count as u16).rev().collect(),
            #[cfg(debug_assertions)]
            lent: vec![false; count],
        }
    }

    /// Lends a buffer, or `None` when all are out.
    pub(super) fn take(&mut self) -> Option<u16> {
        let id = self.free.pop()?;
        #[cfg(debug_assertions)]
        {
            debug_assert!(!self.lent[usize::from(id)]);
            self.lent[usize::from(id)] = true;
        }
        Some(id)
    }

    /// Returns a lent buffer.
    pub(super) fn put(&mut self, id: u16) {
        #[cfg(debug_assertions)]
        {
            debug_assert!(self.lent[usize::from(id)], "buffer {id} released twice");
            self.lent[usize::from(id)] = false;
        }
        debug_assert!(self.free.len() < self.capacity());
        self.free.push(id);
    }

    /// The whole of buffer `id`, to read into.
    pub(super) fn slot_mut(&mut self, id: u16) -> &mut [u8] {
        let start = usize::from(id) * self.len;
        &mut self.mem[start..start + self.len]
    }

    /// The first `filled` bytes of buffer `id`.
    pub(super) fn filled(&self, id: u16, filled: u32) -> &[u8] {
        let start = usize::from(id) * self.len;
        &self.mem[start..start + filled as usize]
    }

    /// Bytes per buffer.
    pub(super) fn buf_len(&self) -> usize {
        self.len
    }

    /// Buffers not lent out.
    pub(super) fn available(&self) -> usize {
        self.free.len()
    }

    /// Buffers in the pool.
    pub(super) fn capacity(&self) -> usize {
        self.mem.len() / self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_each_buffer_once_and_takes_them_back() {
        let mut pool = BufPool::new(4, 8);
        let ids: Vec<u16> = std::iter::from_fn(|| pool.take()).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(pool.available(), 0);
        pool.slot_mut(2).copy_from_slice(b"abcdefgh");
        assert_eq!(pool.filled(2, 3), b"abc");
        for id in ids {
            pool.put(id);
        }
        assert_eq!(pool.available(), pool.capacity());
    }
}
