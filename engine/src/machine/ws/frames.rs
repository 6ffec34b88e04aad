//! What the core queues to an upgraded connection, framed: each `wire`
//! frame becomes one message (JSON text, or binary with the frame's bytes
//! shared, not copied, unless compressed), written once per output form
//! for every receiver of a fan-out ([`SharedForms`]).

use bytes::{BufMut, Bytes, BytesMut};
use wire::ws::{self, OpCode};

use super::forms::{FormKey, SharedForms};
use super::state::{Endpoint, OpenWs, OutForm, WsConn};

/// Arena refill size: messages are written into one growing buffer and
/// split off as `Bytes`, so writing allocates once per this many bytes
/// (the core's arena is refilled the same way).
const ARENA_BYTES: usize = 64 * 1024;

/// Room left below which the arena is refilled before a write.
const ARENA_ROOM_MIN: usize = 4096;

/// A `wire` frame as the connection's transport sends it.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// Not upgraded yet: the frame goes out as it is.
    Unframed,
    /// Our close frame is out: nothing more is written.
    Dropped,
    /// One whole message; `shared`: written for an earlier receiver of
    /// the same fan-out and form, and shared.
    Message {
        /// The message's bytes.
        bytes: Bytes,
        /// Shared rather than written for this connection.
        shared: bool,
    },
    /// A plain binary message: `header`, then the frame's own bytes,
    /// uncopied (queued as two buffers of one message).
    HeaderThenFrame {
        /// The message's header.
        header: Bytes,
        /// Shared, as for [`Framed::Message`].
        shared: bool,
    },
}

impl WsConn {
    /// Frames `frame` (a `wire` frame the core encoded) for this
    /// connection: as its endpoint's form with its writer, or as the
    /// message an earlier receiver of the same form got (`forms`).
    /// `arena` takes the bytes written, `json_text` is scratch for the
    /// JSON form.
    #[inline]
    pub fn frame(
        &mut self,
        frame: &Bytes,
        forms: &mut SharedForms,
        arena: &mut BytesMut,
        json_text: &mut Vec<u8>,
    ) -> Framed {
        let open = match self {
            WsConn::ExpectUpgrade(_) => return Framed::Unframed,
            WsConn::Closing(_) => return Framed::Dropped,
            WsConn::Open(open) => open,
        };
        let out = match open.endpoint {
            Endpoint::Envelope { out } => out,
            Endpoint::Echo | Endpoint::Mqtt => OutForm::Binary,
        };
        // Plain binary messages are a header, then the frame's own bytes.
        let plain_binary = out == OutForm::Binary && !open.writer.compresses();
        let key = open
            .writer
            .output_key()
            .map(|writer| FormKey { out, writer });
        let (bytes, shared) = match key.and_then(|k| forms.get(frame, k)) {
            Some(shared) => (shared, true),
            None => {
                let Some(message) = encode_message(open, out, frame, arena, json_text) else {
                    return Framed::Dropped;
                };
                if let Some(k) = key {
                    forms.put(frame, k, &message);
                }
                (message, false)
            }
        };
        if plain_binary {
            return Framed::HeaderThenFrame {
                header: bytes,
                shared,
            };
        }
        Framed::Message { bytes, shared }
    }
}

/// The arena with room for a frame: refilled in [`ARENA_BYTES`] steps.
pub(super) fn reserve(arena: &mut BytesMut) -> &mut BytesMut {
    if arena.capacity() - arena.len() < ARENA_ROOM_MIN {
        arena.reserve(ARENA_BYTES);
    }
    arena
}

/// Writes `frame` in form `out` with the connection's writer: the whole
/// message, except for plain binary only its header (the frame's bytes
/// follow unchanged). `None` if the frame has no JSON form, which cannot
/// happen: the core only queues frames it encoded itself.
fn encode_message(
    open: &mut OpenWs,
    out: OutForm,
    frame: &[u8],
    arena: &mut BytesMut,
    json_text: &mut Vec<u8>,
) -> Option<Bytes> {
    let arena = reserve(arena);
    match out {
        OutForm::Json => {
            json_text.clear();
            wire::json::frame_to_json(frame, json_text).ok()?;
            open.writer.write_message(arena, OpCode::Text, json_text);
        }
        OutForm::Binary if open.writer.compresses() => {
            open.writer.write_message(arena, OpCode::Binary, frame);
        }
        OutForm::Binary => {
            let mut h = [0u8; ws::MAX_HEADER_LEN];
            let n = ws::encode_header(
                &mut h,
                true,
                false,
                OpCode::Binary,
                frame.len() as u64,
                None,
            );
            arena.put_slice(&h[..n]);
        }
    }
    Some(arena.split().freeze())
}
