"""Helpers shared by the paho-mqtt scenarios run from tests/tests/e2e/mqtt_paho.rs
and mqtt_auth.rs.

Each scenario script takes SCENARIO HOST PORT [ARGS...], drives real
paho-mqtt 2.x clients against the broker, asserts what it sees and exits 0
with a last line starting "OK" (any failure is an uncaught exception: a
traceback and exit 1).

"Nothing else arrived" is never a sleep: the scenario publishes a marker
from the same connection after the message that must not arrive, and reads
up to the marker (a broker forwards one connection's messages in order).
"""

import os
import sys
import threading
import time

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError as e:  # the Rust side checks this before running a scenario
    sys.exit("paho-mqtt missing: %s" % e)

# Generous: only there so a broken broker fails the scenario instead of
# hanging it.
TIMEOUT_S = 30

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5

# Set when the scenario runs against a reference mosquitto (see
# tests/src/mqtt/mod.rs); `expect` picks mosquitto's documented answer.
REFERENCE = bool(os.environ.get("SB_MQTT_REFERENCE"))


def expect(spec, mosquitto):
    """`spec` from Switchboard; `mosquitto` where mosquitto 2.0 knowingly
    differs from the specification (the caller says how)."""
    return mosquitto if REFERENCE else spec


def props(packet_type, **values):
    """A paho Properties object for `packet_type` with `values` set."""
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


def prop(msg_or_props, name, default=None):
    """A property of a message (or a Properties object), or `default`."""
    p = msg_or_props if isinstance(msg_or_props, Properties) else msg_or_props.properties
    return getattr(p, name, default) if p is not None else default


class Peer:
    """One paho client with its network loop on a thread, which never
    reconnects by itself; every wait is bounded by TIMEOUT_S."""

    def __init__(self, addr, client_id="", version=V5, clean=True, user=None, password=None):
        self.addr = addr
        self.version = version
        self.clean = clean
        kw = {} if version == V5 else {"clean_session": clean}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=version, reconnect_on_failure=False, **kw)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.cond = threading.Condition()
        self.events = []
        self.msgs = []
        # time.monotonic() as each message in `msgs` arrived, in step.
        self.arrivals = []
        self.c.on_connect = lambda c, u, flags, rc, p: self._event("connack", flags, rc, p)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self._event("suback", mid, rcs, p)
        self.c.on_publish = lambda c, u, mid, rc, p: self._event("published", mid, rc, p)
        self.c.on_disconnect = lambda c, u, flags, rc, p: self._event("disconnect", flags, rc, p)
        self.c.on_message = self._message

    def _event(self, kind, *args):
        with self.cond:
            self.events.append((kind,) + args)
            self.cond.notify_all()

    def _message(self, _c, _u, msg):
        with self.cond:
            self.msgs.append(msg)
            self.arrivals.append(time.monotonic())
            self.cond.notify_all()

    def _wait(self, what, take):
        """Waits until `take()` (called under the lock) returns non-None."""
        deadline = time.monotonic() + TIMEOUT_S
        with self.cond:
            while True:
                got = take()
                if got is not None:
                    return got
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for %s; events %r, messages %r" % (
                    what, self.events, [(m.topic, m.payload) for m in self.msgs])
                self.cond.wait(left)

    def event(self, kind, match=lambda e: True):
        """Removes and returns the first event of `kind` that `match` accepts."""
        def take():
            for i, e in enumerate(self.events):
                if e[0] == kind and match(e):
                    return self.events.pop(i)
            return None
        return self._wait(kind, take)

    def will(self, topic, payload, qos=1, delay_s=None):
        """Sets the will (before connect), with a Will Delay Interval in 5.0."""
        p = props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay_s) if delay_s else None
        self.c.will_set(topic, payload, qos=qos, properties=p)

    def connect(self, session_expiry_s=None, ok=True, **connect_props):
        """Connects and waits for the CONNACK; returns (flags, reason, properties).
        With `ok`, fails unless the CONNACK accepted the connection."""
        if self.version == V5:
            values = dict(connect_props)
            if session_expiry_s is not None:
                values["SessionExpiryInterval"] = session_expiry_s
            p = props(PacketTypes.CONNECT, **values) if values else None
            self.c.connect(self.addr[0], self.addr[1], keepalive=60,
                           clean_start=self.clean, properties=p)
        else:
            self.c.connect(self.addr[0], self.addr[1], keepalive=60)
        self.c.loop_start()
        _, flags, rc, p = self.event("connack")
        if ok:
            assert not rc.is_failure, "CONNECT refused: %s" % rc
        return flags, rc, p

    def subscribe(self, topic, qos=0, sub_id=None, **options):
        """SUBSCRIBE to one filter (5.0 `options`: noLocal, retainAsPublished,
        retainHandling); returns the SUBACK's reason codes as ints."""
        if self.version == V5:
            p = props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=sub_id) if sub_id else None
            rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **options),
                                       properties=p)
        else:
            assert not options and sub_id is None, "3.1.1 has no subscription options"
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        _, _, rcs, _ = self.event("suback", lambda e: e[1] == mid)
        return [r.value for r in rcs]

    def publish(self, topic, payload, qos=0, retain=False, **publish_props):
        """PUBLISH and wait until it completed (sent for QoS 0, PUBACK or
        PUBCOMP otherwise); returns the 5.0 reason code (0 in 3.1.1)."""
        p = props(PacketTypes.PUBLISH, **publish_props) if publish_props else None
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=p)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        _, _, rc, _ = self.event("published", lambda e: e[1] == info.mid)
        return rc.value if hasattr(rc, "value") else 0

    def recv(self):
        """The next message."""
        return self.recv_timed()[0]

    def recv_timed(self):
        """The next message and the time.monotonic() it arrived at."""
        def take():
            if not self.msgs:
                return None
            return self.msgs.pop(0), self.arrivals.pop(0)
        return self._wait("a message", take)

    def recv_until(self, topic):
        """Messages before the next one on `topic` (which is consumed)."""
        before = []
        while True:
            m = self.recv()
            if m.topic == topic:
                return before
            before.append(m)

    def disconnect(self, **disconnect_props):
        """DISCONNECT (reason 0, 5.0 properties if given) and stop the loop."""
        p = props(PacketTypes.DISCONNECT, **disconnect_props) if disconnect_props else None
        self.c.disconnect(properties=p)
        self.event("disconnect")
        self.c.loop_stop()

    def kill(self):
        """Closes the socket without DISCONNECT, as a dying client would."""
        self.c.loop_stop()
        sock = self.c.socket()
        sock.shutdown(2)
        sock.close()


def sync_pair(addr, topic, *peers):
    """Publishes a marker on `topic` from a fresh client and returns what
    each of `peers` (all subscribed to `topic`) got before it."""
    p = Peer(addr)
    p.connect()
    p.publish(topic, b"marker", qos=1)
    p.disconnect()
    return [peer.recv_until(topic) for peer in peers]


def payloads(msgs):
    return [m.payload for m in msgs]


def ok(msg):
    print("OK " + msg, flush=True)


def main(scenarios):
    """Runs the scenario named by argv[1] against argv[2]:argv[3]."""
    name, host, port = sys.argv[1:4]
    fn = scenarios.get(name)
    if fn is None:
        sys.exit("unknown scenario %r; have %s" % (name, ", ".join(sorted(scenarios))))
    fn((host, int(port)), *sys.argv[4:])
    ok(name)
