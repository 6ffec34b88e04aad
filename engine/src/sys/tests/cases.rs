//! Test bodies shared by both backends; `mod.rs` instantiates each one per
//! backend.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use super::harness::{backend, Echo, PoolStats};
use crate::sys::{Backend, BackendConfig, Completion, Waker};

type Bench<B> = Echo<B>;

fn small_pool() -> BackendConfig {
    BackendConfig {
        ring_entries: 64,
        recv_buf_len: 1024,
        recv_buf_count: 4,
    }
}

fn default_config() -> BackendConfig {
    BackendConfig {
        ring_entries: 256,
        recv_buf_len: 4096,
        recv_buf_count: 64,
    }
}

/// A deterministic, non-repeating-looking byte pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

pub fn echo_roundtrip<B: Backend + PoolStats>() {
    let mut echo: Bench<B> = Echo::start(&default_config());
    let addr = echo.addr;
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"hello, switchboard").unwrap();
        let mut back = [0u8; 18];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"hello, switchboard");
        s.shutdown(Shutdown::Write).unwrap();
        // The server closes after EOF; we see EOF too.
        assert_eq!(s.read(&mut back).unwrap(), 0);
    });
    echo.run_until(|e| e.conns.values().any(|c| c.recv_closed && !c.in_flight));
    let token = echo.accepted[0];
    assert_eq!(echo.conns[&token].received, 18);
    echo.close(token);
    client.join().unwrap();
    echo.run_until(|e| e.backend.bufs_available() == 64);
}

pub fn many_connections<B: Backend + PoolStats>() {
    const CLIENTS: usize = 100;
    let mut echo: Bench<B> = Echo::start(&default_config());
    let addr = echo.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let msg = format!("client {i} says hi");
                s.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            })
        })
        .collect();
    echo.run_until(|e| {
        e.accepted.len() == CLIENTS && e.conns.values().all(|c| c.recv_closed && !c.in_flight)
    });
    for c in clients {
        c.join().unwrap();
    }
    for token in echo.accepted.clone() {
        echo.close(token);
    }
    echo.run_until(|e| e.backend.bufs_available() == 64);
}

/// 1 MiB sent in small pieces through 4 buffers of 1 KiB: the pool runs
/// dry over and over (ENOBUFS on io_uring), sends come back short, and
/// every byte still arrives in order.
pub fn bulk_echo_tiny_pool<B: Backend + PoolStats>() {
    const TOTAL: usize = 1 << 20;
    let mut echo: Bench<B> = Echo::start(&small_pool());
    let addr = echo.addr;
    let client = thread::spawn(move || {
        let s = TcpStream::connect(addr).unwrap();
        let mut reader = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let mut s = s;
            for piece in pattern(TOTAL).chunks(777) {
                s.write_all(piece).unwrap();
            }
            s
        });
        let mut back = vec![0u8; TOTAL];
        reader.read_exact(&mut back).unwrap();
        assert!(back == pattern(TOTAL), "echoed bytes differ");
        drop(writer.join().unwrap());
    });
    echo.run_until(|e| e.conns.values().any(|c| c.recv_closed && !c.in_flight));
    let token = echo.accepted[0];
    assert_eq!(echo.conns[&token].received, TOTAL);
    assert_eq!(echo.conns[&token].sent, TOTAL);
    client.join().unwrap();
    echo.close(token);
    echo.run_until(|e| e.backend.bufs_available() == 4);
}

/// Holding every buffer stops reading; releasing them resumes it, with no
/// byte lost or reordered.
pub fn pool_exhaustion_resumes<B: Backend + PoolStats>() {
    const TOTAL: usize = 64 * 1024;
    let mut echo: Bench<B> = Echo::start(&small_pool());
    echo.sink = true;
    echo.hold = true;
    let addr = echo.addr;
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&pattern(TOTAL)).unwrap();
        s
    });
    echo.run_until(|e| e.held.len() == 4);
    assert_eq!(echo.backend.bufs_available(), 0);
    for _ in 0..3 {
        echo.turn(Duration::from_millis(10));
    }
    assert_eq!(echo.held.len(), 4, "read without buffers");
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    loop {
        for (_, buf) in &echo.held {
            got.extend_from_slice(echo.backend.buf(buf));
        }
        echo.release_held();
        if got.len() >= TOTAL {
            break;
        }
        assert!(start.elapsed() < super::harness::DEADLINE, "test hung");
        echo.turn(Duration::from_millis(20));
    }
    assert!(got == pattern(TOTAL), "bytes lost or reordered");
    let token = echo.accepted[0];
    echo.close(token);
    drop(client.join().unwrap());
    echo.run_until(|e| e.backend.bufs_available() == 4);
}

pub fn pause_resume<B: Backend + PoolStats>() {
    let mut echo: Bench<B> = Echo::start(&default_config());
    echo.sink = true;
    let addr = echo.addr;
    let mut client = TcpStream::connect(addr).unwrap();
    echo.run_until(|e| !e.accepted.is_empty());
    let token = echo.accepted[0];
    echo.backend.pause_recv(token);
    // Let the pause reach the kernel before any byte is sent.
    echo.turn(Duration::ZERO);
    client.write_all(b"while paused").unwrap();
    for _ in 0..3 {
        echo.turn(Duration::from_millis(10));
    }
    assert_eq!(echo.conns[&token].received, 0, "read while paused");
    echo.backend.resume_recv(token);
    echo.run_until(|e| e.conns[&token].received == 12);
    // Pause and resume in the same tick: reading carries on.
    echo.backend.pause_recv(token);
    echo.backend.resume_recv(token);
    client.write_all(b"again").unwrap();
    echo.run_until(|e| e.conns[&token].received == 17);
    echo.close(token);
    echo.run_until(|e| e.backend.bufs_available() == 64);
}

/// `shutdown_write` (the lingering close): the peer reads what was sent,
/// then EOF, and what it writes afterwards still arrives as `Recv`, until
/// its own close arrives as `RecvClosed`.
pub fn shutdown_write_keeps_reading<B: Backend + PoolStats>() {
    let mut echo: Bench<B> = Echo::start(&small_pool());
    let addr = echo.addr;
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"hello").unwrap();
        let mut got = Vec::new();
        // The echo, then EOF: read_to_end returns only at the FIN.
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
        // Still writable: the server reads on.
        s.write_all(&pattern(64 * 1024)).unwrap();
    });
    echo.run_until(|e| e.conns.values().any(|c| c.sent == 5 && !c.in_flight));
    let token = echo.accepted[0];
    echo.sink = true;
    echo.backend.shutdown_write(token);
    echo.run_until(|e| e.conns[&token].recv_closed);
    client.join().unwrap();
    assert_eq!(echo.conns[&token].received, 5 + 64 * 1024);
    echo.close(token);
    echo.turn(Duration::from_millis(10));
    assert_eq!(echo.backend.bufs_available(), 4);
}

/// Closing while bytes are still arriving: no panic, late completions
/// carry their buffers back, the pool fills up again, the peer sees the
/// connection end.
pub fn close_while_receiving<B: Backend + PoolStats>() {
    let mut echo: Bench<B> = Echo::start(&small_pool());
    echo.sink = true;
    let addr = echo.addr;
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let chunk = pattern(4096);
        loop {
            if let Err(e) = s.write_all(&chunk) {
                assert!(
                    matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    "{e}"
                );
                return;
            }
        }
    });
    echo.run_until(|e| e.conns.values().any(|c| c.received > 16 * 1024));
    let token = echo.accepted[0];
    // A send in flight at close comes back too (as a stale `Sent`).
    echo.backend.send(
        token,
        crate::sys::SendBatch {
            bufs: vec![bytes::Bytes::from_static(b"bye")],
        },
    );
    echo.close(token);
    // Turn until the client is done too: the close is queued to the
    // kernel only on the next turn, and the buffers may all be back
    // before that turn, so the buffer count alone could end the loop
    // with the socket still open and the client blocked forever.
    echo.run_until(|e| e.backend.bufs_available() == 4 && client.is_finished());
    client.join().unwrap();
    // Nothing more arrives for the closed token once it is drained.
    echo.turn(Duration::from_millis(10));
    assert!(echo.conns.is_empty());
    assert_eq!(echo.backend.bufs_available(), 4);
}

pub fn waker_wakes_poll<B: Backend + PoolStats>() {
    let mut b: B = backend(&default_config());
    let waker = Waker::new().unwrap();
    b.watch_waker(&waker).unwrap();
    let remote = waker.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        remote.wake();
    });
    let mut out = Vec::new();
    while out.is_empty() {
        b.poll(None, &mut out).unwrap();
    }
    assert!(matches!(out[..], [Completion::Woken]), "{out:?}");
    t.join().unwrap();
    // The wake was consumed: a second poll times out empty; a new wake is
    // seen again.
    out.clear();
    b.poll(Some(Duration::from_millis(10)), &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    waker.wake();
    waker.wake();
    while out.is_empty() {
        b.poll(Some(Duration::from_millis(10)), &mut out).unwrap();
    }
    assert!(matches!(out[..], [Completion::Woken]), "{out:?}");
}

pub fn poll_timeout_returns<B: Backend + PoolStats>() {
    let mut b: B = backend(&default_config());
    let mut out = Vec::new();
    b.poll(Some(Duration::from_millis(5)), &mut out).unwrap();
    b.poll(Some(Duration::ZERO), &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
}

/// A send to a peer that is gone comes back as an error, and closing
/// listeners stops accepting.
pub fn send_to_reset_peer_and_close_listeners<B: Backend + PoolStats>() {
    let mut echo: Bench<B> = Echo::start(&default_config());
    echo.sink = true;
    let client = TcpStream::connect(echo.addr).unwrap();
    echo.run_until(|e| !e.accepted.is_empty());
    let token = echo.accepted[0];
    // Linger 0: close sends RST.
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    echo.run_until(|e| e.conns[&token].recv_closed);
    let mut failed = false;
    let payload = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    let mut out = Vec::new();
    while !failed {
        let bufs = vec![payload.clone()];
        echo.backend.send(token, crate::sys::SendBatch { bufs });
        loop {
            echo.backend
                .poll(Some(Duration::from_millis(20)), &mut out)
                .unwrap();
            if let Some(i) = out
                .iter()
                .position(|c| matches!(c, Completion::Sent { .. }))
            {
                let Completion::Sent { result, .. } = out.swap_remove(i) else {
                    unreachable!()
                };
                failed = result.is_err();
                break;
            }
        }
    }
    echo.close(token);
    echo.backend.close_listeners();
    echo.turn(Duration::ZERO);
    assert!(TcpStream::connect(echo.addr).is_err(), "still listening");
}

pub fn invalid_config_is_an_error<B: Backend + PoolStats>() {
    let bad = [
        BackendConfig {
            recv_buf_count: 3,
            ..default_config()
        },
        BackendConfig {
            recv_buf_len: 0,
            ..default_config()
        },
    ];
    for config in bad {
        let error = B::new(&config).err().expect("accepted a bad config");
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
    }
}

/// Detaching hands a connection to another backend (another core) with
/// nothing lost or repeated: what arrived before the hand-over came to the
/// first backend, the rest goes to the second, which can send on it too.
pub fn detach_hands_over<B: Backend + PoolStats>() {
    let mut a: Bench<B> = Echo::start(&default_config());
    a.sink = true;
    a.keep = true;
    let mut client = TcpStream::connect(a.addr).unwrap();
    a.run_until(|e| !e.accepted.is_empty());
    let token = a.accepted[0];
    client.write_all(b"one").unwrap();
    a.run_until(|e| e.conns[&token].received == 3);
    // Bytes racing the detach land on one side or the other, never both.
    client.write_all(b"two").unwrap();
    a.backend.detach(token);
    a.run_until(|e| !e.detached.is_empty());
    client.write_all(b"three").unwrap();
    let (_, stream) = a.detached.pop().unwrap();
    let mut b: Bench<B> = Echo::start(&default_config());
    b.keep = true;
    let adopted = b.adopt(stream);
    let before = a.conns[&token].bytes.clone();
    assert!(before.starts_with(b"one"), "{before:?}");
    b.run_until(|e| before.len() + e.conns[&adopted].received == 11);
    let after = b.conns[&adopted].bytes.clone();
    assert_eq!([&before[..], &after[..]].concat(), b"onetwothree");
    // The second backend echoed what it got, on the same socket.
    let mut echoed = vec![0u8; after.len()];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, after);
    // Nothing more came to the first backend after the hand-over.
    for _ in 0..3 {
        a.turn(Duration::from_millis(5));
    }
    assert_eq!(a.conns[&token].bytes, before);
    assert_eq!(a.stale, 0);
}
