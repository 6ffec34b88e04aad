//! Messages from an upgraded connection, dispatched: the envelope
//! endpoint turns them into `wire` frames for the connection's `wire`
//! session, the MQTT endpoint hands them to the MQTT machine, the echo
//! endpoint sends them back. The transport answers control frames itself
//! ([`WsConn::handle_event`]).

use wire::ws::{OpCode, WsError, WsEvent};
use wire::Control;

use super::{ws_of, WsStage};
use crate::conn::{Input, Phase};
use crate::core::Core;
use crate::machine::ws::{Endpoint, Step, WsConn};
use crate::metrics;
use crate::priority::Lane;
use crate::sys::Token;

impl WsStage<'_> {
    /// Bytes on a WebSocket connection; `data` may be empty to re-read what
    /// was stashed while paused.
    pub(crate) fn on_bytes(&mut self, token: Token, data: &[u8]) {
        let clock = self.core.clock().conn_clock();
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        if conn.phase() == Phase::Closing {
            return;
        }
        let paused = conn.is_paused();
        let Some(ws) = conn.ws_mut() else {
            return;
        };
        if ws.expects_upgrade() {
            return self.on_handshake(token, data);
        }
        if paused {
            ws.stash(data);
            return;
        }
        if !data.is_empty() {
            // MQTT's keep-alive counts MQTT packets (the broker stamps
            // them), not WebSocket pings and pongs.
            let touch = ws.endpoint() != Some(Endpoint::Mqtt);
            ws.note_read();
            if touch {
                conn.touch(clock);
            }
        }
        // Frames a paused message left in the `wire` session go first.
        if conn.input().buffered_len() > 0 {
            self.feed_input(token, &[]);
            if self.core.conns().get(token).is_none_or(|c| c.is_paused()) {
                if let Some(ws) = ws_of(self.core.conns_mut(), token) {
                    ws.stash(data);
                }
                return;
            }
        }
        // Lent out while its messages are handled: the protocol on top
        // answers through this connection's transport meanwhile.
        let reader = ws_of(self.core.conns_mut(), token).and_then(WsConn::take_reader);
        let Some(mut reader) = reader else {
            return;
        };
        let result = reader.feed(data, |ev| self.on_event(token, ev));
        let Some(ws) = ws_of(self.core.conns_mut(), token) else {
            return;
        };
        ws.put_reader(reader);
        if let Err(e) = result {
            self.on_error(token, &e);
        }
    }

    /// Feeds `data` to the protocol on top: the `wire` session of the
    /// envelope and echo endpoints, or the MQTT machine.
    fn feed_input(&mut self, token: Token, data: &[u8]) {
        match self.core.conns().get(token).map(|c| c.input()) {
            Some(Input::Frames(_)) => self.wire().feed(token, data),
            Some(Input::Mqtt(_)) => self.broker.feed(self.core, token, data),
            None => {}
        }
    }

    fn on_event(&mut self, token: Token, ev: WsEvent<'_>) -> Control {
        let core = &mut *self.core;
        let Some((ws, arena)) = core.ws_and_arena(token) else {
            return Control::Pause;
        };
        let Some(endpoint) = ws.endpoint() else {
            return Control::Pause;
        };
        match ws.handle_event(ev, arena) {
            Step::Text(text) => {
                metrics::inc(&self.core.stats().ws_messages_in_total);
                match endpoint {
                    Endpoint::Echo => echo(self.core, token, OpCode::Text, text.as_bytes()),
                    Endpoint::Envelope { .. } => self.on_json(token, text),
                    Endpoint::Mqtt => {
                        // MQTT §6.0: packets travel in binary messages only.
                        metrics::inc(&self.core.stats().ws_protocol_errors_total);
                        self.core
                            .ws_close(token, Some(1003), "MQTT needs binary messages");
                        self.core.begin_close(token);
                    }
                }
            }
            Step::Binary(data) => {
                metrics::inc(&self.core.stats().ws_messages_in_total);
                match endpoint {
                    Endpoint::Echo => echo(self.core, token, OpCode::Binary, data),
                    Endpoint::Envelope { .. } => self.wire().feed(token, data),
                    Endpoint::Mqtt => self.broker.feed(self.core, token, data),
                }
            }
            Step::Transmit(lane, bytes) => {
                self.core.queue_part(token, lane, bytes, false);
            }
            Step::Close(answer) => {
                if let Some(close) = answer {
                    self.core.queue_part(token, Lane::Normal, close, false);
                }
                self.core.begin_close(token);
            }
            Step::Nothing => {}
        }
        after_message(self.core, token)
    }

    /// A JSON text message: becomes the `wire` frame a TCP client sends.
    fn on_json(&mut self, token: Token, text: &str) {
        let max = self.core.settings().limits.max_payload_len;
        let (out, r) = self.core.scratch().json_to_frame(text, max);
        match r {
            Ok(()) => self.wire().feed(token, &out),
            Err(e) => {
                metrics::inc(&self.core.stats().protocol_errors_total);
                self.wire().fail(token, e.code, &e.reason);
            }
        }
        self.core.scratch().reuse_json_frame(out);
    }

    fn on_error(&mut self, token: Token, e: &WsError) {
        let counter = match e.code {
            1007 => &self.core.stats().ws_invalid_utf8_total,
            1009 => &self.core.stats().ws_oversized_total,
            _ => &self.core.stats().ws_protocol_errors_total,
        };
        metrics::inc(counter);
        let core = &mut *self.core;
        let ws = core.ws_and_arena(token);
        if let Some(close) = ws.and_then(|(ws, arena)| ws.handle_error(e, arena)) {
            core.queue_part(token, Lane::Normal, close, false);
        }
        self.core.begin_close(token);
    }
}

/// Pauses the reader when the connection paused, closes or has too much
/// queued (an echo client that does not read).
fn after_message(core: &mut Core, token: Token) -> Control {
    let high = core.settings().limits.send_queue_high_bytes;
    let Some(conn) = core.conns().get(token) else {
        return Control::Pause;
    };
    if conn.phase() == Phase::Closing {
        return Control::Pause;
    }
    if conn.queued_bytes() > high {
        core.pause_for_own_queue(token);
    }
    if core.conns().get(token).is_some_and(|c| c.is_paused()) {
        Control::Pause
    } else {
        Control::Continue
    }
}

/// The echo endpoint: a message goes back through the connection's
/// writer (compressed where negotiated).
fn echo(core: &mut Core, token: Token, op: OpCode, payload: &[u8]) {
    let Some((ws, arena)) = core.ws_and_arena(token) else {
        return;
    };
    if let Some((lane, bytes)) = ws.write(arena, op, payload) {
        core.queue_part(token, lane, bytes, false);
    }
}
