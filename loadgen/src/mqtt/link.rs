//! One open MQTT connection: its socket and its session, shared by the
//! tasks that write to it (the reader's PUBACKs and PINGREQs, a
//! publisher's PUBLISHes). Every byte goes out through the session's one
//! output buffer and [`Link::flush`], which writes synchronously, so
//! packets queued by different tasks never interleave mid-packet. A short
//! write leaves the rest in the buffer and wakes the reader task, which
//! waits until the socket takes it.
//!
//! Opening: TCP connect (from a chosen source address), CONNECT and its
//! CONNACK, then SUBSCRIBE and its SUBACK where the connection subscribes,
//! all within [`HANDSHAKE_TIMEOUT`].

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::layout::ConnSpec;
use super::session::{Config, Event, Session};
use crate::client;
use crate::clock::Clock;

/// A broker that has not answered CONNECT and SUBSCRIBE by then is not
/// going to.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer for the handshake: CONNACK and SUBACK are a few bytes.
const HANDSHAKE_READ: usize = 256;

pub struct Link {
    pub stream: TcpStream,
    pub session: RefCell<Session>,
    /// Woken when [`Link::flush`] left bytes that the socket refused.
    pub wants_write: Notify,
}

impl Link {
    /// Writes what the socket takes now; whatever it refuses stays queued
    /// and the reader task is woken to finish the job.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut s = self.session.borrow_mut();
        while !s.transmit().is_empty() {
            match self.stream.try_write(s.transmit()) {
                Ok(n) => s.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.wants_write.notify_one();
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether queued bytes wait for the socket.
    pub fn has_output(&self) -> bool {
        !self.session.borrow().transmit().is_empty()
    }

    /// Writes everything queued, waiting for the socket as needed.
    async fn write_all(&self) -> std::io::Result<()> {
        loop {
            self.flush()?;
            if !self.has_output() {
                return Ok(());
            }
            self.stream.writable().await?;
        }
    }
}

/// Connects, and handshakes as `spec` says.
pub async fn open(
    addr: SocketAddr,
    spec: &ConnSpec,
    cfg: &Config<'_>,
    clock: &Clock,
) -> anyhow::Result<Link> {
    let stream = client::connect(addr, spec.source, None).await?;
    let link = Link {
        stream,
        session: RefCell::new(Session::new(cfg, clock.now())),
        wants_write: Notify::new(),
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&link, spec, clock))
        .await
        .with_context(|| {
            format!(
                "{}: no CONNACK or SUBACK within {HANDSHAKE_TIMEOUT:?}",
                cfg.client_id
            )
        })?
        .with_context(|| format!("MQTT client {}", cfg.client_id))?;
    Ok(link)
}

async fn handshake(link: &Link, spec: &ConnSpec, clock: &Clock) -> anyhow::Result<()> {
    link.write_all().await?;
    await_event(link, Event::Connected, clock).await?;
    if let Some(filter) = &spec.subscribe {
        link.session.borrow_mut().subscribe(filter, clock.now());
        link.write_all().await?;
        await_event(link, Event::Subscribed, clock).await?;
    }
    Ok(())
}

/// Reads until the session reports `want`; any error ends the handshake.
async fn await_event(link: &Link, want: Event, clock: &Clock) -> anyhow::Result<()> {
    let mut buf = [0u8; HANDSHAKE_READ];
    loop {
        while let Some(ev) = link.session.borrow_mut().poll_event() {
            match ev {
                e if e == want => return Ok(()),
                Event::Error(e) => bail!("{e}"),
                // Nothing publishes before every connection is open.
                _ => {}
            }
        }
        link.stream.readable().await?;
        match link.stream.try_read(&mut buf) {
            Ok(0) => bail!("the broker closed the connection during the handshake"),
            Ok(n) => link
                .session
                .borrow_mut()
                .handle_input(clock.now(), &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
}
