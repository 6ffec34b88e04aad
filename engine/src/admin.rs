//! The admin and metrics HTTP endpoint: `/metrics` (Prometheus text),
//! `/healthz` and `/readyz`. Off the hot path, on its own thread, one
//! request per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// Largest request head read.
const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// Binds the admin listener; serve it with [`serve`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serves requests until the process exits.
pub fn serve(listener: TcpListener, metrics: Metrics, draining: Arc<AtomicBool>) {
    for stream in listener.incoming().flatten() {
        let _ = handle(stream, &metrics, &draining);
    }
}

fn handle(mut stream: TcpStream, metrics: &Metrics, draining: &AtomicBool) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = vec![0u8; REQUEST_BYTES_MAX];
    let mut len = 0;
    let path = loop {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => break req.path.unwrap_or("/").to_string(),
            Ok(httparse::Status::Partial) if len < buf.len() => continue,
            _ => {
                return respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    "bad request\n",
                )
            }
        }
    };
    match path.as_str() {
        "/metrics" => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4",
            &metrics.render(),
        ),
        "/healthz" => respond(&mut stream, "200 OK", "text/plain", "ok\n"),
        "/readyz" if draining.load(Ordering::Relaxed) => respond(
            &mut stream,
            "503 Service Unavailable",
            "text/plain",
            "draining\n",
        ),
        "/readyz" => respond(&mut stream, "200 OK", "text/plain", "ready\n"),
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, ctype: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
