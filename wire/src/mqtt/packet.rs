//! [`Packet`] and the fixed header (§2.1): the type in the high nibble,
//! flags in the low one, then the Remaining Length.

use super::connect::{Connack, Connect};
use super::disconnect::{Auth, Disconnect};
use super::publish::{Ack, Publish};
use super::subscribe::{Suback, Subscribe, Unsuback, Unsubscribe};
use super::{MqttError, ProtocolVersion};

/// The control packet type, the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 1, client to server.
    Connect = 1,
    /// 2, server to client.
    Connack = 2,
    /// 3, both ways.
    Publish = 3,
    /// 4, both ways.
    Puback = 4,
    /// 5, both ways.
    Pubrec = 5,
    /// 6, both ways.
    Pubrel = 6,
    /// 7, both ways.
    Pubcomp = 7,
    /// 8, client to server.
    Subscribe = 8,
    /// 9, server to client.
    Suback = 9,
    /// 10, client to server.
    Unsubscribe = 10,
    /// 11, server to client.
    Unsuback = 11,
    /// 12, client to server.
    Pingreq = 12,
    /// 13, server to client.
    Pingresp = 13,
    /// 14, both ways (client to server only in 3.1.1).
    Disconnect = 14,
    /// 15, both ways, MQTT 5 only.
    Auth = 15,
}

impl PacketType {
    /// The type named by a first byte's high nibble; `None` for the
    /// reserved 0.
    pub const fn from_nibble(n: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match n {
            1 => Connect,
            2 => Connack,
            3 => Publish,
            4 => Puback,
            5 => Pubrec,
            6 => Pubrel,
            7 => Pubcomp,
            8 => Subscribe,
            9 => Suback,
            10 => Unsubscribe,
            11 => Unsuback,
            12 => Pingreq,
            13 => Pingresp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The fixed flags of every type but PUBLISH (§2.1.3): 0b0010 for
    /// PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for the rest.
    pub const fn fixed_flags(self) -> u8 {
        match self {
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

/// Checks a first byte: known type, flags as §2.1.3 requires, and AUTH
/// only in MQTT 5. Called as soon as the byte arrives.
pub(crate) fn check_first_byte(
    b: u8,
    version: Option<ProtocolVersion>,
) -> Result<PacketType, MqttError> {
    let ty = PacketType::from_nibble(b >> 4).ok_or(MqttError::malformed("reserved packet type"))?;
    let flags = b & 0x0f;
    if ty == PacketType::Publish {
        if (flags >> 1) & 0b11 == 3 {
            return Err(MqttError::malformed("PUBLISH with QoS 3"));
        }
    } else if flags != ty.fixed_flags() {
        return Err(MqttError::malformed("reserved fixed header flags"));
    }
    match version {
        None if ty != PacketType::Connect => {
            Err(MqttError::protocol("first packet is not CONNECT"))
        }
        Some(_) if ty == PacketType::Connect => Err(MqttError::protocol("second CONNECT")),
        Some(ProtocolVersion::V311) if ty == PacketType::Auth => {
            Err(MqttError::malformed("AUTH in MQTT 3.1.1"))
        }
        _ => Ok(ty),
    }
}

/// A decoded control packet, borrowing from the input.
///
/// Fields that MQTT 3.1.1 lacks (reason codes, properties) decode as
/// success and empty there, and the encoder leaves them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK.
    Connack(Connack<'a>),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK.
    Puback(Ack<'a>),
    /// PUBREC.
    Pubrec(Ack<'a>),
    /// PUBREL.
    Pubrel(Ack<'a>),
    /// PUBCOMP.
    Pubcomp(Ack<'a>),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'a>),
    /// SUBACK.
    Suback(Suback<'a>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK.
    Unsuback(Unsuback<'a>),
    /// PINGREQ.
    Pingreq,
    /// PINGRESP.
    Pingresp,
    /// DISCONNECT.
    Disconnect(Disconnect<'a>),
    /// AUTH (MQTT 5).
    Auth(Auth<'a>),
}

impl Packet<'_> {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}

/// Decodes one packet from its first byte and body (the Remaining Length
/// bytes). `version` is `None` until CONNECT has been read.
pub fn decode_packet(
    first: u8,
    body: &[u8],
    version: Option<ProtocolVersion>,
) -> Result<Packet<'_>, MqttError> {
    let ty = check_first_byte(first, version)?;
    let flags = first & 0x0f;
    // check_first_byte refuses everything but CONNECT while `version` is
    // unknown, and CONNECT does not use it.
    let v = version.unwrap_or(ProtocolVersion::V5);
    Ok(match ty {
        PacketType::Connect => Packet::Connect(Connect::read(body)?),
        PacketType::Connack => Packet::Connack(Connack::read(body, v)?),
        PacketType::Publish => Packet::Publish(Publish::read(flags, body, v)?),
        PacketType::Puback => Packet::Puback(Ack::read(body, v)?),
        PacketType::Pubrec => Packet::Pubrec(Ack::read(body, v)?),
        PacketType::Pubrel => Packet::Pubrel(Ack::read(body, v)?),
        PacketType::Pubcomp => Packet::Pubcomp(Ack::read(body, v)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::read(body, v)?),
        PacketType::Suback => Packet::Suback(Suback::read(body, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::read(body, v)?),
        PacketType::Unsuback => Packet::Unsuback(Unsuback::read(body, v)?),
        PacketType::Pingreq | PacketType::Pingresp => {
            if !body.is_empty() {
                return Err(MqttError::malformed("PINGREQ/PINGRESP with a body"));
            }
            if ty == PacketType::Pingreq {
                Packet::Pingreq
            } else {
                Packet::Pingresp
            }
        }
        PacketType::Disconnect => Packet::Disconnect(Disconnect::read(body, v)?),
        PacketType::Auth => Packet::Auth(Auth::read(body)?),
    })
}
