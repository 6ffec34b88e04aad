//! An application message on its way through the broker: what a PUBLISH
//! (or a `wire` SEND to a topic) carries once it is taken off the socket.
//!
//! A message is shared, never copied: every subscriber's queue, every
//! core it crosses and the retained store hold the same `Arc<Message>`,
//! and its fields are slices of one copy of the packet in the core's
//! encode arena.

use bytes::Bytes;
use wire::mqtt::QoS;

/// A published message.
#[derive(Debug)]
pub struct Message {
    /// The topic name (valid UTF-8, no wildcards).
    pub topic: Bytes,
    /// The application payload.
    pub payload: Bytes,
    /// MQTT 5 properties forwarded to subscribers (payload format,
    /// content type, response topic, correlation data, user properties),
    /// as one encoded block without its length prefix.
    pub props: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
    /// Published with RETAIN.
    pub retain: bool,
    /// Travels on the mesh's high lane (a `wire` SEND with HIGH_PRIORITY).
    pub high_priority: bool,
    /// Unix ms after which it is no longer delivered (MQTT 5 Message
    /// Expiry Interval); 0 never expires.
    pub expires_at: u64,
    /// The publishing session, for no-local subscriptions; 0 for none.
    pub origin: u64,
    /// Server message id (snowflake): the DELIVER frame's id.
    pub id: u64,
    /// Who published it: the MQTT client id or the `wire` user id.
    pub sender: Bytes,
}

impl Message {
    /// The topic as text.
    pub fn topic_str(&self) -> &str {
        // Both constructors take the topic from a `&str`.
        std::str::from_utf8(&self.topic).unwrap_or("")
    }

    /// Whether it expired by `unix_ms`.
    pub fn expired(&self, unix_ms: u64) -> bool {
        self.expires_at != 0 && unix_ms >= self.expires_at
    }

    /// The Message Expiry Interval left at `unix_ms`, in whole seconds
    /// rounded up, for forwarding (MQTT 5 §3.3.2.3.3).
    pub fn expiry_left_s(&self, unix_ms: u64) -> Option<u32> {
        (self.expires_at != 0).then(|| {
            let left = self.expires_at.saturating_sub(unix_ms);
            left.div_ceil(1000).min(u64::from(u32::MAX)) as u32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(expires_at: u64) -> Message {
        Message {
            topic: Bytes::from_static(b"t"),
            payload: Bytes::new(),
            props: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            high_priority: false,
            expires_at,
            origin: 0,
            id: 1,
            sender: Bytes::new(),
        }
    }

    #[test]
    fn expiry_counts_down_in_whole_seconds() {
        let m = msg(10_500);
        assert_eq!(m.expiry_left_s(0), Some(11));
        assert_eq!(m.expiry_left_s(10_000), Some(1));
        assert!(!m.expired(10_499));
        assert!(m.expired(10_500));
        assert_eq!(msg(0).expiry_left_s(5), None);
        assert!(!msg(0).expired(u64::MAX));
    }
}
