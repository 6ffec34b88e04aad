//! Idle: connections handshake (unless `--raw`) and then only sit there,
//! so the server's memory per connection can be measured.

use super::{share, ConnSpec, Layout, Names, Part, Reads};
use crate::cli::LoadArgs;
use crate::client::Setup;

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let conns = share(args.connections, part)
        .map(|i| ConnSpec {
            index: i,
            setup: Setup {
                user: names.user(i),
                raw: args.raw,
                ..Setup::default()
            },
            sends: None,
            reads: Reads::Nothing,
        })
        .collect();
    Layout {
        conns,
        senders_total: 0,
    }
}
