"""JSON envelope: HELLO, SEND to self (with ACK), to another user and to a
connection id; the DELIVERs and the ACK come back as JSON text.
Usage: json_chat.py ws://HOST:PORT/"""

import sys

from common import connect, hello, ok, recv_json, recv_until, send_json

url = sys.argv[1]

# No subprotocol offered: JSON, and the server names none.
with connect(url, compression=None) as alice, \
        connect(url, subprotocols=["switchboard.v1.json"], compression=None) as bob:
    assert alice.subprotocol is None, alice.subprotocol
    assert bob.subprotocol == "switchboard.v1.json", bob.subprotocol
    hello(alice, "py-alice")
    bob_conn = hello(bob, "py-bob")["connection"]

    # To self, asking for an ACK: one DELIVER and one ACK, in either order.
    send_json(alice, {"type": "send", "id": "1", "ack": True, "to": {"user": "py-alice"},
                      "body": "note to self \u00e9\u4e2d"})
    got = recv_until(alice, ("deliver", "ack"), 2)
    d, a = got["deliver"][0], got["ack"][0]
    assert d["from"] == "py-alice" and d["to"] == {"user": "py-alice"}, d
    assert d["body"] == "note to self \u00e9\u4e2d", d
    assert a["id"] == "1" and a["recipients"] == 1, a

    # To another user.
    send_json(alice, {"type": "send", "to": {"user": "py-bob"}, "body": "hi bob"})
    d = recv_json(bob, "deliver")
    assert d["from"] == "py-alice" and d["body"] == "hi bob" and d["to"] == {"user": "py-bob"}, d

    # To a connection id, as WELCOME gave it.
    send_json(alice, {"type": "send", "to": {"connection": bob_conn}, "body": "by connection"})
    d = recv_json(bob, "deliver")
    assert d["body"] == "by connection" and d["to"] == {"connection": bob_conn}, d

    # Ping/pong through the envelope.
    send_json(bob, {"type": "ping", "id": "9", "data": "t0"})
    p = recv_json(bob, "pong")
    assert p["id"] == "9" and p["data"] == "t0", p

ok("json chat")
