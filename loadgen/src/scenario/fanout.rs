//! Fanout: one publisher (global connection 0, always in process 0) sends
//! to a topic; `--subscribers` connections, spread over the processes,
//! subscribe to it. Each message is delivered once per subscriber.

use std::rc::Rc;

use bytes::BytesMut;
use tokio::net::TcpStream;
use wire::TargetKind;

use super::{share, ConnSpec, Layout, Names, Part, Reads, Sends};
use crate::cli::LoadArgs;
use crate::client::{self, Dest, MsgWriter, Setup};
use crate::shared::Shared;

pub fn layout(args: &LoadArgs, part: Part, names: &Names) -> Layout {
    let topic = names.topic();
    let mut conns = Vec::new();
    if part.index == 0 {
        conns.push(ConnSpec {
            index: 0,
            setup: Setup {
                user: names.user(0),
                ..Setup::default()
            },
            sends: Some(Sends {
                dest: Dest {
                    kind: TargetKind::Topic,
                    id: topic.clone(),
                },
                global: 0,
            }),
            // Only ERRORs come back to the publisher.
            reads: Reads::Deliveries,
        });
    }
    for s in share(args.subscriber_count(), part) {
        conns.push(ConnSpec {
            index: s + 1,
            setup: Setup {
                user: names.user(s + 1),
                subscribe: Some(topic.clone()),
                ..Setup::default()
            },
            sends: None,
            reads: Reads::Subscriber,
        });
    }
    Layout {
        conns,
        senders_total: 1,
    }
}

/// The closed-loop publisher. "In flight" is counted in deliveries: it
/// keeps at most `--pipeline` messages not yet delivered to every
/// subscriber of its own process. Pacing on ACKs instead would only track
/// the server's queues, which can grow while subscribers fall behind.
pub struct Publisher {
    dest: Dest,
    writer: MsgWriter,
    pipeline: u64,
    subscribers: u64,
}

impl Publisher {
    pub fn new(
        dest: Dest,
        args: &LoadArgs,
        local_subscribers: usize,
        writer: MsgWriter,
    ) -> Publisher {
        Publisher {
            dest,
            writer,
            pipeline: args.pipeline as u64,
            subscribers: local_subscribers as u64,
        }
    }

    pub async fn run(mut self, stream: Rc<TcpStream>, shared: Rc<Shared>) {
        let mut out = BytesMut::new();
        let mut seq = 0u64;
        loop {
            let now = shared.clock.now();
            if now >= shared.window().end_ns {
                return;
            }
            let undelivered =
                seq * self.subscribers - shared.delivered.get().min(seq * self.subscribers);
            let room = self
                .pipeline
                .saturating_sub(undelivered.div_ceil(self.subscribers));
            if room == 0 {
                shared.delivered_notify.notified().await;
                continue;
            }
            for _ in 0..room {
                let high = self.writer.push(&mut out, &self.dest, now, seq);
                shared.sent(now, high);
                seq += 1;
            }
            if let Err(e) = client::write_all(&stream, &out).await {
                shared.error(format_args!("write: {e}"));
                return;
            }
            out.clear();
        }
    }
}
