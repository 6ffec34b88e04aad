//! `switchboard-loadgen mqtt`: the scenarios fanin, fanout, pairs, idle
//! and storm against any MQTT 3.1.1 or 5 broker, at QoS 0 or 1, reusing the common
//! machinery: the multi-process runner (`multiproc`), the open-loop
//! schedule (`pacing`), the tally and its report, and the server sampling
//! of `run`. Packets are read and written by `wire::mqtt`.
//!
//! - [`options`]: the `mqtt` flags and their checks.
//! - [`layout`]: who each connection is (client id, topics) per scenario.
//! - [`session`]: the sans-IO client machine (handshake, PUBACKs, the
//!   QoS 1 window of [`window`], the pings of [`keepalive`]).
//! - [`link`]: a connection's socket and session, opening and writing.
//! - [`reader`]: a connection's task (reads, events, writes, timer).
//! - [`pacer`] (open loop) and [`closed`] (closed loop): publishing.
//! - [`storm`]: the reconnect storm, which opens its own connections.
//! - [`feedback`]: what readers tell publishers; [`tag`]: the publisher
//!   in each stamp.
//! - [`worker`]: one worker process's life.

mod closed;
mod feedback;
mod keepalive;
mod layout;
mod link;
mod options;
mod pacer;
mod reader;
mod session;
mod storm;
mod tag;
mod window;
mod worker;

pub use options::MqttFlags;
pub use worker::run;
