//! Baseline byte-echo servers, written the way each runtime's own
//! documentation shows, to put Switchboard's numbers in context.

mod monoio_echo;
mod tokio_echo;

use crate::cli::{EchoImpl, EchoServerArgs};

pub fn run(args: &EchoServerArgs) -> anyhow::Result<()> {
    let threads = args.threads.max(1);
    match args.implementation {
        EchoImpl::Tokio => tokio_echo::run(args.addr, threads),
        EchoImpl::Monoio => monoio_echo::run(args.addr, threads),
    }
}

/// The line scripts and tests wait for.
fn announce(addr: std::net::SocketAddr) {
    println!("echo-server ready addr={addr}");
}
