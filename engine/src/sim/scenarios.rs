//! Seeded scenarios over the whole engine. Each runs a few hundred seeds
//! in `cargo test` (CI) and any number by hand:
//!
//! ```text
//! SIM_SEEDS=1000000 cargo test --release -p switchboard sim::scenarios
//! SIM_SEED=1234 cargo test -p switchboard sim::scenarios::wire_delivery
//! ```

use std::collections::HashMap;

use wire::{Flags, FrameType};

use super::{for_each_seed, WireClient, World, WIRE_PORT};
use crate::config::Config;
use crate::sys::sim::{Faults, Rng};

/// Simulated time a scenario may take before it counts as stuck.
const SCENARIO_LIMIT_NS: u64 = 60_000_000_000;

/// A config with small rings and buffers, so that the seeds reach the
/// outbox, the pool and backpressure paths.
fn small_config(rng: &mut Rng) -> Config {
    let mut cfg = Config::default();
    cfg.limits.mesh_ring_slots = 16 << rng.below(3);
    cfg.limits.recv_buf_len = 512 << rng.below(4);
    cfg.limits.recv_buf_count = 64;
    cfg
}

fn faults(rng: &mut Rng) -> Faults {
    Faults {
        short_read: rng.below(500) as u32,
        short_write: rng.below(500) as u32,
        late_send: rng.below(300) as u32,
        late_wake: rng.below(200) as u32,
    }
}

/// A message's body: who sent it and its number in that sender's stream.
fn body(sender: usize, seq: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(sender as u32).to_le_bytes());
    b[4..].copy_from_slice(&seq.to_le_bytes());
    b
}

fn parse_body(b: &[u8]) -> Option<(usize, u32)> {
    let sender = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let seq = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
    Some((sender, seq))
}

/// Users on 1-4 cores send numbered messages to each other while the
/// network splits reads and writes, completions come late, cores wake
/// late and some receivers stop reading for a while (their senders are
/// paused). Every message arrives exactly once, each sender's messages in
/// the order sent, and no client sees an error or a garbled stream.
fn wire_delivery_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let cores = 1 + rng.below(4) as usize;
    let users = 2 + rng.below(6) as usize;
    let per_user = 1 + rng.below(60) as u32;
    let cfg = small_config(&mut rng);
    let mut world = World::new(&cfg, cores, seed, faults(&mut rng));
    let net = world.net.clone();
    let mut clients: Vec<WireClient> = (0..users)
        .map(|_| WireClient::connect(&net, WIRE_PORT).expect("listening"))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.hello(&net, &format!("u{i}"));
    }
    let welcomed = world.run_until(SCENARIO_LIMIT_NS, |_| {
        clients.iter_mut().all(|c| {
            c.pump(&net, usize::MAX);
            c.inbox.iter().any(|f| f.header.frame_type == FrameType::Welcome)
        })
    });
    if !welcomed {
        return Err("not every HELLO was answered".into());
    }
    for c in &mut clients {
        c.take(FrameType::Welcome);
        // Some receivers hold little: their senders get paused.
        if rng.chance(300) {
            net.set_window(c.id, 64 + rng.below(4096) as usize);
        }
    }
    // What each receiver must get: (sender, seq) in order per sender.
    let mut expected: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
    let mut plan: Vec<(usize, usize, u32)> = Vec::new();
    for sender in 0..users {
        for seq in 0..per_user {
            let mut to = rng.below(users as u64 - 1) as usize;
            if to >= sender {
                to += 1;
            }
            plan.push((sender, to, seq));
        }
    }
    // Interleave the senders in a seeded order, keeping each one's order.
    let mut cursor = vec![0usize; users];
    let by_sender: Vec<Vec<(usize, u32)>> = (0..users)
        .map(|s| plan.iter().filter(|p| p.0 == s).map(|p| (p.1, p.2)).collect())
        .collect();
    let mut got: Vec<Vec<(usize, u32)>> = vec![Vec::new(); users];
    let mut stalled_reader = rng.chance(500).then(|| rng.below(users as u64) as usize);
    let total = plan.len();
    let done = world.run_until(SCENARIO_LIMIT_NS, |w| {
        let mut rng = Rng::new(w.net.now_ns() ^ seed);
        for _ in 0..4 {
            let s = rng.below(users as u64) as usize;
            if let Some(&(to, seq)) = by_sender[s].get(cursor[s]) {
                cursor[s] += 1;
                expected.entry(to).or_default().push((s, seq));
                clients[s].send_to_user(&net, &format!("u{to}"), &body(s, seq), Flags::NONE, 0);
            }
        }
        // The stalled reader starts reading again after a while.
        if stalled_reader.is_some() && rng.chance(5) {
            stalled_reader = None;
        }
        for (i, c) in clients.iter_mut().enumerate() {
            if stalled_reader == Some(i) {
                continue;
            }
            c.pump(&net, 1 + rng.below(64 * 1024) as usize);
            for f in c.take(FrameType::Deliver) {
                if let Some(m) = wire::decode_deliver(&f.payload).ok().and_then(|d| parse_body(d.body)) {
                    got[i].push(m);
                }
            }
        }
        got.iter().map(Vec::len).sum::<usize>() >= total
    });
    for (i, c) in clients.iter().enumerate() {
        if c.garbled {
            return Err(format!("u{i}'s stream could not be decoded"));
        }
        if let Some(f) = c.inbox.iter().find(|f| f.header.frame_type != FrameType::Pong) {
            return Err(format!("u{i} received an unexpected {:?}", f.header.frame_type));
        }
    }
    for (to, want) in &expected {
        let mut have = got[*to].clone();
        let mut want = want.clone();
        // Per sender, order must match exactly; across senders any order.
        have.sort_by_key(|&(s, _)| s);
        want.sort_by_key(|&(s, _)| s);
        if have != want {
            let missing = want.iter().filter(|m| !got[*to].contains(m)).count();
            return Err(format!(
                "u{to}: {} of {} received ({missing} missing), order or copies differ",
                got[*to].len(),
                want.len()
            ));
        }
    }
    if !done {
        return Err("deliveries did not finish".into());
    }
    if std::env::var_os("SIM_VERBOSE").is_some() {
        eprintln!(
            "seed {seed}: {cores} cores, {users} users, {total} messages delivered by {} ms",
            world.net.now_ns() / 1_000_000
        );
    }
    if !world.shut_down(SCENARIO_LIMIT_NS) {
        return Err("the cores did not drain".into());
    }
    Ok(())
}

#[test]
fn wire_delivery() {
    for_each_seed("wire_delivery", 200, wire_delivery_seed);
}
