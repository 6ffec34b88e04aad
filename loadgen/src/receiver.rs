//! The per-connection read loop: decode what arrives (through the
//! connection's transport), time deliveries and, in closed loop, answer
//! each delivery with the next message.

use std::rc::Rc;

use bytes::BytesMut;
use wire::{decode_deliver, decode_error, decode_send, Flags, Frame, FrameType};

use crate::client::{self, Conn, Dest, MsgWriter};
use crate::shared::Shared;
use crate::stamp;
use crate::transport::Incoming;

/// Read buffer per connection: large enough to drain a pipeline of small
/// frames in one call, small enough for thousands of connections.
const READ_BUF: usize = 16 * 1024;

/// Closed-loop sending: every delivery this connection receives is
/// answered by one new message to `dest`, keeping the pipeline full.
pub struct Replier {
    pub dest: Dest,
    pub writer: MsgWriter,
    pub pipeline: usize,
    seq: u64,
    out: BytesMut,
}

impl Replier {
    pub fn new(dest: Dest, writer: MsgWriter, pipeline: usize) -> Replier {
        Replier {
            dest,
            writer,
            pipeline,
            seq: 0,
            out: BytesMut::new(),
        }
    }

    /// Queues one message due now, unless the run is over.
    fn push(&mut self, shared: &Shared) {
        let now = shared.clock.now();
        if now >= shared.window().end_ns {
            return;
        }
        let high = self.writer.push(&mut self.out, &self.dest, now, self.seq);
        self.seq += 1;
        shared.sent(now, high);
    }
}

/// How the reader treats deliveries.
pub struct Role {
    /// Answer each delivery (closed loop).
    pub replier: Option<Replier>,
    /// Count deliveries for the closed-loop fanout publisher.
    pub subscriber: bool,
}

/// Runs until the connection ends or the task is dropped at the end of the
/// run, draining at most `bytes_per_s` (0: no limit): before each read the
/// reader sleeps until the bytes read so far would have taken that long.
pub async fn run(mut conn: Conn, shared: Rc<Shared>, mut role: Role, bytes_per_s: u64) {
    if let Some(r) = role.replier.as_mut() {
        for _ in 0..r.pipeline {
            r.push(&shared);
        }
    }
    // Bytes that arrived with the handshake go first.
    if !handle(&mut conn, &[], &shared, &mut role) || !flush(&mut conn, &shared, &mut role).await {
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
    let (start_ns, mut read_total) = (shared.clock.now(), 0u64);
    loop {
        // Due time of the bytes read so far at the allowed rate.
        if let Some(after_ns) = read_total
            .saturating_mul(1_000_000_000)
            .checked_div(bytes_per_s)
        {
            crate::worker::sleep_until(&shared.clock, start_ns + after_ns).await;
        }
        if let Err(e) = conn.stream.readable().await {
            shared.error(format_args!("read: {e}"));
            return;
        }
        match conn.stream.try_read(&mut buf) {
            Ok(0) => {
                shared.error(format_args!("server closed a connection"));
                return;
            }
            Ok(n) => {
                read_total += n as u64;
                if !handle(&mut conn, &buf[..n], &shared, &mut role) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                shared.error(format_args!("read: {e}"));
                return;
            }
        }
        if !flush(&mut conn, &shared, &mut role).await {
            return;
        }
    }
}

/// Sends the replies queued while handling a read: one write per batch.
async fn flush(conn: &mut Conn, shared: &Shared, role: &mut Role) -> bool {
    if let Some(pongs) = conn.inbound.replies() {
        if let Err(e) = client::write_all(&conn.stream, pongs).await {
            shared.error(format_args!("write: {e}"));
            return false;
        }
        pongs.clear();
    }
    let Some(r) = role.replier.as_mut() else {
        return true;
    };
    if r.out.is_empty() {
        return true;
    }
    if let Err(e) = client::write_all(&conn.stream, &r.out).await {
        shared.error(format_args!("write: {e}"));
        return false;
    }
    r.out.clear();
    true
}

/// Feeds bytes to the transport; `false` when the stream is unusable.
fn handle(conn: &mut Conn, bytes: &[u8], shared: &Shared, role: &mut Role) -> bool {
    let raw = conn.raw;
    let mut open = true;
    let fed = conn.inbound.feed(bytes, |inc| {
        open &= on_incoming(inc, raw, shared, role);
        if open {
            wire::Control::Continue
        } else {
            wire::Control::Pause
        }
    });
    if let Err(e) = fed {
        shared.error(format_args!("{e:#}"));
        return false;
    }
    open
}

fn on_incoming(inc: Incoming<'_>, raw: bool, shared: &Shared, role: &mut Role) -> bool {
    let high = matches!(&inc, Incoming::Frame(f) if f.header.flags.contains(Flags::HIGH_PRIORITY));
    let stamp = match inc {
        Incoming::Frame(f) => match frame_body(f, raw, shared) {
            Ok(body) => body.and_then(stamp::read),
            Err(open) => return open,
        },
        Incoming::Body(b) => stamp::read(b),
        Incoming::Text(t) => stamp::read_text(t),
        Incoming::Closed => {
            shared.error(format_args!("server closed a WebSocket"));
            return false;
        }
    };
    let Some((intended, _seq)) = stamp else {
        shared.error(format_args!("delivery without a readable stamp"));
        return true;
    };
    shared.received(intended, shared.clock.now(), high);
    if role.subscriber {
        shared.delivered_one();
    }
    if let Some(r) = role.replier.as_mut() {
        r.push(shared);
    }
    true
}

/// The body a frame delivers (`None`: undecodable), or `Err(keep
/// reading)` for a frame with nothing to time.
fn frame_body<'a>(f: Frame<'a>, raw: bool, shared: &Shared) -> Result<Option<&'a [u8]>, bool> {
    Ok(match f.header.frame_type {
        FrameType::Deliver => decode_deliver(f.payload).ok().map(|d| d.body),
        // A byte-echo server returns our own SEND frames.
        FrameType::Send if raw => decode_send(f.payload).ok().map(|s| s.body),
        FrameType::Error => {
            shared.error(format_args!("ERROR frame: {:?}", decode_error(f.payload)));
            return Err(true);
        }
        FrameType::Close => {
            shared.error(format_args!("server sent CLOSE"));
            return Err(false);
        }
        // ACKs, PONGs, and our echoed HELLO carry nothing to time.
        _ => return Err(true),
    })
}
