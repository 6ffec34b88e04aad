//! The `[mqtt]` section: the MQTT listener, its limits, its users and its
//! topic ACL (docs/mqtt.md).

use std::net::SocketAddr;

use serde::Deserialize;

/// The MQTT broker.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Serve MQTT at all (TCP listener and the WebSocket `mqtt` endpoint).
    pub enabled: bool,
    /// TCP listener address.
    pub addr: SocketAddr,
    /// Clients without a user name may connect.
    pub allow_anonymous: bool,
    /// Largest packet accepted or sent (MQTT 5 Maximum Packet Size);
    /// larger input is refused with 0x95.
    pub max_packet_bytes: u32,
    /// QoS 1 and 2 PUBLISHes a client may have unacknowledged towards the
    /// server (MQTT 5 Receive Maximum); one more disconnects with 0x93.
    pub receive_maximum: u16,
    /// Most unacknowledged QoS 1 and 2 messages the server sends a client,
    /// whatever larger Receive Maximum the client announces.
    pub max_inflight: u16,
    /// Cap on the client's keep-alive (s), sent as Server Keep Alive in
    /// MQTT 5; 0 takes the client's value.
    pub max_keep_alive_s: u16,
    /// Topic aliases a client may use towards the server (MQTT 5).
    pub topic_alias_maximum: u16,
    /// Cap on a session's expiry interval (s).
    pub max_session_expiry_s: u32,
    /// Messages a session holds while its client is away or its in-flight
    /// window is full.
    pub offline_queue_messages: usize,
    /// What a full queue does with the next message (counted either way).
    pub offline_queue_full: QueueFull,
    /// Retained messages kept node-wide; a new topic beyond it is refused
    /// (the message is still delivered, not retained).
    pub max_retained: usize,
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// A CONNECT must arrive within this after the TCP accept (ms).
    pub connect_timeout_ms: u64,
    /// User names and passwords.
    pub users: Vec<MqttUser>,
    /// Topic rules, first match wins; no match allows.
    pub acl: Vec<AclRule>,
}

/// What a full session queue does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueFull {
    /// Drop the oldest queued message to make room.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNew,
}

/// A user of the static user list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttUser {
    /// User name (CONNECT User Name).
    pub name: String,
    /// Password (CONNECT Password), compared in constant time.
    pub password: String,
}

/// What an ACL rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    /// PUBLISH (and wills).
    Publish,
    /// SUBSCRIBE.
    Subscribe,
    /// Both.
    All,
}

/// One topic rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// The user it applies to; absent means everyone, anonymous included.
    pub user: Option<String>,
    /// Publish, subscribe or both.
    pub action: AclAction,
    /// An MQTT topic filter the topic (or subscription filter) must match.
    pub topic: String,
    /// Allow or deny.
    pub allow: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            addr: "127.0.0.1:1883".parse().expect("valid literal"),
            allow_anonymous: true,
            max_packet_bytes: (1 << 20) + 1024,
            receive_maximum: 64,
            max_inflight: 64,
            max_keep_alive_s: 0,
            topic_alias_maximum: 16,
            max_session_expiry_s: 7 * 24 * 3600,
            offline_queue_messages: 1000,
            offline_queue_full: QueueFull::DropOldest,
            max_retained: 100_000,
            max_subscriptions: 1024,
            connect_timeout_ms: 10_000,
            users: Vec::new(),
            acl: Vec::new(),
        }
    }
}

impl MqttConfig {
    /// Rejects settings the broker cannot honour.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_packet_bytes < 64 {
            return Err("mqtt.max_packet_bytes must be at least 64".into());
        }
        if self.receive_maximum == 0 || self.max_inflight == 0 {
            return Err("mqtt.receive_maximum and mqtt.max_inflight must be positive".into());
        }
        if self.offline_queue_messages == 0 {
            return Err("mqtt.offline_queue_messages must be positive".into());
        }
        for rule in &self.acl {
            if !wire::mqtt::validate::topic_filter(&rule.topic) {
                return Err(format!(
                    "mqtt.acl topic {:?} is not a topic filter",
                    rule.topic
                ));
            }
        }
        Ok(())
    }
}
