//! permessage-deflate (RFC 7692): negotiation of its parameters, and the
//! per-connection compression contexts.
//!
//! A message is compressed with a sync flush and sent without the final
//! `00 00 ff ff`; the receiver appends those 4 bytes before inflating.
//!
//! # Memory
//!
//! Contexts are created on the first message that needs one. A side that
//! negotiated `*_no_context_takeover` drops its context after every
//! message, so an idle connection holds no zlib state; with context
//! takeover the context lives as long as the connection.
//!
//! zlib's formulas (zconf.h, memLevel 8) would be `2^(wb+2) + 128 KiB`
//! for deflate and `2^wb + ~7 KiB` for inflate. zlib-rs 0.6 lays out its
//! state differently; measured with a counting allocator
//! (`ws_deflate::context_heap_bytes` in wire/tests/it):
//!
//! | window bits | deflate | inflate |
//! | --- | --- | --- |
//! | 9 | 245 KiB | 46.6 KiB |
//! | 12 | 259 KiB | 46.6 KiB |
//! | 15 | 371 KiB | 46.6 KiB |
//!
//! that is deflate `2^(wb+2) + 249,104` bytes, inflate a flat 47,704
//! bytes (it always allocates a 32 KiB window).
//! [`deflate_context_bytes`] and [`inflate_context_bytes`] give these
//! for sizing: 10,000 connections with context takeover both ways at 15
//! bits hold about 4.3 GB, so the engine should default to
//! `server_no_context_takeover` or small windows.
//!
//! # Window bits
//!
//! RFC 7692 allows 8, zlib does not: a deflater asked to use 8 never
//! compresses (it sends plain frames, which RFC 7692 allows per message)
//! because zlib silently using 9 could exceed the peer's window.
//!
//! Raw inflate is always opened with 15 bits, whatever was agreed: a
//! larger window decodes any stream from a smaller one, and a smaller one
//! would make the result depend on how reads cut the message. zlib checks
//! a back-reference against its window plus the output of the current
//! call, so a peer that reaches further back than its agreed window (say
//! 1,000 bytes under 9 bits) inflates cleanly when the frame arrives in
//! one read and fails as corrupt when it arrives byte by byte. With 15
//! bits no distance deflate can express (at most 32,768) is out of reach
//! once that much has been inflated, so a stream is accepted or refused
//! the same way in any split; a peer over its window is tolerated rather
//! than failed. It costs nothing: zlib-rs allocates a 32 KiB window
//! whatever the bits (see the table above).

use bytes::BytesMut;
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::close::{INVALID_PAYLOAD, TOO_BIG};
use super::reader::{Role, WsError};

mod negotiate;
mod spare;

pub use negotiate::{accept_response, negotiate, offer_value};

/// The 4 bytes a sync flush ends with, stripped on the wire (§7.2.1).
const SYNC_TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// Inflate output grows by at least this much at a time.
const INFLATE_STEP: usize = 4096;
/// Raw inflate always uses the largest window (see "Window bits" above).
const INFLATE_WINDOW_BITS: u8 = 15;

/// What this endpoint is willing to negotiate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate at all.
    pub enabled: bool,
    /// Ask that the server reset its compressor after each message.
    pub server_no_context_takeover: bool,
    /// Ask that the client reset its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Largest server window this side allows (8..=15).
    pub server_max_window_bits: u8,
    /// Largest client window this side allows (8..=15).
    pub client_max_window_bits: u8,
    /// Messages shorter than this are sent uncompressed.
    pub min_compress_len: usize,
    /// zlib level 0..=9.
    pub level: u32,
}

impl Default for DeflateConfig {
    /// Enabled, full windows, context takeover, level 6, 64-byte threshold.
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            min_compress_len: 64,
            level: 6,
        }
    }
}

/// The agreed parameters, as in the server's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (8..=15).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (8..=15).
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value a server answers with.
    pub fn header_value(&self) -> String {
        let mut v = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            v.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            v.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            v.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            v.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        v
    }

    /// (window bits, no context takeover) of the side `role` compresses.
    fn sending(&self, role: Role) -> (u8, bool) {
        match role {
            Role::Server => (self.server_max_window_bits, self.server_no_context_takeover),
            Role::Client => (self.client_max_window_bits, self.client_no_context_takeover),
        }
    }

    /// (window bits, no context takeover) of the side `role` receives.
    fn receiving(&self, role: Role) -> (u8, bool) {
        match role {
            Role::Server => self.sending(Role::Client),
            Role::Client => self.sending(Role::Server),
        }
    }
}

/// Heap bytes of one deflate context at level 1-9 (zlib-rs 0.6, measured).
pub fn deflate_context_bytes(window_bits: u8) -> usize {
    (1usize << (window_bits.clamp(9, 15) + 2)) + 249_104
}

/// Heap bytes of one inflate context (zlib-rs 0.6, measured; it does not
/// depend on the window bits).
pub fn inflate_context_bytes(_window_bits: u8) -> usize {
    47_704
}

/// Everything a [`Deflater`] without context takeover compresses with:
/// two such deflaters with equal keys turn any message into the same
/// bytes, so a server may compress a message once for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateKey {
    level: u32,
    window_bits: u8,
    min_len: usize,
}

/// One connection's compressor for the messages it sends.
#[derive(Debug)]
pub struct Deflater {
    ctx: Option<Box<Compress>>,
    level: u32,
    min_len: usize,
    /// 9..=15, or 0 when the agreed window (8) is one zlib cannot honour.
    window_bits: u8,
    reset_after_message: bool,
}

impl Deflater {
    /// A compressor for the side `role` plays under `params`; messages
    /// shorter than `min_len` go out uncompressed.
    pub fn new(params: &DeflateParams, role: Role, level: u32, min_len: usize) -> Self {
        let (bits, reset) = params.sending(role);
        Deflater {
            ctx: None,
            level: level.min(9),
            min_len,
            window_bits: if bits <= 8 { 0 } else { bits.min(15) },
            reset_after_message: reset,
        }
    }

    /// Whether a payload of `len` bytes would be compressed.
    pub fn compresses(&self, len: usize) -> bool {
        self.window_bits != 0 && len >= self.min_len
    }

    /// Whether a zlib context is held now.
    pub fn holds_context(&self) -> bool {
        self.ctx.is_some()
    }

    /// The key of this deflater's output when it resets after every
    /// message (no context takeover on its side): each message then starts
    /// from a freshly reset context, so its bytes depend only on the
    /// message and the key. `None` with context takeover, where they
    /// depend on every message compressed before.
    pub fn stateless_key(&self) -> Option<DeflateKey> {
        self.reset_after_message.then_some(DeflateKey {
            level: self.level,
            window_bits: self.window_bits,
            min_len: self.min_len,
        })
    }

    /// Appends `payload` compressed, without the sync tail. Returns false
    /// (and appends nothing) if zlib failed, so the caller sends it plain.
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> bool {
        let start = out.len();
        let (level, bits) = (self.level, self.window_bits);
        let ctx = self
            .ctx
            .get_or_insert_with(|| spare::take_deflate(level, bits));
        let ok = compress_sync(ctx, payload, out);
        if ok && out[start..].ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        } else if !ok {
            out.truncate(start);
            self.ctx = None;
        }
        if self.reset_after_message {
            if let Some(ctx) = self.ctx.take() {
                spare::give_deflate(level, bits, ctx);
            }
        }
        ok
    }
}

/// Compresses all of `input` with a sync flush, appending to `out`.
fn compress_sync(ctx: &mut Compress, mut input: &[u8], out: &mut BytesMut) -> bool {
    loop {
        let room = 64 + input.len() / 2;
        let at = out.len();
        out.resize(at + room, 0);
        let (in0, out0) = (ctx.total_in(), ctx.total_out());
        let result = ctx.compress(input, &mut out[at..], FlushCompress::Sync);
        let consumed = (ctx.total_in() - in0) as usize;
        let produced = (ctx.total_out() - out0) as usize;
        out.truncate(at + produced);
        input = &input[consumed..];
        match result {
            Ok(_) if input.is_empty() && produced < room => return true,
            Ok(_) if consumed == 0 && produced == 0 => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// One connection's decompressor for the messages it receives.
#[derive(Debug)]
pub struct Inflater {
    ctx: Option<Box<Decompress>>,
    max_message: u64,
    reset_after_message: bool,
}

impl Inflater {
    /// A decompressor for what the peer of `role` sends under `params`;
    /// inflated messages over `max_message` bytes fail with 1009.
    pub fn new(params: &DeflateParams, role: Role, max_message: u64) -> Self {
        // The agreed window bits are not used: see "Window bits" above.
        let (_, reset) = params.receiving(role);
        Inflater {
            ctx: None,
            max_message,
            reset_after_message: reset,
        }
    }

    /// Whether a zlib context is held now.
    pub fn holds_context(&self) -> bool {
        self.ctx.is_some()
    }

    /// Inflates a piece of a compressed message, appending to `out`, which
    /// may not grow beyond `max_len` (nor this inflater's own limit).
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_len: u64,
    ) -> Result<(), WsError> {
        let limit = usize::try_from(max_len.min(self.max_message)).unwrap_or(usize::MAX - 1);
        let ctx = self
            .ctx
            .get_or_insert_with(|| spare::take_inflate(INFLATE_WINDOW_BITS));
        inflate_bounded(ctx, input, out, limit)
    }

    /// Ends a message: inflates the stripped sync tail, then drops the
    /// context if the peer resets its own after each message.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, max_len: u64) -> Result<(), WsError> {
        let result = self.inflate(&SYNC_TAIL, out, max_len);
        if result.is_err() {
            self.ctx = None;
        } else if self.reset_after_message {
            if let Some(ctx) = self.ctx.take() {
                spare::give_inflate(INFLATE_WINDOW_BITS, ctx);
            }
        }
        result
    }
}

/// Inflates `input` into `out` without letting `out` pass `limit` bytes
/// (plus one, to notice the overflow): the deflate-bomb guard.
fn inflate_bounded(
    ctx: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), WsError> {
    let too_big = || WsError::new(TOO_BIG, "inflated message too big");
    loop {
        if out.len() == out.capacity() {
            let headroom = (limit + 1).saturating_sub(out.len());
            if headroom == 0 {
                return Err(too_big());
            }
            out.reserve_exact(out.len().max(INFLATE_STEP).min(headroom));
        }
        let spare = out.capacity() - out.len();
        let (in0, out0) = (ctx.total_in(), ctx.total_out());
        let status = ctx
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| WsError::new(INVALID_PAYLOAD, "compressed data is corrupt"))?;
        let consumed = (ctx.total_in() - in0) as usize;
        let produced = (ctx.total_out() - out0) as usize;
        input = &input[consumed..];
        if out.len() > limit {
            return Err(too_big());
        }
        if status == Status::StreamEnd {
            // A final block ended the peer's stream; its next bytes (at
            // least the sync tail) start a new one.
            ctx.reset(false);
        }
        if input.is_empty() && produced < spare {
            return Ok(());
        }
        if consumed == 0 && produced == 0 && status != Status::StreamEnd {
            return Err(WsError::new(INVALID_PAYLOAD, "compressed data is stuck"));
        }
    }
}
