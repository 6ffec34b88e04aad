//! Settings: built-in defaults, overridden by a TOML file, overridden by
//! `SWITCHBOARD_*` environment variables and command-line flags.
//!
//! Every limit the engine runs with is fixed here at start-up; the sizing
//! comments on [`Limits`] say what each one bounds.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

mod mqtt;
mod websocket;

pub use mqtt::{AclAction, AclRule, MqttConfig, MqttUser, QueueFull};
pub use websocket::{DeflateSettings, WebSocketConfig};

/// Which I/O backend the reactor threads use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// io_uring, falling back to epoll if the kernel refuses it.
    #[default]
    Auto,
    /// io_uring only; start-up fails if it is refused.
    Uring,
    /// epoll (mio) only.
    Epoll,
}

/// The whole configuration, as the engine uses it.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the `wire` TCP listener.
    pub wire_addr: SocketAddr,
    /// Address of the admin and metrics HTTP listener.
    pub admin_addr: SocketAddr,
    /// Reactor threads; 0 means one per available core.
    pub threads: usize,
    /// Pin reactor thread i to core i.
    pub pin_threads: bool,
    /// I/O backend.
    pub backend: BackendChoice,
    /// This node's id in message ids (0..=1023).
    pub node_id: u16,
    /// Name sent in WELCOME.
    pub server_name: String,
    /// Sizes and timeouts.
    pub limits: Limits,
    /// The WebSocket listener.
    pub websocket: WebSocketConfig,
    /// The MQTT broker.
    pub mqtt: MqttConfig,
}

/// Bounds on memory and time, fixed at start-up.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest frame payload accepted from a client (bytes).
    pub max_payload_len: u32,
    /// A connection's send queue above this pauses the senders feeding it
    /// (bytes). Bounds per-connection memory at this plus one message per
    /// paused sender.
    pub send_queue_high_bytes: u32,
    /// Paused senders resume once the queue drains below this (bytes).
    pub send_queue_low_bytes: u32,
    /// Most bytes a connection's socket holds not yet sent, in the kernel
    /// (`TCP_NOTSENT_LOWAT`; 0: the kernel's own bound, up to its whole
    /// send buffer, ~4 MiB). Priority only reorders what is still in the
    /// send queue: bytes in the kernel go out first whatever their lane,
    /// so this bounds how much normal traffic a high-priority message can
    /// find ahead of it. 128 KiB keeps a loopback or LAN link busy between
    /// two reactor ticks while letting no more than ~128 1 KiB messages
    /// past the lanes (docs/operations.md has the cost at max).
    pub socket_unsent_bytes_max: u32,
    /// Slots per lane of each core-to-core ring. Memory is
    /// threads² × 2 × this × ~100 bytes, so keep it modest on many cores.
    pub mesh_ring_slots: usize,
    /// Pooled receive buffers per core; an idle connection holds none.
    pub recv_buf_count: u16,
    /// Bytes per pooled receive buffer.
    pub recv_buf_len: u32,
    /// io_uring submission queue entries per core.
    pub ring_entries: u32,
    /// Close connections that have not sent HELLO after this (ms).
    pub hello_timeout_ms: u64,
    /// Close connections silent for this long (ms); clients PING to stay.
    pub idle_timeout_ms: u64,
    /// On SIGTERM, wait at most this long for send queues to flush (ms).
    pub drain_timeout_ms: u64,
    /// Most connections per core; accepts beyond it are refused. The
    /// connection table reserves this many slots of address space (about
    /// 120 bytes each) at start-up; only slots in use cost memory.
    pub max_connections_per_core: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            wire_addr: "127.0.0.1:7070".parse().expect("valid literal"),
            admin_addr: "127.0.0.1:9090".parse().expect("valid literal"),
            threads: 0,
            pin_threads: true,
            backend: BackendChoice::Auto,
            node_id: 0,
            server_name: "switchboard".to_string(),
            limits: Limits::default(),
            websocket: WebSocketConfig::default(),
            mqtt: MqttConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_len: 1 << 20,
            send_queue_high_bytes: 256 * 1024,
            send_queue_low_bytes: 64 * 1024,
            socket_unsent_bytes_max: 128 * 1024,
            mesh_ring_slots: 4096,
            recv_buf_count: 1024,
            recv_buf_len: 16 * 1024,
            ring_entries: 4096,
            hello_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            drain_timeout_ms: 5_000,
            max_connections_per_core: 1 << 18,
        }
    }
}

/// Command line; each flag can also come from its `SWITCHBOARD_*` variable.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard edge connection engine"
)]
pub struct Cli {
    /// TOML configuration file (see switchboard.example.toml).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the wire TCP listener.
    #[arg(long, env = "SWITCHBOARD_WIRE_ADDR")]
    pub wire_addr: Option<SocketAddr>,
    /// Address of the admin/metrics HTTP listener.
    #[arg(long, env = "SWITCHBOARD_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Reactor threads (0 = one per core).
    #[arg(long, env = "SWITCHBOARD_THREADS")]
    pub threads: Option<usize>,
    /// Pin reactor threads to cores.
    #[arg(long, env = "SWITCHBOARD_PIN_THREADS")]
    pub pin_threads: Option<bool>,
    /// I/O backend.
    #[arg(long, env = "SWITCHBOARD_BACKEND", value_enum)]
    pub backend: Option<BackendChoice>,
    /// Node id used in message ids (0..=1023).
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<u16>,
    /// Largest frame payload accepted (bytes).
    #[arg(long, env = "SWITCHBOARD_MAX_PAYLOAD_LEN")]
    pub max_payload_len: Option<u32>,
    /// Send queue high watermark (bytes).
    #[arg(long, env = "SWITCHBOARD_SEND_QUEUE_HIGH_BYTES")]
    pub send_queue_high_bytes: Option<u32>,
    /// Send queue low watermark (bytes).
    #[arg(long, env = "SWITCHBOARD_SEND_QUEUE_LOW_BYTES")]
    pub send_queue_low_bytes: Option<u32>,
    /// Unsent bytes a socket may hold in the kernel (0: kernel default).
    #[arg(long, env = "SWITCHBOARD_SOCKET_UNSENT_BYTES_MAX")]
    pub socket_unsent_bytes_max: Option<u32>,
    /// Idle timeout (ms).
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// HELLO timeout (ms).
    #[arg(long, env = "SWITCHBOARD_HELLO_TIMEOUT_MS")]
    pub hello_timeout_ms: Option<u64>,
    /// Drain timeout on SIGTERM (ms).
    #[arg(long, env = "SWITCHBOARD_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: Option<u64>,
    /// Pooled receive buffers per core.
    #[arg(long, env = "SWITCHBOARD_RECV_BUF_COUNT")]
    pub recv_buf_count: Option<u16>,
    /// Slots per lane of each core-to-core ring.
    #[arg(long, env = "SWITCHBOARD_MESH_RING_SLOTS")]
    pub mesh_ring_slots: Option<usize>,
    /// Address of the WebSocket listener.
    #[arg(long, env = "SWITCHBOARD_WS_ADDR")]
    pub ws_addr: Option<SocketAddr>,
    /// Serve WebSocket at all.
    #[arg(long, env = "SWITCHBOARD_WS_ENABLED")]
    pub ws_enabled: Option<bool>,
    /// Serve the conformance echo endpoint (`/echo`) on the WebSocket port.
    #[arg(long, env = "SWITCHBOARD_WS_ECHO")]
    pub ws_echo: bool,
    /// Largest WebSocket frame accepted (bytes).
    #[arg(long, env = "SWITCHBOARD_WS_MAX_FRAME_BYTES")]
    pub ws_max_frame_bytes: Option<u64>,
    /// Largest WebSocket message accepted (bytes).
    #[arg(long, env = "SWITCHBOARD_WS_MAX_MESSAGE_BYTES")]
    pub ws_max_message_bytes: Option<u64>,
    /// Accept permessage-deflate.
    #[arg(long, env = "SWITCHBOARD_WS_DEFLATE")]
    pub ws_deflate: Option<bool>,
    /// Address of the MQTT TCP listener.
    #[arg(long, env = "SWITCHBOARD_MQTT_ADDR")]
    pub mqtt_addr: Option<SocketAddr>,
    /// Serve MQTT at all.
    #[arg(long, env = "SWITCHBOARD_MQTT_ENABLED")]
    pub mqtt_enabled: Option<bool>,
}

/// A configuration that cannot run.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults, then the file named by `--config`, then flags and env.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let mut cfg = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("reading {}: {e}", path.display())))?;
                Config::from_toml(&text)?
            }
            None => Config::default(),
        };
        cfg.apply_cli(cli);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a TOML document over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("config: {e}")))
    }

    fn apply_cli(&mut self, cli: &Cli) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut self.wire_addr, &cli.wire_addr);
        set(&mut self.admin_addr, &cli.admin_addr);
        set(&mut self.threads, &cli.threads);
        set(&mut self.pin_threads, &cli.pin_threads);
        set(&mut self.backend, &cli.backend);
        set(&mut self.node_id, &cli.node_id);
        let l = &mut self.limits;
        set(&mut l.max_payload_len, &cli.max_payload_len);
        set(&mut l.send_queue_high_bytes, &cli.send_queue_high_bytes);
        set(&mut l.send_queue_low_bytes, &cli.send_queue_low_bytes);
        set(&mut l.socket_unsent_bytes_max, &cli.socket_unsent_bytes_max);
        set(&mut l.idle_timeout_ms, &cli.idle_timeout_ms);
        set(&mut l.hello_timeout_ms, &cli.hello_timeout_ms);
        set(&mut l.drain_timeout_ms, &cli.drain_timeout_ms);
        set(&mut l.recv_buf_count, &cli.recv_buf_count);
        set(&mut l.mesh_ring_slots, &cli.mesh_ring_slots);
        let ws = &mut self.websocket;
        set(&mut ws.addr, &cli.ws_addr);
        set(&mut ws.enabled, &cli.ws_enabled);
        set(&mut ws.max_frame_bytes, &cli.ws_max_frame_bytes);
        set(&mut ws.max_message_bytes, &cli.ws_max_message_bytes);
        set(&mut ws.deflate.enabled, &cli.ws_deflate);
        ws.echo |= cli.ws_echo;
        set(&mut self.mqtt.addr, &cli.mqtt_addr);
        set(&mut self.mqtt.enabled, &cli.mqtt_enabled);
    }

    /// Rejects settings the engine cannot honour.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let bad = |m: &str| Err(ConfigError(m.to_string()));
        if self.node_id > crate::ids::NODE_ID_MAX {
            return bad("node_id must be at most 1023");
        }
        if self.threads > 64 {
            return bad("threads must be at most 64 (the mesh tracks cores in a u64)");
        }
        if l.send_queue_low_bytes >= l.send_queue_high_bytes {
            return bad("send_queue_low_bytes must be below send_queue_high_bytes");
        }
        if l.socket_unsent_bytes_max > i32::MAX as u32 {
            return bad("socket_unsent_bytes_max must be at most 2^31 - 1");
        }
        if !l.recv_buf_count.is_power_of_two() {
            return bad("recv_buf_count must be a power of two");
        }
        if l.mesh_ring_slots < 16 {
            return bad("mesh_ring_slots must be at least 16");
        }
        if l.max_payload_len < 64 {
            return bad("max_payload_len must be at least 64");
        }
        self.websocket.validate().map_err(ConfigError)?;
        self.mqtt.validate().map_err(ConfigError)
    }

    /// Reactor threads to start.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get().min(64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../../switchboard.example.toml");
        let cfg = Config::from_toml(text).expect("example parses");
        cfg.validate().expect("example is valid");
        let d = Config::default();
        assert_eq!(cfg.wire_addr, d.wire_addr);
        assert_eq!(cfg.limits.max_payload_len, d.limits.max_payload_len);
        assert_eq!(cfg.limits.idle_timeout_ms, d.limits.idle_timeout_ms);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Config::from_toml("wire_adr = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let cli = Cli::parse_from(["switchboard", "--threads", "3", "--backend", "epoll"]);
        let mut cfg = Config::from_toml("threads = 1").unwrap();
        cfg.apply_cli(&cli);
        assert_eq!(cfg.threads, 3);
        assert_eq!(cfg.backend, BackendChoice::Epoll);
    }
}
