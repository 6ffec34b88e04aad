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
//! - [`conn`]: the connection table with generational tokens.
//! - [`send_queue`]: a connection's two-lane send queue.
//! - [`priority`]: a message's lane and whether it may be shed.
//! - [`delivery`]: frames into send queues on their lane; shedding.
//! - [`backpressure`]: pausing whoever feeds a connection that does not drain.
//! - [`closing`]: how every connection ends: its reason, then a bounded
//!   linger that lets a peer still writing read it, then the close.
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
pub mod backpressure;
pub mod closing;
pub mod config;
pub mod conn;
pub mod core_state;
pub mod delivery;
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
