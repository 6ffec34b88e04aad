//! The WebSocket transport's timers, applied ([`WsStage::sweep`], the
//! sweep's entry point). What the core queues to a WebSocket connection
//! is framed by the core itself (`core/ws.rs`: `Core::queue_ws_frame`,
//! `Core::ws_close`), through the transport machine.

use super::WsStage;
use crate::machine::ws::{Timeout, Timers};
use crate::metrics;
use crate::priority::Lane;
use crate::sys::Token;

impl WsStage<'_> {
    /// Sweep: a silent upgraded connection gets one ping per silence;
    /// an upgrade past its deadline gets 408. `since` and `now` are
    /// connection clock readings. Returns true if handled (an upgrade
    /// still expected: the `wire` timeouts do not apply to it).
    pub(crate) fn sweep(&mut self, token: Token, since: u32, now: u32) -> bool {
        let core = &mut *self.core;
        let cfg = &core.settings().websocket;
        let timers = Timers::new(cfg.handshake_timeout_ms, cfg.ping_interval_ms);
        let Some((ws, arena)) = core.ws_and_arena(token) else {
            return false;
        };
        let handled = ws.expects_upgrade();
        match ws.handle_timeout(since, now, timers, arena) {
            Some(Timeout::Upgrade(response)) => {
                metrics::inc(&self.core.stats().timeouts_total);
                metrics::inc(&self.core.stats().ws_handshake_failures_total);
                self.core.queue_part(token, Lane::Normal, response, false);
                self.core.begin_close(token);
            }
            Some(Timeout::Ping(ping)) => {
                metrics::inc(&self.core.stats().ws_pings_sent_total);
                self.core.queue_part(token, Lane::High, ping, false);
            }
            None => {}
        }
        handled
    }
}
