"""permessage-deflate both ways: a large compressible body to self and back.
The client's extension object is wrapped to see each frame as it crosses
the wire: frames with RSV1 set and their compressed sizes.
Usage: compressed.py URL [--expect-no-deflate]"""

import sys

from common import connect, hello, ok, recv_json, send_json

url = sys.argv[1]
expect_none = "--expect-no-deflate" in sys.argv[2:]

with connect(url) as ws:  # websockets offers permessage-deflate by default
    ext = ws.response.headers.get("Sec-WebSocket-Extensions")
    if expect_none:
        assert ext is None, "server accepted an extension: %r" % ext
        assert ws.protocol.extensions == [], ws.protocol.extensions
        ok("no deflate negotiated")
        sys.exit(0)
    assert ext is not None and ext.startswith("permessage-deflate"), ext
    # The server's default answer: no context takeover both ways.
    assert "server_no_context_takeover" in ext and "client_no_context_takeover" in ext, ext
    [pmd] = ws.protocol.extensions
    seen = {"in": [], "out": []}
    decode, encode = pmd.decode, pmd.encode

    def counting_decode(frame, *a, **kw):
        if frame.rsv1:
            seen["in"].append(len(frame.data))
        return decode(frame, *a, **kw)

    def counting_encode(frame):
        out = encode(frame)
        if out.rsv1:
            seen["out"].append(len(out.data))
        return out

    pmd.decode, pmd.encode = counting_decode, counting_encode

    hello(ws, "py-zip")
    body = "".join("line %06d: the quick brown fox jumps over the lazy dog\n" % (i % 50)
                   for i in range(6000))
    assert len(body) > 300_000
    send_json(ws, {"type": "send", "to": {"user": "py-zip"}, "body": body})
    d = recv_json(ws, "deliver")
    assert d["body"] == body, "body changed"
    # Both the SEND and the DELIVER went compressed, and much smaller.
    assert seen["out"] and max(seen["out"]) < len(body) // 10, seen["out"]
    assert seen["in"] and max(seen["in"]) < len(body) // 10, seen["in"]

ok("compressed: sent %d bytes as %s, received as %s" % (len(body), seen["out"], seen["in"]))
