//! The MQTT timers at their edges, on one core's state with the clock set
//! by hand: nothing fires at its interval's last millisecond, everything
//! fires one millisecond later.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wire::mqtt::ProtocolVersion;

use super::*;
use crate::config::Config;
use crate::core_state::CoreState;
use crate::machine::mqtt::message::test_message;
use crate::mqtt::session::{Session, Terms, WillMessage};
use crate::timers::Clock;

/// A clock reading far from zero, as a Unix clock is.
const T0: u64 = 1_800_000_000_123;

fn core() -> CoreState {
    crate::core_state::test_core(&Config::default())
}

/// A connected session with Session Expiry `expiry_s` and a will delayed
/// by `delay_s`, whose connection ends at `T0`.
fn left_at_t0(core: &mut CoreState, expiry_s: u32, delay_s: u32) -> usize {
    let uid = core.broker_mut().uids.next_uid();
    let mut s = Session::new("dev".into(), uid, ProtocolVersion::V5);
    let will = WillMessage {
        msg: Arc::new(test_message(1, 0)),
        delay_s,
    };
    let terms = Terms {
        expiry_s,
        window: 1,
        will: Some(will),
        username: None,
    };
    s.attach(1, ProtocolVersion::V5, terms);
    let key = core.broker_mut().hub.sessions.insert(Box::new(s));
    let now_ms = core.core().clock().now_ms;
    core.core_mut().set_clock(Clock {
        now_ms,
        unix_ms: T0,
    });
    let (c, broker) = core.parts_mut();
    broker.hub.session_left(c, key);
    key
}

fn sweep_at(core: &mut CoreState, unix_ms: u64) {
    let now_ms = core.core().clock().now_ms;
    core.core_mut().set_clock(Clock { now_ms, unix_ms });
    core.mqtt_sweep();
}

fn wills(core: &CoreState) -> u64 {
    core.core()
        .stats()
        .mqtt_wills_published_total
        .load(Ordering::Relaxed)
}

#[test]
fn a_session_expires_only_past_its_interval_and_then_sends_its_will() {
    // Expiry 2 s, Will Delay 5 s: the session's end publishes the will.
    let mut core = core();
    let key = left_at_t0(&mut core, 2, 5);
    sweep_at(&mut core, T0 + 1_999);
    sweep_at(&mut core, T0 + 2_000);
    assert!(
        core.broker_mut().hub.sessions.contains(key),
        "expired early"
    );
    assert_eq!(wills(&core), 0, "will published early");
    sweep_at(&mut core, T0 + 2_001);
    assert!(!core.broker_mut().hub.sessions.contains(key));
    assert_eq!(wills(&core), 1);
    assert_eq!(
        core.core_mut()
            .stats()
            .mqtt_sessions_expired_total
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_delayed_will_waits_out_its_delay() {
    let mut core = core();
    let key = left_at_t0(&mut core, 60, 3);
    sweep_at(&mut core, T0 + 3_000);
    assert_eq!(wills(&core), 0, "will published early");
    sweep_at(&mut core, T0 + 3_001);
    assert_eq!(wills(&core), 1);
    assert!(
        core.broker_mut().hub.sessions.contains(key),
        "the session outlives the will"
    );
    sweep_at(&mut core, T0 + 60_000);
    assert!(
        core.broker_mut().hub.sessions.contains(key),
        "expired early"
    );
    sweep_at(&mut core, T0 + 60_001);
    assert!(!core.broker_mut().hub.sessions.contains(key));
    assert_eq!(wills(&core), 1, "one will only");
}

#[test]
fn a_session_that_never_expires_stays() {
    let mut core = core();
    let key = left_at_t0(&mut core, u32::MAX, 0);
    assert_eq!(wills(&core), 1, "a will without delay goes at once");
    sweep_at(&mut core, u64::MAX);
    assert!(core.broker_mut().hub.sessions.contains(key));
}

#[test]
fn due_wills_are_taken_past_their_deadline() {
    let msg = Arc::new(test_message(1, 0));
    let mut delayed: Vec<DelayedWill> = vec![(T0, 1, msg.clone()), (T0 + 10, 2, msg)];
    assert!(take_due_wills(&mut delayed, T0).is_empty());
    assert_eq!(take_due_wills(&mut delayed, T0 + 1).len(), 1);
    assert_eq!(delayed.len(), 1);
    assert_eq!(delayed[0].1, 2);
}
