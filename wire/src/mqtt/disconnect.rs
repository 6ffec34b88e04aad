//! DISCONNECT (§3.14) and AUTH (§3.15): a reason code and properties,
//! both left out when they are success and empty.

use super::connect::put_props;
use super::cursor::Cursor;
use super::encoder::EncodeError;
use super::properties::{Context, Properties};
use super::{MqttError, ProtocolVersion, ReasonCode};

/// DISCONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// MQTT 5 reason; success (normal disconnection) in 3.1.1.
    pub reason: ReasonCode,
    /// MQTT 5 properties; empty in 3.1.1.
    pub properties: Properties<'a>,
}

impl Default for Disconnect<'_> {
    fn default() -> Self {
        Disconnect {
            reason: ReasonCode::SUCCESS,
            properties: Properties::EMPTY,
        }
    }
}

impl<'a> Disconnect<'a> {
    pub(crate) fn read(body: &'a [u8], v: ProtocolVersion) -> Result<Self, MqttError> {
        if !v.is_v5() {
            if !body.is_empty() {
                return Err(MqttError::malformed("3.1.1 DISCONNECT with a body"));
            }
            return Ok(Disconnect::default());
        }
        let (reason, properties) = read_reason(body, Context::Disconnect)?;
        Ok(Disconnect { reason, properties })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if v.is_v5() {
            write_reason(self.reason, &self.properties, out)?;
        }
        Ok(())
    }
}

/// AUTH (MQTT 5 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth<'a> {
    /// 0x00 success, 0x18 continue, 0x19 re-authenticate.
    pub reason: ReasonCode,
    /// Authentication Method and Data, among others.
    pub properties: Properties<'a>,
}

impl<'a> Auth<'a> {
    pub(crate) fn read(body: &'a [u8]) -> Result<Self, MqttError> {
        let (reason, properties) = read_reason(body, Context::Auth)?;
        if !matches!(reason.0, 0x00 | 0x18 | 0x19) {
            return Err(MqttError::malformed("AUTH reason code"));
        }
        Ok(Auth { reason, properties })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_reason(self.reason, &self.properties, out)
    }
}

fn read_reason(body: &[u8], ctx: Context) -> Result<(ReasonCode, Properties<'_>), MqttError> {
    let mut cur = Cursor::new(body);
    let mut reason = ReasonCode::SUCCESS;
    let mut properties = Properties::EMPTY;
    if !cur.is_empty() {
        reason = ReasonCode(cur.u8()?);
        if !cur.is_empty() {
            properties = Properties::read(&mut cur, ctx)?;
        }
    }
    cur.end()?;
    Ok((reason, properties))
}

fn write_reason(
    reason: ReasonCode,
    properties: &Properties<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if reason != ReasonCode::SUCCESS || !properties.is_empty() {
        out.push(reason.0);
        if !properties.is_empty() {
            put_props(properties, out)?;
        }
    }
    Ok(())
}
