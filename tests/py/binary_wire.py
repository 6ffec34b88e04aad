"""switchboard.v1.bin: wire frames in binary messages, unchanged. The Rust
test builds the frames and decodes the answers; this script only moves
bytes. Usage: binary_wire.py URL HELLO_HEX SEND_HEX JSON_SEND
Prints one line "RECV <hex>" per message received, then "OK ..."."""

import sys

from common import connect, ok, recv

url, hello_hex, send_hex, json_send = sys.argv[1:5]


def recv_bin(ws):
    m = recv(ws)
    assert isinstance(m, bytes), "expected a binary message, got text %r" % (m[:200],)
    print("RECV " + m.hex(), flush=True)


with connect(url, subprotocols=["switchboard.v1.bin"], compression=None) as ws:
    assert ws.subprotocol == "switchboard.v1.bin", ws.subprotocol
    ws.send(bytes.fromhex(hello_hex))
    recv_bin(ws)                                      # WELCOME
    # Two whole wire frames in one binary message: two DELIVERs, one each.
    ws.send(bytes.fromhex(send_hex) * 2)
    recv_bin(ws)
    recv_bin(ws)
    # A JSON text message is accepted on a binary connection; the answer
    # is still a binary wire frame.
    ws.send(json_send)
    recv_bin(ws)

ok("binary wire")
