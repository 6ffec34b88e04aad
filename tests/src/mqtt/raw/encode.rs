//! Packet builders. Each returns one whole packet; arguments a test wants
//! to get wrong (a topic that is not UTF-8) are raw bytes.

use super::{V311, V5};

/// A Variable Byte Integer.
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut d = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            d |= 0x80;
        }
        out.push(d);
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary field.
pub fn string(s: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(s.len())
        .expect("short string")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(s);
    out
}

/// First byte, remaining length, then `body`.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A property block with `props` (already encoded id-value pairs).
pub fn props(props: &[u8]) -> Vec<u8> {
    let mut out = varint(props.len());
    out.extend_from_slice(props);
    out
}

/// CONNECT with Clean Start / Clean Session, keep alive 60 s, no
/// will, no user name; `props` are the 5.0 properties (ignored for 3.1.1).
pub fn connect(version: u8, client_id: &str, props: &[u8]) -> Vec<u8> {
    assert!(version == V311 || version == V5);
    let mut body = string(b"MQTT");
    body.extend([version, 0x02, 0, 60]);
    if version == V5 {
        body.extend(self::props(props));
    }
    body.extend(string(client_id.as_bytes()));
    packet(0x10, &body)
}

/// PUBLISH (no DUP, no RETAIN) of `payload` to `topic` at `qos`
/// (which may be 3: the flags are written as given).
pub fn publish(
    version: u8,
    topic: &[u8],
    qos: u8,
    packet_id: Option<u16>,
    props: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut body = string(topic);
    if let Some(id) = packet_id {
        body.extend(id.to_be_bytes());
    }
    if version == V5 {
        body.extend(self::props(props));
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

/// SUBSCRIBE to one filter with subscription options `options`.
pub fn subscribe(version: u8, packet_id: u16, filter: &str, options: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if version == V5 {
        body.push(0);
    }
    body.extend(string(filter.as_bytes()));
    body.push(options);
    packet(0x82, &body)
}

/// PINGREQ.
pub fn pingreq() -> Vec<u8> {
    vec![0xc0, 0x00]
}
