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
//! Glue: the entry points the byte dispatch and the sweep call
//! (`on_ws_bytes`, `ws_buffered_len`, `ws_sweep`) are `impl CoreState`
//! because a message may go to the MQTT broker; the rest works on the
//! [`Core`](crate::core_state::Core) alone.
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
