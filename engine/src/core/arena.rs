//! The core's reused buffers ([`Scratch`]): frames are encoded into one
//! growing arena and split off as `Bytes`, so that encoding allocates once
//! per [`ARENA_BYTES`], not once per frame; beside it the encoder, the
//! buffers of the WebSocket JSON envelope and the WebSocket messages one
//! fan-out's receivers share.

use bytes::{BufMut, Bytes, BytesMut};

use crate::machine::ws::{Framed, SharedForms, WsConn};

/// Arena refill size.
const ARENA_BYTES: usize = 64 * 1024;

/// Room a frame's encoding is given before the arena is refilled: more
/// than any control frame the server writes.
const FRAME_ROOM_BYTES: usize = 4096;

/// The encode arena with room for a frame: refilled in [`ARENA_BYTES`]
/// steps so that encoding allocates once per that many bytes.
pub(crate) fn reserve(arena: &mut BytesMut) -> &mut BytesMut {
    if arena.capacity() - arena.len() < FRAME_ROOM_BYTES {
        arena.reserve(ARENA_BYTES);
    }
    arena
}

/// What the core and the stages write frames into, kept from one frame to
/// the next so that writing one allocates nothing.
pub struct Scratch {
    encoder: wire::Encoder,
    arena: BytesMut,
    /// A JSON text message's frame, reused (WebSocket envelope endpoint).
    json_frame: BytesMut,
    /// An outbound frame's JSON form, reused.
    json_text: Vec<u8>,
    /// The WebSocket messages of the frame being fanned out, per form.
    ws_forms: SharedForms,
}

impl Scratch {
    /// Empty buffers; the arena fills on first use.
    pub(super) fn new() -> Scratch {
        Scratch {
            encoder: wire::Encoder::new(),
            arena: BytesMut::new(),
            json_frame: BytesMut::new(),
            json_text: Vec::new(),
            ws_forms: SharedForms::new(),
        }
    }

    /// Encodes one frame into the arena with the encoder and returns it.
    /// Borrows the two fields apart: swapping the encoder out would build
    /// (and allocate) a fresh one per frame.
    #[inline]
    pub fn encode_frame<F>(&mut self, f: F) -> Bytes
    where
        F: FnOnce(&mut wire::Encoder, &mut BytesMut),
    {
        f(&mut self.encoder, reserve(&mut self.arena));
        self.arena.split().freeze()
    }

    /// Copies a short name into the arena and returns it as `Bytes`.
    pub(crate) fn arena_bytes(&mut self, s: &[u8]) -> Bytes {
        let arena = reserve(&mut self.arena);
        arena.put_slice(s);
        arena.split().freeze()
    }

    /// The encode arena, for a stage that writes a frame of its own
    /// (see [`reserve`]).
    #[inline]
    pub(crate) fn arena(&mut self) -> &mut BytesMut {
        &mut self.arena
    }

    /// Frames a `wire` frame for one WebSocket connection
    /// ([`WsConn::frame`]), sharing the message with the fan-out's earlier
    /// receivers of the same form.
    #[inline]
    pub(super) fn frame_ws(&mut self, ws: &mut WsConn, frame: &Bytes) -> Framed {
        ws.frame(
            frame,
            &mut self.ws_forms,
            &mut self.arena,
            &mut self.json_text,
        )
    }

    /// Ends one fan-out: the encodings shared by its receivers are
    /// dropped (the next fan-out is another message).
    #[inline]
    pub(crate) fn end_shared_forms(&mut self) {
        self.ws_forms.end();
    }

    /// Encodings kept for the fan-out in progress (tests: none once it
    /// ends).
    #[cfg(test)]
    pub(crate) fn shared_forms_len(&self) -> usize {
        self.ws_forms.len()
    }

    /// Turns a JSON text message (the WebSocket envelope endpoint) into
    /// the `wire` frame it stands for, in a reused buffer: hand it back
    /// with [`Scratch::reuse_json_frame`] once the frame is handled.
    pub(crate) fn json_to_frame(
        &mut self,
        text: &str,
        max_payload_len: u32,
    ) -> (BytesMut, Result<(), wire::json::JsonError>) {
        let mut out = std::mem::take(&mut self.json_frame);
        out.clear();
        let r = wire::json::json_to_frame(text, &mut self.encoder, &mut out, max_payload_len);
        (out, r)
    }

    /// Takes back the buffer [`Scratch::json_to_frame`] lent.
    pub(crate) fn reuse_json_frame(&mut self, out: BytesMut) {
        self.json_frame = out;
    }
}
