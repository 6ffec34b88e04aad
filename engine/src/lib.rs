//! Switchboard's edge engine: a thread-per-core reactor that holds every
//! live connection, routes messages between them over a core-to-core mesh
//! of lock-free rings, and writes them back out.
//!
//! Module map (each owns one idea):
//! - [`sys`]: the kernel boundary (io_uring and epoll backends; a
//!   simulated backend for tests) and the clock.
//! - [`shard`]: start-up: one pinned thread per core, listeners, the mesh.
//! - [`reactor`]: one core's loop: reap completions, drive connections,
//!   drain the mesh, flush sends, run timers.
//! - [`core_state`]: the glue: one core's [`core::Core`] and the stages
//!   on it, the mesh dispatch, the protocol choices when a connection ends.
//! - [`core`]: what a core owns (connections, routing, mesh, delivery),
//!   one concept per file: [`core::delivery`] (frames into send queues on
//!   their lane; shedding), [`core::routing`] (a message to a user or
//!   connection target, here and on other cores; [`core::targets`]: who
//!   that target is on this core), [`core::acks`] (a SEND's ACK once every
//!   core has counted its recipients), [`core::backpressure`] (pausing
//!   whoever feeds a connection that does not drain), [`core::closing`]
//!   (how every connection ends, the core's half: out of routing, a
//!   bounded linger that lets a peer still writing read its reason, then
//!   the close).
//! - [`conn`]: the connection table with generational tokens.
//! - [`send_queue`]: a connection's two-lane send queue.
//! - [`flow`]: a connection's reading and writing states.
//! - [`priority`]: a message's lane and whether it may be shed.
//! - [`machine`]: the sans-IO protocol machines (`wire` session,
//!   WebSocket transport, MQTT connection).
//! - [`proto`]: the `wire` stage: applies the `wire` session's steps
//!   (admission, routing, subscriptions).
//! - [`ws`]: WebSocket connections: the upgrade, messages to frames and back.
//! - [`mqtt`]: the MQTT broker: sessions on their client id's home core,
//!   QoS flows, retained messages.
//! - [`route`]: who is where: users and topic subscribers (the
//!   subscription index all protocols share), local and on other cores.
//! - [`mesh`]: the core-to-core rings with a high and a normal lane.
//! - [`ids`]: snowflake message ids.
//! - [`timers`]: when a protocol timer is due (the clock passed in).
//! - [`config`], [`metrics`], [`admin`]: operations.
//! - `sim` (tests only): the deterministic simulator, every core on the
//!   simulated backend in one thread (docs/simulation.md).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod admin;
pub mod config;
pub mod conn;
pub mod core;
pub mod core_state;
pub mod flow;
pub mod ids;
pub mod machine;
pub mod mem;
pub mod mesh;
pub mod metrics;
pub mod mqtt;
pub mod priority;
pub mod proto;
pub mod reactor;
pub mod route;
pub mod send_queue;
pub mod shard;
#[cfg(test)]
mod sim;
pub mod sys;
pub mod timers;
pub mod ws;
