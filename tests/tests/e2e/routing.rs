//! SEND to users, topics and connections, across cores; ACK and
//! NoSuchTarget.

use e2e::{connect_on_every_core, frames, Backend, Server, WireClient};
use wire::{ErrorCode, Flags, FrameType, Target, TargetKind};

both_backends!(
    send_to_user_reaches_every_connection_on_every_core,
    topic_fans_out_to_subscribers_only,
    ack_counts_recipients_and_missing_user_is_no_such_target,
    connection_target_reaches_one_connection,
    conversation_target_reaches_its_members,
    departed_user_is_no_such_target,
);

/// The node id given to servers here; DELIVER ids carry it in bits 9..0.
const NODE_ID: u64 = 5;

fn send_to_user_reaches_every_connection_on_every_core(backend: Backend) {
    let node = NODE_ID.to_string();
    let server = Server::start(backend, &["--node-id", &node]);
    let mut bobs = connect_on_every_core(&server, 2, |_| "bob".into(), true);
    let mut alices = connect_on_every_core(&server, 1, |_| "alice".into(), false);
    assert_eq!(alices.len(), 2);
    for a in &mut alices {
        let body = format!("hi from core {}", a.core());
        let id = a
            .client
            .send_to_user("bob", body.as_bytes(), Flags::ACK_REQUESTED);
        let f = a.client.expect_frame(FrameType::Ack);
        assert_eq!(f.header.message_id, id, "ACK carries the SEND's id");
        let ack = f.ack();
        assert_eq!(ack.recipients as usize, bobs.len(), "every bob connection");
        assert_eq!(ack.server_message_id & 0x3ff, NODE_ID, "node id bits");
        for b in &mut bobs {
            let d = b.client.expect_frame(FrameType::Deliver).deliver();
            assert_eq!(d.sender, "alice");
            assert_eq!(d.target_kind, TargetKind::User);
            assert_eq!(d.target_id, "bob");
            assert_eq!(d.body, body.as_bytes());
            assert_eq!(d.message_id, ack.server_message_id);
        }
    }
    // Nothing more was delivered to anyone, and alice got no copy.
    for w in bobs.iter_mut().chain(alices.iter_mut()) {
        assert!(w.client.sync().is_empty());
    }
}

fn topic_fans_out_to_subscribers_only(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut subs = connect_on_every_core(&server, 3, |i| format!("sub-{i}"), true);
    for s in &mut subs {
        s.client.subscribe(&["news", "sports"]);
    }
    let mut outsider = WireClient::connect(server.wire_addr());
    outsider.hello("outsider");
    outsider.subscribe(&["weather"]);
    let mut publisher = connect_on_every_core(&server, 1, |_| "publisher".into(), false);

    for p in &mut publisher {
        let ack = publish(&mut p.client, "news", b"extra extra");
        assert_eq!(ack as usize, subs.len());
        for s in &mut subs {
            let d = s.client.expect_frame(FrameType::Deliver).deliver();
            assert_eq!(d.sender, "publisher");
            assert_eq!(
                (d.target_kind, d.target_id.as_str()),
                (TargetKind::Topic, "news")
            );
            assert_eq!(d.body, b"extra extra");
        }
    }
    // The ACK means every copy is queued, so a PING answered with
    // nothing before its PONG proves the outsider got no copy.
    assert!(outsider.sync().is_empty());

    // After UNSUBSCRIBE the leaver gets nothing; the rest still do.
    let mut leaver = subs.pop().expect("subscribers");
    leaver.client.unsubscribe(&["news"]);
    let p = &mut publisher[0].client;
    assert_eq!(publish(p, "news", b"second") as usize, subs.len());
    for s in &mut subs {
        assert_eq!(
            s.client.expect_frame(FrameType::Deliver).deliver().body,
            b"second"
        );
    }
    assert!(leaver.client.sync().is_empty());
    // It is still subscribed to the other topic.
    assert_eq!(publish(p, "sports", b"goal") as usize, subs.len() + 1);
    assert_eq!(
        leaver
            .client
            .expect_frame(FrameType::Deliver)
            .deliver()
            .body,
        b"goal"
    );
    // A topic nobody holds is not an error: ACK with 0 recipients.
    assert_eq!(publish(p, "nobody-listens", b"void"), 0);
}

/// SEND to a topic with an ACK; returns the ACK's recipient count.
fn publish(c: &mut WireClient, topic: &str, body: &[u8]) -> u32 {
    let id = c.send(frames::topic_target(topic), body, Flags::ACK_REQUESTED);
    let f = c.expect_frame(FrameType::Ack);
    assert_eq!(f.header.message_id, id);
    f.ack().recipients
}

fn ack_counts_recipients_and_missing_user_is_no_such_target(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut c = WireClient::connect(server.wire_addr());
    c.hello("solo");
    // A user with no connection: ERROR NoSuchTarget even without
    // ACK_REQUESTED, answering that SEND by its id.
    for flags in [Flags::NONE, Flags::ACK_REQUESTED] {
        let id = c.send_to_user("nobody", b"anyone there?", flags);
        let f = c.expect_frame(FrameType::Error);
        assert_eq!(f.header.message_id, id);
        assert_eq!(f.error().0, ErrorCode::NoSuchTarget);
    }
    assert_eq!(server.metric("switchboard_no_target_total"), 2.0);
    // The connection stays open and usable: a SEND to oneself.
    let id = c.send_to_user("solo", b"note to self", Flags::ACK_REQUESTED);
    // The ACK takes the high lane: it may come before the DELIVER.
    let mut next = || c.read_frame(e2e::TIMEOUT).expect("DELIVER and ACK");
    let mut got = [next(), next()];
    if got[0].frame_type() == FrameType::Ack {
        got.swap(0, 1);
    }
    assert_eq!(got[0].deliver().body, b"note to self");
    assert_eq!(got[1].header.message_id, id);
    assert_eq!(got[1].ack().recipients, 1);
    // Without ACK_REQUESTED a delivered SEND gets no answer.
    c.send_to_user("solo", b"quiet", Flags::NONE);
    let after = c.sync();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].deliver().body, b"quiet");
}

fn connection_target_reaches_one_connection(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut carols = connect_on_every_core(&server, 1, |_| "carol".into(), false);
    let mut dave = connect_on_every_core(&server, 1, |_| "dave".into(), false);
    let targets: Vec<u64> = carols.iter().map(|c| c.connection_id).collect();
    for d in &mut dave {
        for (i, target) in targets.iter().enumerate() {
            let id_text = target.to_string();
            let to = frames::connection_target(&id_text);
            let id = d.client.send(to, b"just you", Flags::ACK_REQUESTED);
            let f = d.client.expect_frame(FrameType::Ack);
            assert_eq!((f.header.message_id, f.ack().recipients), (id, 1));
            let got = carols[i].client.expect_frame(FrameType::Deliver).deliver();
            assert_eq!(got.target_kind, TargetKind::Connection);
            assert_eq!(got.target_id, id_text);
            let other = &mut carols[1 - i].client;
            assert!(other.sync().is_empty(), "the other carol got a copy");
        }
        // A connection id that names no live connection, on each core.
        for core in 0..2u64 {
            let id_text = ((core << 56) | 999_999).to_string();
            let id = d.client.send(
                frames::connection_target(&id_text),
                b"lost",
                Flags::ACK_REQUESTED,
            );
            let f = d.client.expect_frame(FrameType::Error);
            assert_eq!(f.header.message_id, id);
            assert_eq!(f.error().0, ErrorCode::NoSuchTarget, "core {core}");
        }
    }
}

fn conversation_target_reaches_its_members(backend: Backend) {
    let server = Server::start(backend, &[]);
    // Until the dispatcher assigns members, joining conversation X is
    // subscribing to `$conversation/X` (docs/wire-protocol.md).
    let mut members = connect_on_every_core(&server, 1, |i| format!("member-{i}"), false);
    for m in &mut members {
        m.client.subscribe(&["$conversation/42"]);
    }
    let mut agent = WireClient::connect(server.wire_addr());
    agent.hello("agent");
    let to = Target {
        kind: TargetKind::Conversation,
        id: "42",
    };
    let id = agent.send(to, b"how can I help?", Flags::ACK_REQUESTED);
    let f = agent.expect_frame(FrameType::Ack);
    assert_eq!((f.header.message_id, f.ack().recipients), (id, 2));
    for m in &mut members {
        let d = m.client.expect_frame(FrameType::Deliver).deliver();
        assert_eq!(
            (d.target_kind, d.target_id.as_str()),
            (TargetKind::Conversation, "42")
        );
        assert_eq!(d.body, b"how can I help?");
    }
    // A conversation with no live member is NoSuchTarget, like a user.
    let to = Target {
        kind: TargetKind::Conversation,
        id: "43",
    };
    let id = agent.send(to, b"hello?", Flags::ACK_REQUESTED);
    let f = agent.read_frame(e2e::TIMEOUT).expect("an answer");
    assert_eq!(f.header.message_id, id);
    assert_eq!(f.error().0, ErrorCode::NoSuchTarget, "{f:?}");
}

fn departed_user_is_no_such_target(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut senders = connect_on_every_core(&server, 1, |_| "sender".into(), false);
    let leavers = connect_on_every_core(&server, 1, |_| "leaver".into(), false);
    drop(leavers);
    e2e::wait_for("the leaver's connections to close", e2e::TIMEOUT, || {
        server.metric("switchboard_connections_open") == 2.0
    });
    for s in &mut senders {
        let id = s
            .client
            .send_to_user("leaver", b"gone?", Flags::ACK_REQUESTED);
        let f = s.client.read_frame(e2e::TIMEOUT).expect("an answer");
        assert_eq!(f.header.message_id, id);
        assert_eq!(
            f.error().0,
            ErrorCode::NoSuchTarget,
            "core {}: {f:?}",
            s.core()
        );
    }
}
