//! The parent's side of a `tcp` run: start the workers, give the common
//! start signal, sample the server at the edges of the measured window,
//! then merge and report.

use std::time::Duration;

use crate::cli::{Scenario, TcpArgs};
use crate::clock::{self, Clock};
use crate::multiproc::{self, Workers};
use crate::procstat::{self, CpuTicks};
use crate::report::{self, ServerSamples};

/// Time for the `go` line to reach every worker before the start.
const GO_LEAD_NS: u64 = 100_000_000;
/// The idle scenario waits this long after connecting before measuring
/// memory: the server hands freed memory back every ~2 s.
const IDLE_SETTLE: Duration = Duration::from_secs(5);

pub fn tcp(args: TcpArgs) -> anyhow::Result<()> {
    args.validate()?;
    if args.child_index.is_some() {
        return multiproc::child_main(args);
    }
    let epoch = clock::unix_ns();
    let clock = Clock::new(epoch);
    let mut samples = ServerSamples::default();
    if let Some(pid) = args.server_pid {
        samples.rss_before = Some(procstat::rss_bytes(pid)?);
    }
    let mut workers = Workers::spawn(&args, epoch)?;
    if let Err(e) = timeline(&args, &clock, &mut workers, &mut samples) {
        workers.kill();
        // A worker that failed has the better explanation.
        return Err(workers.finish().err().unwrap_or(e));
    }
    let tally = workers.finish()?;
    report::emit(&args, &tally, &samples)
}

fn timeline(
    args: &TcpArgs,
    clock: &Clock,
    workers: &mut Workers,
    samples: &mut ServerSamples,
) -> anyhow::Result<()> {
    workers.wait_ready()?;
    if args.scenario == Scenario::Idle {
        std::thread::sleep(IDLE_SETTLE);
        samples.rss_connected = rss(args)?;
    }
    let go = clock.now() + GO_LEAD_NS;
    workers.go(go)?;
    let warm = go + args.warmup_ns();
    let end = warm + args.duration_ns();
    sleep_until(clock, warm);
    let cpu_start = cpu(args)?;
    samples.rss_start = rss(args)?;
    sleep_until(clock, end);
    let cpu_end = cpu(args)?;
    samples.rss_end = rss(args)?;
    if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
        samples.cpu_us = Some(procstat::cpu_us_between(a, b));
    }
    Ok(())
}

fn cpu(args: &TcpArgs) -> anyhow::Result<Option<CpuTicks>> {
    args.server_pid.map(procstat::cpu_ticks).transpose()
}

fn rss(args: &TcpArgs) -> anyhow::Result<Option<u64>> {
    args.server_pid.map(procstat::rss_bytes).transpose()
}

fn sleep_until(clock: &Clock, ns: u64) {
    let now = clock.now();
    if ns > now {
        std::thread::sleep(Duration::from_nanos(ns - now));
    }
}
