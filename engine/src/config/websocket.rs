//! The `[websocket]` section: the WebSocket listener, its endpoints and its
//! limits (docs/websocket.md).

use std::net::SocketAddr;

use serde::Deserialize;

/// The WebSocket listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Serve WebSocket at all.
    pub enabled: bool,
    /// Listener address.
    pub addr: SocketAddr,
    /// Path of the endpoint that speaks the envelope: JSON in text
    /// messages, `wire` frames in binary messages.
    pub path: String,
    /// Path reserved for MQTT over WebSocket (answered 404 until the MQTT
    /// broker is served).
    pub mqtt_path: String,
    /// Serve the conformance echo endpoint at `echo_path`.
    pub echo: bool,
    /// Path of the echo endpoint.
    pub echo_path: String,
    /// Origins a browser may connect from; empty allows any. Requests
    /// without an Origin header (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Largest frame accepted (bytes); larger closes with 1009.
    pub max_frame_bytes: u64,
    /// Largest message accepted after reassembly and inflation (bytes);
    /// larger closes with 1009.
    pub max_message_bytes: u64,
    /// Largest upgrade request (bytes); larger gets 431.
    pub max_request_bytes: usize,
    /// An upgrade request must be complete within this (ms), so a
    /// slowloris client cannot hold a connection open.
    pub handshake_timeout_ms: u64,
    /// A connection silent this long is pinged (ms); it is closed after
    /// `limits.idle_timeout_ms` of silence as any other connection is.
    pub ping_interval_ms: u64,
    /// permessage-deflate (RFC 7692).
    pub deflate: DeflateSettings,
}

/// permessage-deflate settings. With both no-context-takeover flags set
/// (the default) no connection keeps a compression context between
/// messages: the core's shared contexts serve every connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeflateSettings {
    /// Accept permessage-deflate offers.
    pub enabled: bool,
    /// Compress each server message on its own.
    pub server_no_context_takeover: bool,
    /// Ask clients to compress each message on its own.
    pub client_no_context_takeover: bool,
    /// LZ77 window for server messages (9..=15).
    pub server_max_window_bits: u8,
    /// LZ77 window clients may use (9..=15).
    pub client_max_window_bits: u8,
    /// Messages shorter than this are sent uncompressed (bytes).
    pub min_compress_bytes: usize,
    /// zlib level, 1 (fast) ..= 9 (small).
    pub level: u32,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            enabled: true,
            addr: "127.0.0.1:8080".parse().expect("valid literal"),
            path: "/".to_string(),
            mqtt_path: "/mqtt".to_string(),
            echo: false,
            echo_path: "/echo".to_string(),
            allowed_origins: Vec::new(),
            max_frame_bytes: (1 << 20) + 4096,
            max_message_bytes: (1 << 20) + 4096,
            max_request_bytes: 8192,
            handshake_timeout_ms: 5_000,
            ping_interval_ms: 30_000,
            deflate: DeflateSettings::default(),
        }
    }
}

impl Default for DeflateSettings {
    fn default() -> Self {
        DeflateSettings {
            enabled: true,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            min_compress_bytes: 512,
            level: 1,
        }
    }
}

impl WebSocketConfig {
    /// Rejects settings the engine cannot honour.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.deflate;
        let bits = 9..=15;
        if !bits.contains(&d.server_max_window_bits) || !bits.contains(&d.client_max_window_bits) {
            return Err("websocket.deflate window bits must be in 9..=15".into());
        }
        if !(1..=9).contains(&d.level) {
            return Err("websocket.deflate.level must be in 1..=9".into());
        }
        for p in [&self.path, &self.mqtt_path, &self.echo_path] {
            if !p.starts_with('/') {
                return Err(format!("websocket path {p:?} must start with '/'"));
            }
        }
        if self.max_frame_bytes == 0 || self.max_message_bytes == 0 {
            return Err("websocket max_frame_bytes and max_message_bytes must be positive".into());
        }
        if self.max_request_bytes < 512 {
            return Err("websocket.max_request_bytes must be at least 512".into());
        }
        Ok(())
    }
}
