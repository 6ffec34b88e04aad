//! Protocol machines, sans-IO: each is handed the bytes a connection
//! read and the time, and answers with bytes to transmit and actions for
//! the core (deliver, subscribe, pause, close with a reason, a timer).
//! A machine imports nothing of the engine but other machines, the
//! settings and the `wire` codecs, so that a unit test drives it against
//! a client with no core, no backend and no clock.

pub mod mqtt;
pub mod wire;
pub mod ws;
