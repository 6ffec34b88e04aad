//! Everything the core writes to a WebSocket connection: each `wire` frame
//! becomes one message (JSON text, or binary with the frame's bytes shared,
//! not copied, unless compressed), plus the protocol's own control frames.

use bytes::{BufMut, Bytes, BytesMut};
use wire::ws::{self, OpCode};

use super::{close_code_for, Endpoint, OpenWs, OutForm, WsConn};
use crate::conn::Conn;
use crate::core_state::{reserve, CoreState};
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

impl CoreState {
    /// Queues a `wire` frame to an upgraded connection as one message on
    /// `lane` (the header and the frame it wraps travel as one message).
    pub(crate) fn queue_ws_frame(
        &mut self,
        token: Token,
        lane: Lane,
        frame: Bytes,
    ) -> Option<bool> {
        let conn = self.conns.get_mut(token)?;
        let Some(WsConn::Open(open)) = conn.ws.as_deref_mut() else {
            return self.queue_part(token, lane, frame, false);
        };
        if open.close_sent {
            return Some(false);
        }
        let form = match open.endpoint {
            Endpoint::Envelope { out } => out,
            Endpoint::Echo | Endpoint::Mqtt => OutForm::Binary,
        };
        let arena = reserve(&mut self.arena);
        match form {
            OutForm::Json => {
                self.json_text.clear();
                // The core only queues frames it encoded itself.
                wire::json::frame_to_json(&frame, &mut self.json_text).ok()?;
                open.writer
                    .write_message(arena, OpCode::Text, &self.json_text);
                let message = arena.split().freeze();
                self.queue_part(token, lane, message, false)
            }
            OutForm::Binary if open.writer.compresses() => {
                open.writer.write_message(arena, OpCode::Binary, &frame);
                let message = arena.split().freeze();
                self.queue_part(token, lane, message, false)
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
                let header = arena.split().freeze();
                self.queue_part(token, lane, header, true);
                self.queue_part(token, lane, frame, false)
            }
        }
    }

    /// Queues one message or control frame written by the connection's
    /// writer (compressed where negotiated). Pings and pongs take the high
    /// lane: they never wait behind queued messages.
    pub(crate) fn ws_write(&mut self, token: Token, op: OpCode, payload: &[u8]) {
        let lane = match op {
            OpCode::Ping | OpCode::Pong => Lane::High,
            _ => Lane::Normal,
        };
        self.ws_emit(token, lane, |open, out| match op {
            OpCode::Ping | OpCode::Pong => open.writer.write_control(out, op, payload),
            _ => open.writer.write_message(out, op, payload),
        });
    }

    /// Queues our close frame (once) behind everything queued; nothing is
    /// written after it.
    pub(crate) fn ws_close(&mut self, token: Token, code: Option<u16>, reason: &str) {
        self.ws_emit(token, Lane::Normal, |open, out| {
            open.writer.write_close(out, code, reason);
            open.close_sent = true;
        });
    }

    /// Lets `write` put bytes into the arena with the connection's writer
    /// and queues them; does nothing once our close frame is out.
    fn ws_emit(
        &mut self,
        token: Token,
        lane: Lane,
        write: impl FnOnce(&mut OpenWs, &mut BytesMut),
    ) {
        let Some(open) = self.conns.get_mut(token).and_then(Conn::ws_open) else {
            return;
        };
        if open.close_sent {
            return;
        }
        let arena = reserve(&mut self.arena);
        write(open, arena);
        let bytes = arena.split().freeze();
        self.queue_part(token, lane, bytes, false);
    }

    /// The engine closes a WebSocket connection: the envelope endpoint
    /// gets the `wire` CLOSE frame first, then the close handshake starts.
    /// Returns false for a connection that is not WebSocket.
    pub(crate) fn ws_send_close(
        &mut self,
        token: Token,
        frame: &Bytes,
        code: u16,
        reason: &str,
    ) -> bool {
        let Some(ws) = self.conns.get(token).and_then(|c| c.ws.as_deref()) else {
            return false;
        };
        let envelope = match ws {
            WsConn::Handshake(_) => return true,
            WsConn::Open(open) => matches!(open.endpoint, Endpoint::Envelope { .. }),
        };
        if envelope {
            self.queue_ws_frame(token, Lane::Normal, frame.clone());
        }
        self.ws_close(token, Some(close_code_for(code)), reason);
        true
    }

    /// Sweep: a silent upgraded connection gets one ping per silence;
    /// a handshake past its deadline gets 408. Returns true if handled.
    pub(crate) fn ws_sweep(&mut self, token: Token, age_ticks: u32) -> bool {
        let cfg = &self.settings.websocket;
        let handshake_ticks = (cfg.handshake_timeout_ms >> 6) as u32;
        let ping_ticks = (cfg.ping_interval_ms >> 6) as u32;
        let Some(ws) = self.conns.get_mut(token).and_then(|c| c.ws.as_deref_mut()) else {
            return false;
        };
        match ws {
            WsConn::Handshake(_) => {
                if age_ticks > handshake_ticks {
                    self.ws_handshake_timeout(token);
                }
                true
            }
            // MQTT clients keep themselves alive with PINGREQ.
            WsConn::Open(open) if open.endpoint == Endpoint::Mqtt => false,
            WsConn::Open(open) => {
                if age_ticks > ping_ticks && !open.ping_sent && !open.close_sent {
                    open.ping_sent = true;
                    metrics::inc(&self.stats.ws_pings_sent_total);
                    self.ws_write(token, OpCode::Ping, b"");
                }
                false
            }
        }
    }
}
