//! monoio: thread-per-core on io_uring. Each thread runs its own runtime
//! and its own SO_REUSEPORT listener (the kernel spreads connections over
//! them) and spawns a task per connection; reads and writes pass owned
//! buffers to the kernel and get them back.

use std::net::SocketAddr;
use std::sync::mpsc;

use anyhow::Context;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    // The first thread binds what was asked (perhaps port 0); the others
    // join the port it got.
    let (bound_tx, bound_rx) = mpsc::channel();
    let mut handles = vec![spawn_core(addr, bound_tx.clone())];
    let actual = bound_rx.recv().context("first listener")??;
    for _ in 1..threads {
        handles.push(spawn_core(actual, bound_tx.clone()));
        bound_rx.recv().context("listener")??;
    }
    super::announce(actual);
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("echo thread panicked"))??;
    }
    Ok(())
}

type Bound = mpsc::Sender<anyhow::Result<SocketAddr>>;

fn spawn_core(addr: SocketAddr, bound: Bound) -> std::thread::JoinHandle<anyhow::Result<()>> {
    std::thread::spawn(move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .context("building an io_uring runtime")?;
        rt.block_on(serve(addr, bound))
    })
}

async fn serve(addr: SocketAddr, bound: Bound) -> anyhow::Result<()> {
    let opts = ListenerOpts::new().reuse_port(true);
    let listener = match TcpListener::bind_with_config(addr, &opts) {
        Ok(l) => l,
        Err(e) => {
            let _ = bound.send(Err(e.into()));
            return Ok(());
        }
    };
    let _ = bound.send(Ok(listener.local_addr()?));
    loop {
        let (stream, _) = listener.accept().await?;
        monoio::spawn(echo(stream));
    }
}

async fn echo(mut stream: TcpStream) {
    // As for tokio: answer small messages at once rather than after Nagle.
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // `read` set the length to what arrived: write exactly that back.
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}
