"""Helpers shared by the WebSocket scenarios run from tests/tests/e2e/ws_python.rs.

Each scenario is a script that takes the server's ws:// URL as its first
argument, drives the real `websockets` client against the real server,
asserts what it sees and exits 0 with a last line starting "OK" (any
failure is an uncaught exception: a traceback and exit 1).
"""

import json
import sys

try:
    import websockets  # noqa: F401
    from websockets.sync.client import connect as _connect
except ImportError as e:  # the Rust side checks this before running a scenario
    sys.exit("python websockets missing: %s" % e)

# Generous: only there so a broken server fails the scenario instead of
# hanging it.
TIMEOUT_S = 30


def connect(url, **kw):
    """A sync client with no proxy (the environment may name one) and no
    client pings (they would interleave with what a scenario counts)."""
    kw.setdefault("max_size", 8 << 20)
    return _connect(url, proxy=None, open_timeout=TIMEOUT_S, ping_interval=None,
                    close_timeout=TIMEOUT_S, **kw)


def recv(ws):
    return ws.recv(timeout=TIMEOUT_S)


def recv_json(ws, want_type=None):
    """Next message, which must be JSON text; checks its type if given."""
    m = recv(ws)
    assert isinstance(m, str), "expected a text message, got %r" % (m[:80],)
    obj = json.loads(m)
    if want_type is not None:
        assert obj.get("type") == want_type, "expected %s, got %s" % (want_type, m[:300])
    return obj


def send_json(ws, obj):
    ws.send(json.dumps(obj))


def hello(ws, user):
    """HELLO as `user`; returns the WELCOME object."""
    send_json(ws, {"type": "hello", "user": user, "token": "py-token", "client": "py-e2e"})
    w = recv_json(ws, "welcome")
    assert w["connection"].isdigit(), w
    return w


def recv_until(ws, want_types, n):
    """Collects the next `n` messages, which must all have a type in
    `want_types`; returns them grouped by type."""
    out = {}
    for _ in range(n):
        m = recv_json(ws)
        assert m["type"] in want_types, "unexpected %r" % (m,)
        out.setdefault(m["type"], []).append(m)
    return out


def ok(msg):
    print("OK " + msg, flush=True)
