//! CONNECT (§3.1) and CONNACK (§3.2).

use super::cursor::{put_binary, Cursor};
use super::encoder::EncodeError;
use super::properties::{Context, Properties};
use super::validate;
use super::{MqttError, ProtocolVersion, QoS, ReasonCode};

/// The will message a CONNECT carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    /// QoS of the will publish.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will properties (MQTT 5; empty in 3.1.1).
    pub properties: Properties<'a>,
    /// A topic name (no wildcards).
    pub topic: &'a str,
    /// The will payload.
    pub payload: &'a [u8],
}

/// CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Level 4 or 5; decides every later packet's shape.
    pub version: ProtocolVersion,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    /// CONNECT properties (MQTT 5; empty in 3.1.1).
    pub properties: Properties<'a>,
    /// May be empty (the server assigns one).
    pub client_id: &'a str,
    /// The will, if the Will Flag is set.
    pub will: Option<Will<'a>>,
    /// The user name, if its flag is set.
    pub username: Option<&'a str>,
    /// The password, if its flag is set.
    pub password: Option<&'a [u8]>,
}

const USERNAME: u8 = 0x80;
const PASSWORD: u8 = 0x40;
const WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const WILL: u8 = 0x04;
const CLEAN_START: u8 = 0x02;
const RESERVED: u8 = 0x01;

impl<'a> Connect<'a> {
    pub(crate) fn read(body: &'a [u8]) -> Result<Self, MqttError> {
        let mut cur = Cursor::new(body);
        let name = cur.binary()?;
        let level = cur.u8()?;
        let version = match (name, level) {
            (b"MQTT", 4) => ProtocolVersion::V311,
            (b"MQTT", 5) => ProtocolVersion::V5,
            _ => {
                return Err(MqttError::new(
                    ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
                    "protocol name or level",
                ))
            }
        };
        let flags = cur.u8()?;
        if flags & RESERVED != 0 {
            return Err(MqttError::malformed("CONNECT reserved flag set"));
        }
        let will_qos = QoS::from_bits((flags >> WILL_QOS_SHIFT) & 0b11)
            .ok_or(MqttError::malformed("will QoS 3"))?;
        let has_will = flags & WILL != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || flags & WILL_RETAIN != 0) {
            return Err(MqttError::malformed("will QoS or retain without a will"));
        }
        if version == ProtocolVersion::V311 && flags & PASSWORD != 0 && flags & USERNAME == 0 {
            return Err(MqttError::malformed("password without user name"));
        }
        let keep_alive = cur.u16()?;
        let properties = if version.is_v5() {
            Properties::read(&mut cur, Context::Connect)?
        } else {
            Properties::EMPTY
        };
        let client_id = cur.string()?;
        let will = if has_will {
            let properties = if version.is_v5() {
                Properties::read(&mut cur, Context::Will)?
            } else {
                Properties::EMPTY
            };
            let topic = cur.string()?;
            if !validate::topic_name(topic) {
                return Err(MqttError::new(
                    ReasonCode::TOPIC_NAME_INVALID,
                    "will topic is not a topic name",
                ));
            }
            Some(Will {
                qos: will_qos,
                retain: flags & WILL_RETAIN != 0,
                properties,
                topic,
                payload: cur.binary()?,
            })
        } else {
            None
        };
        let username = if flags & USERNAME != 0 {
            Some(cur.string()?)
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(cur.binary()?)
        } else {
            None
        };
        cur.end()?;
        Ok(Connect {
            version,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let v5 = self.version.is_v5();
        let _ = put_binary(b"MQTT", out);
        out.push(self.version.level());
        let mut flags = 0;
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if let Some(w) = &self.will {
            flags |= WILL | (w.qos as u8) << WILL_QOS_SHIFT;
            if w.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.clean_start {
            flags |= CLEAN_START;
        }
        out.push(flags);
        out.extend_from_slice(&self.keep_alive.to_be_bytes());
        if v5 {
            put_props(&self.properties, out)?;
        }
        put_str(self.client_id, out)?;
        if let Some(w) = &self.will {
            if v5 {
                put_props(&w.properties, out)?;
            }
            put_str(w.topic, out)?;
            put_bin(w.payload, out)?;
        }
        if let Some(u) = self.username {
            put_str(u, out)?;
        }
        if let Some(p) = self.password {
            put_bin(p, out)?;
        }
        Ok(())
    }
}

/// CONNACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connack<'a> {
    /// Whether the server resumed a session.
    pub session_present: bool,
    /// MQTT 5 reason code, or the 3.1.1 return code (0 to 5).
    pub reason: ReasonCode,
    /// CONNACK properties (MQTT 5; empty in 3.1.1).
    pub properties: Properties<'a>,
}

impl<'a> Connack<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        let mut cur = Cursor::new(body);
        let flags = cur.u8()?;
        if flags & !1 != 0 {
            return Err(MqttError::malformed("CONNACK reserved flags"));
        }
        let reason = ReasonCode(cur.u8()?);
        let properties = if v.is_v5() {
            Properties::read(&mut cur, Context::Connack)?
        } else {
            Properties::EMPTY
        };
        cur.end()?;
        Ok(Connack {
            session_present: flags & 1 != 0,
            reason,
            properties,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(u8::from(self.session_present));
        out.push(self.reason.0);
        if v.is_v5() {
            put_props(&self.properties, out)?;
        }
        Ok(())
    }
}

pub(crate) fn put_str(s: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    put_bin(s.as_bytes(), out)
}

pub(crate) fn put_bin(b: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if put_binary(b, out) {
        Ok(())
    } else {
        Err(EncodeError::FieldTooLong)
    }
}

pub(crate) fn put_props(p: &Properties<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if p.write(out) {
        Ok(())
    } else {
        Err(EncodeError::TooLarge)
    }
}
