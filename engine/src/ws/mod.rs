//! WebSocket connections on the reactor (RFC 6455, RFC 7692).
//!
//! A WebSocket connection is an ordinary [`Conn`](crate::conn::Conn) with a
//! [`WsConn`] beside it: first the HTTP upgrade ([`upgrade`]), then
//! messages ([`inbound`]); every frame the core queues to it is wrapped on
//! the way out ([`outbound`]), once per output form for all receivers of
//! a fan-out ([`forms`]). All parsing happens in `wire::ws` and
//! `wire::json`; these modules only decide what a message means here.
//!
//! Endpoints, chosen by the request path:
//! - the envelope endpoint (`websocket.path`): text messages carry the JSON
//!   form of the envelope, binary messages carry `wire` frames unchanged;
//!   both become the `wire` frames a TCP client would send, so browsers,
//!   TCP clients and (later) MQTT devices meet in one routing;
//! - the echo endpoint (`websocket.echo_path`, off by default): every
//!   message comes back through the same reader and writer, for Autobahn;
//! - the MQTT endpoint (`websocket.mqtt_path`, subprotocol `mqtt`): binary
//!   messages carry an MQTT byte stream for the broker ([`crate::mqtt`]).

mod forms;
#[cfg(test)]
mod forms_tests;
mod inbound;
mod outbound;
mod upgrade;

pub(crate) use forms::SharedForms;

use wire::ws::{MessageReader, MessageWriter};

/// What an upgraded connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The envelope: JSON text and `wire` binary in; `out` says which form
    /// the core writes.
    Envelope {
        /// Outbound frames as JSON text (`switchboard.v1.json` or no
        /// subprotocol) or as `wire` binary (`switchboard.v1.bin`).
        out: OutForm,
    },
    /// Messages are echoed back (conformance testing).
    Echo,
    /// MQTT packets in binary messages (subprotocol `mqtt`).
    Mqtt,
}

/// The form of outbound envelope messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutForm {
    /// One JSON text message per frame.
    Json,
    /// One binary message per `wire` frame.
    Binary,
}

/// A WebSocket connection's state beside its [`Conn`](crate::conn::Conn).
#[derive(Debug)]
pub enum WsConn {
    /// Reading the upgrade request; holds the bytes so far (bounded by
    /// `websocket.max_request_bytes`).
    Handshake(Vec<u8>),
    /// Upgraded.
    Open(OpenWs),
}

/// An upgraded connection.
#[derive(Debug)]
pub struct OpenWs {
    /// What it speaks.
    pub endpoint: Endpoint,
    /// Incoming frames to messages; lent out while a read is handled.
    pub reader: Option<MessageReader>,
    /// Messages to outgoing frames.
    pub writer: MessageWriter,
    /// Our close frame is queued: nothing more may be written.
    pub close_sent: bool,
    /// A keep-alive ping is out and unanswered.
    pub ping_sent: bool,
}

impl WsConn {
    /// A freshly accepted connection, before its upgrade.
    pub fn new() -> Box<WsConn> {
        Box::new(WsConn::Handshake(Vec::new()))
    }
}

impl crate::conn::Conn {
    /// The upgraded WebSocket state, if this connection has one.
    pub fn ws_open(&mut self) -> Option<&mut OpenWs> {
        match self.ws.as_deref_mut()? {
            WsConn::Open(open) => Some(open),
            WsConn::Handshake(_) => None,
        }
    }

    /// The upgraded WebSocket state, read only.
    pub fn ws_open_ref(&self) -> Option<&OpenWs> {
        match self.ws.as_deref()? {
            WsConn::Open(open) => Some(open),
            WsConn::Handshake(_) => None,
        }
    }
}

/// The WebSocket close code for an engine (`wire`) close code.
pub fn close_code_for(code: u16) -> u16 {
    use wire::ErrorCode as E;
    match code {
        0 => 1000,
        c if c == E::GoingAway as u16 || c == E::IdleTimeout as u16 => 1001,
        c if c == E::TooLarge as u16 => 1009,
        c if c == E::Overload as u16 => 1013,
        c if c == E::Internal as u16 => 1011,
        _ => 1008,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle WebSocket connection pays for this box beside its slot
    /// (docs/benchmarks.md: memory per idle connection).
    #[test]
    fn websocket_state_stays_small() {
        let size = std::mem::size_of::<WsConn>();
        println!(
            "WsConn {size} OpenWs {} reader {} writer {}",
            std::mem::size_of::<OpenWs>(),
            std::mem::size_of::<MessageReader>(),
            std::mem::size_of::<MessageWriter>()
        );
        assert!(size <= 96, "WsConn grew to {size} bytes");
    }
}
