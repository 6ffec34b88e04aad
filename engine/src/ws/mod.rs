//! The WebSocket stage (RFC 6455, RFC 7692): applies what a connection's
//! WebSocket transport ([`crate::machine::ws::WsConn`]) returns.
//!
//! A WebSocket connection is an ordinary [`Conn`](crate::conn::Conn) with a
//! `WsConn` beside it: first the HTTP upgrade ([`upgrade`]), then
//! messages ([`inbound`]), dispatched to the protocol on top: the `wire`
//! session (through the JSON envelope for text), the MQTT machine, or the
//! echo. Every frame the core queues to it is framed by the transport on
//! the way out ([`outbound`]). All parsing happens in `wire::ws` and
//! `wire::json`, and every transport rule in the machine; these modules
//! only decide what a message means here, count it and queue the bytes.
//!
//! [`WsStage`] borrows the core and the MQTT broker for one call: the
//! glue's byte dispatch, adoption and sweep call it (`on_bytes`, `sweep`;
//! the resume asks [`buffered_len`] first); it hands a message to the
//! protocol on top (the `wire` stage, [`crate::proto::WireStage`], or the
//! broker) and ends the connection through the core (`ws_close`,
//! `begin_close`) or the `wire` stage (`fail`). What the core alone does
//! is on [`Core`] (the two writers in [`outbound`], which the core, the
//! `wire` stage's `send_close`, this stage and the MQTT stage call).
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

#[cfg(test)]
mod forms_tests;
mod inbound;
mod outbound;
mod upgrade;

use crate::conn::ConnTable;
use crate::core::Core;
use crate::machine::ws::WsConn;
use crate::mqtt::Broker;
use crate::proto::WireStage;
use crate::sys::Token;

/// The WebSocket stage over one core, for one call: the core, and the
/// MQTT broker that the MQTT endpoint's messages go to.
pub(crate) struct WsStage<'a> {
    core: &'a mut Core,
    broker: &'a mut Broker,
}

impl<'a> WsStage<'a> {
    /// The stage over `core`, with `broker` for the MQTT endpoint.
    pub(crate) fn new(core: &'a mut Core, broker: &'a mut Broker) -> WsStage<'a> {
        WsStage { core, broker }
    }

    /// The `wire` stage over the same core, for the envelope endpoint.
    fn wire(&mut self) -> WireStage<'_> {
        WireStage::new(self.core, self.broker)
    }
}

/// Bytes the WebSocket reader of `token` still holds (re-read on resume).
pub(crate) fn buffered_len(core: &Core, token: Token) -> usize {
    let ws = core.conns().get(token).and_then(|c| c.ws());
    ws.map_or(0, WsConn::buffered_len)
}

/// The transport of a live WebSocket connection.
fn ws_of(conns: &mut ConnTable, token: Token) -> Option<&mut WsConn> {
    conns.get_mut(token)?.ws_mut()
}
