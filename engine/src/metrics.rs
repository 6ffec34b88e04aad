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
    /// Connections lingering now: reason sent, write side shut, reading
    /// and discarding until the peer's EOF or the linger bounds.
    connections_lingering: "gauge", "Closed connections lingering now (reason sent, peer input discarded)";
    /// Connections that lingered after their reason was sent.
    connections_lingered_total: "counter", "Closed connections that lingered after sending their reason";
    /// Lingering connections cut off by the time or byte bound rather
    /// than ended by the peer's EOF.
    connections_linger_expired_total: "counter", "Lingering connections closed at the linger bound, not by the peer";
    /// ERROR frames received from clients.
    peer_errors_total: "counter", "ERROR frames received from wire clients";
    /// Messages whose DELIVER would exceed max_payload_len: a SEND
    /// refused, or an MQTT message not given to a `wire` subscriber.
    deliver_too_large_total: "counter", "Messages not delivered to wire clients as their DELIVER would exceed max_payload_len";
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
    /// WebSocket messages queued from a fan-out's shared encoding (JSON,
    /// compression) instead of being encoded for their connection.
    ws_messages_shared_total: "counter", "WebSocket messages sharing a fan-out's encoding";
    /// Keep-alive pings sent to silent WebSocket connections.
    ws_pings_sent_total: "counter", "WebSocket keep-alive pings sent";
    /// MQTT CONNECTs accepted (CONNACK success).
    mqtt_connects_total: "counter", "MQTT connections accepted";
    /// MQTT CONNECTs refused (CONNACK with a failure).
    mqtt_connects_refused_total: "counter", "MQTT CONNECTs refused";
    mqtt_connections_sent_home_total: "counter", "MQTT connections passed to their client id's home core";
    mqtt_connections_adopted_total: "counter", "MQTT connections taken in from another core (their home is here)";
    mqtt_shared_member_gone_total: "counter", "Shared-subscription messages whose picked member had left its core";
    /// MQTT PUBLISH packets received.
    mqtt_publishes_in_total: "counter", "MQTT PUBLISH packets received";
    /// MQTT PUBLISH packets sent.
    mqtt_publishes_out_total: "counter", "MQTT PUBLISH packets sent";
    /// MQTT packets that could not be decoded (0x81).
    mqtt_malformed_packets_total: "counter", "MQTT malformed packets (0x81)";
    /// MQTT packets valid alone but not in the session (0x82 and others).
    mqtt_protocol_errors_total: "counter", "MQTT protocol errors";
    /// MQTT packets over a maximum packet size (0x95, or dropped outbound).
    mqtt_oversized_packets_total: "counter", "MQTT packets over the maximum packet size";
    /// Clients that exceeded the server's Receive Maximum (0x93).
    mqtt_receive_maximum_exceeded_total: "counter", "MQTT clients over Receive Maximum (0x93)";
    /// Publishes or subscriptions refused by the topic ACL.
    mqtt_acl_denied_total: "counter", "MQTT operations refused by the ACL";
    /// Connections closed for keep-alive or CONNECT timeout.
    mqtt_keepalive_timeouts_total: "counter", "MQTT keep-alive or CONNECT timeouts";
    /// Messages dropped because a session queue was full.
    mqtt_queue_dropped_total: "counter", "MQTT messages dropped by a full session queue";
    /// Publishes passed on to the core a session moved to (`mqtt::forward`).
    /// Wills published.
    mqtt_wills_published_total: "counter", "MQTT wills published";
    /// Sessions that expired while their client was away.
    mqtt_sessions_expired_total: "counter", "MQTT sessions expired";
    /// Connections taken over by a new one with the same client id.
    mqtt_takeovers_total: "counter", "MQTT session take-overs";
    /// Retained messages not kept because the store was full.
    mqtt_retained_full_total: "counter", "MQTT retained messages refused (store full)";
    /// MQTT sessions on this core (connected or away).
    mqtt_sessions: "gauge", "MQTT sessions on this core";
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
