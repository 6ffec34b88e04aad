//! tokio-tungstenite: the crate's own echo-server example. A task per
//! connection runs `accept_async` and forwards every text and binary
//! message back; tungstenite answers pings and closes by itself.

use std::net::SocketAddr;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::TcpStream;

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    super::serve_tokio(addr, threads, accept_connection)
}

async fn accept_connection(stream: TcpStream) {
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
