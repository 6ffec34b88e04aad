"""Fragmented messages: websockets sends an iterable as one message in
several frames. JSON envelope messages and echo endpoint messages (text
and binary) are reassembled by the server.
Usage: fragmented.py ws://HOST:PORT (the server runs with --ws-echo)"""

import json
import sys

from common import TIMEOUT_S, connect, ok, recv, recv_json

base = sys.argv[1].rstrip("/")


def pieces(s, n):
    """`s` cut into `n` non-empty fragments (a text message may be cut
    inside a multi-byte character only at the byte level, which
    websockets does not do: it sends str fragments)."""
    step = max(1, len(s) // n)
    return [s[i:i + step] for i in range(0, len(s), step)]


with connect(base + "/", compression=None) as ws:
    hello = json.dumps({"type": "hello", "user": "py-frag", "token": "t"})
    ws.send(pieces(hello, 4))
    recv_json(ws, "welcome")
    body = "fragmented \u00e9 " * 200
    send = json.dumps({"type": "send", "to": {"user": "py-frag"}, "body": body})
    frags = pieces(send, 7)
    assert len(frags) >= 7
    ws.send(frags)
    d = recv_json(ws, "deliver")
    assert d["body"] == body, "body changed (%d chars back)" % len(d["body"])

with connect(base + "/echo", compression=None) as ws:
    text = "\u4e2d\u6587 text " * 500
    ws.send(pieces(text, 10))
    back = recv(ws)
    assert back == text, "text echo differs"
    data = bytes(range(256)) * 64
    ws.send([data[i:i + 1000] for i in range(0, len(data), 1000)])
    back = ws.recv(timeout=TIMEOUT_S)
    assert back == data, "binary echo differs"

ok("fragmented")
