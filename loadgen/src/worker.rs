//! One worker: opens its share of the connections, reports ready, waits
//! for the common start, drives the load until the end of the window,
//! drains what is still in flight and returns what it measured.

use std::rc::Rc;
use std::time::Duration;

use anyhow::bail;
use tokio::task::{spawn_local, JoinSet, LocalSet};

use crate::cli::{LoadArgs, Rate, Scenario};
use crate::client::{self, Conn, MsgWriter};
use crate::clock::Clock;
use crate::openloop::{self, Paced};
use crate::pacing::{Schedule, Walker};
use crate::receiver::{self, Replier, Role};
use crate::scenario::{self, fanout, ConnSpec, Layout, Names, Part, Reads};
use crate::shared::{Shared, Window};
use crate::tally::Tally;

/// Handshakes in flight at once: enough to open 10,000 connections in
/// about a second without overflowing the server's accept backlog.
const CONNECT_CONCURRENCY: usize = 256;
/// Draining ends after this long without a delivery...
pub const QUIET_NS: u64 = 500_000_000;
/// ...or this long after the window, whichever comes first.
pub const DRAIN_MAX_NS: u64 = 5_000_000_000;

/// How a worker tells its parent it is ready and learns when to start.
pub trait Link {
    /// Blocks until the parent says go; returns the start time (ns since
    /// the epoch).
    fn ready_and_wait_go(&mut self) -> anyhow::Result<u64>;
}

pub struct Job {
    pub args: LoadArgs,
    pub part: Part,
    pub epoch_unix_ns: u64,
    pub names: Names,
}

pub fn run(job: &Job, link: &mut (dyn Link + Send)) -> anyhow::Result<Tally> {
    if job.args.mqtt.is_some() {
        return crate::mqtt::run(job, link);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&rt, drive(job, link))
}

async fn drive(job: &Job, link: &mut dyn Link) -> anyhow::Result<Tally> {
    let clock = Clock::new(job.epoch_unix_ns);
    let layout = scenario::layout(&job.args, job.part, &job.names);
    let (conns, failed) = open_all(&job.args, &layout.conns).await;
    if !layout.conns.is_empty() && failed == layout.conns.len() {
        bail!("no connection could be opened to {}", job.args.addr());
    }
    let go = link.ready_and_wait_go()?;
    let window = Window {
        go_ns: go,
        warm_ns: go + job.args.warmup_ns(),
        end_ns: go + job.args.warmup_ns() + job.args.duration_ns(),
    };
    let shared = Rc::new(Shared::new(clock, window));
    {
        let mut t = shared.tally.borrow_mut();
        t.connections = (layout.conns.len() - failed) as u64;
        t.errors = failed as u64;
    }
    sleep_until(&clock, go).await;
    // Idle connections live here until the window ends.
    let _held = start(job, &layout, conns, &shared)?;
    sleep_until(&clock, window.end_ns).await;
    if job.args.scenario() != Scenario::Idle {
        drain(&shared, job.args.scenario() != Scenario::Fanout).await;
    }
    let tally = shared.tally.borrow().clone();
    Ok(tally)
}

/// Opens every connection of the layout, a bounded number at a time.
/// Returns them in layout order (`None` where opening failed) and the
/// number of failures.
async fn open_all(args: &LoadArgs, specs: &[ConnSpec]) -> (Vec<Option<Conn>>, usize) {
    let mut conns: Vec<Option<Conn>> = specs.iter().map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut next = 0;
    let mut failed = 0;
    loop {
        while next < specs.len() && set.len() < CONNECT_CONCURRENCY {
            let (addr, mut setup) = (args.addr(), specs[next].setup.clone());
            setup.rcvbuf = (args.rcvbuf_bytes > 0).then_some(args.rcvbuf_bytes);
            let i = next;
            set.spawn_local(async move { (i, client::open(addr, &setup).await) });
            next += 1;
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        match done.expect("connect task is not cancelled") {
            (i, Ok(c)) => conns[i] = Some(c),
            (_, Err(e)) => {
                if failed < 5 {
                    eprintln!("switchboard-loadgen: {e:#}");
                }
                failed += 1;
            }
        }
    }
    (conns, failed)
}

/// Spawns the readers and the sender(s); returns the idle connections.
fn start(
    job: &Job,
    layout: &Layout,
    conns: Vec<Option<Conn>>,
    shared: &Rc<Shared>,
) -> anyhow::Result<Vec<Conn>> {
    let args = &job.args;
    let mut held = Vec::new();
    let mut paced: Vec<(u64, Paced)> = Vec::new();
    let local_subscribers = layout
        .conns
        .iter()
        .filter(|c| c.reads == Reads::Subscriber)
        .count();
    for (spec, conn) in layout.conns.iter().zip(conns) {
        let Some(mut conn) = conn else { continue };
        if spec.reads == Reads::Nothing {
            held.push(conn);
            continue;
        }
        let mut replier = None;
        if let Some(s) = &spec.sends {
            let (dest, writer) = (
                s.dest.clone(),
                MsgWriter::new(args.size, conn.take_outbound())
                    .with_priority(args.high_every, args.droppable),
            );
            match (args.rate, args.scenario()) {
                (Rate::PerSecond(_), _) => {
                    paced.push((s.global, Paced::new(conn.stream.clone(), dest, writer)))
                }
                (Rate::Max, Scenario::Fanout) => {
                    if local_subscribers == 0 {
                        bail!("fanout with --rate max needs subscribers in process 0");
                    }
                    let p = fanout::Publisher::new(dest, args, local_subscribers, writer);
                    spawn_local(p.run(conn.stream.clone(), shared.clone()));
                }
                (Rate::Max, _) => replier = Some(Replier::new(dest, writer, args.pipeline)),
            }
        }
        let role = Role {
            replier,
            subscriber: spec.reads == Reads::Subscriber,
        };
        let pace = args.read_bytes_per_s;
        spawn_local(receiver::run(conn, shared.clone(), role, pace));
    }
    if let Rate::PerSecond(rate) = args.rate {
        let schedule = Schedule {
            go_ns: shared.window().go_ns,
            rate,
            senders: layout.senders_total,
            burst_ns: args.burst_ns(),
        };
        start_pacer(paced, schedule, shared);
    }
    Ok(held)
}

fn start_pacer(mut paced: Vec<(u64, Paced)>, schedule: Schedule, shared: &Rc<Shared>) {
    if paced.is_empty() {
        return;
    }
    paced.sort_by_key(|p| p.0);
    let (globals, senders): (Vec<u64>, Vec<Paced>) = paced.into_iter().unzip();
    let walker = Walker::new(schedule, globals);
    spawn_local(openloop::run(senders, walker, shared.clone()));
}

/// Waits for messages still in flight after the window. `complete`: this
/// process receives everything it sends, so equal counts mean done.
async fn drain(shared: &Shared, complete: bool) {
    let end = shared.window().end_ns;
    loop {
        let now = shared.clock.now();
        let (sent, received) = {
            let t = shared.tally.borrow();
            (t.sent_all, t.received_all)
        };
        let quiet = now.saturating_sub(shared.last_rx_ns.get().max(end));
        if (complete && received >= sent) || quiet > QUIET_NS || now > end + DRAIN_MAX_NS {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn sleep_until(clock: &Clock, ns: u64) {
    tokio::time::sleep_until(clock.instant_at(ns).into()).await;
}
