"""Churn: many paho-mqtt clients connecting, taking over each other's
client ids (so sessions move between cores), subscribing (plain, wildcard,
shared), publishing at QoS 0/1/2 with and without RETAIN, then leaving
with DISCONNECT or by dropping the socket (wills), all at once for a few
seconds. The broker must come out of it serving: a fresh pair of clients
then round-trips a QoS 1 message. Run from tests/tests/e2e/mqtt_churn.rs,
which also checks the broker counted no protocol errors.
"""

import random
import threading
import time

from mqtt_common import V311, V5, Peer, main, mqtt

SECONDS = 5
THREADS = 12


def one_client(addr, rnd):
    cid = "churn-%d" % rnd.randrange(6)
    v5 = rnd.random() < 0.5
    if v5:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    else:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                        protocol=mqtt.MQTTv311, clean_session=rnd.random() < 0.5)
    if v5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = rnd.choice([0, 2, 30])
        c.connect(addr[0], addr[1], clean_start=rnd.random() < 0.3, properties=p, keepalive=5)
    else:
        c.will_set("churn/will", b"gone", qos=1, retain=rnd.random() < 0.2)
        c.connect(addr[0], addr[1], keepalive=5)
    c.loop_start()
    c.subscribe(rnd.choice(["churn/#", "churn/+", "$share/g/churn/#", "churn/a"]),
                qos=rnd.choice([0, 1, 2]))
    for _ in range(rnd.randrange(20)):
        c.publish(rnd.choice(["churn/a", "churn/b", "churn/will"]), b"x" * rnd.randrange(300),
                  qos=rnd.choice([0, 1, 2]), retain=rnd.random() < 0.1)
    time.sleep(rnd.random() * 0.1)
    if rnd.random() < 0.5:
        c.disconnect()
    elif c.socket() is not None:
        c.socket().close()  # no DISCONNECT: the will goes out
    c.loop_stop()


def churn(addr):
    deadline = time.time() + SECONDS
    failures = []
    crashes = []

    def worker(seed):
        rnd = random.Random(seed)
        while time.time() < deadline:
            try:
                one_client(addr, rnd)
            except (OSError, ValueError) as e:
                # A client whose socket the broker closed (taken over) may
                # fail mid-call; that is the broker doing its job.
                failures.append(repr(e))
            except Exception as e:  # a bug in this script: fail loudly
                crashes.append(repr(e))
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("churn done; client-side errors: %d" % len(failures))
    assert not crashes, crashes

    # Still serving: a fresh subscriber gets a fresh publisher's message.
    sub = Peer(addr, "after-churn-sub", V5)
    sub.connect()
    assert sub.subscribe("after/churn", qos=1) == [1]
    pub = Peer(addr, "after-churn-pub", V311)
    pub.connect()
    assert pub.publish("after/churn", b"still here", qos=1) == 0
    m = sub.recv()
    assert (m.topic, m.payload, m.qos) == ("after/churn", b"still here", 1), (m.topic, m.payload)


if __name__ == "__main__":
    main({"churn": churn})
