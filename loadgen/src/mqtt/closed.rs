//! The closed-loop publisher (`--rate max`): each publisher keeps at most
//! `--pipeline` messages not yet delivered to every subscriber of its own
//! process, as `crate::scenario::fanout` does on `tcp` and `ws`. Pacing
//! on deliveries rather than on PUBACKs matters: a broker acks a PUBLISH
//! once it has queued it, and its queues to slow subscribers can grow (or
//! drop messages) while PUBACKs keep coming. At QoS 1 the in-flight
//! window applies as well.

use std::rc::Rc;

use super::feedback::Feedback;
use super::link::Link;
use super::session::Refused;
use super::tag;
use crate::shared::Shared;

pub struct Publisher {
    pub link: Rc<Link>,
    pub topic: String,
    /// Index among the run's publishers.
    pub global: u64,
    /// Undelivered messages at most.
    pub pipeline: u64,
}

impl Publisher {
    pub async fn run(self, feedback: Rc<Feedback>, shared: Rc<Shared>) {
        // The worker checks that local subscribers receive this publisher.
        let fan = feedback.local_deliveries_per_message.max(1);
        let mut k = 0u64;
        loop {
            let now = shared.clock.now();
            if now >= shared.window().end_ns {
                return;
            }
            let expected = k * fan;
            let undelivered = expected - feedback.delivered_count(self.global).min(expected);
            let room = self.pipeline.saturating_sub(undelivered.div_ceil(fan));
            let mut sent = 0;
            while sent < room {
                let seq = tag::seq(self.global, k);
                let r = self
                    .link
                    .session
                    .borrow_mut()
                    .publish(now, &self.topic, now, seq);
                match r {
                    Ok(()) => {
                        shared.sent(now, false);
                        k += 1;
                        sent += 1;
                    }
                    Err(Refused::WindowFull) => break,
                    Err(Refused::Closed) => return,
                }
            }
            if sent > 0 {
                if let Err(e) = self.link.flush() {
                    shared.error(format_args!("write: {e}"));
                    return;
                }
            }
            feedback.wait(self.global).await;
        }
    }
}
