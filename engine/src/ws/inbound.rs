//! Messages from an upgraded connection: the envelope endpoint turns them
//! into `wire` frames for the normal frame path, the echo endpoint sends
//! them back.

use wire::ws::{OpCode, WsError, WsEvent};
use wire::Control;

use super::{Endpoint, WsConn};
use crate::conn::{Conn, Phase};
use crate::core_state::CoreState;
use crate::metrics;
use crate::sys::Token;

impl CoreState {
    /// Bytes on a WebSocket connection; `data` may be empty to re-read what
    /// was stashed while paused.
    pub(crate) fn on_ws_bytes(&mut self, token: Token, data: &[u8]) {
        let clock = self.core.conn_clock();
        let Some(conn) = self.core.conns.get_mut(token) else {
            return;
        };
        if conn.phase == Phase::Closing {
            return;
        }
        let paused = conn.is_paused();
        let open = match conn.ws.as_deref_mut() {
            Some(WsConn::Open(open)) => open,
            Some(WsConn::Handshake(_)) => return self.on_ws_handshake(token, data),
            None => return,
        };
        if paused {
            if let Some(r) = open.reader.as_mut() {
                r.stash(data);
            }
            return;
        }
        if !data.is_empty() {
            // MQTT's keep-alive counts MQTT packets (the broker stamps
            // them), not WebSocket pings and pongs.
            if open.endpoint != Endpoint::Mqtt {
                conn.last_active = clock;
            }
            open.ping_sent = false;
        }
        // Frames a paused message left in the `wire` decoder go first.
        if conn.input.buffered_len() > 0 {
            self.feed_input(token, &[]);
            if self.core.conns.get(token).is_none_or(|c| c.is_paused()) {
                self.stash_ws(token, data);
                return;
            }
        }
        let Some(mut reader) = self.take_reader(token) else {
            return;
        };
        let result = reader.feed(data, |ev| self.on_ws_event(token, ev));
        let Some(open) = self.core.conns.get_mut(token).and_then(Conn::ws_open) else {
            return;
        };
        open.reader = Some(reader);
        if let Err(e) = result {
            self.on_ws_error(token, &e);
        }
    }

    fn take_reader(&mut self, token: Token) -> Option<wire::ws::MessageReader> {
        self.core.conns.get_mut(token)?.ws_open()?.reader.take()
    }

    fn stash_ws(&mut self, token: Token, data: &[u8]) {
        let open = self.core.conns.get_mut(token).and_then(Conn::ws_open);
        if let Some(r) = open.and_then(|o| o.reader.as_mut()) {
            r.stash(data);
        }
    }

    /// Bytes the WebSocket reader still holds (re-read on resume).
    pub(crate) fn ws_buffered_len(&self, token: Token) -> usize {
        let open = self.core.conns.get(token).and_then(Conn::ws_open_ref);
        open.and_then(|o| o.reader.as_ref())
            .map_or(0, |r| r.buffered_len())
    }

    fn on_ws_event(&mut self, token: Token, ev: WsEvent<'_>) -> Control {
        let Some(open) = self.core.conns.get_mut(token).and_then(Conn::ws_open) else {
            return Control::Pause;
        };
        let endpoint = open.endpoint;
        match ev {
            WsEvent::Text(text) => {
                metrics::inc(&self.core.stats.ws_messages_in_total);
                match endpoint {
                    Endpoint::Echo => self.core.ws_write(token, OpCode::Text, text.as_bytes()),
                    Endpoint::Envelope { .. } => self.on_json(token, text),
                    Endpoint::Mqtt => {
                        // MQTT §6.0: packets travel in binary messages only.
                        metrics::inc(&self.core.stats.ws_protocol_errors_total);
                        self.core
                            .ws_close(token, Some(1003), "MQTT needs binary messages");
                        self.begin_close(token);
                    }
                }
            }
            WsEvent::Binary(data) => {
                metrics::inc(&self.core.stats.ws_messages_in_total);
                match endpoint {
                    Endpoint::Echo => self.core.ws_write(token, OpCode::Binary, data),
                    Endpoint::Envelope { .. } => self.feed_frames(token, data),
                    Endpoint::Mqtt => self.feed_mqtt(token, data),
                }
            }
            WsEvent::Ping(data) => self.core.ws_write(token, OpCode::Pong, data),
            WsEvent::Pong(_) => {}
            WsEvent::Close { code, reason } => {
                // Echo the peer's code (RFC 6455 §5.5.1), then close.
                self.core.ws_close(token, code, reason);
                self.begin_close(token);
            }
        }
        self.after_ws_message(token)
    }

    /// A JSON text message: becomes the `wire` frame a TCP client sends.
    fn on_json(&mut self, token: Token, text: &str) {
        let max = self.core.settings.limits.max_payload_len;
        let mut out = std::mem::take(&mut self.core.json_frame);
        out.clear();
        let r = wire::json::json_to_frame(text, &mut self.core.encoder, &mut out, max);
        match r {
            Ok(()) => self.feed_frames(token, &out),
            Err(e) => {
                metrics::inc(&self.core.stats.protocol_errors_total);
                self.fail(token, e.code, &e.reason);
            }
        }
        self.core.json_frame = out;
    }

    /// Pauses the reader when the connection paused, closes or has too
    /// much queued (an echo client that does not read).
    fn after_ws_message(&mut self, token: Token) -> Control {
        let high = self.core.settings.limits.send_queue_high_bytes;
        let Some(conn) = self.core.conns.get(token) else {
            return Control::Pause;
        };
        if conn.phase == Phase::Closing {
            return Control::Pause;
        }
        if conn.queued_bytes() > high {
            self.core.pause_for_own_queue(token);
        }
        if self.core.conns.get(token).is_some_and(|c| c.is_paused()) {
            Control::Pause
        } else {
            Control::Continue
        }
    }

    fn on_ws_error(&mut self, token: Token, e: &WsError) {
        let counter = match e.code {
            1007 => &self.core.stats.ws_invalid_utf8_total,
            1009 => &self.core.stats.ws_oversized_total,
            _ => &self.core.stats.ws_protocol_errors_total,
        };
        metrics::inc(counter);
        self.core.ws_close(token, Some(e.code), e.reason);
        self.begin_close(token);
    }
}
