//! A raw MQTT client over a blocking `TcpStream` ([`RawMqtt`]): it writes
//! exactly the bytes a test asks for (a packet before CONNECT, a QoS 3
//! PUBLISH, a remaining length that never ends), and also does the plain
//! things a bystander needs (connect, subscribe, publish, receive).
//!
//! Packets are built and parsed here by hand, after the MQTT 3.1.1 and 5.0
//! specifications, not with `wire::mqtt`: the engine's codec is not
//! checked against itself.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::client::TIMEOUT;

/// Protocol level byte of MQTT 3.1.1.
pub const V311: u8 = 4;
/// Protocol level byte of MQTT 5.0.
pub const V5: u8 = 5;

/// Packet types (the high nibble of the first byte).
pub mod kind {
    /// CONNECT.
    pub const CONNECT: u8 = 1;
    /// CONNACK.
    pub const CONNACK: u8 = 2;
    /// PUBLISH.
    pub const PUBLISH: u8 = 3;
    /// PUBACK.
    pub const PUBACK: u8 = 4;
    /// PUBREC.
    pub const PUBREC: u8 = 5;
    /// PUBREL.
    pub const PUBREL: u8 = 6;
    /// PUBCOMP.
    pub const PUBCOMP: u8 = 7;
    /// SUBSCRIBE.
    pub const SUBSCRIBE: u8 = 8;
    /// SUBACK.
    pub const SUBACK: u8 = 9;
    /// PINGREQ.
    pub const PINGREQ: u8 = 12;
    /// PINGRESP.
    pub const PINGRESP: u8 = 13;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 14;
}

/// MQTT 5 property identifiers the tests read or write.
pub mod prop {
    /// Message Expiry Interval (u32).
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    /// Session Expiry Interval (u32).
    pub const SESSION_EXPIRY: u8 = 0x11;
    /// Assigned Client Identifier (string).
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    /// Server Keep Alive (u16).
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Receive Maximum (u16).
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum (u16).
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Topic Alias (u16).
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Maximum Packet Size (u32).
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
}

/// One property value, by the type the specification gives its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropValue {
    /// Byte.
    Byte(u8),
    /// Two Byte Integer.
    U16(u16),
    /// Four Byte Integer.
    U32(u32),
    /// Variable Byte Integer.
    Varint(u32),
    /// UTF-8 Encoded String.
    Str(String),
    /// Binary Data.
    Bin(Vec<u8>),
    /// UTF-8 String Pair.
    Pair(String, String),
}

/// One packet from the server: its type, the low nibble of its first
/// byte, and everything after the remaining length.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Packet type (see [`kind`]).
    pub kind: u8,
    /// The fixed header's flags nibble.
    pub flags: u8,
    /// Variable header and payload.
    pub body: Vec<u8>,
}

impl Packet {
    /// The reason code of a DISCONNECT (0x00 when it carries none).
    pub fn disconnect_reason(&self) -> u8 {
        assert_eq!(self.kind, kind::DISCONNECT, "not a DISCONNECT: {self:?}");
        self.body.first().copied().unwrap_or(0)
    }

    /// The packet identifier and reason code of a PUBACK, PUBREC, PUBREL
    /// or PUBCOMP (reason 0x00 when it carries none).
    pub fn ack(&self) -> (u16, u8) {
        assert!(
            (kind::PUBACK..=kind::PUBCOMP).contains(&self.kind),
            "not a publish acknowledgement: {self:?}"
        );
        let id = u16::from_be_bytes([self.body[0], self.body[1]]);
        (id, self.body.get(2).copied().unwrap_or(0))
    }
}

/// A CONNACK.
#[derive(Clone, Debug)]
pub struct Connack {
    /// Session Present.
    pub session_present: bool,
    /// Return code (3.1.1) or reason code (5.0).
    pub code: u8,
    /// Properties (5.0 only).
    pub props: Vec<(u8, PropValue)>,
}

impl Connack {
    /// A u16 property, if present.
    pub fn u16_prop(&self, id: u8) -> Option<u16> {
        self.props.iter().find_map(|(i, v)| match v {
            PropValue::U16(x) if *i == id => Some(*x),
            _ => None,
        })
    }

    /// A u32 property, if present.
    pub fn u32_prop(&self, id: u8) -> Option<u32> {
        self.props.iter().find_map(|(i, v)| match v {
            PropValue::U32(x) if *i == id => Some(*x),
            _ => None,
        })
    }
}

/// A PUBLISH from the server.
#[derive(Clone, Debug)]
pub struct Publish {
    /// Topic name (empty when the server used a topic alias alone).
    pub topic: String,
    /// QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Packet identifier (QoS 1 and 2).
    pub packet_id: Option<u16>,
    /// Properties (5.0 only).
    pub props: Vec<(u8, PropValue)>,
    /// Payload.
    pub payload: Vec<u8>,
}

/// How reading ended without a packet.
#[derive(Debug)]
pub enum ReadEnd {
    /// Nothing (more) arrived before the timeout.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
}

/// A raw MQTT connection.
pub struct RawMqtt {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
    version: u8,
    next_packet_id: u16,
}

impl RawMqtt {
    /// Opens a TCP connection to `addr` and sends nothing.
    pub fn tcp(addr: SocketAddr, version: u8) -> RawMqtt {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
        RawMqtt {
            stream,
            buf: Vec::new(),
            closed: false,
            version,
            next_packet_id: 1,
        }
    }

    /// Connects as `client_id` with a clean start and no properties;
    /// panics unless the CONNACK accepts it.
    pub fn open(addr: SocketAddr, version: u8, client_id: &str) -> (RawMqtt, Connack) {
        let mut c = RawMqtt::tcp(addr, version);
        c.write(&encode::connect(version, client_id, &[]))
            .expect("writing CONNECT");
        let ack = c.expect_connack();
        assert_eq!(ack.code, 0, "CONNECT refused: {ack:?}");
        (c, ack)
    }

    /// The protocol level this client speaks.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Writes `bytes` as they are.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A fresh packet identifier.
    pub fn next_packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.wrapping_add(1).max(1);
        id
    }

    /// The next packet, waiting at most `timeout`.
    pub fn read_packet(&mut self, timeout: Duration) -> Result<Packet, ReadEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((p, used)) = parse_packet(&self.buf) {
                self.buf.drain(..used);
                return Ok(p);
            }
            if self.closed {
                return Err(ReadEnd::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadEnd::Timeout);
            }
            self.fill(left)?;
        }
    }

    /// The next packet, which must be of type `k` (panics otherwise, or
    /// after [`TIMEOUT`]).
    pub fn expect(&mut self, k: u8) -> Packet {
        let p = self
            .read_packet(TIMEOUT)
            .unwrap_or_else(|e| panic!("waiting for packet type {k}: {e:?}"));
        assert_eq!(p.kind, k, "expected packet type {k}, got {p:?}");
        p
    }

    /// Reads the CONNACK.
    pub fn expect_connack(&mut self) -> Connack {
        let p = self.expect(kind::CONNACK);
        let props = if self.version == V5 {
            parse_props(&p.body[2..]).0
        } else {
            Vec::new()
        };
        Connack {
            session_present: p.body[0] & 1 == 1,
            code: p.body[1],
            props,
        }
    }

    /// Subscribes to `filter` with subscription options `options` (the
    /// QoS in the low two bits); returns the SUBACK's codes.
    pub fn subscribe(&mut self, filter: &str, options: u8) -> Vec<u8> {
        let id = self.next_packet_id();
        self.write(&encode::subscribe(self.version, id, filter, options))
            .expect("writing SUBSCRIBE");
        let p = self.expect(kind::SUBACK);
        assert_eq!(u16::from_be_bytes([p.body[0], p.body[1]]), id);
        let codes_at = if self.version == V5 {
            2 + prop_block_len(&p.body[2..])
        } else {
            2
        };
        p.body[codes_at..].to_vec()
    }

    /// Publishes `payload` to `topic` at QoS 0 (nothing to wait for).
    pub fn publish_qos0(&mut self, topic: &str, payload: &[u8]) {
        let p = encode::publish(self.version, topic.as_bytes(), 0, None, &[], payload);
        self.write(&p).expect("writing PUBLISH");
    }

    /// The next packet, which must be a PUBLISH; QoS 1 and 2 ones are not
    /// acknowledged here (bystanders subscribe at QoS 0).
    pub fn expect_publish(&mut self) -> Publish {
        let p = self.expect(kind::PUBLISH);
        parse_publish(self.version, &p)
    }

    /// Reads until the server closes the connection; returns the packets
    /// that came first (panics after [`TIMEOUT`]).
    pub fn read_until_closed(&mut self) -> Vec<Packet> {
        let deadline = Instant::now() + TIMEOUT;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_packet(left) {
                Ok(p) => out.push(p),
                Err(ReadEnd::Closed) => {
                    assert!(
                        self.buf.is_empty(),
                        "closed after a partial packet {:02x?}; packets {out:?}",
                        self.buf
                    );
                    return out;
                }
                Err(ReadEnd::Timeout) => {
                    panic!("the server did not close the connection; packets so far {out:?}")
                }
            }
        }
    }

    /// Sends DISCONNECT (reason 0) and closes.
    pub fn disconnect(mut self) {
        let _ = self.write(&[0xe0, 0x00]);
    }

    fn fill(&mut self, timeout: Duration) -> Result<(), ReadEnd> {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.closed = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadEnd::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.closed = true,
            Err(e) => panic!("reading from the server: {e}"),
        }
        Ok(())
    }
}

/// Parses the PUBLISH `p` of a `version` connection.
pub fn parse_publish(version: u8, p: &Packet) -> Publish {
    assert_eq!(p.kind, kind::PUBLISH, "not a PUBLISH: {p:?}");
    let qos = (p.flags >> 1) & 3;
    let b = &p.body;
    let topic_len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let topic = String::from_utf8(b[2..2 + topic_len].to_vec()).expect("UTF-8 topic");
    let mut at = 2 + topic_len;
    let packet_id = (qos > 0).then(|| {
        at += 2;
        u16::from_be_bytes([b[at - 2], b[at - 1]])
    });
    let props = if version == V5 {
        let (props, used) = parse_props(&b[at..]);
        at += used;
        props
    } else {
        Vec::new()
    };
    Publish {
        topic,
        qos,
        retain: p.flags & 1 == 1,
        packet_id,
        props,
        payload: b[at..].to_vec(),
    }
}

/// One packet from the front of `buf` and the bytes it used; `None`
/// until it is all there. Panics on a remaining length over 4 bytes:
/// the server must never send one.
fn parse_packet(buf: &[u8]) -> Option<(Packet, usize)> {
    let first = *buf.first()?;
    let (len, n) = read_varint(&buf[1..])?;
    let start = 1 + n;
    let end = start + len as usize;
    if buf.len() < end {
        return None;
    }
    let p = Packet {
        kind: first >> 4,
        flags: first & 0x0f,
        body: buf[start..end].to_vec(),
    };
    Some((p, end))
}

/// A Variable Byte Integer from the front of `b` and its length; `None`
/// if more bytes are needed.
fn read_varint(b: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, byte) in b.iter().enumerate() {
        assert!(i < 4, "a variable byte integer over 4 bytes: {b:02x?}");
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Length of the property block (its length prefix included) at the front of `b`.
fn prop_block_len(b: &[u8]) -> usize {
    let (len, n) = read_varint(b).expect("a whole property length");
    n + len as usize
}

/// Parses the property block at the front of `b`; returns the properties
/// and the block's length (its length prefix included).
pub fn parse_props(b: &[u8]) -> (Vec<(u8, PropValue)>, usize) {
    let (len, n) = read_varint(b).expect("a whole property length");
    let end = n + len as usize;
    let mut at = n;
    let mut out = Vec::new();
    let string = |at: &mut usize| {
        let l = usize::from(u16::from_be_bytes([b[*at], b[*at + 1]]));
        let s = b[*at + 2..*at + 2 + l].to_vec();
        *at += 2 + l;
        s
    };
    while at < end {
        let id = b[at];
        at += 1;
        let v = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => {
                at += 1;
                PropValue::Byte(b[at - 1])
            }
            0x13 | 0x21 | 0x22 | 0x23 => {
                at += 2;
                PropValue::U16(u16::from_be_bytes([b[at - 2], b[at - 1]]))
            }
            0x02 | 0x11 | 0x18 | 0x27 => {
                at += 4;
                PropValue::U32(u32::from_be_bytes([
                    b[at - 4],
                    b[at - 3],
                    b[at - 2],
                    b[at - 1],
                ]))
            }
            0x0b => {
                let (v, l) = read_varint(&b[at..]).expect("a whole varint");
                at += l;
                PropValue::Varint(v)
            }
            0x03 | 0x08 | 0x12 | 0x15 | 0x1a | 0x1c | 0x1f => {
                PropValue::Str(String::from_utf8(string(&mut at)).expect("UTF-8 property"))
            }
            0x09 | 0x16 => PropValue::Bin(string(&mut at)),
            0x26 => {
                let k = String::from_utf8(string(&mut at)).expect("UTF-8 key");
                let v = String::from_utf8(string(&mut at)).expect("UTF-8 value");
                PropValue::Pair(k, v)
            }
            other => panic!("unknown property id {other:#04x} in {b:02x?}"),
        };
        out.push((id, v));
    }
    assert_eq!(at, end, "properties overran their length: {b:02x?}");
    (out, end)
}

pub mod encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips() {
        for n in [0usize, 127, 128, 16_383, 16_384, 268_435_455] {
            let e = encode::varint(n);
            assert_eq!(read_varint(&e), Some((n as u32, e.len())), "{n}");
        }
        assert_eq!(read_varint(&[0x80, 0x80]), None, "needs more bytes");
    }

    #[test]
    fn connack_with_properties_parses() {
        // What mosquitto 2.0 answers a 5.0 CONNECT with max_packet_size 2000.
        let bytes = [
            0x20, 0x0e, 0x00, 0x00, 0x0b, 0x22, 0x00, 0x0a, 0x27, 0x00, 0x00, 0x07, 0xd0, 0x21,
            0x00, 0x04,
        ];
        let (p, used) = parse_packet(&bytes).expect("a whole packet");
        assert_eq!((p.kind, used), (kind::CONNACK, bytes.len()));
        let (props, len) = parse_props(&p.body[2..]);
        assert_eq!(len, p.body.len() - 2);
        assert_eq!(
            props,
            vec![
                (prop::TOPIC_ALIAS_MAXIMUM, PropValue::U16(10)),
                (prop::MAXIMUM_PACKET_SIZE, PropValue::U32(2000)),
                (prop::RECEIVE_MAXIMUM, PropValue::U16(4)),
            ]
        );
    }

    #[test]
    fn publish_parses_back() {
        let bytes = encode::publish(V5, b"a/b", 1, Some(7), &[0x23, 0, 3], b"hi");
        let (p, _) = parse_packet(&bytes).expect("a whole packet");
        let got = parse_publish(V5, &p);
        assert_eq!(
            (got.topic.as_str(), got.qos, got.packet_id),
            ("a/b", 1, Some(7))
        );
        assert_eq!(got.props, vec![(prop::TOPIC_ALIAS, PropValue::U16(3))]);
        assert_eq!(got.payload, b"hi");
    }
}
