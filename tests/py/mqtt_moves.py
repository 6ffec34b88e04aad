"""Persistent sessions lose nothing while their clients reconnect.

Subscribers with persistent MQTT 5 sessions reconnect over and over; each
new TCP connection lands on whichever core the kernel picks, and is sent
to its client id's home core, where the session lives. Meanwhile publishers, which
reconnect too (so publishes come from changing cores), send numbered QoS 1
messages. When they are done every subscriber reconnects once more and
must have received every number: QoS 1 allows duplicates, not gaps.
Run from tests/tests/e2e/mqtt_moves.rs against a broker with 4 cores.
"""

import random
import threading
import time

from mqtt_common import TIMEOUT_S, V5, Peer, main

TOTAL = 1500
PUBLISHERS = 3
SUBSCRIBERS = 3
PER_PUBLISHER_CONNECTION = 100
EXPIRY_S = 300


def session(addr, i, clean):
    p = Peer(addr, client_id="mover-%d" % i, version=V5, clean=clean)
    flags, _, _ = p.connect(session_expiry_s=EXPIRY_S)
    return p, flags


def numbers(peer):
    with peer.cond:
        return {int(m.payload) for m in peer.msgs}


def publisher(addr, k, errors):
    try:
        mine = list(range(k, TOTAL, PUBLISHERS))
        for start in range(0, len(mine), PER_PUBLISHER_CONNECTION):
            p = Peer(addr)
            p.connect()
            for n in mine[start:start + PER_PUBLISHER_CONNECTION]:
                p.publish("moves/%d" % (n % 7), str(n).encode(), qos=1)
            p.disconnect()
    except Exception as e:  # reported by the main thread
        errors.append(("publisher %d" % k, e))


def subscriber(addr, i, done, got, reconnects, errors):
    rnd = random.Random(i)
    try:
        while not done.is_set():
            p, flags = session(addr, i, clean=False)
            assert flags.session_present, "session lost on reconnect"
            time.sleep(rnd.uniform(0.005, 0.05))
            p.disconnect()
            got[i] |= numbers(p)
            reconnects[i] += 1
    except Exception as e:
        errors.append(("subscriber %d" % i, e))


def moves(addr):
    for i in range(SUBSCRIBERS):
        p, _ = session(addr, i, clean=True)
        assert p.subscribe("moves/#", qos=1) == [1]
        p.disconnect()
    done = threading.Event()
    got = [set() for _ in range(SUBSCRIBERS)]
    reconnects = [0] * SUBSCRIBERS
    errors = []
    subs = [threading.Thread(target=subscriber, args=(addr, i, done, got, reconnects, errors))
            for i in range(SUBSCRIBERS)]
    pubs = [threading.Thread(target=publisher, args=(addr, k, errors))
            for k in range(PUBLISHERS)]
    for t in subs + pubs:
        t.start()
    for t in pubs:
        t.join()
    done.set()
    for t in subs:
        t.join()
    assert not errors, errors
    want = set(range(TOTAL))
    for i in range(SUBSCRIBERS):
        p, flags = session(addr, i, clean=False)
        assert flags.session_present
        deadline = time.monotonic() + TIMEOUT_S
        while not want <= got[i] | numbers(p) and time.monotonic() < deadline:
            time.sleep(0.05)
        got[i] |= numbers(p)
        p.disconnect()
        missing = sorted(want - got[i])
        assert not missing, "subscriber %d never got %d messages, e.g. %r" % (
            i, len(missing), missing[:10])
    print("%d messages to each of %d sessions, over %d reconnects" % (
        TOTAL, SUBSCRIBERS, sum(reconnects)))


if __name__ == "__main__":
    main({"moves": moves})
