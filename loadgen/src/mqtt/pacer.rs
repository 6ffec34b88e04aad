//! The open-loop pacer for MQTT publishers: one task publishes every
//! message of this process at its scheduled time (`crate::pacing`), as
//! `crate::openloop` does for `tcp` and `ws`.
//!
//! QoS 1 adds the in-flight window. A message that falls due while its
//! publisher's window is full is owed, not dropped and not rescheduled:
//! it goes out as soon as a PUBACK frees a slot, stamped with its
//! original due time, so the wait shows up as latency (no coordinated
//! omission), and the tally counts it in `window_full` so the summary can
//! say the window limited the offered rate. A publisher's later messages
//! queue behind its owed ones, keeping its order. Owed messages are a
//! count and a first index (their due times follow from the schedule), so
//! owing costs no memory however far behind a publisher falls.

use std::rc::Rc;

use super::feedback::Feedback;
use super::link::Link;
use super::session::Refused;
use super::tag;
use crate::openloop;
use crate::pacing::{Schedule, Walker};
use crate::shared::Shared;

/// One publishing connection, as the pacer sees it.
pub struct Sender {
    pub link: Rc<Link>,
    pub topic: String,
    /// Index among the run's publishers (its schedule slot).
    pub global: u64,
    /// The first owed message's index `k`, and how many are owed.
    owed_first: u64,
    owed: u64,
    /// Bytes were queued since the last flush.
    dirty: bool,
    /// The connection failed: skip it.
    dead: bool,
}

impl Sender {
    pub fn new(link: Rc<Link>, topic: String, global: u64) -> Sender {
        Sender {
            link,
            topic,
            global,
            owed_first: 0,
            owed: 0,
            dirty: false,
            dead: false,
        }
    }
}

struct Pacer {
    senders: Vec<Sender>,
    schedule: Schedule,
    /// Senders holding owed messages.
    blocked: Vec<usize>,
    /// Senders with bytes queued since the last flush.
    dirty: Vec<usize>,
    feedback: Rc<Feedback>,
    shared: Rc<Shared>,
}

pub async fn run(
    senders: Vec<Sender>,
    schedule: Schedule,
    feedback: Rc<Feedback>,
    shared: Rc<Shared>,
) {
    let globals = senders.iter().map(|s| s.global).collect();
    let mut walker = Walker::new(schedule, globals);
    let mut p = Pacer {
        senders,
        schedule,
        blocked: Vec::new(),
        dirty: Vec::new(),
        feedback,
        shared,
    };
    let end = p.shared.window().end_ns;
    loop {
        let now = p.shared.clock.now();
        p.pay_owed(now);
        while let Some((pos, k, due)) = walker.peek() {
            if due > now || due >= end {
                break;
            }
            p.send_due(pos, k, due, now);
            walker.advance();
        }
        p.flush();
        let next = walker.peek().map(|w| w.2).filter(|&due| due < end);
        match next {
            Some(due) => tokio::select! {
                () = openloop::wait_until(&p.shared, due) => {}
                () = p.feedback.acked.notified(), if !p.blocked.is_empty() => {}
            },
            // The schedule is over; what is owed still goes out as PUBACKs
            // come, until the worker stops waiting.
            None if !p.blocked.is_empty() => p.feedback.acked.notified().await,
            None => return,
        }
    }
}

impl Pacer {
    /// Publishes sender `pos`'s message `k`, due at `due`.
    fn publish(&mut self, pos: usize, k: u64, due: u64, now: u64) -> Result<(), Refused> {
        let s = &mut self.senders[pos];
        let seq = tag::seq(s.global, k);
        let r = s.link.session.borrow_mut().publish(now, &s.topic, due, seq);
        match r {
            Ok(()) => {
                self.shared.sent(due, false);
                if !s.dirty {
                    s.dirty = true;
                    self.dirty.push(pos);
                }
            }
            Err(Refused::Closed) => s.dead = true,
            Err(Refused::WindowFull) => {}
        }
        r
    }

    /// Message `k` of sender `pos` falls due: publish it, or owe it.
    fn send_due(&mut self, pos: usize, k: u64, due: u64, now: u64) {
        let s = &self.senders[pos];
        if s.dead {
            return;
        }
        if s.owed == 0 {
            if self.publish(pos, k, due, now) != Err(Refused::WindowFull) {
                return;
            }
            self.senders[pos].owed_first = k;
            self.blocked.push(pos);
        }
        self.senders[pos].owed += 1;
        let f = &self.feedback;
        f.owed.set(f.owed.get() + 1);
        self.shared.tally.borrow_mut().window_full += 1;
    }

    /// Sends owed messages, oldest first, while windows have room.
    fn pay_owed(&mut self, now: u64) {
        let mut blocked = std::mem::take(&mut self.blocked);
        blocked.retain(|&pos| {
            loop {
                let s = &self.senders[pos];
                if s.owed == 0 || s.dead {
                    break;
                }
                let (k, due) = (s.owed_first, self.schedule.due(s.global, s.owed_first));
                if self.publish(pos, k, due, now).is_err() {
                    break;
                }
                let s = &mut self.senders[pos];
                s.owed_first += 1;
                s.owed -= 1;
                let f = &self.feedback;
                f.owed.set(f.owed.get() - 1);
            }
            let s = &self.senders[pos];
            s.owed > 0 && !s.dead
        });
        self.blocked = blocked;
    }

    /// Writes what each sender queued since the last pass.
    fn flush(&mut self) {
        for pos in self.dirty.drain(..) {
            let s = &mut self.senders[pos];
            s.dirty = false;
            if let Err(e) = s.link.flush() {
                self.shared.error(format_args!("write: {e}"));
                s.dead = true;
            }
        }
    }
}
