//! Writing to a WebSocket connection: what the core queues is framed by
//! the connection's transport machine ([`WsConn::frame`],
//! [`WsConn::close`], `machine::ws`, below the core) and queued here, so
//! the core's delivery reaches WebSocket clients without calling a stage.

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
        match self.scratch.frame_ws(ws, &frame) {
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
        if let Some(close) = ws.close(self.scratch.arena(), code, reason) {
            self.queue_part(token, Lane::Normal, close, false);
        }
    }

    /// A connection's WebSocket transport and the arena its frames are
    /// written into, borrowed together.
    pub(crate) fn ws_and_arena(&mut self, token: Token) -> Option<(&mut WsConn, &mut BytesMut)> {
        let ws = self.conns.get_mut(token)?.ws_mut()?;
        Some((ws, self.scratch.arena()))
    }
}
