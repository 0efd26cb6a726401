#!/usr/bin/env python3
"""A WebSocket echo as a CGI script (for cgi.upgrade): answers the upgrade with a 101 on
stdout, then echoes every frame it reads on stdin (RFC 6455), until a close frame or EOF."""
import base64
import hashlib
import os
import struct
import sys

key = os.environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
accept = base64.b64encode(
    hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
).decode()
out = sys.stdout.buffer
out.write(
    b"Status: 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    + b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
)
out.flush()
r = sys.stdin.buffer


def read(n):
    data = b""
    while len(data) < n:
        chunk = r.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


try:
    while True:
        head = read(2)
        opcode = head[0] & 0x0F
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", read(8))[0]
        mask = read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(read(length)))
        if opcode == 8:
            out.write(b"\x88\x00")
            out.flush()
            break
        frame = bytes([0x80 | opcode])
        frame += bytes([len(data)]) if len(data) < 126 else bytes([126]) + struct.pack("!H", len(data))
        out.write(frame + data)
        out.flush()
except EOFError:
    pass
