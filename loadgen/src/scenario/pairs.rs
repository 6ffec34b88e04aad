//! Pairs: connections 2k and 2k+1 send to each other's user id. Pairs are
//! split across processes whole, so both ends share one process.

use wire::TargetKind;

use super::{share, ConnSpec, Layout, Names, Part, Reads, Sends};
use crate::cli::LoadArgs;
use crate::client::{Dest, Setup};

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let conns = share(args.connections / 2, part)
        .flat_map(|p| [2 * p, 2 * p + 1])
        .map(|i| ConnSpec {
            index: i,
            setup: Setup {
                user: names.user(i),
                ..Setup::default()
            },
            sends: Some(Sends {
                dest: Dest {
                    kind: TargetKind::User,
                    id: names.user(i ^ 1),
                },
                global: i as u64,
            }),
            reads: Reads::Deliveries,
        })
        .collect();
    Layout {
        conns,
        senders_total: args.connections as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn partners_point_at_each_other_within_a_process() {
        let cli = crate::cli::Cli::parse_from(["lg", "tcp", "--scenario", "pairs"]);
        let crate::cli::Command::Tcp(args) = cli.command else {
            panic!("tcp")
        };
        let names = Names { run: 7 };
        let l = layout(&args, Part { index: 1, count: 3 }, &names);
        assert_eq!(l.conns.len() % 2, 0);
        for two in l.conns.chunks(2) {
            let to = |c: &ConnSpec| c.sends.as_ref().unwrap().dest.id.clone();
            assert_eq!(to(&two[0]), two[1].setup.user);
            assert_eq!(to(&two[1]), two[0].setup.user);
        }
    }
}
