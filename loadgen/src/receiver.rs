//! The per-connection read loop: decode frames, time deliveries and, in
//! closed loop, answer each delivery with the next message.

use std::rc::Rc;

use bytes::BytesMut;
use wire::{decode_deliver, decode_error, decode_send, Frame, FrameType};

use crate::client::{self, Conn, Dest, MsgWriter};
use crate::shared::Shared;
use crate::stamp;

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
    pub fn new(dest: Dest, size: usize, pipeline: usize) -> Replier {
        Replier {
            dest,
            writer: MsgWriter::new(size),
            pipeline,
            seq: 0,
            out: BytesMut::new(),
        }
    }

    /// Queues one message due now, unless the run is over.
    fn push(&mut self, shared: &Shared) {
        let now = shared.clock.now();
        if now >= shared.window.end_ns {
            return;
        }
        self.writer.push(&mut self.out, &self.dest, now, self.seq);
        self.seq += 1;
        shared.sent(now);
    }
}

/// How the reader treats deliveries.
pub struct Role {
    /// Answer each delivery (closed loop).
    pub replier: Option<Replier>,
    /// Count deliveries for the closed-loop fanout publisher.
    pub subscriber: bool,
}

/// Runs until the connection ends or the task is dropped at the end of the run.
pub async fn run(mut conn: Conn, shared: Rc<Shared>, mut role: Role) {
    if let Some(r) = role.replier.as_mut() {
        for _ in 0..r.pipeline {
            r.push(&shared);
        }
    }
    // Bytes that arrived with the handshake go first.
    if !handle(&mut conn, &[], &shared, &mut role) || !flush(&conn, &shared, &mut role).await {
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
    loop {
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
        if !flush(&conn, &shared, &mut role).await {
            return;
        }
    }
}

/// Sends the replies queued while handling a read: one write per batch.
async fn flush(conn: &Conn, shared: &Shared, role: &mut Role) -> bool {
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

/// Feeds bytes to the decoder; `false` when the stream is unusable.
fn handle(conn: &mut Conn, bytes: &[u8], shared: &Shared, role: &mut Role) -> bool {
    let raw = conn.raw;
    let mut open = true;
    let fed = conn.decoder.feed(bytes, |f| {
        open &= on_frame(f, raw, shared, role);
        if open {
            wire::Control::Continue
        } else {
            wire::Control::Pause
        }
    });
    if let Err(e) = fed {
        shared.error(format_args!("undecodable stream: {e}"));
        return false;
    }
    open
}

fn on_frame(f: Frame<'_>, raw: bool, shared: &Shared, role: &mut Role) -> bool {
    let body = match f.header.frame_type {
        FrameType::Deliver => decode_deliver(f.payload).map(|d| d.body),
        // A byte-echo server returns our own SEND frames.
        FrameType::Send if raw => decode_send(f.payload).map(|s| s.body),
        FrameType::Error => {
            shared.error(format_args!("ERROR frame: {:?}", decode_error(f.payload)));
            return true;
        }
        FrameType::Close => {
            shared.error(format_args!("server sent CLOSE"));
            return false;
        }
        // ACKs, PONGs, and our echoed HELLO carry nothing to time.
        _ => return true,
    };
    let Ok(Some((intended, _seq))) = body.map(stamp::read) else {
        shared.error(format_args!("delivery without a readable stamp"));
        return true;
    };
    shared.received(intended, shared.clock.now());
    if role.subscriber {
        shared.delivered_one();
    }
    if let Some(r) = role.replier.as_mut() {
        r.push(shared);
    }
    true
}
