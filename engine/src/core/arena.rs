//! The encode arena: frames are encoded into one growing buffer and split
//! off as `Bytes`, so that encoding allocates once per [`ARENA_BYTES`], not
//! once per frame.

use bytes::BytesMut;

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
