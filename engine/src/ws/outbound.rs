//! Everything the core writes to a WebSocket connection: each `wire` frame
//! becomes one message (JSON text, or binary with the frame's bytes shared,
//! not copied, unless compressed), plus the protocol's own control frames.

use bytes::{BufMut, Bytes, BytesMut};
use wire::ws::{self, OpCode};

use super::forms::FormKey;
use super::{close_code_for, Endpoint, OpenWs, OutForm, WsConn};
use crate::conn::Conn;
use crate::core_state::{reserve, Core, CoreState};
use crate::mesh::Lane;
use crate::metrics;
use crate::sys::Token;

impl Core {
    /// Queues a `wire` frame to an upgraded connection as one message on
    /// `lane` (the header and the frame it wraps travel as one message).
    /// Receivers of one fan-out whose writers share an output form share
    /// its bytes ([`super::forms`]).
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
        let message = match key.and_then(|k| self.ws_forms.get(&frame, k)) {
            Some(shared) => {
                metrics::inc(&self.stats.ws_messages_shared_total);
                shared
            }
            None => {
                let message =
                    encode_message(open, out, &frame, &mut self.arena, &mut self.json_text)?;
                if let Some(k) = key {
                    self.ws_forms.put(&frame, k, &message);
                }
                message
            }
        };
        if plain_binary {
            self.queue_part(token, lane, message, true);
            return self.queue_part(token, lane, frame, false);
        }
        self.queue_part(token, lane, message, false)
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
}

impl CoreState {
    /// Sweep: a silent upgraded connection gets one ping per silence;
    /// a handshake past its deadline gets 408. `since` and `now` are
    /// connection clock readings. Returns true if handled.
    pub(crate) fn ws_sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        let cfg = &self.core.settings.websocket;
        let intervals_ms = (cfg.handshake_timeout_ms, cfg.ping_interval_ms);
        let Some(ws) = self
            .core
            .conns
            .get_mut(token)
            .and_then(|c| c.ws.as_deref_mut())
        else {
            return false;
        };
        let timer = ws_timer(ws, since, now, intervals_ms);
        // The generic idle timeout covers upgraded connections (MQTT ones
        // have their keep-alive instead).
        let handled = matches!(ws, WsConn::Handshake(_));
        match timer {
            WsTimer::HandshakeTimeout => self.ws_handshake_timeout(token),
            WsTimer::Ping => {
                if let WsConn::Open(open) = ws {
                    open.ping_sent = true;
                }
                metrics::inc(&self.core.stats.ws_pings_sent_total);
                self.core.ws_write(token, OpCode::Ping, b"");
            }
            WsTimer::Idle => {}
        }
        handled
    }
}

/// What a WebSocket connection's timers ask for.
#[derive(Debug, PartialEq, Eq)]
enum WsTimer {
    /// Nothing yet.
    Idle,
    /// The upgrade request did not complete in time.
    HandshakeTimeout,
    /// Silent for the ping interval: one ping per silence.
    Ping,
}

/// The timer decision for a WebSocket connection last active at `since`
/// (connection clock), at `now`; `intervals_ms` is (handshake timeout,
/// ping interval).
fn ws_timer(ws: &WsConn, since: u32, now: u32, intervals_ms: (u64, u64)) -> WsTimer {
    let (handshake_ms, ping_ms) = intervals_ms;
    match ws {
        WsConn::Handshake(_) if crate::timers::conn_passed(since, now, handshake_ms) => {
            WsTimer::HandshakeTimeout
        }
        // MQTT clients keep themselves alive with PINGREQ.
        WsConn::Open(open) if open.endpoint == Endpoint::Mqtt => WsTimer::Idle,
        WsConn::Open(open)
            if !open.ping_sent
                && !open.close_sent
                && crate::timers::conn_passed(since, now, ping_ms) =>
        {
            WsTimer::Ping
        }
        _ => WsTimer::Idle,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_timeout_and_ping_wait_out_their_interval() {
        let intervals = (5_000, 30_000);
        let open = |endpoint| {
            WsConn::Open(OpenWs {
                endpoint,
                reader: None,
                writer: wire::ws::MessageWriter::new(wire::ws::Role::Server, None),
                close_sent: false,
                ping_sent: false,
            })
        };
        let handshake = WsConn::Handshake(Vec::new());
        let echo = open(Endpoint::Echo);
        let mqtt = open(Endpoint::Mqtt);
        for since_ms in [0_u64, 63, 64, 4_294_967_000] {
            let since = crate::timers::conn_clock(since_ms);
            let at = |ms: u64| crate::timers::conn_clock(since_ms + ms);
            assert_eq!(
                ws_timer(&handshake, since, at(4_999), intervals),
                WsTimer::Idle
            );
            assert_eq!(
                ws_timer(&handshake, since, at(5_000), intervals),
                WsTimer::Idle
            );
            let late = ws_timer(&handshake, since, at(5_001), intervals);
            assert_eq!(late, WsTimer::HandshakeTimeout);
            assert_eq!(ws_timer(&echo, since, at(30_000), intervals), WsTimer::Idle);
            assert_eq!(ws_timer(&echo, since, at(30_001), intervals), WsTimer::Ping);
            assert_eq!(ws_timer(&mqtt, since, at(90_000), intervals), WsTimer::Idle);
        }
    }
}
