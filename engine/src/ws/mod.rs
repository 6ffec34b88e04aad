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
//! Glue, named: the stage's `impl CoreState` methods are the entry points
//! the byte dispatch, the resume and the sweep call (`on_ws_bytes`,
//! `ws_buffered_len`, `ws_sweep`) and the message dispatch that hands a
//! message to another stage or ends the connection (`on_ws_handshake`,
//! `upgraded`, `on_ws_event`, `on_json`, `on_ws_error`): those need the
//! MQTT broker (`feed_mqtt`), the `wire` stage (`feed_frames`) or
//! closing (`begin_close`, `fail`), which are `CoreState`'s. What the
//! core alone does is on [`Core`](crate::core::Core) (the four
//! writers in [`outbound`]) or a free function on it.
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
use crate::machine::ws::WsConn;
use crate::sys::Token;

/// The transport of a live WebSocket connection.
fn ws_of(conns: &mut ConnTable, token: Token) -> Option<&mut WsConn> {
    conns.get_mut(token)?.ws.as_deref_mut()
}
