//! fastwebsockets: its README's echo server. hyper serves the HTTP/1.1
//! upgrade, `upgrade::upgrade` answers it, and a task per connection reads
//! whole messages through a `FragmentCollector` and writes each text or
//! binary one back (the collector answers pings and closes).

use std::net::SocketAddr;

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpStream;

pub fn run(addr: SocketAddr, threads: usize) -> anyhow::Result<()> {
    super::serve_tokio(addr, threads, serve_connection)
}

async fn serve_connection(stream: TcpStream) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let conn = http1::Builder::new()
        .serve_connection(io, service_fn(server_upgrade))
        .with_upgrades();
    let _ = conn.await;
}

async fn server_upgrade(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = tokio::task::unconstrained(handle_client(fut)).await;
    });
    Ok(response)
}

async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
