//! Echo: each connection is its own user and sends to itself, so every
//! message comes back on the connection that sent it.

use wire::TargetKind;

use super::{share, ConnSpec, Layout, Names, Part, Reads, Sends};
use crate::cli::LoadArgs;
use crate::client::{Dest, Setup};

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let conns = share(args.connections, part)
        .map(|i| {
            let user = names.user(i);
            ConnSpec {
                index: i,
                sends: Some(Sends {
                    dest: Dest {
                        kind: TargetKind::User,
                        id: user.clone(),
                    },
                    global: i as u64,
                }),
                setup: Setup {
                    user,
                    raw: args.raw,
                    ..Setup::default()
                },
                reads: Reads::Deliveries,
            }
        })
        .collect();
    Layout {
        conns,
        senders_total: args.connections as u64,
    }
}
