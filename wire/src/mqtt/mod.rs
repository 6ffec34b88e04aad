//! MQTT 3.1.1 and 5.0 packets, sans-IO, for both ends: the broker reads
//! what clients send and the load generator reads what the broker sends.
//!
//! - [`varint`]: the Variable Byte Integer used for lengths.
//! - [`packet`]: [`Packet`], the fixed header and its per-type flag rules.
//! - [`connect`], [`publish`], [`subscribe`], [`disconnect`]: one file
//!   per packet family, each with its `read` and `write`.
//! - [`properties`]: MQTT 5 properties, validated once and then read in
//!   place from the packet's bytes.
//! - [`decoder`]: [`PacketDecoder`], bytes in (any split), packets out.
//! - [`encoder`]: [`encode`], packets out.
//! - [`validate`]: UTF-8 strings, topic names, topic filters, shared
//!   subscriptions.
//!
//! Decoded packets borrow from the input: strings are `&str`, payloads
//! `&[u8]`, properties a checked slice. Only SUBSCRIBE and UNSUBSCRIBE
//! collect their filters into a `Vec`, bounded by the packet size limit.
//!
//! Not here: sessions, packet-id allocation, keep-alive timers, topic
//! aliases and the rules that need state beyond one packet (Receive
//! Maximum, per-filter SUBACK codes); those are the broker's. Topic filter
//! syntax is checked by [`validate::topic_filter`], not by the decoder,
//! because MQTT 5 answers a bad filter with a SUBACK reason code, not by
//! closing the connection.

pub mod connect;
pub mod decoder;
pub mod disconnect;
pub mod encoder;
pub mod packet;
pub mod properties;
pub mod publish;
pub mod subscribe;
pub mod validate;
pub mod varint;

mod cursor;

pub use connect::{Connack, Connect, Will};
pub use decoder::PacketDecoder;
pub use disconnect::{Auth, Disconnect};
pub use encoder::{encode, EncodeError};
pub use packet::{Packet, PacketType};
pub use properties::{Properties, PropertiesBuf, Property, PropertyId, PropertyValue};
pub use publish::{Ack, Publish};
pub use subscribe::{
    RetainHandling, Suback, Subscribe, Subscription, SubscriptionOptions, Unsuback, Unsubscribe,
};

/// The protocol level byte of CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte.
    pub const fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// Whether packets carry reason codes and properties.
    pub const fn is_v5(self) -> bool {
        matches!(self, ProtocolVersion::V5)
    }
}

/// Quality of service of a message or subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QoS {
    /// Fire and forget.
    AtMostOnce = 0,
    /// Acknowledged with PUBACK.
    AtLeastOnce = 1,
    /// Four-step PUBREC/PUBREL/PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// `None` for 3, which no packet may carry.
    pub const fn from_bits(bits: u8) -> Option<QoS> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// An MQTT 5 reason code (§2.4). In 3.1.1 the broker maps these to a
/// CONNACK return code or simply closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    /// Success / normal disconnection / granted QoS 0.
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    /// The bytes do not follow the packet grammar.
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    /// The bytes parse but break a protocol rule.
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    /// CONNECT named a protocol or level this codec does not speak.
    pub const UNSUPPORTED_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x84);
    /// A PUBLISH topic name is not a valid topic name.
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    /// A packet exceeds the maximum packet size.
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);
}

/// Why the connection must close: send `reason` (in DISCONNECT or
/// CONNACK for MQTT 5), then close. `what` is for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqttError {
    /// The MQTT 5 reason code to send.
    pub reason: ReasonCode,
    /// A short description for logs.
    pub what: &'static str,
}

impl MqttError {
    /// 0x81 Malformed Packet.
    pub const fn malformed(what: &'static str) -> Self {
        MqttError {
            reason: ReasonCode::MALFORMED_PACKET,
            what,
        }
    }

    /// 0x82 Protocol Error.
    pub const fn protocol(what: &'static str) -> Self {
        MqttError {
            reason: ReasonCode::PROTOCOL_ERROR,
            what,
        }
    }

    /// Any other reason code.
    pub const fn new(reason: ReasonCode, what: &'static str) -> Self {
        MqttError { reason, what }
    }
}

impl std::fmt::Display for MqttError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mqtt error 0x{:02x}: {}", self.reason.0, self.what)
    }
}

impl std::error::Error for MqttError {}
