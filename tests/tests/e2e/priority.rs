//! Priority: a HIGH_PRIORITY message overtakes the normal messages queued
//! to a receiver that does not read (all but the few already in kernel
//! buffers), and DROPPABLE messages to such a receiver are shed and
//! counted instead of pausing their sender, while the others all arrive.

use e2e::{connect_on_every_core, wait_for, Flood, Server, Welcomed, TIMEOUT};
use wire::Flags;

both_backends!(
    high_priority_overtakes_queued_messages_on_one_core,
    high_priority_overtakes_queued_messages_across_cores,
    droppable_messages_are_shed_and_counted,
);

/// Normal messages queued to the receiver before the high-priority one.
const BULK: u32 = 20_000;
/// Bytes in each message body.
const BODY_BYTES: usize = 1024;
/// `--send-queue-high-bytes` for the overtaking test: room for every bulk
/// message in the receiver's queue (20,000 × ~1.1 KiB), so that its
/// sender is never paused and all of them wait in user space.
const QUEUE_HIGH_BYTES: &str = "33554432";
/// `--socket-unsent-bytes-max` (the default, set here so the bound below
/// does not drift from it): unsent bytes the server's socket may hold.
const UNSENT_MAX_BYTES: usize = 128 * 1024;
/// The kernel checks that bound before taking each chunk of a write, and
/// a chunk is at most 64 KiB: it may be passed by that much.
const UNSENT_SLACK_BYTES: usize = 64 * 1024;
/// Frames in one send batch (the reactor's `BATCH_BUFS_MAX`): the batch
/// being written when the high-priority message arrives goes out first.
const BATCH_FRAMES_MAX: usize = 64;

fn high_priority_overtakes_queued_messages_on_one_core(backend: e2e::Backend) {
    overtakes(backend, "1");
}

fn high_priority_overtakes_queued_messages_across_cores(backend: e2e::Backend) {
    overtakes(backend, "2");
}

/// Body of bulk message `seq`: its number, then filler.
fn bulk_body(seq: u32) -> Vec<u8> {
    let mut b = vec![b'n'; BODY_BYTES];
    b[..4].copy_from_slice(&seq.to_be_bytes());
    b
}

/// A receiver, and one connection for each sender, placed so that with
/// two cores the senders are on the other core (their messages cross the
/// mesh).
fn place(server: &Server, senders: &[&str]) -> (Welcomed, Vec<Welcomed>) {
    let mut all = connect_on_every_core(server, 1, |_| "slow".into(), false);
    let slow = all.remove(0);
    drop(all);
    let out: Vec<Welcomed> = senders
        .iter()
        .map(|name| {
            let mut c = connect_on_every_core(server, 1, |_| name.to_string(), false);
            let i = c
                .iter()
                .position(|w| server.threads() == 1 || w.core() != slow.core())
                .expect("a connection on each core");
            c.swap_remove(i)
        })
        .collect();
    // The other cores' connections of the same users must be gone before
    // any message is sent, or they would be recipients too.
    let open = 1 + out.len();
    wait_for("the extra connections to close", TIMEOUT, || {
        server.metric("switchboard_connections_open") as usize == open
    });
    (slow, out)
}

fn overtakes(backend: e2e::Backend, threads: &str) {
    let unsent = UNSENT_MAX_BYTES.to_string();
    let args = [
        "--threads",
        threads,
        "--send-queue-high-bytes",
        QUEUE_HIGH_BYTES,
        "--socket-unsent-bytes-max",
        &unsent,
    ];
    let server = Server::start(backend, &args);
    let (mut slow, mut senders) = place(&server, &["bulk", "vip"]);
    let mut vip = senders.pop().expect("vip").client;
    let bulk = senders.pop().expect("bulk").client;
    let delivered = || server.metric("switchboard_messages_delivered_total") as u64;
    let before = delivered();

    // Every bulk message is queued to the receiver, which reads nothing.
    let flood = Flood::start_with(bulk, "slow", 0..BULK, bulk_body, |_| Flags::NONE);
    wait_for("the bulk messages to be queued", TIMEOUT * 4, || {
        delivered() >= before + u64::from(BULK)
    });
    let body = b"urgent".to_vec();
    vip.send_to_user("slow", &body, Flags::HIGH_PRIORITY);
    wait_for("the urgent message to be queued", TIMEOUT, || {
        delivered() > before + u64::from(BULK)
    });

    // What may come before it: what the kernel holds on both ends, and the
    // batch being written. The receiver holds at most its buffer, and at
    // most that much more is on its way to it (its window).
    let rcvbuf = socket2::SockRef::from(slow.client.stream())
        .recv_buffer_size()
        .expect("SO_RCVBUF");
    let kernel_bytes = 2 * rcvbuf + UNSENT_MAX_BYTES + UNSENT_SLACK_BYTES;
    let ahead_max = kernel_bytes / BODY_BYTES + BATCH_FRAMES_MAX;
    let mut ahead = None;
    let mut next_seq = 0u32;
    let mut last_id = 0u64;
    while next_seq < BULK || ahead.is_none() {
        let f = slow
            .client
            .read_frame(TIMEOUT)
            .unwrap_or_else(|e| panic!("after {next_seq} of {BULK} bulk messages: {e}"));
        let d = f.deliver();
        if d.sender == "vip" {
            assert_eq!(d.body, body);
            assert!(f.header.flags.contains(Flags::HIGH_PRIORITY));
            ahead = Some(next_seq);
            continue;
        }
        assert_eq!(d.sender, "bulk");
        assert!(
            d.body == bulk_body(next_seq),
            "bulk message {next_seq} lost or moved"
        );
        // Ids increase per sender within a lane.
        assert!(d.message_id > last_id, "bulk message ids go back");
        last_id = d.message_id;
        next_seq += 1;
    }
    let ahead = ahead.expect("the urgent message arrived") as usize;
    eprintln!("{ahead} normal messages came first; at most {ahead_max} may");
    assert!(
        ahead <= ahead_max,
        "{ahead} of {BULK} queued messages came before the high-priority one \
         (at most {ahead_max} may: kernel buffers and one send batch)"
    );
    let (_, result) = flood.join();
    result.expect("every bulk write succeeded");
    assert!(
        slow.client.sync().is_empty(),
        "the receiver got extra frames"
    );
    assert_eq!(server.metric("switchboard_shed_total"), 0.0);
}

/// Droppable messages first, then normal ones.
const DROPPABLE: u32 = 5_000;
const KEPT: u32 = 200;

fn flags_of(seq: u32) -> Flags {
    if seq < DROPPABLE {
        Flags::DROPPABLE
    } else {
        Flags::NONE
    }
}

fn droppable_messages_are_shed_and_counted(backend: e2e::Backend) {
    let server = Server::start(backend, &[]);
    let (mut slow, mut senders) = place(&server, &["feeder"]);
    let feeder = senders.pop().expect("feeder").client;

    // 5 MiB of droppable messages to a receiver that reads nothing: far
    // past its 256 KiB watermark, yet the sender is never paused.
    let flood = Flood::start_with(feeder, "slow", 0..DROPPABLE, bulk_body, flags_of);
    wait_for("the droppable messages to be written", TIMEOUT * 4, || {
        flood.is_done()
    });
    let (feeder, result) = flood.join();
    result.expect("every droppable write succeeded");
    wait_for("the droppable messages to be handled", TIMEOUT, || {
        server.metric("switchboard_messages_routed_total") >= f64::from(DROPPABLE)
    });
    let shed = server.metric("switchboard_shed_total") as u32;
    assert!(shed > 0, "nothing was shed");
    assert_eq!(
        server.metric("switchboard_backpressure_pauses_total"),
        0.0,
        "a droppable message paused its sender"
    );

    // Then normal messages: paused for, never shed.
    let kept = DROPPABLE..DROPPABLE + KEPT;
    let more = Flood::start_with(feeder, "slow", kept, bulk_body, flags_of);
    let mut got_droppable = 0u32;
    let mut next_kept = DROPPABLE;
    while next_kept < DROPPABLE + KEPT {
        let f = slow
            .client
            .read_frame(TIMEOUT)
            .unwrap_or_else(|e| panic!("waiting for kept message {next_kept}: {e}"));
        let d = f.deliver();
        let seq = u32::from_be_bytes(d.body[..4].try_into().expect("4 bytes"));
        if seq < DROPPABLE {
            got_droppable += 1;
            continue;
        }
        assert_eq!(seq, next_kept, "a normal message was lost or moved");
        next_kept += 1;
    }
    let (mut feeder, result) = more.join();
    result.expect("every write succeeded");
    assert!(
        slow.client.sync().is_empty(),
        "the receiver got extra frames"
    );
    // A shed message is no error: "slow" exists, it was only behind.
    assert!(feeder.sync().is_empty(), "the sender got answers");
    let shed = server.metric("switchboard_shed_total") as u32;
    assert_eq!(
        got_droppable + shed,
        DROPPABLE,
        "every droppable message is delivered or counted as shed"
    );
}
