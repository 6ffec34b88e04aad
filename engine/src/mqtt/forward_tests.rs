//! Three cores' states over a real mesh, stepped by hand, so that the
//! moment a publish crosses a moving session can be chosen exactly.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wire::mqtt::{ProtocolVersion, QoS};

use crate::config::Config;
use crate::core_state::{CoreSettings, CoreState};
use crate::ids::IdGenerator;
use crate::mesh;
use crate::mqtt::message::test_message;
use crate::mqtt::session::{Session, SubOptions};
use crate::mqtt::BrokerShared;
use crate::sys::Waker;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// The new connection on core B (not in its table: the session is kept
/// as away once it lands, which is all these tests need).
const NEW_CONN: u64 = 7;

fn cores() -> Vec<CoreState> {
    let cfg = Config::default();
    let broker = BrokerShared::new(&cfg.mqtt);
    let wakers = (0..3).map(|_| Waker::new().expect("eventfd")).collect();
    let (_, ports) = mesh::build(wakers, 64);
    let ids = Arc::new(IdGenerator::new(1));
    let settings = |core: usize| CoreSettings {
        core: core as u16,
        node_id: 1,
        server_name: "test".into(),
        limits: cfg.limits.clone(),
        websocket: Arc::new(cfg.websocket.clone()),
        mqtt: broker.clone(),
    };
    ports
        .into_iter()
        .enumerate()
        .map(|(core, port)| CoreState::new(settings(core), port, ids.clone(), Arc::default()))
        .collect()
}

/// Handles everything waiting in `core`'s rings.
fn step(cores: &mut [CoreState], core: usize) {
    let mut inbox = Vec::new();
    cores[core].mesh.drain(usize::MAX, &mut inbox);
    for (from, msg) in inbox {
        cores[core].on_mesh(from, msg);
    }
}

/// An away persistent session `dev` on core A subscribed to `filter`,
/// known to the other cores.
fn session_on_a(cores: &mut [CoreState], filter: &str) {
    session_on(cores, A, "dev", filter);
}

/// An away persistent session `id` on `core` subscribed to `filter`,
/// known to the other cores.
fn session_on(cores: &mut [CoreState], core: usize, id: &str, filter: &str) {
    let uid = cores[core].mqtt.next_uid();
    let mut s = Session::new(id.into(), uid, ProtocolVersion::V5);
    s.expiry_s = u32::MAX;
    let opts = SubOptions {
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: false,
        id: 0,
    };
    s.set_sub(filter, opts);
    let key = cores[core].mqtt.sessions.insert(Box::new(s));
    cores[core].index_session(key);
    for other in (0..cores.len()).filter(|&c| c != core) {
        step(cores, other);
    }
}

fn queued_on(cores: &[CoreState], core: usize) -> usize {
    let s = &cores[core].mqtt.sessions;
    s.key_of("dev").map_or(0, |k| s[k].queued())
}

fn forwarded(cores: &[CoreState], core: usize) -> u64 {
    let stats = &cores[core].stats;
    stats.mqtt_publishes_forwarded_total.load(Ordering::Relaxed)
}

fn publish_on_c(cores: &mut [CoreState]) {
    let msg = Arc::new(test_message(1, 0));
    cores[C].publish_message((C as u16, 0), msg, None);
}

#[test]
fn publish_crossing_a_session_move_follows_it() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    // C still sees the session on A: its publish goes to A ...
    publish_on_c(&mut cores);
    // ... while B's CONNECT has taken the session from A.
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, A);
    step(&mut cores, B);
    assert_eq!(queued_on(&cores, A), 0, "the session left A");
    assert_eq!(queued_on(&cores, B), 1, "the publish followed the session");
    assert_eq!(forwarded(&cores, A), 1);
}

#[test]
fn a_core_that_has_not_heard_from_the_new_one_still_reaches_the_session() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    // C hears from A before B has the session: A must not have said it
    // lost the filter, or C would send to neither core.
    step(&mut cores, C);
    publish_on_c(&mut cores);
    step(&mut cores, A);
    step(&mut cores, B);
    assert_eq!(queued_on(&cores, B), 1);
}

#[test]
fn the_old_core_gives_up_the_filter_when_its_window_ends() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, B);
    step(&mut cores, C);
    let remote = |c: &CoreState| c.mqtt.index.match_local("t/1", |_, _| {});
    assert_eq!(remote(&cores[C]), 1 << A | 1 << B, "A still counted");
    cores[A].now_ms += super::FORWARD_MS;
    cores[A].mqtt_sweep();
    step(&mut cores, C);
    assert_eq!(remote(&cores[C]), 1 << B, "only B after the window");
}

#[test]
fn publish_already_sent_to_the_new_core_reaches_the_session_once() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, B);
    // B's presence reaches C: C sends to B, and still to A.
    step(&mut cores, C);
    publish_on_c(&mut cores);
    step(&mut cores, B); // B's own copy reaches the session
    step(&mut cores, A); // A's copy goes to B only for the moved session...
    step(&mut cores, B); // ... which has it already
    assert_eq!(forwarded(&cores, A), 1);
    assert_eq!(queued_on(&cores, B), 1, "one copy, not two");
}

#[test]
fn shared_publish_crossing_a_session_move_follows_it() {
    let mut cores = cores();
    session_on_a(&mut cores, "$share/g/t/+");
    // C picked the group's member on A.
    publish_on_c(&mut cores);
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, A);
    step(&mut cores, B);
    assert_eq!(queued_on(&cores, B), 1);
    assert_eq!(forwarded(&cores, A), 1);
}

#[test]
fn local_publish_follows_the_session_while_presence_settles() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, B);
    // B's "no subscriber of t/#" from before the session arrived reaches
    // A after the move; B's "subscribed again" is still on its way.
    cores[A].filter_presence("t/#", B as u16, false);
    let msg = Arc::new(test_message(2, 0));
    cores[A].publish_message((A as u16, 0), msg, None);
    step(&mut cores, B);
    assert_eq!(queued_on(&cores, B), 1);
}

#[test]
fn a_landing_session_gets_what_its_new_core_handled_before() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    session_on(&mut cores, B, "other", "t/#");
    publish_on_c(&mut cores); // to A and to B
    step(&mut cores, B); // B's copy goes to `other` only
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, A); // A's copy comes after the session left; B was sent one
    step(&mut cores, B);
    assert_eq!(queued_on(&cores, B), 1, "B gave the session its copy");
}

#[test]
fn a_landing_session_does_not_get_twice_what_it_brought() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    session_on(&mut cores, B, "other", "t/#");
    publish_on_c(&mut cores);
    step(&mut cores, A); // the session gets it on A
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, B); // the session lands before B's own copy
    assert_eq!(queued_on(&cores, B), 1, "one copy, brought from A");
}

#[test]
fn forwarding_ends_after_its_window() {
    let mut cores = cores();
    session_on_a(&mut cores, "t/#");
    cores[A].on_take_session(B as u16, "dev".into(), NEW_CONN, false);
    step(&mut cores, B);
    assert_eq!(cores[A].mqtt.forwards.recently_took("t/1"), 1 << B);
    // A later move to C outlives the first one.
    cores[A].now_ms += 1_000;
    let now = cores[A].now_ms;
    cores[A]
        .mqtt
        .forwards
        .add(C as u16, vec!["u/#".into()], Vec::new(), now);
    cores[A].now_ms += super::FORWARD_MS - 1_000;
    cores[A].mqtt_sweep();
    let forwards = &cores[A].mqtt.forwards;
    assert_eq!(
        forwards.recently_took("t/1"),
        0,
        "the move to B is forgotten"
    );
    assert_eq!(
        forwards.recently_took("u/1"),
        1 << C,
        "the move to C is not"
    );
}
