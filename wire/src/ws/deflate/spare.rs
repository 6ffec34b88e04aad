//! Spare zlib contexts of this thread, for the no-context-takeover side.
//!
//! A side that resets its context after every message does not need its
//! own: between messages the context holds nothing worth keeping. Instead
//! of dropping it (and allocating and initialising ~300 KiB again for the
//! next message), it is reset and parked here, and the next message on any
//! connection of this thread takes it. In a thread-per-core server that is
//! one context per core in use at a time, whatever the connection count,
//! and idle connections hold none.
//!
//! Bounded: at most [`SPARES_MAX`] contexts of each kind are parked; more
//! are dropped.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress};

/// Contexts of each kind kept per thread.
const SPARES_MAX: usize = 4;

#[derive(Default)]
struct Spares {
    /// (level, window bits, context), reset.
    deflate: Vec<(u32, u8, Box<Compress>)>,
    /// (window bits, context), reset.
    inflate: Vec<(u8, Box<Decompress>)>,
}

thread_local! {
    static SPARES: RefCell<Spares> = RefCell::default();
}

/// A reset compressor for `level` and `bits`, parked or new.
pub(super) fn take_deflate(level: u32, bits: u8) -> Box<Compress> {
    let parked = SPARES.with_borrow_mut(|s| {
        let i = s
            .deflate
            .iter()
            .position(|(l, b, _)| *l == level && *b == bits)?;
        Some(s.deflate.swap_remove(i).2)
    });
    parked.unwrap_or_else(|| {
        Box::new(Compress::new_with_window_bits(
            Compression::new(level),
            false,
            bits,
        ))
    })
}

/// Parks a compressor after resetting it.
pub(super) fn give_deflate(level: u32, bits: u8, mut ctx: Box<Compress>) {
    ctx.reset();
    SPARES.with_borrow_mut(|s| {
        if s.deflate.len() < SPARES_MAX {
            s.deflate.push((level, bits, ctx));
        }
    });
}

/// A reset decompressor for `bits`, parked or new.
pub(super) fn take_inflate(bits: u8) -> Box<Decompress> {
    let parked = SPARES.with_borrow_mut(|s| {
        let i = s.inflate.iter().position(|(b, _)| *b == bits)?;
        Some(s.inflate.swap_remove(i).1)
    });
    parked.unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, bits)))
}

/// Parks a decompressor after resetting it.
pub(super) fn give_inflate(bits: u8, mut ctx: Box<Decompress>) {
    ctx.reset(false);
    SPARES.with_borrow_mut(|s| {
        if s.inflate.len() < SPARES_MAX {
            s.inflate.push((bits, ctx));
        }
    });
}
