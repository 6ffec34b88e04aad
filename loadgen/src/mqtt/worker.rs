//! An MQTT worker process's life: lay out its share of the connections,
//! open them (CONNECT, and SUBSCRIBE until its SUBACK), start their reader
//! tasks, report ready, wait for the common start, run the publishers
//! (open loop or closed loop) until the end of the window, drain what is
//! still in flight, say DISCONNECT, and return what it measured.
//!
//! Unlike `tcp` and `ws`, the connections have work to do while the run
//! waits for its start (keep-alive pings, during the idle scenario's
//! settling time too), so the blocking wait for `go` runs on a helper
//! thread and the connections' tasks keep running.

use std::rc::Rc;
use std::sync::mpsc;

use anyhow::{bail, Context};
use tokio::sync::oneshot;
use tokio::task::{spawn_local, JoinSet, LocalSet};

use super::closed::Publisher;
use super::feedback::Feedback;
use super::layout::{self, Layout};
use super::link::{self, Link};
use super::pacer::{self, Sender};
use super::reader::{self, Ctx};
use super::session::Config;
use super::storm;
use crate::cli::{LoadArgs, Rate, Scenario};
use crate::clock::Clock;
use crate::pacing::Schedule;
use crate::shared::{Shared, Window};
use crate::tally::Tally;
use crate::worker::{self as common, Job};

/// Handshakes in flight at once. Lower than the 256 of `tcp` and `ws`:
/// an MQTT handshake waits for the broker's CONNACK (and SUBACK), and
/// rumqttd on one core reset or left unanswered about 1 % of 10,000 idle
/// connections opened 256 at a time, none at 64, which opens them as fast.
const CONNECT_CONCURRENCY: usize = 64;
/// The window before the start is known: nothing counts in it.
const NOT_STARTED: Window = Window {
    go_ns: u64::MAX,
    warm_ns: u64::MAX,
    end_ns: u64::MAX,
};

pub fn run(job: &Job, link: &mut (dyn common::Link + Send)) -> anyhow::Result<Tally> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = oneshot::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // No `ready` (the worker failed first): nothing to wait for.
            if ready_rx.recv().is_ok() {
                let _ = go_tx.send(link.ready_and_wait_go());
            }
        });
        LocalSet::new().block_on(&rt, drive(job, ready_tx, go_rx))
    })
}

async fn drive(
    job: &Job,
    ready: mpsc::Sender<()>,
    go: oneshot::Receiver<anyhow::Result<u64>>,
) -> anyhow::Result<Tally> {
    let args = &job.args;
    let clock = Clock::new(job.epoch_unix_ns);
    let layout = layout::layout(args, job.part, &job.names);
    let closed_loop = args.rate == Rate::Max;
    if closed_loop
        && !layout.local_publishers.is_empty()
        && layout.local_deliveries_per_message == 0
    {
        bail!(
            "--rate max paces each publisher on deliveries to subscribers in its own \
             process: give every process subscribers (fewer --processes)"
        );
    }
    let shared = Rc::new(Shared::new(clock, NOT_STARTED));
    let feedback = Rc::new(Feedback::new(
        layout.local_publishers.clone(),
        layout.local_deliveries_per_message,
        closed_loop,
    ));
    if args.scenario() == Scenario::Storm {
        return storm_run(args, &layout, &shared, ready, go).await;
    }
    let links = open_all(args, &layout, &clock).await?;
    let failed = links.iter().filter(|l| l.is_none()).count();
    {
        let mut t = shared.tally.borrow_mut();
        t.connections = (links.len() - failed) as u64;
        t.errors = failed as u64;
    }
    let ctx = Rc::new(Ctx::new(shared.clone(), feedback.clone()));
    for (spec, l) in layout.conns.iter().zip(&links) {
        if let Some(l) = l {
            let publisher = spec.publishes.as_ref().map(|p| p.global);
            spawn_local(reader::run(l.clone(), ctx.clone(), publisher));
        }
    }
    ready.send(()).context("the go thread is gone")?;
    let go_ns = go.await.context("the go thread is gone")??;
    let warm_ns = go_ns + args.warmup_ns();
    let window = Window {
        go_ns,
        warm_ns,
        end_ns: warm_ns + args.duration_ns(),
    };
    shared.set_window(window);
    common::sleep_until(&clock, go_ns).await;
    start_publishers(args, &layout, &links, &feedback, &shared);
    common::sleep_until(&clock, window.end_ns).await;
    if args.scenario() != Scenario::Idle {
        drain(args, &shared, &feedback).await;
    }
    farewell(&links, &clock);
    let mut tally = shared.tally.borrow().clone();
    tally.unsent = feedback.owed.get();
    Ok(tally)
}

/// The storm opens no connection before the start: each client id's
/// loop opens its own from `go` to the end of the window.
async fn storm_run(
    args: &LoadArgs,
    layout: &Layout,
    shared: &Rc<Shared>,
    ready: mpsc::Sender<()>,
    go: oneshot::Receiver<anyhow::Result<u64>>,
) -> anyhow::Result<Tally> {
    ready.send(()).context("the go thread is gone")?;
    let go_ns = go.await.context("the go thread is gone")??;
    let warm_ns = go_ns + args.warmup_ns();
    shared.set_window(Window {
        go_ns,
        warm_ns,
        end_ns: warm_ns + args.duration_ns(),
    });
    common::sleep_until(&shared.clock, go_ns).await;
    storm::run(args, layout, shared).await;
    let tally = shared.tally.borrow().clone();
    Ok(tally)
}

/// The session settings every connection of a run shares (the client id
/// is each connection's own).
pub(super) fn session_template(args: &LoadArgs, session_expiry_s: Option<u32>) -> Config<'static> {
    let flags = args.mqtt.as_ref().expect("an mqtt run");
    Config {
        version: flags.mqtt_version.protocol(),
        client_id: "",
        keep_alive_s: flags.keep_alive,
        qos: flags.qos(),
        inflight: flags.inflight,
        body_len: args.size,
        session_expiry_s,
    }
}

/// Opens every connection of the layout, a bounded number at a time;
/// `None` where opening failed (described on stderr, counted as errors).
async fn open_all(
    args: &LoadArgs,
    layout: &Layout,
    clock: &Clock,
) -> anyhow::Result<Vec<Option<Rc<Link>>>> {
    let template = session_template(args, None);
    let specs = &layout.conns;
    let mut links: Vec<Option<Rc<Link>>> = specs.iter().map(|_| None).collect();
    let (mut set, mut next, mut failed) = (JoinSet::new(), 0, 0);
    loop {
        while next < specs.len() && set.len() < CONNECT_CONCURRENCY {
            let (i, spec, addr, clock) = (next, specs[next].clone(), args.addr(), *clock);
            set.spawn_local(async move {
                let cfg = Config {
                    client_id: &spec.client_id,
                    ..template
                };
                (i, link::open(addr, &spec, &cfg, &clock).await)
            });
            next += 1;
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        match done.expect("connect task is not cancelled") {
            (i, Ok(l)) => links[i] = Some(Rc::new(l)),
            (_, Err(e)) => {
                if failed < 5 {
                    eprintln!("switchboard-loadgen: {e:#}");
                }
                failed += 1;
            }
        }
    }
    if !specs.is_empty() && failed == specs.len() {
        bail!("no MQTT connection could be opened to {}", args.addr());
    }
    Ok(links)
}

/// Starts the open-loop pacer (one task for all local publishers) or one
/// closed-loop task per publisher.
fn start_publishers(
    args: &LoadArgs,
    layout: &Layout,
    links: &[Option<Rc<Link>>],
    feedback: &Rc<Feedback>,
    shared: &Rc<Shared>,
) {
    let mut senders = Vec::new();
    for (spec, l) in layout.conns.iter().zip(links) {
        let (Some(p), Some(l)) = (&spec.publishes, l) else {
            continue;
        };
        match args.rate {
            Rate::PerSecond(_) => senders.push(Sender::new(l.clone(), p.topic.clone(), p.global)),
            Rate::Max => {
                let publisher = Publisher {
                    link: l.clone(),
                    topic: p.topic.clone(),
                    global: p.global,
                    pipeline: args.pipeline as u64,
                };
                spawn_local(publisher.run(feedback.clone(), shared.clone()));
            }
        }
    }
    let Rate::PerSecond(rate) = args.rate else {
        return;
    };
    if senders.is_empty() {
        return;
    }
    senders.sort_by_key(|s| s.global);
    let schedule = Schedule {
        go_ns: shared.window().go_ns,
        rate,
        senders: layout.publishers_total,
        burst_ns: args.burst_ns(),
    };
    spawn_local(pacer::run(
        senders,
        schedule,
        feedback.clone(),
        shared.clone(),
    ));
}

/// Waits for what is still in flight after the window: until every
/// delivery arrived where one process sees them all, else until nothing
/// has arrived for `QUIET_NS`, and never past `DRAIN_MAX_NS`. What is
/// missing then is reported as lost.
async fn drain(args: &LoadArgs, shared: &Shared, feedback: &Feedback) {
    let end = shared.window().end_ns;
    let qos1 = args.mqtt.as_ref().is_some_and(|m| m.qos == 1);
    // Only a single process receives every delivery of its own messages.
    let per_message = (args.process_count() == 1).then(|| args.deliveries_per_message());
    loop {
        let now = shared.clock.now();
        let complete = per_message.is_some_and(|f| {
            let t = shared.tally.borrow();
            let acked = !qos1 || t.acked_all >= t.sent_all;
            acked && t.received_all >= t.sent_all * f && feedback.owed.get() == 0
        });
        let quiet = now.saturating_sub(shared.last_rx_ns.get().max(end));
        if complete || quiet > common::QUIET_NS || now > end + common::DRAIN_MAX_NS {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Says DISCONNECT on every connection, so brokers log a clean goodbye
/// rather than a reset. Best effort: what the socket refuses is dropped.
fn farewell(links: &[Option<Rc<Link>>], clock: &Clock) {
    for l in links.iter().flatten() {
        l.session.borrow_mut().disconnect(clock.now());
        let _ = l.flush();
    }
}
