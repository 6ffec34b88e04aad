//! Baseline echo servers, written the way each runtime's or library's own
//! documentation shows, to put Switchboard's numbers in context: byte echo
//! over TCP (tokio, monoio) and message echo over WebSocket (tungstenite,
//! fastwebsockets).

mod fastwebsockets_echo;
mod monoio_echo;
mod tokio_echo;
mod tungstenite_echo;

use crate::cli::{EchoImpl, EchoServerArgs};

pub fn run(args: &EchoServerArgs) -> anyhow::Result<()> {
    let threads = args.threads.max(1);
    match args.implementation {
        EchoImpl::Tokio => tokio_echo::run(args.addr, threads),
        EchoImpl::Monoio => monoio_echo::run(args.addr, threads),
        EchoImpl::Tungstenite => tungstenite_echo::run(args.addr, threads),
        EchoImpl::Fastwebsockets => fastwebsockets_echo::run(args.addr, threads),
    }
}

/// The multi-thread runtime every tokio baseline runs on.
fn tokio_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}

/// The line scripts and tests wait for.
fn announce(addr: std::net::SocketAddr) {
    println!("echo-server ready addr={addr}");
}
