//! Packets out: [`encode`] appends one whole packet to a buffer.
//!
//! The body is written first, straight into `out`, and the fixed header
//! (2 to 5 bytes) is then rotated in front of it: no second pass to size
//! the body and no temporary buffer, at the cost of one move of the body.

use super::packet::{Packet, PacketType};
use super::{varint, ProtocolVersion};

/// Why a packet cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A string or binary field is over 65,535 bytes.
    FieldTooLong,
    /// The body exceeds the largest Remaining Length (268,435,455).
    TooLarge,
    /// A packet id is 0, missing where QoS needs one, or present with
    /// QoS 0.
    PacketId,
    /// The packet does not exist in this protocol version (AUTH in 3.1.1).
    WrongVersion,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            EncodeError::FieldTooLong => "field over 65535 bytes",
            EncodeError::TooLarge => "packet over the maximum remaining length",
            EncodeError::PacketId => "bad packet identifier",
            EncodeError::WrongVersion => "packet not in this protocol version",
        };
        f.write_str(s)
    }
}

impl std::error::Error for EncodeError {}

/// Appends `packet`, shaped for `version`, to `out`. On error `out` is
/// left as it was. MQTT 5-only fields are left out for 3.1.1; a CONNECT
/// is shaped by its own `version` field.
pub fn encode(
    packet: &Packet<'_>,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let r = write_body(packet, version, out);
    let r = r.and_then(|()| {
        let body_len = u32::try_from(out.len() - start).map_err(|_| EncodeError::TooLarge)?;
        let (len, n) = varint::encode(body_len).ok_or(EncodeError::TooLarge)?;
        let ty = packet.packet_type();
        let flags = match packet {
            Packet::Publish(p) => p.flags(),
            _ => ty.fixed_flags(),
        };
        out.push((ty as u8) << 4 | flags);
        out.extend_from_slice(&len[..n]);
        out[start..].rotate_right(1 + n);
        Ok(())
    });
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn write_body(
    packet: &Packet<'_>,
    v: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(c) => c.write(out),
        Packet::Connack(c) => c.write(v, out),
        Packet::Publish(p) => p.write(v, out),
        Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
            a.write(v, out)
        }
        Packet::Subscribe(s) => s.write(v, out),
        Packet::Suback(s) => s.write(v, out),
        Packet::Unsubscribe(u) => u.write(v, out),
        Packet::Unsuback(u) => u.write(v, out),
        Packet::Pingreq | Packet::Pingresp => Ok(()),
        Packet::Disconnect(d) => d.write(v, out),
        Packet::Auth(a) if v.is_v5() => a.write(out),
        Packet::Auth(_) => Err(EncodeError::WrongVersion),
    }
}

/// Whether `ty` is sent by clients (true) or servers (false); PUBLISH,
/// the acknowledgements, DISCONNECT and AUTH go both ways and count as
/// both.
pub fn sent_by_client(ty: PacketType) -> bool {
    !matches!(
        ty,
        PacketType::Connack | PacketType::Suback | PacketType::Unsuback | PacketType::Pingresp
    )
}
