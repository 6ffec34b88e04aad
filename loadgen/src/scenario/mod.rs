//! Who each connection is and what it does, per scenario. A worker
//! process lays out only its share of the run's connections; the split
//! keeps whatever must talk to each other (a pair, the publisher and the
//! fanout gate) inside one process.

mod echo;
pub mod fanout;
mod idle;
mod pairs;

use std::ops::Range;

use crate::cli::{LoadArgs, Scenario};
use crate::client::{Dest, Setup};
use crate::transport::Payload;

/// This process's place among the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub count: usize,
}

/// The `part.index`th of `part.count` near-equal slices of `0..units`.
pub fn share(units: usize, part: Part) -> Range<usize> {
    units * part.index / part.count..units * (part.index + 1) / part.count
}

/// What a connection reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// Deliveries of messages sent by this process or another.
    Deliveries,
    /// Topic deliveries, which also feed the closed-loop publisher's window.
    Subscriber,
    /// Nothing: the connection is held idle.
    Nothing,
}

/// A connection that sends: where to, and its index among all senders of
/// the run (its slot in the open-loop schedule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sends {
    pub dest: Dest,
    pub global: u64,
}

#[derive(Clone, Debug)]
pub struct ConnSpec {
    /// Index among all connections of the run.
    pub index: usize,
    pub setup: Setup,
    pub sends: Option<Sends>,
    pub reads: Reads,
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub conns: Vec<ConnSpec>,
    /// Senders across all processes.
    pub senders_total: u64,
}

/// Names for one run: unique per parent process, so runs never mix.
#[derive(Clone, Debug)]
pub struct Names {
    pub run: u32,
}

impl Names {
    pub fn user(&self, global: usize) -> String {
        format!("lg-{}-{global}", self.run)
    }

    pub fn topic(&self) -> String {
        format!("lg-{}-topic", self.run)
    }
}

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let mut l = match args.scenario() {
        Scenario::Echo => echo::layout(args, part, names),
        Scenario::Pairs => pairs::layout(args, part, names),
        Scenario::Fanout => fanout::layout(args, part, names),
        Scenario::Idle => idle::layout(args, part, names),
        Scenario::Fanin | Scenario::Storm => {
            unreachable!("validate refuses fanin and storm outside mqtt")
        }
    };
    assign_sources(args, &mut l);
    assign_transport(args, &mut l);
    l
}

/// On WebSocket, every connection upgrades first; bare bodies mean an
/// echo server, which gets no HELLO.
fn assign_transport(args: &LoadArgs, l: &mut Layout) {
    let Some(ws) = args.ws_setup() else {
        return;
    };
    let bare = ws.payload != Payload::Envelope;
    for c in &mut l.conns {
        c.setup.raw |= bare;
        c.setup.ws = Some(ws.clone());
    }
}

/// Spreads connections over the source addresses round-robin by their
/// index in the whole run, so every process uses every address.
fn assign_sources(args: &LoadArgs, l: &mut Layout) {
    let Some(ips) = &args.source_ips else {
        return;
    };
    for c in &mut l.conns {
        c.setup.source = Some(ips.0[c.index % ips.0.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_unit_once() {
        for units in [0, 1, 7, 100, 30_001] {
            for count in 1..5 {
                let mut next = 0;
                for index in 0..count {
                    let r = share(units, Part { index, count });
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, units);
            }
        }
    }
}
