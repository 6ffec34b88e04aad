//! tokio: a multi-thread runtime, one spawned task per connection that
//! reads into a buffer and writes it all back.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    super::serve_tokio(addr, threads, echo)
}

async fn echo(mut socket: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
