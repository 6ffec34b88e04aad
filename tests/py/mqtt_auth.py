"""Users and topic ACL with paho-mqtt 2.x, against the config that
tests/tests/e2e/mqtt_auth.rs gives the server (users alice/secret and
bob/hunter2; alice may not publish to secret/# nor subscribe to
private/#; bob may use forbidden/bob; nobody may use forbidden/#).
Usage: mqtt_auth.py SCENARIO HOST PORT"""

from mqtt_common import V311, V5, Peer, expect, main

# paho 2.x hands 3.1.1 CONNACK return codes to on_connect as 5.0 reason
# codes, one to one: return code 4 (bad user name or password) is 0x86,
# 5 (not authorized) is 0x87.
BAD_LOGIN = 0x86
NOT_AUTHORIZED = 0x87


def bad_password(addr):
    """A wrong password is refused: CONNACK 0x86 in 5.0, 4 in 3.1.1; the
    right one is let in."""
    # mosquitto 2.0.11 answers Not authorized (0x87 / 5) instead.
    want = expect(BAD_LOGIN, NOT_AUTHORIZED)
    for v in (V5, V311):
        p = Peer(addr, "bad-pw", v, user="alice", password="wrong")
        _, rc, _ = p.connect(ok=False)
        assert rc.value == want, "version %d: %s" % (v, rc)
        good = Peer(addr, "good-pw", v, user="alice", password="secret")
        good.connect()
        good.disconnect()


def acl(addr):
    """Denied subscriptions get SUBACK 0x87 (5.0) / 0x80 (3.1.1); a denied
    QoS 1 PUBLISH gets PUBACK 0x87 and reaches nobody; rules are per user,
    and the first matching rule wins."""
    bob = Peer(addr, "acl-bob", V5, user="bob", password="hunter2")
    bob.connect()
    for f in ("secret/#", "public/#", "forbidden/bob"):
        assert bob.subscribe(f, qos=1) == [1], f
    assert bob.subscribe("forbidden/other", qos=1) == [0x87], "the rule for everyone"

    alice = Peer(addr, "acl-alice", V5, user="alice", password="secret")
    alice.connect()
    assert alice.subscribe("private/x", qos=1) == [0x87]
    assert alice.subscribe("public/x", qos=1) == [1]
    alice3 = Peer(addr, "acl-alice-311", V311, user="alice", password="secret")
    alice3.connect()
    assert alice3.subscribe("private/x", qos=1) == [0x80]
    alice3.disconnect()

    # Denied: PUBACK 0x87 and nobody gets it; then an allowed one from the
    # same connection, which bob must get first.
    assert alice.publish("secret/x", b"leak", qos=1) == 0x87
    assert alice.publish("public/x", b"fine", qos=1) == 0
    m = bob.recv()
    assert (m.topic, m.payload) == ("public/x", b"fine"), (m.topic, m.payload)
    assert alice.recv().payload == b"fine"

    # The rule on secret/# is alice's only.
    assert bob.publish("secret/x", b"bob may", qos=1) == 0
    assert bob.recv().payload == b"bob may"
    # First match wins: bob's allow before the deny for everyone.
    assert bob.publish("forbidden/bob", b"allowed first", qos=1) == 0
    assert bob.recv().payload == b"allowed first"
    assert bob.publish("forbidden/other", b"denied", qos=1) == 0x87

    # A wildcard that passes the SUBSCRIBE check still cannot read a denied
    # subtree: the rule is checked again on each message's topic.
    wide = Peer(addr, "acl-alice-wide", V5, user="alice", password="secret")
    wide.connect()
    assert wide.subscribe("+/y", qos=1) == [1]
    assert bob.publish("private/y", b"not for alice", qos=1) == 0
    assert bob.publish("public/y", b"for alice", qos=1) == 0
    m = wide.recv()
    assert (m.topic, m.payload) == ("public/y", b"for alice"), (m.topic, m.payload)


if __name__ == "__main__":
    main({"bad_password": bad_password, "acl": acl})
