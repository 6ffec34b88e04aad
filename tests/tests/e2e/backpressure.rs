//! A client that never reads: the sender feeding it is paused, the
//! server's memory stays bounded, and once the client reads it receives
//! every message in order.

use e2e::{connect_on_every_core, flood_body, Backend, Flood, Server, TIMEOUT};

both_backends!(
    never_reading_client_pauses_sender_on_same_core,
    never_reading_client_pauses_sender_on_other_core,
);

/// 800 x 64 KiB = 50 MiB: far more than the kernel's socket buffers and
/// the server's queues hold together.
const MESSAGES: u32 = 800;
/// Growth of the server's RSS allowed while the receiver does not read:
/// a memory bound, generous next to the 256 KiB send-queue watermark, and
/// well below the 50 MiB that would pile up without backpressure.
const RSS_GROWTH_MAX: u64 = 64 << 20;

fn never_reading_client_pauses_sender_on_same_core(backend: Backend) {
    never_reading_client(backend, true);
}

fn never_reading_client_pauses_sender_on_other_core(backend: Backend) {
    never_reading_client(backend, false);
}

fn never_reading_client(backend: Backend, same_core: bool) {
    let server = Server::start(backend, &[]);
    let mut slows = connect_on_every_core(&server, 1, |_| "slow".into(), false);
    let mut slow = slows.remove(0);
    let mut fasts = connect_on_every_core(&server, 1, |_| "fast".into(), false);
    let i = fasts
        .iter()
        .position(|s| (s.core() == slow.core()) == same_core)
        .expect("a sender on each core");
    let fast = fasts.swap_remove(i);
    drop((slows, fasts));
    let rss_start = server.rss_bytes();

    let flood = Flood::start(fast.client, "slow", MESSAGES);
    let rss_max = flood.wait_stalled(&server);
    assert!(
        server.metric("switchboard_backpressure_pauses_total") >= 1.0,
        "no pause counted"
    );
    assert!(
        rss_max - rss_start < RSS_GROWTH_MAX,
        "server RSS grew by {} MiB while the receiver did not read",
        (rss_max - rss_start) >> 20
    );

    // The receiver reads: everything arrives, in order, nothing lost.
    for seq in 0..MESSAGES {
        let f = slow
            .client
            .read_frame(TIMEOUT)
            .unwrap_or_else(|e| panic!("message {seq} of {MESSAGES}: {e}"));
        let d = f.deliver();
        assert_eq!(d.sender, "fast");
        assert!(d.body == flood_body(seq), "message {seq} lost or changed");
        if seq % 50 == 0 {
            let grown = server.rss_bytes().saturating_sub(rss_start);
            assert!(
                grown < RSS_GROWTH_MAX,
                "server RSS grew by {} MiB while the receiver caught up",
                grown >> 20
            );
        }
    }
    let (mut fast, result) = flood.join();
    result.expect("every write of the sender succeeded");
    assert!(fast.sync().is_empty(), "the sender got an answer");
    assert!(
        slow.client.sync().is_empty(),
        "the receiver got extra frames"
    );
}
