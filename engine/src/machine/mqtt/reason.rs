//! MQTT 5 reason codes the server sends besides the codec's own
//! (`wire::mqtt::ReasonCode`'s constants), and the counter each close
//! for a reason is counted in.

use wire::mqtt::ReasonCode;

/// Normal disconnection.
pub const NORMAL: ReasonCode = ReasonCode(0x00);
/// Disconnect with Will Message (client to server).
pub const WITH_WILL: ReasonCode = ReasonCode(0x04);
/// Unspecified error.
pub const UNSPECIFIED: ReasonCode = ReasonCode(0x80);
/// Implementation specific error.
pub const IMPLEMENTATION: ReasonCode = ReasonCode(0x83);
/// Client Identifier not valid.
pub const CLIENT_ID_INVALID: ReasonCode = ReasonCode(0x85);
/// Bad User Name or Password.
pub const BAD_CREDENTIALS: ReasonCode = ReasonCode(0x86);
/// Not authorized.
pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
/// Server unavailable.
pub const UNAVAILABLE: ReasonCode = ReasonCode(0x88);
/// Server shutting down.
pub const SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
/// Bad authentication method.
pub const BAD_AUTH_METHOD: ReasonCode = ReasonCode(0x8C);
/// Keep Alive timeout.
pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
/// Session taken over.
pub const TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
/// Topic Filter invalid.
pub const FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
/// Packet Identifier not found.
pub const PACKET_ID_NOT_FOUND: ReasonCode = ReasonCode(0x92);
/// Receive Maximum exceeded.
pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
/// Topic Alias invalid.
pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
/// Quota exceeded.
pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);

/// The metric a close is counted in (the broker maps each to its
/// `CoreStats` counter: the machine names no metric itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// `mqtt_malformed_packets_total`.
    Malformed,
    /// `mqtt_oversized_packets_total`.
    Oversized,
    /// `mqtt_receive_maximum_exceeded_total`.
    ReceiveMaximum,
    /// `mqtt_protocol_errors_total`.
    Protocol,
    /// `mqtt_connects_refused_total`.
    ConnectRefused,
    /// `mqtt_keepalive_timeouts_total` (keep-alive and CONNECT timeouts).
    KeepAlive,
}

impl Counter {
    /// The counter of a protocol failure with `reason`.
    pub fn of(reason: ReasonCode) -> Counter {
        match reason.0 {
            0x81 => Counter::Malformed,
            0x95 => Counter::Oversized,
            0x93 => Counter::ReceiveMaximum,
            _ => Counter::Protocol,
        }
    }
}
