//! Running the workers: in this process (one worker, on a thread) or as
//! child processes (to stay under the per-process open-file limit).
//!
//! A child is this same executable, re-run with the parent's arguments
//! plus hidden `--child-index i --child-count P --start-at EPOCH`. It
//! speaks a line protocol: it prints `ready` once its connections are
//! open, reads `go <ns>` on stdin, and at the end prints its tally as one
//! JSON line. Nothing else goes to its stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{bail, Context};

use crate::cli::LoadArgs;
use crate::scenario::{Names, Part};
use crate::tally::Tally;
use crate::worker::{self, Job, Link};

/// Entry point of a child process.
pub fn child_main(args: LoadArgs) -> anyhow::Result<()> {
    let (Some(index), Some(count), Some(epoch)) =
        (args.child_index, args.child_count, args.start_at)
    else {
        bail!("--child-index, --child-count and --start-at go together");
    };
    let job = Job {
        args,
        part: Part { index, count },
        epoch_unix_ns: epoch,
        names: Names {
            run: std::os::unix::process::parent_id(),
        },
    };
    let tally = worker::run(&job, &mut PipeLink)?;
    println!("{}", tally.to_json_line()?);
    Ok(())
}

struct PipeLink;

impl Link for PipeLink {
    fn ready_and_wait_go(&mut self) -> anyhow::Result<u64> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        parse_go(&line)
    }
}

fn parse_go(line: &str) -> anyhow::Result<u64> {
    let ns = line
        .trim()
        .strip_prefix("go ")
        .with_context(|| format!("expected `go <ns>`, got {line:?}"))?;
    Ok(ns.parse()?)
}

struct ChannelLink {
    ready: mpsc::Sender<()>,
    go: mpsc::Receiver<u64>,
}

impl Link for ChannelLink {
    fn ready_and_wait_go(&mut self) -> anyhow::Result<u64> {
        self.ready.send(()).context("parent gone")?;
        self.go.recv().context("parent gone")
    }
}

pub struct ChildProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The parent's handle on its workers.
pub enum Workers {
    Thread {
        handle: JoinHandle<anyhow::Result<Tally>>,
        ready: mpsc::Receiver<()>,
        go: mpsc::Sender<u64>,
    },
    Children(Vec<ChildProc>),
}

impl Workers {
    pub fn spawn(args: &LoadArgs, epoch_unix_ns: u64) -> anyhow::Result<Workers> {
        let count = args.process_count();
        if count == 1 {
            return Ok(spawn_thread(args, epoch_unix_ns));
        }
        let mut children = Vec::with_capacity(count);
        for index in 0..count {
            children.push(spawn_child(index, count, epoch_unix_ns)?);
        }
        Ok(Workers::Children(children))
    }

    /// Blocks until every worker has its connections open.
    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        match self {
            Workers::Thread { ready, .. } => {
                // A closed channel means the worker failed; `finish` says why.
                ready
                    .recv()
                    .map_err(|_| anyhow::anyhow!("worker stopped before ready"))
            }
            Workers::Children(children) => {
                for (i, c) in children.iter_mut().enumerate() {
                    let line = read_line(&mut c.stdout).with_context(|| format!("child {i}"))?;
                    if line.trim() != "ready" {
                        bail!("child {i} said {line:?} instead of ready");
                    }
                }
                Ok(())
            }
        }
    }

    pub fn go(&mut self, go_ns: u64) -> anyhow::Result<()> {
        match self {
            Workers::Thread { go, .. } => go.send(go_ns).context("worker gone"),
            Workers::Children(children) => {
                for c in children.iter_mut() {
                    writeln!(c.stdin, "go {go_ns}")?;
                    c.stdin.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Waits for every worker and merges what they measured.
    pub fn finish(self) -> anyhow::Result<Tally> {
        match self {
            Workers::Thread { handle, ready, go } => {
                // Dropping the channels first frees a worker still waiting for `go`.
                drop((ready, go));
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("worker panicked"))?
            }
            Workers::Children(children) => {
                let mut total = Tally::default();
                for (i, mut c) in children.into_iter().enumerate() {
                    let line = read_line(&mut c.stdout).with_context(|| format!("child {i}"))?;
                    total.merge(&Tally::from_json_line(&line)?)?;
                    c.child.wait()?;
                }
                Ok(total)
            }
        }
    }

    /// Worker processes, whose CPU time counts as the load generator's.
    pub fn child_pids(&self) -> Vec<u32> {
        match self {
            Workers::Thread { .. } => Vec::new(),
            Workers::Children(children) => children.iter().map(|c| c.child.id()).collect(),
        }
    }

    /// Stops child processes after a failure; a thread ends with the parent.
    pub fn kill(&mut self) {
        if let Workers::Children(children) = self {
            for c in children.iter_mut() {
                let _ = c.child.kill();
                let _ = c.child.wait();
            }
        }
    }
}

fn spawn_thread(args: &LoadArgs, epoch_unix_ns: u64) -> Workers {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let job = Job {
        args: args.clone(),
        part: Part { index: 0, count: 1 },
        epoch_unix_ns,
        names: Names {
            run: std::process::id(),
        },
    };
    let handle = std::thread::spawn(move || {
        let mut link = ChannelLink {
            ready: ready_tx,
            go: go_rx,
        };
        worker::run(&job, &mut link)
    });
    Workers::Thread {
        handle,
        ready: ready_rx,
        go: go_tx,
    }
}

fn spawn_child(index: usize, count: usize, epoch_unix_ns: u64) -> anyhow::Result<ChildProc> {
    let exe = std::env::current_exe().context("finding own executable")?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .args(["--child-index", &index.to_string()])
        .args(["--child-count", &count.to_string()])
        .args(["--start-at", &epoch_unix_ns.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a worker process")?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    Ok(ChildProc {
        child,
        stdin,
        stdout,
    })
}

fn read_line(r: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("exited early (see its stderr)");
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_line() {
        assert_eq!(super::parse_go("go 12345\n").unwrap(), 12_345);
        assert!(super::parse_go("stop\n").is_err());
    }
}
