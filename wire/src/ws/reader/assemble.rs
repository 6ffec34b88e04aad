//! Payload handling for [`MessageReader`]: unmasking, inflating and
//! validating data as it arrives, and handing out whole messages and
//! control frames.

use super::partial::{FrameState, MessageState};
use super::{MessageReader, Phase, WsError, WsEvent};
use crate::frame::Control;
use crate::ws::close::{parse_close, INVALID_PAYLOAD};
use crate::ws::frame::{apply_mask, OpCode, MAX_CONTROL_PAYLOAD};

/// Compressed bytes are unmasked through a stack buffer of this size, so
/// they are never held on the heap.
const UNMASK_CHUNK: usize = 1024;

impl MessageReader {
    /// A whole control frame or single-frame message, from one input.
    pub(super) fn deliver_whole(
        &mut self,
        frame: &FrameState,
        compressed: bool,
        payload: &[u8],
        f: &mut impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<Control, WsError> {
        if frame.op.is_control() {
            let mut buf = [0u8; MAX_CONTROL_PAYLOAD];
            let buf = &mut buf[..payload.len()];
            buf.copy_from_slice(payload);
            if let Some(m) = frame.mask {
                apply_mask(buf, m, 0);
            }
            return self.emit_control(frame.op, buf, f);
        }
        if !compressed {
            let bytes = match frame.mask {
                None => payload,
                Some(m) => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(payload);
                    apply_mask(&mut self.scratch, m, 0);
                    &self.scratch
                }
            };
            let control = emit_data(frame.op, bytes, f);
            self.scratch.clear();
            return control;
        }
        let mut message = MessageState::new(frame.op, true);
        self.absorb(&mut message, payload, frame.mask, 0)?;
        self.finish_message(message, f)
    }

    /// Takes the next piece of the frame in progress; `Some` once the
    /// frame is complete (with the callback's answer if it made an event).
    pub(super) fn continue_frame(
        &mut self,
        chunk: &[u8],
        f: &mut impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<(usize, Option<Control>), WsError> {
        let Some(p) = self.partial.as_mut() else {
            return Ok((0, None));
        };
        let Some(mut frame) = p.frame.take() else {
            return Ok((0, None));
        };
        let take = frame.remaining.min(chunk.len() as u64) as usize;
        let data = &chunk[..take];
        if frame.op.is_control() {
            p.push_control(data, frame.mask, frame.offset);
        } else if let Some(mut message) = p.message.take() {
            let result = self.absorb(&mut message, data, frame.mask, frame.offset);
            self.partial_mut().message = Some(message);
            result?;
        }
        frame.remaining -= take as u64;
        frame.offset += take;
        if frame.remaining > 0 {
            self.partial_mut().frame = Some(frame);
            return Ok((take, None));
        }
        let p = self.partial_mut();
        if frame.op.is_control() {
            let mut buf = [0u8; MAX_CONTROL_PAYLOAD];
            let len = usize::from(p.control_len);
            buf[..len].copy_from_slice(&p.control[..len]);
            p.control_len = 0;
            return Ok((take, Some(self.emit_control(frame.op, &buf[..len], f)?)));
        }
        if !frame.fin {
            return Ok((take, Some(Control::Continue)));
        }
        let Some(message) = p.message.take() else {
            return Ok((take, Some(Control::Continue)));
        };
        Ok((take, Some(self.finish_message(message, f)?)))
    }

    /// Appends a piece of a data frame's payload to the message: unmasked
    /// (and inflated), and checked as text so far.
    fn absorb(
        &mut self,
        message: &mut MessageState,
        data: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Result<(), WsError> {
        let start = self.scratch.len();
        message.received += data.len() as u64;
        match (&mut self.inflater, message.compressed) {
            (Some(inflater), true) => {
                let mut buf = [0u8; UNMASK_CHUNK];
                for (i, piece) in data.chunks(UNMASK_CHUNK).enumerate() {
                    let buf = &mut buf[..piece.len()];
                    buf.copy_from_slice(piece);
                    if let Some(m) = mask {
                        apply_mask(buf, m, offset + i * UNMASK_CHUNK);
                    }
                    inflater.inflate(buf, &mut self.scratch, self.limits.max_message)?;
                }
            }
            _ => {
                self.scratch.extend_from_slice(data);
                if let Some(m) = mask {
                    apply_mask(&mut self.scratch[start..], m, offset);
                }
            }
        }
        message.check_text(&self.scratch[start..])
    }

    /// Ends a message: flushes the inflater, checks the text is complete
    /// and hands the message out.
    fn finish_message(
        &mut self,
        mut message: MessageState,
        f: &mut impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<Control, WsError> {
        if message.compressed {
            let start = self.scratch.len();
            if let Some(inflater) = self.inflater.as_mut() {
                inflater.finish_message(&mut self.scratch, self.limits.max_message)?;
            }
            message.check_text(&self.scratch[start..])?;
        }
        message.check_text_complete()?;
        let control = emit_data(message.op, &self.scratch, f);
        self.scratch.clear();
        control
    }

    fn emit_control(
        &mut self,
        op: OpCode,
        payload: &[u8],
        f: &mut impl FnMut(WsEvent<'_>) -> Control,
    ) -> Result<Control, WsError> {
        Ok(match op {
            OpCode::Ping => f(WsEvent::Ping(payload)),
            OpCode::Pong => f(WsEvent::Pong(payload)),
            _ => {
                let (code, reason) = parse_close(payload)?;
                self.phase = Phase::Closed;
                self.partial = None;
                f(WsEvent::Close { code, reason })
            }
        })
    }
}

/// Hands out a whole data message, checking text once more as `&str`.
fn emit_data(
    op: OpCode,
    bytes: &[u8],
    f: &mut impl FnMut(WsEvent<'_>) -> Control,
) -> Result<Control, WsError> {
    if op == OpCode::Text {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| WsError::new(INVALID_PAYLOAD, "text is not UTF-8"))?;
        Ok(f(WsEvent::Text(text)))
    } else {
        Ok(f(WsEvent::Binary(bytes)))
    }
}
