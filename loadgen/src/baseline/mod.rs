//! Baseline echo servers, written the way each runtime's or library's own
//! documentation shows, to put Switchboard's numbers in context: byte echo
//! over TCP (tokio, monoio) and message echo over WebSocket (tungstenite,
//! fastwebsockets).

mod fastwebsockets_echo;
mod monoio_echo;
mod tokio_echo;
mod tungstenite_echo;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

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

/// Accepts on `addr` and runs `handle` on a task of its own for every
/// connection: how each tokio-based library's examples serve.
fn serve_tokio<F, Fut>(addr: SocketAddr, threads: usize, handle: F) -> anyhow::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio_runtime(threads)?.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            // Without it, Nagle holds back small replies behind delayed
            // ACKs; Switchboard sets it too, so the comparison stays about
            // the servers.
            let _ = stream.set_nodelay(true);
            tokio::spawn(handle(stream));
        }
    })
}

/// The line scripts and tests wait for.
fn announce(addr: SocketAddr) {
    println!("echo-server ready addr={addr}");
}
