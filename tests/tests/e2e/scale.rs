//! Ten thousand concurrent connections on one engine, from eight source
//! addresses, all welcomed, then traffic between random pairs.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use e2e::{core_of, ensure_open_files, heavy_lock, wait_for, Backend, Server, WireClient, TIMEOUT};
use wire::{Flags, FrameType};

both_backends!(ten_thousand_concurrent_connections);

const CONNECTIONS: usize = 10_000;
/// 127.0.0.1 ..= 127.0.0.8: many connections to one port need several
/// source addresses once they pass one address's ephemeral ports.
const SOURCE_ADDRS: u8 = 8;
/// SENDs between random pairs once everyone is in.
const PAIRS: usize = 2_000;

/// xorshift64: a fixed, reproducible sequence of pairs.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn ten_thousand_concurrent_connections(backend: Backend) {
    let _heavy = heavy_lock();
    // The clients' sockets plus the test binary's own files; the server
    // needs as many and inherits the limit.
    ensure_open_files(CONNECTIONS as u64 + 200);
    let server = Server::start(backend, &[]);
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % SOURCE_ADDRS as usize) as u8,
        ));
        let mut c = WireClient::connect_from(server.wire_addr(), source)
            .unwrap_or_else(|e| panic!("connection {i} from {source}: {e}"));
        c.send_hello(&format!("u{i}"));
        clients.push(c);
    }
    let mut ids = HashSet::new();
    let mut per_core = [0usize; 2];
    for (i, c) in clients.iter_mut().enumerate() {
        let f = c
            .read_frame(TIMEOUT)
            .unwrap_or_else(|e| panic!("WELCOME for connection {i}: {e}"));
        let id = f.welcome().connection_id;
        assert!(ids.insert(id), "connection id {id} given twice");
        per_core[core_of(id) as usize] += 1;
    }
    assert!(per_core.iter().all(|&n| n > 0), "per core: {per_core:?}");
    assert_eq!(
        server.metric("switchboard_connections_open"),
        CONNECTIONS as f64
    );

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..PAIRS {
        let from = next_random(&mut rng) as usize % CONNECTIONS;
        let to = next_random(&mut rng) as usize % CONNECTIONS;
        if from == to {
            continue;
        }
        let body = format!("pair {k}: {from} -> {to}");
        let id =
            clients[from].send_to_user(&format!("u{to}"), body.as_bytes(), Flags::ACK_REQUESTED);
        let ack = clients[from].expect_frame(FrameType::Ack);
        assert_eq!(
            (ack.header.message_id, ack.ack().recipients),
            (id, 1),
            "pair {k}"
        );
        let d = clients[to].expect_frame(FrameType::Deliver).deliver();
        assert_eq!(d.sender, format!("u{from}"));
        assert_eq!(d.body, body.as_bytes());
    }
    // Every connection is still alive and answers.
    for c in clients.iter_mut().step_by(97) {
        assert!(c.sync().is_empty());
    }
    drop(clients);
    wait_for("all 10,000 connections to close", TIMEOUT * 2, || {
        server.metric("switchboard_connections_open") == 0.0
    });
}
