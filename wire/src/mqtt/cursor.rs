//! Reading the primitive types of §1.5 from a packet body. Every read
//! that runs off the end is a Malformed Packet, never a panic.

use super::validate;
use super::varint;
use super::MqttError;

/// The unread rest of a packet body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Everything left (the PUBLISH payload).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], MqttError> {
        if self.buf.len() < n {
            return Err(MqttError::malformed("packet ends inside a field"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, MqttError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, MqttError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, MqttError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn varint(&mut self) -> Result<u32, MqttError> {
        match varint::decode(self.buf) {
            Ok(Some((v, n))) => {
                self.buf = &self.buf[n..];
                Ok(v)
            }
            Ok(None) | Err(_) => Err(MqttError::malformed("bad variable byte integer")),
        }
    }

    /// Binary Data: a two-byte length, then the bytes.
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], MqttError> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// UTF-8 Encoded String, checked per §1.5.4.
    pub(crate) fn string(&mut self) -> Result<&'a str, MqttError> {
        let b = self.binary()?;
        validate::mqtt_str(b).ok_or(MqttError::malformed("string is not valid MQTT UTF-8"))
    }

    /// A non-zero Packet Identifier [MQTT-2.2.1-3].
    pub(crate) fn packet_id(&mut self) -> Result<u16, MqttError> {
        match self.u16()? {
            0 => Err(MqttError::protocol("packet identifier 0")),
            id => Ok(id),
        }
    }

    /// Fails unless everything was read.
    pub(crate) fn end(&self) -> Result<(), MqttError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(MqttError::malformed("bytes after the last field"))
        }
    }
}

/// Appends a two-byte length and `b`; `false` past 65,535 bytes.
#[must_use]
pub(crate) fn put_binary(b: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(n) = u16::try_from(b.len()) else {
        return false;
    };
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
    true
}
