//! Who each MQTT connection is, per scenario: its client id, what it
//! subscribes to and where it publishes. A worker process lays out only
//! its share, as `crate::scenario` does for `tcp` and `ws`: every process
//! gets a slice of the publishers and a slice of the subscribers, so the
//! closed loop finds subscribers beside each publisher, and pairs stay
//! whole in one process.
//!
//! Global connection indices: fanin and fanout number the publishers
//! first, then the subscribers; pairs and idle number connections as they
//! come. A publisher's index among the run's publishers is its slot in the
//! open-loop schedule and the name in its stamps (`tag`).

use std::net::IpAddr;
use std::ops::Range;

use crate::cli::{LoadArgs, Scenario};
use crate::scenario::{share, Names, Part};

/// Where a connection publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publishes {
    pub topic: String,
    /// Index among the run's publishers.
    pub global: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSpec {
    /// Index among all connections of the run.
    pub index: usize,
    pub client_id: String,
    pub source: Option<IpAddr>,
    /// A topic filter to subscribe to before the run starts.
    pub subscribe: Option<String>,
    pub publishes: Option<Publishes>,
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub conns: Vec<ConnSpec>,
    /// Publishers across all processes.
    pub publishers_total: u64,
    /// This process's publishers: a contiguous range of global indices.
    pub local_publishers: Range<u64>,
    /// How many of this process's subscribers receive each message of one
    /// of its publishers: what the closed loop waits for.
    pub local_deliveries_per_message: u64,
}

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let prefix = &args.mqtt.as_ref().expect("an mqtt run").topic_prefix;
    let mut l = match args.scenario() {
        Scenario::Fanin => fan(
            args,
            part,
            |p| format!("{prefix}/{p}/telemetry"),
            || format!("{prefix}/+/telemetry"),
        ),
        Scenario::Fanout => fan(
            args,
            part,
            |_| format!("{prefix}/fanout"),
            || format!("{prefix}/fanout"),
        ),
        Scenario::Pairs => pairs(args, part, prefix),
        Scenario::Idle | Scenario::Echo => idle(args, part),
        Scenario::Storm => storm(args, part, prefix),
    };
    for c in &mut l.conns {
        c.client_id = client_id(names, c.index);
        if let Some(ips) = &args.source_ips {
            c.source = Some(ips.0[c.index % ips.0.len()]);
        }
    }
    l
}

/// Client ids unique per run and connection, in the characters and length
/// (at most 23) every broker must accept.
pub fn client_id(names: &Names, index: usize) -> String {
    format!("lg{}x{index}", names.run)
}

fn spec(index: usize) -> ConnSpec {
    ConnSpec {
        index,
        client_id: String::new(),
        source: None,
        subscribe: None,
        publishes: None,
    }
}

/// Fanin and fanout: publishers to `topic(p)`, subscribers to `filter()`
/// (which matches every publisher's topic).
fn fan(
    args: &LoadArgs,
    part: Part,
    topic: impl Fn(usize) -> String,
    filter: impl Fn() -> String,
) -> Layout {
    let (publishers, subscribers) = (args.publisher_count(), args.subscriber_count());
    let mine = share(publishers, part);
    let mut conns: Vec<ConnSpec> = mine
        .clone()
        .map(|p| ConnSpec {
            publishes: Some(Publishes {
                topic: topic(p),
                global: p as u64,
            }),
            ..spec(p)
        })
        .collect();
    let subs = share(subscribers, part);
    let local_subscribers = subs.len() as u64;
    conns.extend(subs.map(|s| ConnSpec {
        subscribe: Some(filter()),
        ..spec(publishers + s)
    }));
    Layout {
        conns,
        publishers_total: publishers as u64,
        local_publishers: mine.start as u64..mine.end as u64,
        local_deliveries_per_message: local_subscribers,
    }
}

/// Pairs: connection `i` subscribes to its own topic and publishes to its
/// partner's (`i ^ 1`).
fn pairs(args: &LoadArgs, part: Part, prefix: &str) -> Layout {
    let pair_range = share(args.connections / 2, part);
    let mine = 2 * pair_range.start..2 * pair_range.end;
    let conns = mine
        .clone()
        .map(|i| ConnSpec {
            subscribe: Some(format!("{prefix}/pairs/{i}")),
            publishes: Some(Publishes {
                topic: format!("{prefix}/pairs/{}", i ^ 1),
                global: i as u64,
            }),
            ..spec(i)
        })
        .collect();
    Layout {
        conns,
        publishers_total: args.connections as u64,
        local_publishers: mine.start as u64..mine.end as u64,
        local_deliveries_per_message: 1,
    }
}

fn idle(args: &LoadArgs, part: Part) -> Layout {
    Layout {
        conns: share(args.connections, part).map(spec).collect(),
        publishers_total: 0,
        local_publishers: 0..0,
        local_deliveries_per_message: 0,
    }
}

/// Storm: one client id per connection, each with a subscription of its
/// own (made on its first CONNECT), so every session carries state.
fn storm(args: &LoadArgs, part: Part, prefix: &str) -> Layout {
    let mut l = idle(args, part);
    for c in &mut l.conns {
        c.subscribe = Some(format!("{prefix}/storm/{}", c.index));
    }
    l
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> LoadArgs {
        let cli = Cli::parse_from(["lg", "mqtt"].iter().chain(extra));
        let Command::Mqtt(m) = cli.command else {
            panic!("mqtt")
        };
        m.into_load()
    }

    const NAMES: Names = Names { run: 77 };

    #[test]
    fn fanin_splits_publishers_and_subscribers_over_processes() {
        let a = args(&[
            "--scenario",
            "fanin",
            "--publishers",
            "10",
            "--subscribers",
            "4",
        ]);
        let mut ids = std::collections::HashSet::new();
        let mut publishers = 0;
        for index in 0..2 {
            let l = layout(&a, Part { index, count: 2 }, &NAMES);
            assert_eq!(l.publishers_total, 10);
            assert_eq!(l.local_deliveries_per_message, 2);
            for c in &l.conns {
                assert!(ids.insert(c.client_id.clone()), "client ids are unique");
                assert!(c.client_id.len() <= 23);
                if let Some(p) = &c.publishes {
                    assert!(l.local_publishers.contains(&p.global));
                    assert_eq!(p.topic, format!("bench/{}/telemetry", p.global));
                    publishers += 1;
                } else {
                    assert_eq!(c.subscribe.as_deref(), Some("bench/+/telemetry"));
                }
            }
        }
        assert_eq!((ids.len(), publishers), (14, 10));
    }

    #[test]
    fn fanout_defaults_to_one_publisher() {
        let a = args(&["--scenario", "fanout", "--subscribers", "3"]);
        let l = layout(&a, Part { index: 0, count: 1 }, &NAMES);
        assert_eq!(l.conns.len(), 4);
        assert_eq!(l.conns[0].publishes.as_ref().unwrap().topic, "bench/fanout");
        assert!(l.conns[1..]
            .iter()
            .all(|c| c.subscribe.as_deref() == Some("bench/fanout")));
        assert_eq!(a.deliveries_per_message(), 3);
    }

    #[test]
    fn pairs_publish_to_each_other_within_a_process() {
        let a = args(&[
            "--scenario",
            "pairs",
            "--connections",
            "6",
            "--topic-prefix",
            "x/y",
        ]);
        let l = layout(&a, Part { index: 1, count: 2 }, &NAMES);
        assert_eq!(l.local_publishers, 2..6);
        for two in l.conns.chunks(2) {
            let to = |c: &ConnSpec| c.publishes.clone().unwrap().topic;
            assert_eq!(Some(to(&two[0])), two[1].subscribe);
            assert_eq!(Some(to(&two[1])), two[0].subscribe);
        }
    }

    #[test]
    fn idle_connections_neither_publish_nor_subscribe_and_spread_sources() {
        let a = args(&["--scenario", "idle", "--connections", "5"]);
        let a = LoadArgs {
            source_ips: Some("127.0.0.1-127.0.0.2".parse().unwrap()),
            ..a
        };
        let l = layout(&a, Part { index: 0, count: 1 }, &NAMES);
        assert_eq!(l.conns.len(), 5);
        assert!(l
            .conns
            .iter()
            .all(|c| c.publishes.is_none() && c.subscribe.is_none()));
        let second = "127.0.0.2".parse::<IpAddr>().unwrap();
        assert_eq!(l.conns[3].source, Some(second));
    }

    #[test]
    fn storm_client_ids_each_keep_a_subscription_of_their_own() {
        let a = args(&["--scenario", "storm", "--connections", "5"]);
        assert!(a.validate().is_ok());
        assert_eq!(a.deliveries_per_message(), 1);
        let l = layout(&a, Part { index: 1, count: 2 }, &NAMES);
        let subs: Vec<_> = l.conns.iter().map(|c| c.subscribe.clone()).collect();
        let want = |i| Some(format!("bench/storm/{i}"));
        assert_eq!(subs, [want(2), want(3), want(4)]);
        assert!(l.conns.iter().all(|c| c.publishes.is_none()));
        assert_eq!(l.local_publishers, 0..0);
    }
}
