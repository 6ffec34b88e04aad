//! What a zlib context costs, measured with a counting allocator.
//!
//! The counter is per thread, so tests running in parallel do not
//! disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use wire::ws::deflate::{deflate_context_bytes, inflate_context_bytes};
use wire::ws::{DeflateParams, Deflater, Inflater, Role};

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counter is a const-initialised thread-local `Cell`
// without a destructor, so touching it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| c.set(c.get() + layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get() - layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LIVE.try_with(|c| c.set(c.get() + new_size as isize - layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn params(bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    }
}

/// Heap held by (deflate, inflate) contexts after one message.
fn measure(bits: u8) -> (isize, isize) {
    let p = params(bits);
    let mut out = BytesMut::with_capacity(1 << 16);
    let mut d = Deflater::new(&p, Role::Server, 6, 0);
    let before = live();
    assert!(d.compress(&[b'a'; 1000], &mut out));
    let deflate = live() - before;
    assert!(d.holds_context());

    let mut i = Inflater::new(&p, Role::Client, 1 << 20);
    let mut plain = Vec::with_capacity(1 << 16);
    let before = live();
    i.inflate(&out, &mut plain, 1 << 20).unwrap();
    i.finish_message(&mut plain, 1 << 20).unwrap();
    let inflate = live() - before;
    assert_eq!(plain, vec![b'a'; 1000]);
    (deflate, inflate)
}

#[test]
fn context_heap_bytes() {
    for bits in [9u8, 10, 11, 12, 13, 14, 15] {
        let (deflate, inflate) = measure(bits);
        eprintln!(
            "window bits {bits}: deflate {deflate} B (estimate {}), inflate {inflate} B (estimate {})",
            deflate_context_bytes(bits),
            inflate_context_bytes(bits)
        );
        let (d_est, i_est) = (
            deflate_context_bytes(bits) as isize,
            inflate_context_bytes(bits) as isize,
        );
        assert!(
            deflate > d_est * 9 / 10 && deflate < d_est * 11 / 10,
            "deflate {deflate} vs {d_est}"
        );
        assert!(
            inflate > i_est * 9 / 10 && inflate < i_est * 11 / 10,
            "inflate {inflate} vs {i_est}"
        );
    }
}
