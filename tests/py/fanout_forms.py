"""One publish to a topic reaches receivers of every output form: JSON and
binary, uncompressed, compressed without context takeover (two window
sizes) and with it (the server must allow it: run against a server whose
`websocket.deflate.server_no_context_takeover` is false). Two receivers of
each form, so the server's shared encoding is used.

JSON receivers are checked here. Binary receivers print each message as
"RECV <name> <n> <hex>" for the Rust side to decode; the published bodies
are printed as "BODY <n> <hex>". Each receiver's compressed frame sizes are
checked: about equal for the same body without context takeover, much
smaller the second time with it.
Usage: fanout_forms.py URL"""

import base64
import sys

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from common import connect, hello, ok, recv, recv_json, send_json

url = sys.argv[1]
TOPIC = "py-fan"


def deflate(no_takeover, bits=None):
    return [ClientPerMessageDeflateFactory(
        server_no_context_takeover=no_takeover,
        server_max_window_bits=bits,
        client_max_window_bits=True)]


# name: (binary?, extensions or None, expect server_no_context_takeover)
KINDS = {
    "json": (False, None, None),
    "json-z15": (False, deflate(True), True),
    "json-z10": (False, deflate(True, 10), True),
    "json-ztake": (False, deflate(False), False),
    "bin": (True, None, None),
    "bin-z15": (True, deflate(True), True),
    "bin-ztake": (True, deflate(False), False),
}

big = "".join("fan-out line %03d: the same words again and again\n" % (i % 7)
              for i in range(40))
BODIES = [big.encode(), big.encode(), b"short", bytes(range(256)) * 4]
for i, b in enumerate(BODIES):
    print("BODY %d %s" % (i, b.hex()), flush=True)


def open_receiver(name, binary, exts, nct):
    ws = connect(url, subprotocols=["switchboard.v1.bin" if binary else "switchboard.v1.json"],
                 compression=None, extensions=exts)
    ext = ws.response.headers.get("Sec-WebSocket-Extensions")
    if exts is None:
        assert ext is None, (name, ext)
    else:
        assert ext is not None and ext.startswith("permessage-deflate"), (name, ext)
        assert ("server_no_context_takeover" in ext) == nct, (name, ext)
        [pmd] = ws.protocol.extensions
        sizes = []
        decode = pmd.decode

        def counting_decode(frame, *a, **kw):
            if frame.rsv1:
                sizes.append(len(frame.data))
            return decode(frame, *a, **kw)

        pmd.decode = counting_decode
        ws.compressed_sizes = sizes
    # JSON HELLO and SUBSCRIBE work on a binary connection too; its
    # answers are binary frames.
    if binary:
        send_json(ws, {"type": "hello", "user": "py-" + name, "token": "t"})
        assert isinstance(recv(ws), bytes)
        send_json(ws, {"type": "subscribe", "id": "1", "ack": True, "topics": [TOPIC]})
        assert isinstance(recv(ws), bytes)
    else:
        hello(ws, "py-" + name)
        send_json(ws, {"type": "subscribe", "id": "1", "ack": True, "topics": [TOPIC]})
        a = recv_json(ws, "ack")
        assert a["id"] == "1", a
    return ws


receivers = []
for name, (binary, exts, nct) in KINDS.items():
    for copy in range(2):
        receivers.append(("%s.%d" % (name, copy), binary, exts,
                          open_receiver(name, binary, exts, nct)))

with connect(url, compression=None) as pub:
    hello(pub, "py-publisher")
    for b in BODIES:
        try:
            msg = {"body": b.decode()}
        except UnicodeDecodeError:
            msg = {"body_b64": base64.b64encode(b).decode()}
        send_json(pub, {"type": "send", "to": {"topic": TOPIC}, **msg})

    for name, binary, exts, ws in receivers:
        for i, b in enumerate(BODIES):
            if binary:
                m = recv(ws)
                assert isinstance(m, bytes), (name, m[:80])
                print("RECV %s %d %s" % (name, i, m.hex()), flush=True)
                continue
            d = recv_json(ws, "deliver")
            assert d["from"] == "py-publisher" and d["to"] == {"topic": TOPIC}, (name, d)
            got = d["body"].encode() if "body" in d else base64.b64decode(d["body_b64"])
            assert got == b, (name, i, d)
        if exts is not None:
            s = ws.compressed_sizes
            # The two big bodies and the binary one went compressed, the
            # short one plain.
            assert len(s) == 3, (name, s)
            # The two big messages differ only in their message ids. With
            # context takeover the second is mostly a reference to the first.
            if "ztake" in name:
                assert s[1] * 2 < s[0], (name, s)
            else:
                assert abs(s[1] - s[0]) <= 4, (name, s)
        ws.close()

ok("fan-out forms: %d receivers" % len(receivers))
