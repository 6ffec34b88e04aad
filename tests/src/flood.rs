//! A sender that writes numbered 64 KiB messages to one user as fast as
//! its socket takes them, on its own thread, so a test can watch it get
//! paused by backpressure.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wire::Flags;

use crate::{frames, Server, WireClient, TIMEOUT};

/// Bytes in each message body.
pub const FLOOD_BODY_BYTES: usize = 64 * 1024;
/// Polls of an unchanged sender position after which the sender counts as
/// stopped; only used to decide when to look, never asserted on.
const STILL_POLLS: u32 = 20;
const POLL: Duration = Duration::from_millis(50);
/// A write may block this long: the receiver can take its time to start.
const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Body of message `seq`: its number, then a byte pattern that depends on it.
pub fn flood_body(seq: u32) -> Vec<u8> {
    let mut b = vec![(seq % 251) as u8; FLOOD_BODY_BYTES];
    b[..4].copy_from_slice(&seq.to_be_bytes());
    b
}

/// A sending thread and its progress.
pub struct Flood {
    written: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    handle: JoinHandle<(WireClient, io::Result<()>)>,
}

impl Flood {
    /// Starts writing `messages` SENDs of [`flood_body`] to `user`; stops
    /// at the first write error.
    pub fn start(client: WireClient, user: &str, messages: u32) -> Flood {
        Flood::start_with(client, user, 0..messages, flood_body, |_| Flags::NONE)
    }

    /// Like [`Flood::start`], for the messages numbered `seqs`, message
    /// `seq`'s body and flags given by `body(seq)` and `flags(seq)`.
    pub fn start_with(
        mut client: WireClient,
        user: &str,
        seqs: std::ops::Range<u32>,
        body: fn(u32) -> Vec<u8>,
        flags: fn(u32) -> Flags,
    ) -> Flood {
        client
            .stream()
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .expect("write timeout");
        let written = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (w, d, user) = (written.clone(), done.clone(), user.to_string());
        let handle = thread::spawn(move || {
            let mut result = Ok(());
            for seq in seqs {
                let frame = frames::send_to_user(&user, &body(seq), flags(seq), seq.into());
                result = client.write_raw(&frame);
                if result.is_err() {
                    break;
                }
                w.fetch_add(1, Ordering::SeqCst);
            }
            d.store(true, Ordering::SeqCst);
            (client, result)
        });
        Flood {
            written,
            done,
            handle,
        }
    }

    /// Messages written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Whether the thread has stopped (all written, or a write failed).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until the sender has stopped making progress while still
    /// having messages to write, sampling the server's RSS meanwhile;
    /// returns the largest RSS seen. Panics if the sender finishes: with
    /// more bytes than every buffer on the way holds, that means it was
    /// never paused.
    pub fn wait_stalled(&self, server: &Server) -> u64 {
        let deadline = Instant::now() + TIMEOUT * 4;
        let (mut rss_max, mut last, mut still) = (server.rss_bytes(), u64::MAX, 0);
        while still < STILL_POLLS {
            assert!(Instant::now() < deadline, "the sender never settled");
            assert!(
                !self.is_done(),
                "the sender wrote everything ({} messages) while the receiver read nothing: \
                 it was not paused",
                self.written()
            );
            thread::sleep(POLL);
            rss_max = rss_max.max(server.rss_bytes());
            let now = self.written();
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        rss_max
    }

    /// Waits for the thread; returns the client and how writing ended.
    pub fn join(self) -> (WireClient, io::Result<()>) {
        self.handle.join().expect("flood thread")
    }
}
