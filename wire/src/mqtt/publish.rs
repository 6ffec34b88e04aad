//! PUBLISH (§3.3) and its acknowledgements PUBACK, PUBREC, PUBREL and
//! PUBCOMP (§3.4 to §3.7), which share one shape.

use super::connect::{put_props, put_str};
use super::cursor::Cursor;
use super::encoder::EncodeError;
use super::properties::{Context, Properties, PropertyId};
use super::validate;
use super::{MqttError, ProtocolVersion, QoS, ReasonCode};

/// PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    /// A redelivery (never set with QoS 0).
    pub dup: bool,
    /// Delivery guarantee.
    pub qos: QoS,
    /// Whether the broker keeps it for later subscribers.
    pub retain: bool,
    /// A topic name; empty only in MQTT 5 with a Topic Alias property.
    pub topic: &'a str,
    /// Present exactly when `qos` is not 0.
    pub packet_id: Option<u16>,
    /// PUBLISH properties (MQTT 5; empty in 3.1.1).
    pub properties: Properties<'a>,
    /// The application message.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// The fixed header flags: DUP, QoS, RETAIN.
    pub fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos as u8) << 1) | u8::from(self.retain)
    }

    pub(crate) fn read(flags: u8, body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let qos = QoS::from_bits((flags >> 1) & 0b11).ok_or(MqttError::malformed("QoS 3"))?;
        let dup = flags & 0b1000 != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(MqttError::malformed("DUP set on a QoS 0 PUBLISH"));
        }
        let mut cur = Cursor::new(body);
        let topic = cur.string()?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(cur.packet_id()?),
        };
        let properties = if v.is_v5() {
            Properties::read(&mut cur, Context::Publish)?
        } else {
            Properties::EMPTY
        };
        if topic.is_empty() {
            if properties.get(PropertyId::TOPIC_ALIAS).is_none() {
                return Err(MqttError::protocol("empty topic without a topic alias"));
            }
        } else if !validate::topic_name(topic) {
            return Err(MqttError::new(
                ReasonCode::TOPIC_NAME_INVALID,
                "wildcard in a PUBLISH topic",
            ));
        }
        Ok(Publish {
            dup,
            qos,
            retain: flags & 1 != 0,
            topic,
            packet_id,
            properties,
            payload: cur.rest(),
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.write_variable_header(v, out)?;
        out.extend_from_slice(self.payload);
        Ok(())
    }

    /// Encodes this PUBLISH without its payload, for a payload of
    /// `payload_len` bytes that the caller sends right after it: one
    /// payload can then follow many heads (one per subscriber) uncopied.
    /// `self.payload` is ignored.
    pub fn encode_head(
        &self,
        payload_len: usize,
        v: ProtocolVersion,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.write_variable_header(v, out).and_then(|()| {
            let body = (out.len() - start)
                .checked_add(payload_len)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(EncodeError::TooLarge)?;
            let (len, n) = super::varint::encode(body).ok_or(EncodeError::TooLarge)?;
            out.push((super::PacketType::Publish as u8) << 4 | self.flags());
            out.extend_from_slice(&len[..n]);
            out[start..].rotate_right(1 + n);
            Ok(())
        });
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn write_variable_header(
        &self,
        v: ProtocolVersion,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        put_str(self.topic, out)?;
        match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, None) => {}
            (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(id)) if id != 0 => {
                out.extend_from_slice(&id.to_be_bytes());
            }
            _ => return Err(EncodeError::PacketId),
        }
        if v.is_v5() {
            put_props(&self.properties, out)?;
        }
        Ok(())
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP; the [`super::Packet`] variant says
/// which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The packet being acknowledged.
    pub packet_id: u16,
    /// MQTT 5 reason code; always success in 3.1.1.
    pub reason: ReasonCode,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
}

impl<'a> Ack<'a> {
    /// A success acknowledgement of `packet_id`.
    pub fn new(packet_id: u16) -> Self {
        Ack {
            packet_id,
            reason: ReasonCode::SUCCESS,
            properties: Properties::EMPTY,
        }
    }

    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let mut cur = Cursor::new(body);
        let packet_id = cur.packet_id()?;
        let mut ack = Ack::new(packet_id);
        // MQTT 5 leaves out a success reason and empty properties
        // (§3.4.2.1); 3.1.1 has neither.
        if v.is_v5() && !cur.is_empty() {
            ack.reason = ReasonCode(cur.u8()?);
            if !cur.is_empty() {
                ack.properties = Properties::read(&mut cur, Context::Ack)?;
            }
        }
        cur.end()?;
        Ok(ack)
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::PacketId);
        }
        out.extend_from_slice(&self.packet_id.to_be_bytes());
        if v.is_v5() && (self.reason != ReasonCode::SUCCESS || !self.properties.is_empty()) {
            out.push(self.reason.0);
            if !self.properties.is_empty() {
                put_props(&self.properties, out)?;
            }
        }
        Ok(())
    }
}
