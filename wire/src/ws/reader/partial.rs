//! The reader's state between calls, boxed: most connections are between
//! messages most of the time, and then the reader holds none of it.

use crate::ws::close::INVALID_PAYLOAD;
use crate::ws::frame::{apply_mask, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::ws::reader::WsError;
use crate::ws::utf8::Utf8Validator;

/// What a reader holds while a frame or message is incomplete.
#[derive(Debug)]
pub(super) struct Partial {
    /// Header bytes cut by the end of a read.
    pub head: [u8; MAX_HEADER_LEN],
    pub head_len: u8,
    /// The frame whose payload is arriving.
    pub frame: Option<FrameState>,
    /// The data message being assembled (its bytes are in the scratch).
    pub message: Option<MessageState>,
    /// Payload of a control frame cut by the end of a read.
    pub control: [u8; MAX_CONTROL_PAYLOAD],
    pub control_len: u8,
    /// Input left unread by a pause, or stashed by the caller.
    pub stash: Vec<u8>,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            frame: None,
            message: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            stash: Vec::new(),
        }
    }
}

impl Partial {
    /// Whether nothing is held (the box can go).
    pub fn is_empty(&self) -> bool {
        self.head_len == 0
            && self.frame.is_none()
            && self.message.is_none()
            && self.stash.is_empty()
    }

    /// Input bytes held here.
    pub fn held_len(&self) -> usize {
        self.stash.len() + usize::from(self.head_len) + usize::from(self.control_len)
    }

    /// Appends cut header bytes; the caller never passes more than fit.
    pub fn push_head(&mut self, bytes: &[u8]) {
        let at = usize::from(self.head_len);
        let n = bytes.len().min(MAX_HEADER_LEN - at);
        self.head[at..at + n].copy_from_slice(&bytes[..n]);
        self.head_len += n as u8;
    }

    /// Appends a piece of a control payload, unmasked. The header check
    /// bounds the payload by 125 bytes.
    pub fn push_control(&mut self, bytes: &[u8], mask: Option<[u8; 4]>, offset: usize) {
        let at = usize::from(self.control_len);
        let n = bytes.len().min(MAX_CONTROL_PAYLOAD - at);
        let dst = &mut self.control[at..at + n];
        dst.copy_from_slice(&bytes[..n]);
        if let Some(m) = mask {
            apply_mask(dst, m, offset);
        }
        self.control_len += n as u8;
    }
}

/// A frame whose header is read and whose payload is arriving.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameState {
    pub op: OpCode,
    pub fin: bool,
    pub mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    pub remaining: u64,
    /// Payload bytes seen (the mask's phase).
    pub offset: usize,
}

/// A data message in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageState {
    /// Text or Binary.
    pub op: OpCode,
    /// RSV1 was set on its first frame.
    pub compressed: bool,
    /// Payload bytes received on the wire so far.
    pub received: u64,
    utf8: Utf8Validator,
}

impl MessageState {
    pub fn new(op: OpCode, compressed: bool) -> Self {
        MessageState {
            op,
            compressed,
            received: 0,
            utf8: Utf8Validator::new(),
        }
    }

    /// Validates the next piece of a text message; no-op for binary.
    pub fn check_text(&mut self, piece: &[u8]) -> Result<(), WsError> {
        if self.op == OpCode::Text && self.utf8.feed(piece).is_err() {
            return Err(WsError::new(INVALID_PAYLOAD, "text is not UTF-8"));
        }
        Ok(())
    }

    /// Fails a text message that ends inside a character.
    pub fn check_text_complete(&mut self) -> Result<(), WsError> {
        if self.op == OpCode::Text && self.utf8.finish().is_err() {
            return Err(WsError::new(
                INVALID_PAYLOAD,
                "text ends inside a character",
            ));
        }
        Ok(())
    }
}
