//! Per-(sender, target) order across cores under load: several senders on
//! both cores each send thousands of numbered messages to one user with
//! connections on both cores; every connection of that user must see each
//! sender's numbers strictly increasing, none missing.

use std::sync::Arc;
use std::thread;

use e2e::{connect_on_every_core, frames, Backend, Server, WireClient, TIMEOUT};
use wire::Flags;

both_backends!(cross_core_order_is_preserved_under_load);

/// Messages each sender sends.
const PER_SENDER: u32 = 5_000;
/// Senders per core.
const SENDERS_PER_CORE: usize = 2;
/// Frames written per `write_all`: big writes, so the server sees long
/// runs of frames per read and its rings and queues fill up.
const FRAMES_PER_WRITE: u32 = 250;

/// Body: sender index, sequence number, then filler.
fn body(sender: u32, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(40);
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[0x42; 32]);
    b
}

fn cross_core_order_is_preserved_under_load(backend: Backend) {
    let server = Server::start(backend, &[]);
    let sinks = connect_on_every_core(&server, 2, |_| "sink".into(), true);
    let senders =
        connect_on_every_core(&server, SENDERS_PER_CORE, |i| format!("sender-{i}"), false);
    let names: Arc<Vec<String>> = Arc::new(senders.iter().map(|s| s.user.clone()).collect());

    let readers: Vec<_> = sinks
        .into_iter()
        .map(|s| {
            let (core, names) = (s.core(), names.clone());
            thread::spawn(move || receive_all(s.client, &names, core))
        })
        .collect();
    let writers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(k, s)| thread::spawn(move || send_all(s.client, k as u32)))
        .collect();
    for w in writers {
        let mut c = w.join().expect("sender thread");
        // No ERROR (NoSuchTarget, Overload) came back to any sender.
        let answers = c.sync();
        assert!(answers.is_empty(), "a sender got {answers:?}");
    }
    for r in readers {
        r.join().expect("receiver thread");
    }
}

fn send_all(mut c: WireClient, sender: u32) -> WireClient {
    let mut seq = 0;
    while seq < PER_SENDER {
        let mut batch = Vec::new();
        for _ in 0..FRAMES_PER_WRITE.min(PER_SENDER - seq) {
            let to = frames::user_target("sink");
            batch.extend(frames::send(
                to,
                &body(sender, seq),
                Flags::NONE,
                u64::from(seq),
            ));
            seq += 1;
        }
        c.write_raw(&batch).expect("sender write");
    }
    c
}

fn receive_all(mut c: WireClient, names: &[String], core: u64) {
    let mut next = vec![0u32; names.len()];
    let mut last_id = vec![0u64; names.len()];
    let total = names.len() as u32 * PER_SENDER;
    for n in 0..total {
        let f = c.read_frame(TIMEOUT).unwrap_or_else(|e| {
            panic!("sink on core {core}: message {n} of {total}: {e}; next expected {next:?}")
        });
        let d = f.deliver();
        assert_eq!(d.body.len(), 40, "body unchanged");
        let sender = u32::from_be_bytes(d.body[0..4].try_into().unwrap()) as usize;
        let seq = u32::from_be_bytes(d.body[4..8].try_into().unwrap());
        assert_eq!(d.sender, names[sender], "DELIVER names the sending user");
        assert_eq!(
            seq, next[sender],
            "sink on core {core}: sender {sender} out of order or lost"
        );
        assert!(
            d.message_id > last_id[sender],
            "server ids of one sender's messages must increase"
        );
        next[sender] += 1;
        last_id[sender] = d.message_id;
    }
    assert!(c.sync().is_empty(), "sink on core {core} got extra frames");
}
