//! SUBSCRIBE (§3.8), SUBACK (§3.9), UNSUBSCRIBE (§3.10), UNSUBACK (§3.11).

use super::connect::{put_props, put_str};
use super::cursor::Cursor;
use super::encoder::EncodeError;
use super::properties::{Context, Properties};
use super::{MqttError, ProtocolVersion, QoS};

/// When the broker sends retained messages for a new subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// At subscribe time.
    SendAtSubscribe = 0,
    /// Only if the subscription did not exist.
    SendIfNew = 1,
    /// Never.
    DoNotSend = 2,
}

/// The options byte after each filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Maximum QoS the broker sends with.
    pub qos: QoS,
    /// MQTT 5: do not send the client its own publishes.
    pub no_local: bool,
    /// MQTT 5: keep RETAIN as published rather than clearing it.
    pub retain_as_published: bool,
    /// MQTT 5: when to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Plain options: `qos`, everything else default.
    pub fn new(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }

    fn from_byte(b: u8, v: ProtocolVersion) -> Result<Self, MqttError> {
        let reserved = if v.is_v5() { 0b1100_0000 } else { 0b1111_1100 };
        if b & reserved != 0 {
            return Err(MqttError::malformed("subscription options reserved bits"));
        }
        let qos = QoS::from_bits(b & 0b11).ok_or(MqttError::malformed("subscription QoS 3"))?;
        let retain_handling = match (b >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(MqttError::malformed("retain handling 3")),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: b & 0b0100 != 0,
            retain_as_published: b & 0b1000 != 0,
            retain_handling,
        })
    }

    fn to_byte(self, v: ProtocolVersion) -> u8 {
        let mut b = self.qos as u8;
        if v.is_v5() {
            b |= u8::from(self.no_local) << 2
                | u8::from(self.retain_as_published) << 3
                | (self.retain_handling as u8) << 4;
        }
        b
    }
}

/// One SUBSCRIBE entry. The filter is checked as UTF-8 only; the broker
/// applies [`super::validate::topic_filter`] and answers per entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription<'a> {
    /// The topic filter (possibly `$share/...`).
    pub filter: &'a str,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Non-zero.
    pub packet_id: u16,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
    /// At least one entry.
    pub filters: Vec<Subscription<'a>>,
}

impl<'a> Subscribe<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let (mut cur, packet_id, properties) = read_head(body, v, Context::Subscribe)?;
        let mut filters = Vec::new();
        while !cur.is_empty() {
            let filter = cur.string()?;
            let options = SubscriptionOptions::from_byte(cur.u8()?, v)?;
            filters.push(Subscription { filter, options });
        }
        if filters.is_empty() {
            return Err(MqttError::protocol("SUBSCRIBE without filters"));
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_head(self.packet_id, &self.properties, v, out)?;
        for s in &self.filters {
            put_str(s.filter, out)?;
            out.push(s.options.to_byte(v));
        }
        Ok(())
    }
}

/// SUBACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suback<'a> {
    /// The SUBSCRIBE's packet id.
    pub packet_id: u16,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
    /// One per filter: granted QoS (0 to 2) or a failure code (0x80 and
    /// up).
    pub reasons: &'a [u8],
}

impl<'a> Suback<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let (mut cur, packet_id, properties) = read_head(body, v, Context::Suback)?;
        let reasons = cur.rest();
        if reasons.is_empty() {
            return Err(MqttError::protocol("SUBACK without reason codes"));
        }
        if !v.is_v5() && reasons.iter().any(|&r| r > 2 && r != 0x80) {
            return Err(MqttError::malformed("SUBACK return code"));
        }
        Ok(Suback {
            packet_id,
            properties,
            reasons,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_head(self.packet_id, &self.properties, v, out)?;
        out.extend_from_slice(self.reasons);
        Ok(())
    }
}

/// UNSUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Non-zero.
    pub packet_id: u16,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
    /// At least one filter.
    pub filters: Vec<&'a str>,
}

impl<'a> Unsubscribe<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let (mut cur, packet_id, properties) = read_head(body, v, Context::Unsubscribe)?;
        let mut filters = Vec::new();
        while !cur.is_empty() {
            filters.push(cur.string()?);
        }
        if filters.is_empty() {
            return Err(MqttError::protocol("UNSUBSCRIBE without filters"));
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_head(self.packet_id, &self.properties, v, out)?;
        for f in &self.filters {
            put_str(f, out)?;
        }
        Ok(())
    }
}

/// UNSUBACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsuback<'a> {
    /// The UNSUBSCRIBE's packet id.
    pub packet_id: u16,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
    /// MQTT 5: one per filter; empty in 3.1.1.
    pub reasons: &'a [u8],
}

impl<'a> Unsuback<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let (mut cur, packet_id, properties) = read_head(body, v, Context::Unsuback)?;
        let reasons = cur.rest();
        if v.is_v5() && reasons.is_empty() {
            return Err(MqttError::protocol("UNSUBACK without reason codes"));
        }
        if !v.is_v5() && !reasons.is_empty() {
            return Err(MqttError::malformed("bytes after the last field"));
        }
        Ok(Unsuback {
            packet_id,
            properties,
            reasons,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_head(self.packet_id, &self.properties, v, out)?;
        if v.is_v5() {
            out.extend_from_slice(self.reasons);
        }
        Ok(())
    }
}

/// The head all four packets share: packet id, then (MQTT 5) properties.
fn read_head<'a>(
    body: &'a [u8],
    v: ProtocolVersion,
    ctx: Context,
) -> Result<(Cursor<'a>, u16, Properties<'a>), MqttError> {
    let mut cur = Cursor::new(body);
    let packet_id = cur.packet_id()?;
    let properties = if v.is_v5() {
        Properties::read(&mut cur, ctx)?
    } else {
        Properties::EMPTY
    };
    Ok((cur, packet_id, properties))
}

/// Writes the head [`read_head`] reads; a packet id of 0 is refused.
fn put_head(
    id: u16,
    properties: &Properties<'_>,
    v: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if id == 0 {
        return Err(EncodeError::PacketId);
    }
    out.extend_from_slice(&id.to_be_bytes());
    if v.is_v5() {
        put_props(properties, out)?;
    }
    Ok(())
}
