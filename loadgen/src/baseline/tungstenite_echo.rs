//! tokio-tungstenite: the crate's own echo-server example. A task per
//! connection runs `accept_async` and forwards every text and binary
//! message back; tungstenite answers pings and closes by itself.

use std::net::SocketAddr;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    super::tokio_runtime(threads)?.block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    super::announce(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(accept_connection(stream));
    }
}

async fn accept_connection(stream: TcpStream) {
    // As for the TCP baselines: small replies leave at once, as Switchboard's do.
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (write, read) = ws.split();
    // Only data messages are echoed.
    let _ = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await;
}
