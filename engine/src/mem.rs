//! Giving freed memory back to the operating system.
//!
//! mimalloc keeps freed pages in the thread's heap and purges them lazily,
//! on later allocations. A core that goes quiet after a burst (ten thousand
//! HELLOs, say) would otherwise keep the burst's transient memory (old
//! hash tables, encode arenas) resident until traffic resumes. The reactor
//! calls [`collect`] from its periodic sweep instead.

/// Returns this thread's freed mimalloc pages to the OS (cheap when there
/// is nothing to return). Harmless when mimalloc is not the allocator.
pub fn collect() {
    // SAFETY: mi_collect takes no pointers and only walks the calling
    // thread's own heap; `true` also purges pages still inside their purge delay.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
