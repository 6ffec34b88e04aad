//! The options of `switchboard-loadgen mqtt` beyond the common ones, and
//! the checks that need both.

use anyhow::bail;
use clap::ValueEnum;
use wire::mqtt::{validate, ProtocolVersion, QoS};

use super::tag;
use crate::cli::{LoadArgs, Scenario};

/// The protocol level the client speaks.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MqttVersion {
    #[value(name = "3.1.1")]
    V311,
    #[value(name = "5")]
    V5,
}

impl MqttVersion {
    pub fn protocol(self) -> ProtocolVersion {
        match self {
            MqttVersion::V311 => ProtocolVersion::V311,
            MqttVersion::V5 => ProtocolVersion::V5,
        }
    }

    /// As results record it.
    pub fn name(self) -> &'static str {
        match self {
            MqttVersion::V311 => "3.1.1",
            MqttVersion::V5 => "5",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct MqttFlags {
    /// QoS of every PUBLISH and subscription (0 or 1).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// Protocol version of every connection.
    #[arg(long, value_enum, default_value = "3.1.1")]
    pub mqtt_version: MqttVersion,
    /// Publishing connections of fanin and fanout [default: fanin
    /// `--connections`, fanout 1].
    #[arg(long)]
    pub publishers: Option<usize>,
    /// QoS 1: PUBLISHes per publisher awaiting their PUBACK; a full window
    /// holds the publisher's next messages back (and the summary says so).
    /// An MQTT 5 broker's smaller Receive Maximum lowers it.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// Keep-alive in CONNECT, seconds (0: off). A connection that has sent
    /// nothing for half of it sends PINGREQ.
    #[arg(long, default_value_t = 60)]
    pub keep_alive: u16,
    /// First level of every topic: fanin publishes to
    /// `PREFIX/<publisher>/telemetry`, fanout to `PREFIX/fanout`, pairs to
    /// `PREFIX/pairs/<connection>`.
    #[arg(long, default_value = "bench")]
    pub topic_prefix: String,
    /// Storm: the Session Expiry Interval of every CONNECT, seconds (MQTT
    /// 5; on 3.1.1 Clean Session 0 alone keeps the session).
    #[arg(long, default_value_t = 300)]
    pub session_expiry: u32,
}

impl MqttFlags {
    pub fn qos(&self) -> QoS {
        match self.qos {
            0 => QoS::AtMostOnce,
            _ => QoS::AtLeastOnce,
        }
    }

    /// Checks what only an MQTT run needs, after the common checks.
    pub fn validate(&self, args: &LoadArgs) -> anyhow::Result<()> {
        if args.scenario() == Scenario::Echo {
            bail!("mqtt runs fanin, fanout, pairs, idle or storm, not echo");
        }
        if args.raw || args.ws.is_some() {
            bail!("--raw is not an mqtt option");
        }
        let probe = format!("{}/0/telemetry", self.topic_prefix);
        if self.topic_prefix.is_empty() || !validate::topic_name(&probe) {
            bail!("--topic-prefix must be a topic name without wildcards");
        }
        // Publisher indices are below the connection count.
        if args.total_connections() as u64 > tag::PUBLISHERS_MAX {
            bail!("at most {} connections", tag::PUBLISHERS_MAX);
        }
        Ok(())
    }
}
