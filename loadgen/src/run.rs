//! The parent's side of a `tcp` run: start the workers, give the common
//! start signal, sample the server at the edges of the measured window,
//! then merge and report.

use std::time::Duration;

use crate::cli::{LoadArgs, Scenario};
use crate::clock::{self, Clock};
use crate::multiproc::{self, Workers};
use crate::procstat::{self, CpuTicks};
use crate::report::{self, ServerSamples};

/// Time for the `go` line to reach every worker before the start.
const GO_LEAD_NS: u64 = 100_000_000;
/// The idle scenario waits this long after connecting before measuring
/// memory: the server hands freed memory back every ~2 s.
const IDLE_SETTLE: Duration = Duration::from_secs(5);

pub fn load(args: LoadArgs) -> anyhow::Result<()> {
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
    args: &LoadArgs,
    clock: &Clock,
    workers: &mut Workers,
    samples: &mut ServerSamples,
) -> anyhow::Result<()> {
    workers.wait_ready()?;
    if args.scenario() == Scenario::Idle {
        std::thread::sleep(IDLE_SETTLE);
        samples.rss_connected = rss(args)?;
    }
    let go = clock.now() + GO_LEAD_NS;
    workers.go(go)?;
    let warm = go + args.warmup_ns();
    let end = warm + args.duration_ns();
    sleep_until(clock, warm);
    let first = CpuSample::take(args, workers)?;
    samples.rss_start = rss(args)?;
    sleep_until(clock, end);
    let last = CpuSample::take(args, workers)?;
    samples.rss_end = rss(args)?;
    last.since(&first, samples);
    Ok(())
}

/// CPU clocks read at one edge of the window: the server's, the load
/// generator's own, and the whole machine's. What the machine spent beyond
/// the first two is interference from other work, which the report shows
/// so a disturbed run can be recognised.
struct CpuSample {
    server: Option<CpuTicks>,
    loadgen: u64,
    system: procstat::SystemTicks,
}

impl CpuSample {
    fn take(args: &LoadArgs, workers: &Workers) -> anyhow::Result<CpuSample> {
        let mut loadgen = procstat::cpu_ticks(std::process::id())?.total();
        for pid in workers.child_pids() {
            // A child that already exited has nothing more to add.
            loadgen += procstat::cpu_ticks(pid).map_or(0, |t| t.total());
        }
        Ok(CpuSample {
            server: args.server_pid.map(procstat::cpu_ticks).transpose()?,
            loadgen,
            system: procstat::system_ticks()?,
        })
    }

    fn since(&self, first: &CpuSample, samples: &mut ServerSamples) {
        let us = procstat::ticks_to_us;
        let loadgen = self.loadgen.saturating_sub(first.loadgen);
        samples.loadgen_cpu_us = Some(us(loadgen));
        let (Some(a), Some(b)) = (first.server, self.server) else {
            return;
        };
        let server = b.total().saturating_sub(a.total());
        samples.cpu_us = Some(us(server));
        samples.cpu_user_us = Some(us(b.utime.saturating_sub(a.utime)));
        samples.cpu_kernel_us = Some(us(b.stime.saturating_sub(a.stime)));
        let system = self.system.busy.saturating_sub(first.system.busy);
        samples.other_cpu_us = Some(us(system.saturating_sub(server + loadgen)));
    }
}

fn rss(args: &LoadArgs) -> anyhow::Result<Option<u64>> {
    args.server_pid.map(procstat::rss_bytes).transpose()
}

fn sleep_until(clock: &Clock, ns: u64) {
    let now = clock.now();
    if ns > now {
        std::thread::sleep(Duration::from_nanos(ns - now));
    }
}
