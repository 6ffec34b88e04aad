//! Counters and gauges, one set per core, written only by their core
//! (relaxed atomics, no contention) and summed when `/metrics` is scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

macro_rules! core_stats {
    ($($(#[$doc:meta])* $name:ident: $kind:literal, $help:literal;)*) => {
        /// One core's counters.
        #[derive(Debug, Default)]
        pub struct CoreStats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl CoreStats {
            /// (name, type, help, value) for every metric.
            pub fn each(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
                vec![$((stringify!($name), $kind, $help, self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

core_stats! {
    /// Connections accepted.
    connections_accepted_total: "counter", "Connections accepted";
    /// Connections closed.
    connections_closed_total: "counter", "Connections closed";
    /// Connections open now.
    connections_open: "gauge", "Connections open now";
    /// Accepts refused (limit) or failed.
    accept_errors_total: "counter", "Accepts that failed or were refused";
    /// Frames decoded from clients.
    frames_in_total: "counter", "Frames received from clients";
    /// SEND frames routed.
    messages_routed_total: "counter", "SEND frames routed";
    /// DELIVER frames queued to connections.
    messages_delivered_total: "counter", "DELIVER frames queued to connections";
    /// Bytes written to sockets.
    bytes_out_total: "counter", "Bytes written to sockets";
    /// Bytes read from sockets.
    bytes_in_total: "counter", "Bytes read from sockets";
    /// Frames rejected as malformed.
    protocol_errors_total: "counter", "Malformed frames (connection closed)";
    /// Frames over the size limit.
    oversized_frames_total: "counter", "Frames over max_payload_len (connection closed)";
    /// SENDs to a target with no connection.
    no_target_total: "counter", "SENDs whose target had no connection";
    /// Frames not valid in the connection's state.
    unexpected_frames_total: "counter", "Frames not valid in the connection state";
    /// Times a connection's reads were paused for backpressure.
    backpressure_pauses_total: "counter", "Reads paused for backpressure";
    /// Messages that waited for space in a mesh ring.
    mesh_ring_full_total: "counter", "Messages that found a mesh ring full";
    /// Messages shed (droppable) under overload.
    shed_total: "counter", "Droppable messages shed under overload";
    /// Connections closed for idleness or a missing HELLO.
    timeouts_total: "counter", "Connections closed by idle or hello timeout";
    /// WebSocket upgrades accepted.
    ws_upgrades_total: "counter", "WebSocket upgrades accepted";
    /// WebSocket upgrade requests refused (4xx answers).
    ws_handshake_failures_total: "counter", "WebSocket upgrade requests refused";
    /// WebSocket messages received (data messages, after reassembly).
    ws_messages_in_total: "counter", "WebSocket data messages received";
    /// WebSocket connections failed for a protocol error (close 1002).
    ws_protocol_errors_total: "counter", "WebSocket protocol errors (close 1002)";
    /// WebSocket text that was not UTF-8 (close 1007).
    ws_invalid_utf8_total: "counter", "WebSocket invalid UTF-8 (close 1007)";
    /// WebSocket frames or messages over the limits (close 1009).
    ws_oversized_total: "counter", "WebSocket frames or messages too big (close 1009)";
    /// Keep-alive pings sent to silent WebSocket connections.
    ws_pings_sent_total: "counter", "WebSocket keep-alive pings sent";
    /// Messages waiting in this core's outgoing mesh rings.
    mesh_ring_depth: "gauge", "Messages waiting in outgoing mesh rings";
}

/// Every core's stats, for the admin endpoint.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Index = core.
    pub cores: Vec<Arc<CoreStats>>,
    /// Backend name in use.
    pub backend: &'static str,
}

impl Metrics {
    /// Prometheus text exposition: per-core series with a `core` label.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP switchboard_info Build and backend");
        let _ = writeln!(out, "# TYPE switchboard_info gauge");
        let _ = writeln!(
            out,
            "switchboard_info{{version=\"{}\",backend=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            self.backend
        );
        let per_core: Vec<_> = self.cores.iter().map(|c| c.each()).collect();
        let Some(first) = per_core.first() else {
            return out;
        };
        for (i, (name, kind, help, _)) in first.iter().enumerate() {
            let _ = writeln!(out, "# HELP switchboard_{name} {help}");
            let _ = writeln!(out, "# TYPE switchboard_{name} {kind}");
            for (core, stats) in per_core.iter().enumerate() {
                let _ = writeln!(out, "switchboard_{name}{{core=\"{core}\"}} {}", stats[i].3);
            }
        }
        out
    }

    /// Sum of one metric over cores (tests and readiness).
    pub fn total(&self, name: &str) -> u64 {
        self.cores
            .iter()
            .flat_map(|c| c.each())
            .filter(|(n, ..)| *n == name)
            .map(|(.., v)| v)
            .sum()
    }
}

/// Adds one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Sets a gauge.
pub fn set(c: &AtomicU64, v: u64) {
    c.store(v, Ordering::Relaxed);
}
