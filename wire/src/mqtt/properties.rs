//! MQTT 5 properties (§2.2.2): a Variable Byte Integer length, then
//! identifier/value pairs.
//!
//! Decoding checks the whole block once (known identifier, allowed in
//! this packet, value in range, no repeat of a single-valued property)
//! and keeps the checked bytes; [`Properties::iter`] and
//! [`Properties::get`] then read them in place, so a decoded packet holds
//! no heap for its properties. Encoding goes through [`PropertiesBuf`].

use super::cursor::Cursor;
use super::varint;
use super::MqttError;

/// A property identifier. Every identifier of the spec's table has a
/// constant; others are Malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PropertyId(pub u8);

/// The packets (or the will) a property block belongs to, as a bit set
/// of allowed places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// CONNECT.
    Connect,
    /// The will properties inside CONNECT.
    Will,
    /// CONNACK.
    Connack,
    /// PUBLISH.
    Publish,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    Suback,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    Unsuback,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

impl Context {
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The wire type of a property value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Byte,
    U16,
    U32,
    VarInt,
    Str,
    Bin,
    Pair,
}

const CONNECT: u16 = Context::Connect.bit();
const WILL: u16 = Context::Will.bit();
const CONNACK: u16 = Context::Connack.bit();
const PUBLISH: u16 = Context::Publish.bit();
const ACK: u16 = Context::Ack.bit();
const SUBSCRIBE: u16 = Context::Subscribe.bit();
const SUBACK: u16 = Context::Suback.bit();
const UNSUBACK: u16 = Context::Unsuback.bit();
const DISCONNECT: u16 = Context::Disconnect.bit();
const AUTH: u16 = Context::Auth.bit();
const ALL: u16 = (1 << 11) - 1;

/// Everything about one identifier: its type and where it may appear
/// (§2.2.2.2 table).
struct Spec {
    kind: Kind,
    places: u16,
    /// Byte values restricted to 0 and 1.
    boolean: bool,
    /// 0 is a Protocol Error (Receive Maximum, Topic Alias, ...).
    nonzero: bool,
}

impl PropertyId {
    /// Byte, 0 or 1: the payload is unspecified bytes or UTF-8.
    pub const PAYLOAD_FORMAT_INDICATOR: PropertyId = PropertyId(0x01);
    /// Four-byte integer, seconds.
    pub const MESSAGE_EXPIRY_INTERVAL: PropertyId = PropertyId(0x02);
    /// String.
    pub const CONTENT_TYPE: PropertyId = PropertyId(0x03);
    /// String (a topic name).
    pub const RESPONSE_TOPIC: PropertyId = PropertyId(0x08);
    /// Binary data.
    pub const CORRELATION_DATA: PropertyId = PropertyId(0x09);
    /// Variable Byte Integer, 1 to 268,435,455; repeats in PUBLISH.
    pub const SUBSCRIPTION_IDENTIFIER: PropertyId = PropertyId(0x0B);
    /// Four-byte integer, seconds.
    pub const SESSION_EXPIRY_INTERVAL: PropertyId = PropertyId(0x11);
    /// String.
    pub const ASSIGNED_CLIENT_IDENTIFIER: PropertyId = PropertyId(0x12);
    /// Two-byte integer, seconds.
    pub const SERVER_KEEP_ALIVE: PropertyId = PropertyId(0x13);
    /// String.
    pub const AUTHENTICATION_METHOD: PropertyId = PropertyId(0x15);
    /// Binary data.
    pub const AUTHENTICATION_DATA: PropertyId = PropertyId(0x16);
    /// Byte, 0 or 1.
    pub const REQUEST_PROBLEM_INFORMATION: PropertyId = PropertyId(0x17);
    /// Four-byte integer, seconds.
    pub const WILL_DELAY_INTERVAL: PropertyId = PropertyId(0x18);
    /// Byte, 0 or 1.
    pub const REQUEST_RESPONSE_INFORMATION: PropertyId = PropertyId(0x19);
    /// String.
    pub const RESPONSE_INFORMATION: PropertyId = PropertyId(0x1A);
    /// String.
    pub const SERVER_REFERENCE: PropertyId = PropertyId(0x1C);
    /// String.
    pub const REASON_STRING: PropertyId = PropertyId(0x1F);
    /// Two-byte integer, not 0.
    pub const RECEIVE_MAXIMUM: PropertyId = PropertyId(0x21);
    /// Two-byte integer.
    pub const TOPIC_ALIAS_MAXIMUM: PropertyId = PropertyId(0x22);
    /// Two-byte integer, not 0.
    pub const TOPIC_ALIAS: PropertyId = PropertyId(0x23);
    /// Byte, 0 or 1.
    pub const MAXIMUM_QOS: PropertyId = PropertyId(0x24);
    /// Byte, 0 or 1.
    pub const RETAIN_AVAILABLE: PropertyId = PropertyId(0x25);
    /// String pair; may repeat, order kept.
    pub const USER_PROPERTY: PropertyId = PropertyId(0x26);
    /// Four-byte integer, not 0.
    pub const MAXIMUM_PACKET_SIZE: PropertyId = PropertyId(0x27);
    /// Byte, 0 or 1.
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: PropertyId = PropertyId(0x28);
    /// Byte, 0 or 1.
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: PropertyId = PropertyId(0x29);
    /// Byte, 0 or 1.
    pub const SHARED_SUBSCRIPTION_AVAILABLE: PropertyId = PropertyId(0x2A);

    fn spec(self) -> Option<Spec> {
        const fn s(kind: Kind, places: u16) -> Spec {
            Spec {
                kind,
                places,
                boolean: false,
                nonzero: false,
            }
        }
        const fn b(places: u16) -> Spec {
            Spec {
                kind: Kind::Byte,
                places,
                boolean: true,
                nonzero: false,
            }
        }
        const fn nz(kind: Kind, places: u16) -> Spec {
            Spec {
                kind,
                places,
                boolean: false,
                nonzero: true,
            }
        }
        Some(match self.0 {
            0x01 => b(PUBLISH | WILL),
            0x02 => s(Kind::U32, PUBLISH | WILL),
            0x03 | 0x08 => s(Kind::Str, PUBLISH | WILL),
            0x09 => s(Kind::Bin, PUBLISH | WILL),
            0x0B => nz(Kind::VarInt, PUBLISH | SUBSCRIBE),
            0x11 => s(Kind::U32, CONNECT | CONNACK | DISCONNECT),
            0x12 => s(Kind::Str, CONNACK),
            0x13 => s(Kind::U16, CONNACK),
            0x15 => s(Kind::Str, CONNECT | CONNACK | AUTH),
            0x16 => s(Kind::Bin, CONNECT | CONNACK | AUTH),
            0x17 | 0x19 => b(CONNECT),
            0x18 => s(Kind::U32, WILL),
            0x1A => s(Kind::Str, CONNACK),
            0x1C => s(Kind::Str, CONNACK | DISCONNECT),
            0x1F => s(
                Kind::Str,
                CONNACK | ACK | SUBACK | UNSUBACK | DISCONNECT | AUTH,
            ),
            0x21 => nz(Kind::U16, CONNECT | CONNACK),
            0x22 => s(Kind::U16, CONNECT | CONNACK),
            0x23 => nz(Kind::U16, PUBLISH),
            0x24 | 0x25 | 0x28 | 0x29 | 0x2A => b(CONNACK),
            0x26 => s(Kind::Pair, ALL),
            0x27 => nz(Kind::U32, CONNECT | CONNACK),
            _ => return None,
        })
    }

    /// Whether the property may appear more than once in one block.
    fn repeats(self, ctx: Context) -> bool {
        self == PropertyId::USER_PROPERTY
            || (self == PropertyId::SUBSCRIPTION_IDENTIFIER && ctx == Context::Publish)
    }
}

/// A property's value, borrowed from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyValue<'a> {
    /// A one-byte value.
    Byte(u8),
    /// A two-byte integer.
    U16(u16),
    /// A four-byte integer.
    U32(u32),
    /// A Variable Byte Integer.
    VarInt(u32),
    /// A UTF-8 string.
    Str(&'a str),
    /// Binary data.
    Bin(&'a [u8]),
    /// A user property: name and value.
    Pair(&'a str, &'a str),
}

/// One identifier and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property<'a> {
    /// Which property.
    pub id: PropertyId,
    /// Its value.
    pub value: PropertyValue<'a>,
}

/// A checked property block (without its length prefix), read in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Properties<'a> {
    raw: &'a [u8],
}

impl<'a> Properties<'a> {
    /// No properties.
    pub const EMPTY: Properties<'static> = Properties { raw: &[] };

    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The encoded block, without its length prefix.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Every property, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Property<'a>> + 'a {
        let mut cur = Cursor::new(self.raw);
        // The block was checked when it was built, so reading cannot fail;
        // should it anyway, the iterator just ends.
        std::iter::from_fn(move || {
            if cur.is_empty() {
                return None;
            }
            read_one(&mut cur).ok()
        })
    }

    /// The first value of `id`.
    pub fn get(&self, id: PropertyId) -> Option<PropertyValue<'a>> {
        self.iter().find(|p| p.id == id).map(|p| p.value)
    }

    /// The user properties, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p.value {
            PropertyValue::Pair(k, v) => Some((k, v)),
            _ => None,
        })
    }

    /// Reads a length-prefixed block for `ctx` from `cur` and checks it.
    pub(crate) fn read(cur: &mut Cursor<'a>, ctx: Context) -> Result<Self, MqttError> {
        let len = cur.varint()?;
        let raw = cur.bytes(len as usize)?;
        check(raw, ctx)?;
        Ok(Properties { raw })
    }

    /// Checks `raw` (a block without its length prefix) for `ctx`.
    pub fn parse(raw: &'a [u8], ctx: Context) -> Result<Self, MqttError> {
        check(raw, ctx)?;
        Ok(Properties { raw })
    }

    /// Appends the length prefix and the block.
    #[must_use]
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> bool {
        let Ok(len) = u32::try_from(self.raw.len()) else {
            return false;
        };
        if !varint::write(len, out) {
            return false;
        }
        out.extend_from_slice(self.raw);
        true
    }
}

fn read_one<'a>(cur: &mut Cursor<'a>) -> Result<Property<'a>, MqttError> {
    let id = PropertyId(cur.u8()?);
    let spec = id
        .spec()
        .ok_or(MqttError::malformed("unknown property identifier"))?;
    let value = match spec.kind {
        Kind::Byte => PropertyValue::Byte(cur.u8()?),
        Kind::U16 => PropertyValue::U16(cur.u16()?),
        Kind::U32 => PropertyValue::U32(cur.u32()?),
        Kind::VarInt => PropertyValue::VarInt(cur.varint()?),
        Kind::Str => PropertyValue::Str(cur.string()?),
        Kind::Bin => PropertyValue::Bin(cur.binary()?),
        Kind::Pair => PropertyValue::Pair(cur.string()?, cur.string()?),
    };
    Ok(Property { id, value })
}

fn check(raw: &[u8], ctx: Context) -> Result<(), MqttError> {
    let mut cur = Cursor::new(raw);
    // Identifiers are below 64, so one bit each records "seen".
    let mut seen: u64 = 0;
    while !cur.is_empty() {
        let p = read_one(&mut cur)?;
        let Some(spec) = p.id.spec() else {
            return Err(MqttError::malformed("unknown property identifier"));
        };
        if spec.places & ctx.bit() == 0 {
            return Err(MqttError::protocol("property not allowed in this packet"));
        }
        let bit = 1u64 << p.id.0;
        if seen & bit != 0 && !p.id.repeats(ctx) {
            return Err(MqttError::protocol("property repeated"));
        }
        seen |= bit;
        let bad = match p.value {
            PropertyValue::Byte(v) => spec.boolean && v > 1,
            PropertyValue::U16(v) => spec.nonzero && v == 0,
            PropertyValue::U32(v) | PropertyValue::VarInt(v) => spec.nonzero && v == 0,
            _ => false,
        };
        if bad {
            return Err(MqttError::protocol("property value out of range"));
        }
    }
    Ok(())
}

/// Builds a property block for encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertiesBuf {
    raw: Vec<u8>,
}

impl PropertiesBuf {
    /// An empty block.
    pub fn new() -> Self {
        PropertiesBuf::default()
    }

    /// Appends `id` with `value`; the caller picks the right value type
    /// (a mismatch makes a block that peers reject). Strings and binary
    /// values over 65,535 bytes are cut to fit.
    pub fn push(&mut self, id: PropertyId, value: PropertyValue<'_>) -> &mut Self {
        let out = &mut self.raw;
        out.push(id.0);
        let put = |b: &[u8], out: &mut Vec<u8>| {
            let n = b.len().min(usize::from(u16::MAX));
            out.extend_from_slice(&(n as u16).to_be_bytes());
            out.extend_from_slice(&b[..n]);
        };
        match value {
            PropertyValue::Byte(v) => out.push(v),
            PropertyValue::U16(v) => out.extend_from_slice(&v.to_be_bytes()),
            PropertyValue::U32(v) => out.extend_from_slice(&v.to_be_bytes()),
            PropertyValue::VarInt(v) => {
                varint::write(v.min(varint::MAX), out);
            }
            PropertyValue::Str(s) => put(s.as_bytes(), out),
            PropertyValue::Bin(b) => put(b, out),
            PropertyValue::Pair(k, v) => {
                put(k.as_bytes(), out);
                put(v.as_bytes(), out);
            }
        }
        self
    }

    /// Empties the block, keeping its memory.
    pub fn clear(&mut self) {
        self.raw.clear();
    }

    /// Appends an already encoded block (from [`Properties::as_bytes`]).
    pub fn extend_from_block(&mut self, block: &[u8]) -> &mut Self {
        self.raw.extend_from_slice(block);
        self
    }

    /// The block, unchecked: what was pushed is what is sent.
    pub fn as_properties(&self) -> Properties<'_> {
        Properties { raw: &self.raw }
    }
}
