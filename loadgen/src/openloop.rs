//! The open-loop pacer: one task sends every message of this process at
//! its scheduled time, whatever the server's replies are doing.
//!
//! Timers in tokio tick in milliseconds, far coarser than the gaps between
//! messages (100 µs at 10,000 msgs/s), and a message sent late would show
//! that lateness as latency. So the pacer sleeps only while the next
//! message is more than `SPIN_NS` away and otherwise yields in a loop,
//! which keeps the I/O driver (and the readers) running while it waits.
//! The cost is one busy client core at rates above ~500 messages/s.

use std::rc::Rc;

use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::client::{self, Dest, MsgWriter};
use crate::pacing::Walker;
use crate::shared::Shared;

/// Below this wait the pacer spins instead of sleeping.
const SPIN_NS: u64 = 2_000_000;
/// How early a sleep ends, to absorb timer lateness.
const WAKE_EARLY_NS: u64 = 1_000_000;

/// One sending connection, as the pacer sees it.
pub struct Paced {
    pub stream: Rc<TcpStream>,
    pub dest: Dest,
    writer: MsgWriter,
    /// Messages the socket has not taken yet.
    out: BytesMut,
}

impl Paced {
    pub fn new(stream: Rc<TcpStream>, dest: Dest, writer: MsgWriter) -> Paced {
        Paced {
            stream,
            dest,
            writer,
            out: BytesMut::new(),
        }
    }
}

pub async fn run(mut senders: Vec<Paced>, mut walker: Walker, shared: Rc<Shared>) {
    // Senders holding unwritten bytes; flushed on every pass.
    let mut backlog: Vec<usize> = Vec::new();
    let end = shared.window().end_ns;
    loop {
        let now = shared.clock.now();
        while let Some((pos, seq, due)) = walker.peek() {
            if due > now || due >= end {
                break;
            }
            let s = &mut senders[pos];
            if s.out.is_empty() {
                backlog.push(pos);
            }
            let high = s.writer.push(&mut s.out, &s.dest, due, seq);
            shared.sent(due, high);
            walker.advance();
        }
        flush(&mut senders, &mut backlog, &shared);
        let Some((_, _, next)) = walker.peek().filter(|p| p.2 < end) else {
            break;
        };
        wait_until(&shared, next).await;
    }
    // Whatever the sockets refused so far still has to go out.
    for s in senders.iter_mut().filter(|s| !s.out.is_empty()) {
        if let Err(e) = client::write_all(&s.stream, &s.out).await {
            shared.error(format_args!("write: {e}"));
        }
        s.out.clear();
    }
}

/// Writes what each backlogged socket takes now; keeps the rest queued.
fn flush(senders: &mut [Paced], backlog: &mut Vec<usize>, shared: &Shared) {
    backlog.retain(|&pos| {
        let s = &mut senders[pos];
        match client::try_flush(&s.stream, &mut s.out) {
            Ok(done) => !done,
            Err(e) => {
                shared.error(format_args!("write: {e}"));
                s.out.clear();
                false
            }
        }
    });
}

pub async fn wait_until(shared: &Shared, due: u64) {
    let now = shared.clock.now();
    if due > now + SPIN_NS {
        let wake = shared.clock.instant_at(due - WAKE_EARLY_NS);
        tokio::time::sleep_until(wake.into()).await;
    } else {
        tokio::task::yield_now().await;
    }
}
