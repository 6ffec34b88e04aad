//! The WebSocket transport's state, named after what comes next, and
//! what an upgraded connection speaks. Only the types: their methods are
//! in the files beside this one (`mod.rs`: events and timers; `upgrade.rs`;
//! `frames.rs`), which is why the fields are visible to the machine's
//! folder.

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

/// A WebSocket connection's transport, beside its `Conn`: where it is,
/// named after what comes next.
#[derive(Debug)]
pub enum WsConn {
    /// Reading the upgrade request; holds the bytes so far (bounded by
    /// `websocket.max_request_bytes`).
    ExpectUpgrade(Vec<u8>),
    /// Upgraded: messages flow both ways.
    Open(OpenWs),
    /// Our close frame (or a refused upgrade's response) is queued:
    /// nothing more is read or written. Keeps what the connection spoke.
    Closing(Option<Endpoint>),
}

/// An upgraded connection.
#[derive(Debug)]
pub struct OpenWs {
    pub(super) endpoint: Endpoint,
    /// Incoming frames to messages; `None` while lent out.
    pub(super) reader: Option<MessageReader>,
    /// Messages to outgoing frames.
    pub(super) writer: MessageWriter,
    /// A keep-alive ping is out and nothing was read since.
    pub(super) ping_sent: bool,
}
