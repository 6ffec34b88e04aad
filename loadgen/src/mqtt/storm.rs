//! The reconnect storm (`--scenario storm`): every client id of the
//! layout reconnects over and over from the start of the run to its end.
//! Each round opens a new TCP connection and sends CONNECT with Clean
//! Start 0 (and on MQTT 5 a Session Expiry), so the broker hands the
//! session of the previous connection, still open, to the new one; the
//! previous socket is closed once the new CONNACK has come (the broker
//! may have closed it first, with DISCONNECT 0x8E on MQTT 5). The first
//! CONNECT of each client id also subscribes, so the sessions carry state.
//!
//! In the tally a "message" is one reconnect: `sent` counts CONNECTs,
//! `received` their CONNACKs and the latency is from the TCP connect to
//! the CONNACK (the SUBACK too on a client id's first round, which falls
//! in the warm-up), so throughput and server CPU per message read as
//! CONNACKs/s and server CPU per CONNACK. A refused CONNACK, a reset or a
//! timeout is an error, and the client id starts its next round at once.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::layout::{ConnSpec, Layout};
use super::link::{self, Link};
use super::session::Config;
use crate::cli::LoadArgs;
use crate::shared::Shared;

/// The pause after a failed round.
const ERROR_PAUSE: Duration = Duration::from_millis(1);

/// Runs every client id's reconnect loop until the end of the window.
pub async fn run(args: &LoadArgs, layout: &Layout, shared: &Rc<Shared>) {
    let flags = args.mqtt.as_ref().expect("an mqtt run");
    let template = super::worker::session_template(args, Some(flags.session_expiry));
    let mut set = JoinSet::new();
    for spec in &layout.conns {
        let (spec, shared, addr) = (spec.clone(), shared.clone(), args.addr());
        set.spawn_local(async move {
            let cfg = Config {
                client_id: &spec.client_id,
                ..template
            };
            reconnect_loop(addr, spec.clone(), &cfg, &shared).await;
        });
    }
    while set.join_next().await.is_some() {}
}

async fn reconnect_loop(addr: SocketAddr, mut spec: ConnSpec, cfg: &Config<'_>, shared: &Shared) {
    let clock = shared.clock;
    let end_ns = shared.window().end_ns;
    // Open until the next round's CONNACK: the takeover finds it live.
    let mut previous: Option<Link> = None;
    loop {
        let start = clock.now();
        if start >= end_ns {
            break;
        }
        shared.sent(start, false);
        match link::open(addr, &spec, cfg, &clock).await {
            Ok(l) => {
                shared.received(start, clock.now(), false);
                // Only the first round subscribes: later ones resume it.
                spec.subscribe = None;
                previous = Some(l);
            }
            Err(e) => {
                shared.error(format_args!("{}: {e:#}", cfg.client_id));
                previous = None;
                // A broker refusing at once must not make this a busy loop.
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
    if let Some(l) = previous {
        l.session.borrow_mut().disconnect(clock.now());
        let _ = l.flush();
    }
}
