//! tokio: a multi-thread runtime, one spawned task per connection that
//! reads into a buffer and writes it all back.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    super::tokio_runtime(threads)?.block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    super::announce(listener.local_addr()?);
    loop {
        let (socket, _) = listener.accept().await?;
        tokio::spawn(echo(socket));
    }
}

async fn echo(mut socket: TcpStream) {
    // Without it, Nagle holds back small replies behind delayed ACKs;
    // Switchboard sets it too, so the comparison stays about the runtime.
    let _ = socket.set_nodelay(true);
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
