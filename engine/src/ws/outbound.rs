//! What the core queues to a WebSocket connection, framed by its
//! transport ([`WsConn::frame`], [`WsConn::close`]) and queued; and the
//! transport's timers, applied.
//!
//! Glue: the two `Core` methods here are what the core and the other
//! stages call to write to a WebSocket connection (`queue_in` frames
//! through `queue_ws_frame`; the MQTT stage and closing close with
//! `ws_close`); each looks the transport up, lets it frame, and queues
//! the bytes. [`WsStage::sweep`] is the sweep's entry point.

use bytes::Bytes;

use super::{ws_of, WsStage};
use crate::core::Core;
use crate::machine::ws::{Framed, Timeout, Timers};
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
        let Some(ws) = self.conns.get_mut(token)?.ws.as_deref_mut() else {
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
        let Some(ws) = ws_of(&mut self.conns, token) else {
            return;
        };
        if let Some(close) = ws.close(&mut self.arena, code, reason) {
            self.queue_part(token, Lane::Normal, close, false);
        }
    }
}

impl WsStage<'_> {
    /// Sweep: a silent upgraded connection gets one ping per silence;
    /// an upgrade past its deadline gets 408. `since` and `now` are
    /// connection clock readings. Returns true if handled (an upgrade
    /// still expected: the `wire` timeouts do not apply to it).
    pub(crate) fn sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        let core = &mut *self.core;
        let cfg = &core.settings.websocket;
        let timers = Timers::new(cfg.handshake_timeout_ms, cfg.ping_interval_ms);
        let Some(ws) = ws_of(&mut core.conns, token) else {
            return false;
        };
        let handled = ws.expects_upgrade();
        match ws.handle_timeout(since, now, timers, &mut core.arena) {
            Some(Timeout::Upgrade(response)) => {
                metrics::inc(&self.core.stats.timeouts_total);
                metrics::inc(&self.core.stats.ws_handshake_failures_total);
                self.core.queue_part(token, Lane::Normal, response, false);
                self.core.begin_close(token);
            }
            Some(Timeout::Ping(ping)) => {
                metrics::inc(&self.core.stats.ws_pings_sent_total);
                self.core.queue_part(token, Lane::High, ping, false);
            }
            None => {}
        }
        handled
    }
}
