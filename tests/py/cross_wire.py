"""A message from this WebSocket client to a `wire` TCP client and back.
The TCP side (the Rust test) said HELLO as PEER before starting this.
Usage: cross_wire.py URL USER PEER
Prints "DELIVER <json>" for each DELIVER from PEER (two expected: a text
body, then a binary one that JSON carries as body_b64)."""

import json
import sys

from common import connect, hello, ok, recv_json, send_json

url, user, peer = sys.argv[1:4]

with connect(url) as ws:
    hello(ws, user)
    send_json(ws, {"type": "send", "to": {"user": peer}, "body": "from websockets to wire"})
    for _ in range(2):
        d = recv_json(ws, "deliver")
        assert d["from"] == peer, d
        print("DELIVER " + json.dumps(d, sort_keys=True), flush=True)

ok("cross")
