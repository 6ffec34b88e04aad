//! Writing to a WebSocket connection: what the core queues is framed by
//! the connection's transport machine ([`WsConn::frame`],
//! [`WsConn::close`], `machine::ws`, below the core) and queued here, so
//! the core's delivery reaches WebSocket clients without calling a stage.
//! Also the reused buffers that framing and the JSON envelope write into.

use bytes::{Bytes, BytesMut};

use super::Core;
use crate::machine::ws::{Framed, WsConn};
use crate::metrics;
use crate::priority::Lane;
use crate::sys::Token;

impl Core {
    /// Queues a `wire` frame to a WebSocket connection as one message on
    /// `lane` (the header and the frame it wraps travel as one message).
    /// Receivers of one fan-out whose writers share an output form share
    /// its bytes.
    pub(crate) fn queue_ws_frame(
        &mut self,
        token: Token,
        lane: Lane,
        frame: Bytes,
    ) -> Option<bool> {
        let Some(ws) = self.conns.get_mut(token)?.ws_mut() else {
            return self.queue_part(token, lane, frame, false);
        };
        let json_text = &mut self.json_text;
        match ws.frame(&frame, &mut self.ws_forms, &mut self.arena, json_text) {
            Framed::Unframed => self.queue_part(token, lane, frame, false),
            Framed::Dropped => Some(false),
            Framed::Message { bytes, shared } => {
                if shared {
                    metrics::inc(&self.stats.ws_messages_shared_total);
                }
                self.queue_part(token, lane, bytes, false)
            }
            Framed::HeaderThenFrame { header, shared } => {
                if shared {
                    metrics::inc(&self.stats.ws_messages_shared_total);
                }
                self.queue_part(token, lane, header, true);
                self.queue_part(token, lane, frame, false)
            }
        }
    }

    /// Queues our close frame (once) behind everything queued; nothing is
    /// written after it.
    pub(crate) fn ws_close(&mut self, token: Token, code: Option<u16>, reason: &str) {
        let Some(ws) = self.conns.get_mut(token).and_then(|c| c.ws_mut()) else {
            return;
        };
        if let Some(close) = ws.close(&mut self.arena, code, reason) {
            self.queue_part(token, Lane::Normal, close, false);
        }
    }

    /// A connection's WebSocket transport and the arena its frames are
    /// written into, borrowed together.
    pub(crate) fn ws_and_arena(&mut self, token: Token) -> Option<(&mut WsConn, &mut BytesMut)> {
        let ws = self.conns.get_mut(token)?.ws_mut()?;
        Some((ws, &mut self.arena))
    }

    /// Turns a JSON text message (the WebSocket envelope endpoint) into
    /// the `wire` frame it stands for, in a reused buffer: hand it back
    /// with [`Core::reuse_json_frame`] once the frame is handled.
    pub(crate) fn json_to_frame(
        &mut self,
        text: &str,
    ) -> (BytesMut, Result<(), wire::json::JsonError>) {
        let max = self.settings.limits.max_payload_len;
        let mut out = std::mem::take(&mut self.json_frame);
        out.clear();
        let r = wire::json::json_to_frame(text, &mut self.encoder, &mut out, max);
        (out, r)
    }

    /// Takes back the buffer [`Core::json_to_frame`] lent.
    pub(crate) fn reuse_json_frame(&mut self, out: BytesMut) {
        self.json_frame = out;
    }

    /// Ends one fan-out: the encodings shared by its receivers are
    /// dropped (the next fan-out is another message).
    pub(crate) fn end_shared_forms(&mut self) {
        self.ws_forms.end();
    }

    /// Encodings kept for the fan-out in progress (tests: none once it
    /// ends).
    #[cfg(test)]
    pub(crate) fn shared_forms_len(&self) -> usize {
        self.ws_forms.len()
    }
}
