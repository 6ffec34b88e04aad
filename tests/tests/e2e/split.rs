//! The server must accept the byte stream split anywhere: one byte per
//! write, and every two-write split of a stream of several frames, must
//! produce the same answers as the stream written in one go.

use std::thread;
use std::time::Duration;

use e2e::{frames, Backend, OwnedFrame, Server, WireClient, TIMEOUT};
use wire::{Flags, FrameType};

both_backends!(frames_split_at_every_byte_give_the_same_answers);

/// Pause between the pieces of a split, so that the server most likely
/// reads them separately (correctness never depends on it).
const GAP: Duration = Duration::from_millis(1);

/// The client stream for user `user`: HELLO, SUBSCRIBE, SEND to itself,
/// SEND to its topic, PING; every answerable frame asks for an answer.
fn script(user: &str) -> Vec<u8> {
    let topic = format!("{user}-topic");
    let mut s = frames::hello(user);
    s.extend(frames::subscribe(&[&topic], Flags::ACK_REQUESTED, 11));
    s.extend(frames::send_to_user(
        user,
        b"to me",
        Flags::ACK_REQUESTED,
        12,
    ));
    s.extend(frames::send(
        frames::topic_target(&topic),
        &[0xab; 300],
        Flags::ACK_REQUESTED | Flags::HIGH_PRIORITY,
        13,
    ));
    s.extend(frames::ping(b"last", 14));
    s
}

/// Frames the script is answered with: WELCOME, ACK, (DELIVER, ACK) x 2,
/// PONG; the order of a DELIVER and its ACK is not fixed.
const ANSWERS: usize = 7;

/// What must not differ between runs: everything but the ids the server
/// picks (connection id, snowflake ids), with the user's name replaced.
fn describe(f: &OwnedFrame, user: &str) -> String {
    let h = &f.header;
    let head = format!(
        "{:?} flags={:#x} stream={}",
        h.frame_type, h.flags.0, h.stream_id
    );
    let body = match h.frame_type {
        FrameType::Welcome => {
            let w = f.welcome();
            format!("node={} max={}", w.node_id, w.max_payload_len)
        }
        FrameType::Ack => format!("id={} recipients={}", h.message_id, f.ack().recipients),
        FrameType::Deliver => {
            let d = f.deliver();
            format!(
                "from={} to={:?}:{} body={:?}",
                d.sender.replace(user, "U"),
                d.target_kind,
                d.target_id.replace(user, "U"),
                d.body
            )
        }
        FrameType::Pong => format!("id={} payload={:?}", h.message_id, f.payload),
        _ => format!("{f:?}"),
    };
    format!("{head} {body}")
}

/// Writes the script in the given pieces and returns the answers, sorted
/// (a DELIVER and the ACK of the same SEND may come in either order).
fn run(server: &Server, user: &str, cuts: &[usize]) -> Vec<String> {
    let bytes = script(user);
    let mut c = WireClient::connect(server.wire_addr());
    let mut from = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        if cut > from {
            c.write_raw(&bytes[from..cut]).expect("writing a piece");
            thread::sleep(GAP);
        }
        from = cut;
    }
    let mut answers: Vec<String> = (0..ANSWERS)
        .map(|i| {
            let f = c
                .read_frame(TIMEOUT)
                .unwrap_or_else(|e| panic!("answer {i} of {ANSWERS} for cuts {cuts:?}: {e}"));
            describe(&f, user)
        })
        .collect();
    let extra = c.sync();
    assert!(extra.is_empty(), "unexpected extra frames {extra:?}");
    answers.sort();
    answers
}

fn frames_split_at_every_byte_give_the_same_answers(backend: Backend) {
    let server = Server::start(backend, &[]);
    let whole = run(&server, "split-whole", &[]);
    let kinds: Vec<&str> = whole.iter().map(|d| d.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Ack", "Ack", "Ack", "Deliver", "Deliver", "Pong", "Welcome"],
        "{whole:#?}"
    );

    let len = script("split-bytes").len();
    let every_byte: Vec<usize> = (1..len).collect();
    assert_eq!(
        run(&server, "split-bytes", &every_byte),
        whole,
        "one byte per write"
    );

    // Same user-name length as above, so the stream length is the same.
    for cut in 1..len {
        let user = format!("split-{cut:05}");
        assert_eq!(
            run(&server, &user, &[cut]),
            whole,
            "split at byte {cut} of {len}"
        );
    }
}
