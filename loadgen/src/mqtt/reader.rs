//! The task of one MQTT connection: it reads what the broker sends into
//! the session, turns the session's events into the tally and the
//! publishers' feedback, writes what the session queued (PUBACKs,
//! PINGREQs, and any PUBLISHes the socket refused), and runs the
//! keep-alive timer. It starts as soon as the connection is open, so
//! pings go out while the run waits for its start.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::time::Instant;

use super::feedback::Feedback;
use super::link::Link;
use super::session::{Event, Phase};
use super::tag;
use crate::shared::Shared;

/// One read buffer serves every connection of the process (they take
/// turns on one thread): large enough for a burst of deliveries, and
/// 10,000 idle connections cost no buffer each.
const READ_BUF: usize = 64 * 1024;

/// What the readers of one process share.
pub struct Ctx {
    pub shared: Rc<Shared>,
    pub feedback: Rc<Feedback>,
    buf: RefCell<Vec<u8>>,
}

impl Ctx {
    pub fn new(shared: Rc<Shared>, feedback: Rc<Feedback>) -> Ctx {
        Ctx {
            shared,
            feedback,
            buf: RefCell::new(vec![0; READ_BUF]),
        }
    }
}

/// Runs until the connection fails or the worker ends. `publisher`: the
/// connection's global publisher index, if it publishes.
pub async fn run(link: Rc<Link>, ctx: Rc<Ctx>, publisher: Option<u64>) {
    let clock = ctx.shared.clock;
    // One timer, moved only when the keep-alive wants an earlier wake-up:
    // a publisher's every PUBLISH postpones its ping, and re-arming the
    // timer each time would cost more than a spurious wake-up.
    let far = Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    let mut armed: Option<u64> = None;
    loop {
        let due = link.session.borrow().poll_timeout();
        if due.is_some_and(|d| armed.is_none_or(|a| d < a)) {
            armed = due;
            sleep
                .as_mut()
                .reset(clock.instant_at(due.unwrap_or(0)).into());
        }
        let want_write = link.has_output();
        tokio::select! {
            r = link.stream.readable() => {
                if let Err(e) = r {
                    ctx.shared.error(format_args!("read: {e}"));
                    return;
                }
                if !read(&link, &ctx) {
                    return;
                }
            }
            r = link.stream.writable(), if want_write => {
                if let Err(e) = r {
                    ctx.shared.error(format_args!("write: {e}"));
                    return;
                }
            }
            () = link.wants_write.notified() => {}
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                link.session.borrow_mut().handle_timeout(clock.now());
            }
        }
        if !on_events(&link, &ctx, publisher) {
            return;
        }
        if let Err(e) = link.flush() {
            ctx.shared.error(format_args!("write: {e}"));
            return;
        }
    }
}

/// One read into the session; `false` when the connection is over.
fn read(link: &Link, ctx: &Ctx) -> bool {
    let mut buf = ctx.buf.borrow_mut();
    match link.stream.try_read(&mut buf) {
        Ok(0) => {
            ctx.shared
                .error(format_args!("the broker closed a connection"));
            false
        }
        Ok(n) => {
            let now = ctx.shared.clock.now();
            link.session.borrow_mut().handle_input(now, &buf[..n]);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(e) => {
            ctx.shared.error(format_args!("read: {e}"));
            false
        }
    }
}

/// Hands the session's events on; `false` once the session is closed.
fn on_events(link: &Link, ctx: &Ctx, publisher: Option<u64>) -> bool {
    let shared = &ctx.shared;
    let now = shared.clock.now();
    let mut session = link.session.borrow_mut();
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::Delivery { intended_ns, seq } => {
                shared.received(intended_ns, now, false);
                ctx.feedback.delivered(tag::publisher(seq));
            }
            Event::Acked => {
                shared.tally.borrow_mut().acked_all += 1;
                shared.last_rx_ns.set(now);
                if let Some(p) = publisher {
                    ctx.feedback.acked(p);
                }
            }
            Event::Pong => shared.tally.borrow_mut().pings += 1,
            Event::Error(e) => shared.error(format_args!("{e}")),
            Event::Connected | Event::Subscribed => {}
        }
    }
    session.phase() != Phase::Closed
}
