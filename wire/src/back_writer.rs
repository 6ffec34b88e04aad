//! A FlatBuffers writer for the hot path: the DELIVER frame, written once
//! per routed message.
//!
//! `flatbuffers::FlatBufferBuilder` is general: it tracks fields in a
//! vector, searches earlier vtables for a duplicate, and zeroes its buffer
//! on reset. For a table shape known in advance none of that is needed.
//! [`BackWriter`] follows the builder's layout rules step for step (data is
//! written back to front; every scalar is aligned to its size, strings and
//! vectors to 4; the vtable is written right after its table), so the bytes
//! are identical to the builder's for the same calls: the property tests
//! compare the two on random messages, and the protocol document's test
//! vectors hold either way.

/// Back-to-front writer over a reused buffer; positions are "rev" offsets
/// (bytes from the end), as in the builder.
#[derive(Debug, Default)]
pub(crate) struct BackWriter {
    buf: Vec<u8>,
    head: usize,
    min_align: usize,
}

/// Zero bytes needed so that `len` more bytes end `used` bytes aligned.
fn padding(used: usize, alignment: usize) -> usize {
    (!used).wrapping_add(1) & (alignment - 1)
}

impl BackWriter {
    /// Starts a buffer with room for at least `capacity` bytes.
    pub(crate) fn reset(&mut self, capacity: usize) {
        if self.buf.len() < capacity {
            self.buf.resize(capacity, 0);
        }
        self.head = self.buf.len();
        self.min_align = 1;
    }

    /// The finished bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    fn used(&self) -> usize {
        self.buf.len() - self.head
    }

    fn space(&mut self, n: usize) -> &mut [u8] {
        self.head -= n;
        &mut self.buf[self.head..self.head + n]
    }

    fn align(&mut self, len: usize, alignment: usize) {
        self.min_align = self.min_align.max(alignment);
        let pad = padding(self.used() + len, alignment);
        self.space(pad).fill(0);
    }

    fn push_u8(&mut self, v: u8) -> usize {
        self.space(1)[0] = v;
        self.used()
    }

    fn push_u32(&mut self, v: u32) -> usize {
        self.align(4, 4);
        self.space(4).copy_from_slice(&v.to_le_bytes());
        self.used()
    }

    /// A forward offset to the object at `target` (a rev position).
    fn push_offset(&mut self, target: usize) -> usize {
        self.align(4, 4);
        let at = self.used() + 4;
        self.space(4)
            .copy_from_slice(&((at - target) as u32).to_le_bytes());
        self.used()
    }

    /// A string: length, bytes, NUL; returns its rev position.
    pub(crate) fn string(&mut self, s: &[u8]) -> usize {
        self.align(s.len() + 1, 4);
        self.push_u8(0);
        self.space(s.len()).copy_from_slice(s);
        self.push_u32(s.len() as u32)
    }

    /// A `[ubyte]` vector; returns its rev position.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> usize {
        self.align(b.len(), 4);
        self.space(b.len()).copy_from_slice(b);
        self.push_u32(b.len() as u32)
    }

    /// A table whose fields are offsets (vtable slot, target) and at most
    /// one `u8` (slot, value) pushed after them, as the generated `create`
    /// functions order them. The vtable must differ from every vtable
    /// already written (the builder would share a duplicate).
    pub(crate) fn table(&mut self, offsets: &[(u16, usize)], byte: Option<(u16, u8)>) -> usize {
        let start = self.used();
        let mut locs = [(0u16, 0usize); 4];
        let mut n = 0;
        for &(slot, target) in offsets {
            locs[n] = (slot, self.push_offset(target));
            n += 1;
        }
        if let Some((slot, v)) = byte {
            locs[n] = (slot, self.push_u8(v));
            n += 1;
        }
        let object = self.push_u32(0xF0F0_F0F0);
        let vt_len = locs[..n]
            .iter()
            .map(|l| l.0)
            .max()
            .map_or(4, |m| m as usize + 2);
        let table_size = (object - start) as u16;
        let vt = self.space(vt_len);
        vt.fill(0);
        vt[0..2].copy_from_slice(&(vt_len as u16).to_le_bytes());
        vt[2..4].copy_from_slice(&table_size.to_le_bytes());
        for &(slot, loc) in &locs[..n] {
            let s = slot as usize;
            vt[s..s + 2].copy_from_slice(&((object - loc) as u16).to_le_bytes());
        }
        let vtable = self.used();
        let at = self.buf.len() - object;
        let soffset = vtable as i32 - object as i32;
        self.buf[at..at + 4].copy_from_slice(&soffset.to_le_bytes());
        object
    }

    /// Writes the root offset, aligned to the largest alignment used.
    pub(crate) fn finish(&mut self, root: usize) {
        self.align(4, self.min_align);
        self.push_offset(root);
    }
}
