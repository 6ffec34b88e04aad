//! An application message on its way through the broker: what a PUBLISH
//! (or a `wire` SEND to a topic) carries once it is taken off the socket.
//!
//! A message is shared, never copied: every subscriber's queue, every
//! core it crosses and the retained store hold the same `Arc<Message>`.
//! Its topic, payload, properties and sender are one copy in the core's
//! encode arena (one `Bytes`, sliced by offsets), so taking a message off
//! the socket costs one copy and one reference count.

use bytes::{BufMut, Bytes, BytesMut};
use wire::mqtt::QoS;

/// A published message.
#[derive(Debug)]
pub struct Message {
    /// topic | payload | properties | sender.
    buf: Bytes,
    topic_end: u32,
    payload_end: u32,
    props_end: u32,
    /// QoS, flags, expiry, origin and id.
    pub meta: Meta,
}

/// What a new message is made of, borrowed from the packet that carried it.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The topic name.
    pub topic: &'a str,
    /// The application payload.
    pub payload: &'a [u8],
    /// MQTT 5 properties forwarded to subscribers, one encoded block
    /// without its length prefix.
    pub props: &'a [u8],
    /// Who published it: the MQTT client id or the `wire` user id.
    pub sender: &'a str,
}

/// Everything about a message besides its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// The QoS it was published with.
    pub qos: QoS,
    /// Published with RETAIN.
    pub retain: bool,
    /// Travels on the mesh's high lane (a `wire` SEND with HIGH_PRIORITY).
    pub high_priority: bool,
    /// May be shed (a `wire` SEND with DROPPABLE): when the mesh ring to
    /// another core is full, and to a `wire` subscriber over its high
    /// watermark. An MQTT session's own queue keeps it (MQTT semantics).
    pub droppable: bool,
    /// Unix ms after which it is no longer delivered (MQTT 5 Message
    /// Expiry Interval); 0 never expires.
    pub expires_at: u64,
    /// The publishing session, for no-local subscriptions; 0 for none.
    pub origin: u64,
    /// Server message id (snowflake): the DELIVER frame's id.
    pub id: u64,
}

impl Message {
    /// Copies `parts` into `arena` (one split) and builds the message.
    pub fn new(arena: &mut BytesMut, parts: Parts<'_>, meta: Meta) -> Message {
        arena.put_slice(parts.topic.as_bytes());
        let topic_end = arena.len() as u32;
        arena.put_slice(parts.payload);
        let payload_end = arena.len() as u32;
        arena.put_slice(parts.props);
        let props_end = arena.len() as u32;
        arena.put_slice(parts.sender.as_bytes());
        Message {
            buf: arena.split().freeze(),
            topic_end,
            payload_end,
            props_end,
            meta,
        }
    }

    /// The topic name.
    pub fn topic_str(&self) -> &str {
        let b = &self.buf[..self.topic_end as usize];
        // SAFETY: `new` copied these bytes from a `&str`, and `buf` is
        // never written after; skipping the check saves a UTF-8 scan per
        // subscriber on the publish path.
        unsafe { std::str::from_utf8_unchecked(b) }
    }

    /// The topic name as bytes.
    pub fn topic(&self) -> &[u8] {
        &self.buf[..self.topic_end as usize]
    }

    /// The topic name as a shared handle (for alias tables).
    pub fn topic_bytes(&self) -> Bytes {
        self.buf.slice(..self.topic_end as usize)
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.topic_end as usize..self.payload_end as usize]
    }

    /// The payload as a shared handle (queued after each subscriber's head).
    pub fn payload_bytes(&self) -> Bytes {
        self.buf
            .slice(self.topic_end as usize..self.payload_end as usize)
    }

    /// The forwarded MQTT 5 properties (one block, no length prefix).
    pub fn props(&self) -> &[u8] {
        &self.buf[self.payload_end as usize..self.props_end as usize]
    }

    /// Who published it.
    pub fn sender(&self) -> &str {
        let b = &self.buf[self.props_end as usize..];
        // SAFETY: as for the topic: copied from a `&str` by `new`.
        unsafe { std::str::from_utf8_unchecked(b) }
    }

    /// Whether it expired by `unix_ms`: its interval is over only past
    /// its last millisecond (see [`crate::timers`]).
    pub fn expired(&self, unix_ms: u64) -> bool {
        self.meta.expires_at != 0 && crate::timers::due(self.meta.expires_at, unix_ms)
    }

    /// The Message Expiry Interval left at `unix_ms`, in whole seconds
    /// rounded up (so that the receiver never drops it early), for
    /// forwarding (MQTT 5 §3.3.2.3.3); at least 1 while not expired, as
    /// 0 would tell the receiver it already has.
    pub fn expiry_left_s(&self, unix_ms: u64) -> Option<u32> {
        (self.meta.expires_at != 0).then(|| {
            let left = self.meta.expires_at.saturating_sub(unix_ms);
            left.div_ceil(1000).clamp(1, u64::from(u32::MAX)) as u32
        })
    }
}

#[cfg(test)]
pub(crate) fn test_message(id: u64, expires_at: u64) -> Message {
    let parts = Parts {
        topic: "t/1",
        payload: &[id as u8],
        props: &[],
        sender: "me",
    };
    let meta = Meta {
        qos: QoS::AtLeastOnce,
        retain: false,
        high_priority: false,
        droppable: false,
        expires_at,
        origin: 0,
        id,
    };
    Message::new(&mut BytesMut::new(), parts, meta)
}

/// An empty QoS 0 message on `topic` (tests of topic aliases).
#[cfg(test)]
pub(crate) fn test_message_on(topic: &str) -> Message {
    let parts = Parts {
        topic,
        payload: b"",
        props: b"",
        sender: "",
    };
    let meta = Meta {
        qos: QoS::AtMostOnce,
        retain: false,
        high_priority: false,
        droppable: false,
        expires_at: 0,
        origin: 0,
        id: 0,
    };
    Message::new(&mut BytesMut::new(), parts, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_whole() {
        let mut arena = BytesMut::with_capacity(64);
        let parts = Parts {
            topic: "a/b",
            payload: b"xyz",
            props: &[0x01, 0x01],
            sender: "dev",
        };
        let meta = Meta {
            qos: QoS::AtMostOnce,
            retain: true,
            high_priority: false,
            droppable: false,
            expires_at: 0,
            origin: 7,
            id: 9,
        };
        let m = Message::new(&mut arena, parts, meta);
        assert_eq!(m.topic_str(), "a/b");
        assert_eq!(&m.topic_bytes()[..], b"a/b");
        assert_eq!(m.payload(), b"xyz");
        assert_eq!(&m.payload_bytes()[..], b"xyz");
        assert_eq!(m.props(), &[0x01, 0x01]);
        assert_eq!(m.sender(), "dev");
        assert!(arena.is_empty());
    }

    #[test]
    fn expiry_counts_down_in_whole_seconds() {
        let m = test_message(1, 10_500);
        assert_eq!(m.expiry_left_s(0), Some(11));
        assert_eq!(m.expiry_left_s(10_000), Some(1));
        assert_eq!(m.expiry_left_s(10_499), Some(1));
        assert_eq!(m.expiry_left_s(10_500), Some(1));
        assert!(!m.expired(10_499));
        assert!(!m.expired(10_500));
        assert!(m.expired(10_501));
        let never = test_message(1, 0);
        assert_eq!(never.expiry_left_s(5), None);
        assert!(!never.expired(u64::MAX));
    }
}
