//! Command line: `tcp`, `ws` and `mqtt` drive load, `echo-server` runs a
//! baseline.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::mqtt::MqttFlags;
use crate::transport::{Payload, WsSetup};

/// One process keeps below the machine's 20,000 open-file limit with room
/// for its own files and the listener-side descriptors of a local server.
pub const CONNECTIONS_PER_PROCESS: usize = 15_000;

#[derive(Parser, Debug)]
#[command(
    name = "switchboard-loadgen",
    about = "Load generator for Switchboard and baseline echo servers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Drive a scenario over raw TCP and report throughput and latency.
    Tcp(Box<LoadArgs>),
    /// Drive a scenario over WebSocket: echo sends bare stamped messages
    /// (any echo server answers); pairs, fanout and idle carry `wire`
    /// frames in binary messages (subprotocol `switchboard.v1.bin`).
    Ws(Box<WsArgs>),
    /// Drive a scenario against any MQTT broker (3.1.1 or 5, QoS 0 or 1):
    /// fanin, fanout, pairs, idle or storm (reconnects).
    Mqtt(Box<MqttArgs>),
    /// Run a baseline echo server (TCP bytes or WebSocket messages).
    EchoServer(EchoServerArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Every connection sends to its own user and gets its messages back.
    Echo,
    /// Connections 2k and 2k+1 send to each other.
    Pairs,
    /// One publisher sends to a topic with `--subscribers` subscribers.
    Fanout,
    /// Open connections, send nothing, measure server memory per connection.
    Idle,
    /// MQTT only: `--publishers` each publish to their own topic, and
    /// `--subscribers` each subscribe to all of them with one wildcard.
    Fanin,
    /// MQTT only: a reconnect storm. Each of `--connections` client ids
    /// connects over and over (Clean Start 0, a Session Expiry), each new
    /// connection taking the previous one's session over; counts CONNACKs
    /// and their latency.
    Storm,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_possible_value().expect("no skipped variants");
        f.write_str(s.get_name())
    }
}

/// Offered load: a fixed total rate (open loop) or as fast as the
/// pipeline allows (closed loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    PerSecond(u64),
    Max,
}

impl FromStr for Rate {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Rate> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        let r: u64 = s.parse().context("rate: a number of messages/s or `max`")?;
        if r == 0 {
            bail!("rate must be above 0");
        }
        Ok(Rate::PerSecond(r))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSecond(r) => write!(f, "{r}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// How a fixed rate's messages are spread in time (`crate::pacing`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// Evenly spaced, senders staggered: one message at a time.
    Even,
    /// What fell due is sent once per `--burst-interval-us`, by every
    /// sender at the same instant.
    Burst,
}

impl fmt::Display for Pacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_possible_value().expect("no skipped variants");
        f.write_str(s.get_name())
    }
}

/// An inclusive IPv4 range `a.b.c.d-a.b.c.e`, or a single address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpRange(pub Vec<IpAddr>);

impl FromStr for IpRange {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<IpRange> {
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        let lo: Ipv4Addr = lo.trim().parse().context("source ip range start")?;
        let hi: Ipv4Addr = hi.trim().parse().context("source ip range end")?;
        let (lo, hi) = (u32::from(lo), u32::from(hi));
        if hi < lo || hi - lo > 65_535 {
            bail!("source ip range {s} is empty or too large");
        }
        Ok(IpRange(
            (lo..=hi).map(|ip| IpAddr::V4(Ipv4Addr::from(ip))).collect(),
        ))
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    // Read these two through `LoadArgs::scenario` and `LoadArgs::addr`,
    // which fill in the transport's default.
    /// What the connections do [default: echo; mqtt: fanin].
    #[arg(long = "scenario", value_name = "SCENARIO", value_enum)]
    pub scenario_arg: Option<Scenario>,
    /// Server address [default: 127.0.0.1:7070; mqtt: 127.0.0.1:1883].
    #[arg(long = "addr", value_name = "ADDR")]
    pub addr_arg: Option<SocketAddr>,
    /// Total connections (fanout: defaults `--subscribers` to this minus
    /// the publishers; mqtt fanin: defaults `--publishers` to this).
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Message body bytes (at least 16: the send time and a sequence number).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Total messages/s across all senders, or `max` (closed loop).
    #[arg(long, default_value = "10000")]
    pub rate: Rate,
    /// With a fixed `--rate`: messages evenly spaced, or sent in bursts.
    #[arg(long, value_enum, default_value_t = Pacing::Even)]
    pub pacing: Pacing,
    /// `--pacing burst`: each sender writes what fell due once per this
    /// many microseconds.
    #[arg(long, default_value_t = 1000)]
    pub burst_interval_us: u64,
    /// Messages in flight per sender with `--rate max`.
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load whose samples are discarded.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Worker processes; default ceil(connections / 15000).
    #[arg(long)]
    pub processes: Option<usize>,
    /// Bind connections round-robin to these source addresses.
    #[arg(long)]
    pub source_ips: Option<IpRange>,
    /// Server process to sample CPU time and memory from.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Free text stored with the results.
    #[arg(long)]
    pub label: Option<String>,
    /// Append one JSON object per run to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fanout (and mqtt fanin) subscribers.
    #[arg(long)]
    pub subscribers: Option<usize>,
    /// The server is a plain byte echo: no HELLO, sent frames come back as is.
    #[arg(long)]
    pub raw: bool,
    /// Every Nth message of each sender goes HIGH_PRIORITY (0: none); the
    /// report then gives the high lane's latency apart from the normal's.
    #[arg(long, default_value_t = 0)]
    pub high_every: u64,
    /// Send the normal-lane messages DROPPABLE (the server may shed them).
    #[arg(long)]
    pub droppable: bool,
    /// Each reading connection drains at most this many bytes/s (0: as
    /// fast as it can): slow receivers, for overload runs.
    #[arg(long, default_value_t = 0)]
    pub read_bytes_per_s: u64,
    /// SO_RCVBUF of every connection (0: the kernel's autotuning). A slow
    /// reader's kernel buffer is bytes no server-side priority can pass.
    #[arg(long, default_value_t = 0)]
    pub rcvbuf_bytes: u32,
    /// Set by `ws`: the transport is WebSocket.
    #[arg(skip)]
    pub ws: Option<WsFlags>,
    /// Set by `mqtt`: the transport is MQTT.
    #[arg(skip)]
    pub mqtt: Option<MqttFlags>,
    #[arg(long, hide = true)]
    pub child_index: Option<usize>,
    #[arg(long, hide = true)]
    pub child_count: Option<usize>,
    /// Unix ns the parent started at: the epoch of body timestamps and the
    /// run's unique name.
    #[arg(long, hide = true)]
    pub start_at: Option<u64>,
}

impl LoadArgs {
    /// Rejects combinations that cannot run, before any connection opens.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.size < crate::stamp::STAMP_LEN {
            bail!("--size must be at least {}", crate::stamp::STAMP_LEN);
        }
        if self.connections == 0 || self.pipeline == 0 {
            bail!("--connections and --pipeline must be above 0");
        }
        if self.pacing == Pacing::Burst {
            if self.rate == Rate::Max {
                bail!("--pacing burst needs a fixed --rate");
            }
            if self.burst_interval_us == 0 {
                bail!("--burst-interval-us must be above 0");
            }
        }
        if self.scenario() == Scenario::Pairs && self.connections % 2 == 1 {
            bail!("pairs needs an even number of connections");
        }
        if self.raw && matches!(self.scenario(), Scenario::Pairs | Scenario::Fanout) {
            bail!("--raw works with echo and idle only");
        }
        if let Some(m) = &self.mqtt {
            return m.validate(self);
        }
        if matches!(self.scenario(), Scenario::Fanin | Scenario::Storm) {
            bail!("{} is an mqtt scenario", self.scenario());
        }
        if !(self.duration > 0.0 && self.warmup >= 0.0) {
            bail!("--duration must be above 0 and --warmup not negative");
        }
        if let Some(ws) = self.ws_setup() {
            if ws.payload == Payload::Text && self.size < crate::stamp::TEXT_STAMP_LEN {
                bail!(
                    "--text needs --size of at least {}",
                    crate::stamp::TEXT_STAMP_LEN
                );
            }
            if self.ws.as_ref().is_some_and(|f| f.json_frames) && ws.payload != Payload::Envelope {
                bail!("--json-frames works with pairs, fanout and idle only");
            }
            if self.ws.as_ref().is_some_and(|f| f.text) && ws.payload != Payload::Text {
                bail!("--text works with echo (and --raw idle) only");
            }
        }
        Ok(())
    }

    /// How to open each WebSocket connection; `None` on TCP. Echo (and
    /// `--raw`) sends bare bodies, so any echo server answers; the other
    /// scenarios carry `wire` frames.
    pub fn ws_setup(&self) -> Option<WsSetup> {
        let flags = self.ws.as_ref()?;
        let bare = self.raw || self.scenario() == Scenario::Echo;
        let payload = match (bare, flags.text) {
            (false, _) => Payload::Envelope,
            (true, false) => Payload::Binary,
            (true, true) => Payload::Text,
        };
        let default_path = if self.scenario() == Scenario::Echo {
            "/echo"
        } else {
            "/"
        };
        Some(WsSetup {
            path: flags
                .path
                .clone()
                .unwrap_or_else(|| default_path.to_string()),
            compression: flags.compression,
            payload,
            json: flags.json_frames,
        })
    }

    /// The scenario, with the transport's default.
    pub fn scenario(&self) -> Scenario {
        let default = match self.mqtt {
            Some(_) => Scenario::Fanin,
            None => Scenario::Echo,
        };
        self.scenario_arg.unwrap_or(default)
    }

    /// The server address, with the transport's default port.
    pub fn addr(&self) -> SocketAddr {
        let port = match self.mqtt {
            Some(_) => 1883,
            None => 7070,
        };
        self.addr_arg
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    /// Fanout (and fanin) subscribers: `--subscribers`, else for fanout
    /// all connections but the publishers, for fanin one.
    pub fn subscriber_count(&self) -> usize {
        let default = match self.scenario() {
            Scenario::Fanin => 1,
            _ => self.connections.saturating_sub(self.publisher_count()),
        };
        self.subscribers.unwrap_or(default).max(1)
    }

    /// Publishing connections of fanout and fanin: one on `tcp` and `ws`;
    /// on `mqtt` `--publishers`, else one for fanout and `--connections`
    /// for fanin.
    pub fn publisher_count(&self) -> usize {
        let flag = self.mqtt.as_ref().and_then(|m| m.publishers);
        match self.scenario() {
            Scenario::Fanin => flag.unwrap_or(self.connections).max(1),
            _ => flag.unwrap_or(1).max(1),
        }
    }

    /// Connections the scenario really opens.
    pub fn total_connections(&self) -> usize {
        match self.scenario() {
            Scenario::Fanout | Scenario::Fanin => self.subscriber_count() + self.publisher_count(),
            _ => self.connections,
        }
    }

    /// Deliveries each sent message makes, across the whole run.
    pub fn deliveries_per_message(&self) -> u64 {
        match self.scenario() {
            Scenario::Fanout | Scenario::Fanin => self.subscriber_count() as u64,
            _ => 1,
        }
    }

    /// The name of the transport, as results record it.
    pub fn transport_name(&self) -> &'static str {
        match (&self.ws, &self.mqtt) {
            (Some(_), _) => "ws",
            (_, Some(_)) => "mqtt",
            _ => "tcp",
        }
    }

    pub fn process_count(&self) -> usize {
        self.processes
            .unwrap_or_else(|| self.total_connections().div_ceil(CONNECTIONS_PER_PROCESS))
            .max(1)
    }

    /// The burst interval the schedule rounds to, in ns; 0 when even.
    pub fn burst_ns(&self) -> u64 {
        match self.pacing {
            Pacing::Even => 0,
            Pacing::Burst => self.burst_interval_us.saturating_mul(1_000),
        }
    }

    pub fn warmup_ns(&self) -> u64 {
        secs_to_ns(self.warmup)
    }

    pub fn duration_ns(&self) -> u64 {
        secs_to_ns(self.duration)
    }
}

fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9) as u64
}

/// The WebSocket options of `ws`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WsFlags {
    /// Request path [default: /echo for echo, / otherwise].
    #[arg(long)]
    pub path: Option<String>,
    /// Offer permessage-deflate.
    #[arg(long)]
    pub compression: bool,
    /// Echo sends text messages (hex stamp) instead of binary ones.
    #[arg(long)]
    pub text: bool,
    /// Pairs, fanout and idle: ask for subprotocol `switchboard.v1.json`,
    /// so the server writes every frame as a JSON text message (the
    /// client still sends binary frames and turns the JSON back into
    /// frames).
    #[arg(long)]
    pub json_frames: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WsArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub ws: WsFlags,
}

impl WsArgs {
    /// The run's arguments, with WebSocket as the transport.
    pub fn into_load(self) -> LoadArgs {
        LoadArgs {
            ws: Some(self.ws),
            ..self.load
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct MqttArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub mqtt: MqttFlags,
}

impl MqttArgs {
    /// The run's arguments, with MQTT as the transport.
    pub fn into_load(self) -> LoadArgs {
        LoadArgs {
            mqtt: Some(self.mqtt),
            ..self.load
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoImpl {
    /// TCP byte echo on tokio.
    Tokio,
    /// TCP byte echo on monoio (io_uring).
    Monoio,
    /// WebSocket echo: tokio-tungstenite.
    Tungstenite,
    /// WebSocket echo: fastwebsockets with hyper's upgrade.
    Fastwebsockets,
}

#[derive(clap::Args, Debug, Clone)]
pub struct EchoServerArgs {
    #[arg(long = "impl", value_enum)]
    pub implementation: EchoImpl,
    /// Listen address; port 0 picks a free port (printed when ready).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub addr: SocketAddr,
    /// Runtime threads: tokio workers, or monoio thread-per-core runtimes.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_parses_numbers_and_max() {
        assert_eq!("max".parse::<Rate>().unwrap(), Rate::Max);
        assert_eq!("2500".parse::<Rate>().unwrap(), Rate::PerSecond(2500));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }

    #[test]
    fn ip_range_is_inclusive() {
        let r: IpRange = "127.0.0.1-127.0.0.8".parse().unwrap();
        assert_eq!(r.0.len(), 8);
        assert_eq!(r.0[7], "127.0.0.8".parse::<IpAddr>().unwrap());
        assert_eq!("10.0.0.1".parse::<IpRange>().unwrap().0.len(), 1);
        assert!("10.0.0.2-10.0.0.1".parse::<IpRange>().is_err());
    }

    #[test]
    fn ws_paths_and_payloads() {
        let ws = |extra: &[&str]| {
            let args = Cli::parse_from(["lg", "ws"].iter().chain(extra));
            let Command::Ws(w) = args.command else {
                panic!("ws")
            };
            w.into_load()
        };
        let echo = ws(&["--text", "--size", "32"]).ws_setup().unwrap();
        assert_eq!((echo.path.as_str(), echo.payload), ("/echo", Payload::Text));
        let pairs = ws(&["--scenario", "pairs", "--compression"])
            .ws_setup()
            .unwrap();
        assert_eq!(
            (pairs.path.as_str(), pairs.payload),
            ("/", Payload::Envelope)
        );
        assert!(pairs.compression);
        assert!(!pairs.json);
        let fanout = ws(&["--scenario", "fanout", "--json-frames"]);
        assert!(fanout.validate().is_ok());
        assert!(fanout.ws_setup().unwrap().json);
        assert!(ws(&["--json-frames"]).validate().is_err());
        assert!(ws(&["--text", "--size", "20"]).validate().is_err());
        assert!(ws(&["--text"]).validate().is_ok());
        assert!(ws(&["--scenario", "fanout", "--text", "--size", "64"])
            .validate()
            .is_err());
    }

    #[test]
    fn default_processes_cover_the_file_limit() {
        let args = Cli::parse_from(["lg", "tcp", "--connections", "30001"]);
        let Command::Tcp(t) = args.command else {
            panic!("tcp")
        };
        assert_eq!(t.process_count(), 3);
    }
}
