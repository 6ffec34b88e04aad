//! The byte dispatch and the sweep of the protocol stages: bytes go by
//! connection kind to the WebSocket stage, the MQTT broker or the `wire`
//! stage; a resumed connection re-reads what it stashed; the sweep hands
//! each connection's timers to its stage.

use crate::conn::{Input, Phase};
use crate::core_state::CoreState;
use crate::metrics;
use crate::proto::WireStage;
use crate::sys::Token;
use crate::ws::{self, WsStage};

impl CoreState {
    /// Bytes arrived on `token`: decode and handle every complete frame.
    pub fn on_bytes(&mut self, token: Token, data: &[u8]) {
        metrics::add(&self.core.stats().bytes_in_total, data.len() as u64);
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return;
        };
        if conn.phase() == Phase::Lingering {
            return self.core.on_linger_bytes(token, data.len());
        }
        if conn.is_ws() {
            return WsStage::new(&mut self.core, &mut self.mqtt).on_bytes(token, data);
        }
        match conn.phase() {
            Phase::Closing | Phase::Lingering => return,
            _ if conn.is_paused() => {
                conn.input_mut().stash(data);
                return;
            }
            _ => {}
        }
        if matches!(conn.input(), Input::Frames(_)) {
            WireStage::new(&mut self.core, &mut self.mqtt).feed(token, data);
        } else {
            self.mqtt.feed(&mut self.core, token, data);
        }
    }

    /// Re-reads what was stashed while paused; returns whether the
    /// connection may read from its socket again.
    pub fn on_resume(&mut self, token: Token) -> bool {
        let Some(conn) = self.core.conns_mut().get_mut(token) else {
            return false;
        };
        if !conn.resume_reading() {
            return false;
        }
        if conn.input().buffered_len() > 0 || ws::buffered_len(&self.core, token) > 0 {
            self.on_bytes(token, &[]);
        }
        let Some(conn) = self.core.conns().get(token) else {
            return false;
        };
        if conn.reading() == crate::flow::Reading::Finished {
            self.core.begin_close(token);
            return false;
        }
        !conn.is_paused() && conn.phase().takes_input()
    }

    /// Reads what an adopted connection brought: its MQTT bytes, then any
    /// WebSocket frames its reader still holds.
    pub fn on_adopted(&mut self, token: Token, bytes: &[u8]) {
        self.mqtt.feed(&mut self.core, token, bytes);
        let paused = self.core.conns().get(token).is_none_or(|c| c.is_paused());
        if !paused && ws::buffered_len(&self.core, token) > 0 {
            WsStage::new(&mut self.core, &mut self.mqtt).on_bytes(token, &[]);
        }
    }

    /// From the sweep: a WebSocket connection's timers (see
    /// [`WsStage::sweep`]); true if handled.
    pub(crate) fn ws_sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        WsStage::new(&mut self.core, &mut self.mqtt).sweep(token, since, now)
    }

    /// From the sweep: a `wire` session's HELLO and idle timeouts.
    pub(crate) fn wire_sweep(&mut self, token: Token, since: u32, now: u32) {
        WireStage::new(&mut self.core, &mut self.mqtt).sweep(token, since, now);
    }
}
