//! The WebSocket transport, sans-IO (RFC 6455, RFC 7692): one
//! connection's upgrade, reader, writer, keep-alive ping and close
//! handshake, with no core, no socket and no clock.
//!
//! A [`WsConn`] is handed what the connection reads and the time, and
//! answers with bytes to transmit and steps for the protocol on top:
//! - [`WsConn::handle_upgrade`]: the upgrade request's bytes; answers the
//!   101 response (endpoint, subprotocol and compression chosen) or the
//!   refusal to write before closing;
//! - [`WsConn::take_reader`] and [`WsConn::handle_event`]: each event of
//!   the connection's `MessageReader` becomes a [`Step`]: a text or binary
//!   message for the protocol on top, or bytes the machine framed itself
//!   (the PONG to a PING, the answer to the peer's close);
//!   [`WsConn::handle_error`] turns a reader's error into the close frame
//!   with its code;
//! - [`WsConn::poll_timeout`] / [`WsConn::handle_timeout`]: the upgrade's
//!   deadline (408) and the keep-alive ping;
//! - [`WsConn::frame`], [`WsConn::write`], [`WsConn::close`]: what the core
//!   queues to the connection, framed (`wire` frames as JSON text or
//!   binary messages, encoded once per output form for a fan-out:
//!   [`SharedForms`]).
//!
//! The reader is lent out while its events are handled ([`take_reader`],
//! [`put_reader`]) because the protocol on top answers through this same
//! machine's writer while a message is in hand (an echo, a `wire` answer
//! framed for this connection). Bytes are written into the caller's
//! arena, so that a frame costs no allocation of its own.
//!
//! Owns: the transport's state ([`WsConn`], one enum named after what
//! comes next). Not here: what a message means (the stages: `crate::ws`
//! dispatches it to the `wire` session or the MQTT machine), queues and
//! metrics (the core), the connection's last-activity stamp (the core's
//! `Conn::last_active`, shared by every machine on the connection: the
//! timers take it as `since`).
//!
//! [`take_reader`]: WsConn::take_reader
//! [`put_reader`]: WsConn::put_reader

mod forms;
mod frames;
mod state;
mod upgrade;

#[cfg(test)]
mod pair_tests;

use bytes::{Bytes, BytesMut};
use wire::ws::{MessageReader, OpCode, WsError, WsEvent};

use crate::priority::Lane;

pub use forms::SharedForms;
pub use frames::Framed;
pub use state::{Endpoint, OpenWs, OutForm, WsConn};
pub use upgrade::{deflate_config, Upgrade, UpgradeSettings, PROTOCOL_BIN, PROTOCOL_JSON};

/// What one event of the reader asks of the protocol on top.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// Bytes the machine framed itself (a PONG): queue them on `Lane`.
    Transmit(Lane, Bytes),
    /// The peer closed: queue our answering close frame (if any: none
    /// once ours is out), then close the connection.
    Close(Option<Bytes>),
    /// Nothing to do (a PONG from the peer, or an event after our close).
    Nothing,
}

/// What the transport's timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Timeout {
    /// The upgrade request did not complete in time: write this 408
    /// response, then close.
    Upgrade(Bytes),
    /// Silent for the ping interval: queue this ping on the high lane.
    Ping(Bytes),
}

/// The transport's two timers, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    handshake_ms: u64,
    ping_ms: u64,
}

impl Timers {
    /// The upgrade must complete within `handshake_ms` of the accept; an
    /// upgraded connection silent for `ping_ms` is pinged once.
    pub fn new(handshake_ms: u64, ping_ms: u64) -> Timers {
        Timers {
            handshake_ms,
            ping_ms,
        }
    }
}

impl WsConn {
    /// A freshly accepted connection, before its upgrade.
    pub fn new() -> Box<WsConn> {
        Box::new(WsConn::ExpectUpgrade(Vec::new()))
    }

    /// An upgraded connection (tests of what the core queues to one).
    #[cfg(test)]
    pub(crate) fn opened(
        endpoint: Endpoint,
        reader: MessageReader,
        writer: wire::ws::MessageWriter,
    ) -> WsConn {
        WsConn::Open(OpenWs {
            endpoint,
            reader: Some(reader),
            writer,
            ping_sent: false,
        })
    }

    /// What the connection speaks, once upgraded.
    #[inline]
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            WsConn::ExpectUpgrade(_) => None,
            WsConn::Open(open) => Some(open.endpoint),
            WsConn::Closing(endpoint) => *endpoint,
        }
    }

    /// Whether the upgrade request is still expected.
    pub fn expects_upgrade(&self) -> bool {
        matches!(self, WsConn::ExpectUpgrade(_))
    }

    /// Bytes were read: whatever they hold, they answer an outstanding
    /// ping (the next one waits for the next silence).
    #[inline]
    pub fn note_read(&mut self) {
        if let WsConn::Open(open) = self {
            open.ping_sent = false;
        }
    }

    /// Lends the reader out while its events are handled; `None` unless
    /// open (or already lent).
    #[inline(always)]
    pub fn take_reader(&mut self) -> Option<MessageReader> {
        match self {
            WsConn::Open(open) => open.reader.take(),
            _ => None,
        }
    }

    /// Takes the lent reader back (dropped if the connection closed
    /// meanwhile: nothing more is read).
    #[inline(always)]
    pub fn put_reader(&mut self, reader: MessageReader) {
        if let WsConn::Open(open) = self {
            debug_assert!(open.reader.is_none(), "one reader per connection");
            open.reader = Some(reader);
        }
    }

    /// Keeps bytes read while the connection is paused, for the resume.
    pub fn stash(&mut self, data: &[u8]) {
        if let Some(r) = self.reader_mut() {
            r.stash(data);
        }
    }

    /// Bytes the reader holds (re-read on resume).
    pub fn buffered_len(&self) -> usize {
        match self {
            WsConn::Open(open) => open.reader.as_ref().map_or(0, |r| r.buffered_len()),
            _ => 0,
        }
    }

    /// What one event of the reader asks for; control frames are answered
    /// here, into `arena`.
    #[inline(always)]
    pub fn handle_event<'a>(&mut self, ev: WsEvent<'a>, arena: &mut BytesMut) -> Step<'a> {
        match ev {
            WsEvent::Text(text) => Step::Text(text),
            WsEvent::Binary(data) => Step::Binary(data),
            WsEvent::Ping(data) => match self.write(arena, OpCode::Pong, data) {
                Some((lane, pong)) => Step::Transmit(lane, pong),
                None => Step::Nothing,
            },
            WsEvent::Pong(_) => Step::Nothing,
            // Echo the peer's code (RFC 6455 §5.5.1), then close.
            WsEvent::Close { code, reason } => Step::Close(self.close(arena, code, reason)),
        }
    }

    /// The reader failed: our close frame with the error's code (1002,
    /// 1007, 1009), to queue before closing; `None` once ours is out.
    pub fn handle_error(&mut self, e: &WsError, arena: &mut BytesMut) -> Option<Bytes> {
        self.close(arena, Some(e.code), e.reason)
    }

    /// The connection clock reading after which the transport's timer is
    /// over, for a connection last active at `since`; `None` when no timer
    /// runs (an MQTT endpoint keeps itself alive with PINGREQ; a ping is
    /// out; closing).
    pub fn poll_timeout(&self, since: u32, t: Timers) -> Option<u32> {
        let ms = match self {
            WsConn::ExpectUpgrade(_) => t.handshake_ms,
            WsConn::Open(open) if open.endpoint != Endpoint::Mqtt && !open.ping_sent => t.ping_ms,
            _ => return None,
        };
        Some(since.wrapping_add(ms.min(u64::from(u32::MAX)) as u32))
    }

    /// At `now`, for a connection last active at `since`: what the timer
    /// asks for, if it is over (a timer fires only past its interval:
    /// [`crate::timers::conn_passed`]).
    pub fn handle_timeout(
        &mut self,
        since: u32,
        now: u32,
        t: Timers,
        arena: &mut BytesMut,
    ) -> Option<Timeout> {
        let deadline = self.poll_timeout(since, t)?;
        let interval = u64::from(deadline.wrapping_sub(since));
        if !crate::timers::conn_passed(since, now, interval) {
            return None;
        }
        if self.expects_upgrade() {
            let e = upgrade::status(408, "upgrade request took too long");
            return Some(Timeout::Upgrade(self.refuse(&e)));
        }
        let (_, ping) = self.write(arena, OpCode::Ping, b"")?;
        if let WsConn::Open(open) = self {
            open.ping_sent = true;
        }
        Some(Timeout::Ping(ping))
    }

    /// Frames one message or control frame with the connection's writer
    /// (compressed where negotiated) into `arena`, with the lane it takes:
    /// pings and pongs never wait behind queued messages. `None` unless
    /// open.
    #[inline(always)]
    pub fn write(
        &mut self,
        arena: &mut BytesMut,
        op: OpCode,
        payload: &[u8],
    ) -> Option<(Lane, Bytes)> {
        let WsConn::Open(open) = self else {
            return None;
        };
        let arena = frames::reserve(arena);
        let lane = match op {
            OpCode::Ping | OpCode::Pong => {
                open.writer.write_control(arena, op, payload);
                Lane::High
            }
            _ => {
                open.writer.write_message(arena, op, payload);
                Lane::Normal
            }
        };
        Some((lane, arena.split().freeze()))
    }

    /// Our close frame, once: it goes behind everything queued (normal
    /// lane) and nothing is written after it. `None` unless open.
    pub fn close(
        &mut self,
        arena: &mut BytesMut,
        code: Option<u16>,
        reason: &str,
    ) -> Option<Bytes> {
        let WsConn::Open(open) = self else {
            return None;
        };
        let arena = frames::reserve(arena);
        open.writer.write_close(arena, code, reason);
        *self = WsConn::Closing(self.endpoint());
        Some(arena.split().freeze())
    }

    /// The engine closes the connection with `wire` close code `code`:
    /// whether the envelope's `wire` CLOSE frame goes first (only the
    /// envelope endpoint speaks `wire`), and the WebSocket close code.
    pub fn engine_close(&self, code: u16) -> (bool, u16) {
        let envelope =
            matches!(self, WsConn::Open(o) if matches!(o.endpoint, Endpoint::Envelope { .. }));
        (envelope, close_code_for(code))
    }

    fn reader_mut(&mut self) -> Option<&mut MessageReader> {
        match self {
            WsConn::Open(open) => open.reader.as_mut(),
            _ => None,
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
            std::mem::size_of::<wire::ws::MessageWriter>()
        );
        assert!(size <= 96, "WsConn grew to {size} bytes");
    }
}
