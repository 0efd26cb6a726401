#!/usr/bin/env python3
"""An SCGI and uwsgi app for the tests, on Python's standard library only.

Accepts on fd 0 (the listening socket relight and lighttpd give a spawned backend), or on
the unix socket named by argv[1]. Tells SCGI from uwsgi by the first byte (uwsgi's header
starts with modifier1 = 0, SCGI's netstring with a digit). Answers with its variables as
NAME=value lines and the body after "body=". QUERY_STRING picks other answers:
  nph      a uwsgi app's "HTTP/1.1 201 Created" status line instead of Status:
  crash    exit without answering (the process dies)
  garbage  output with no header block
  status=N Status: N
"""
import os
import socket
import sys


def read_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def scgi_vars(c, first):
    digits = first
    while not digits.endswith(b":"):
        digits += read_exact(c, 1)
    size = int(digits[:-1])
    block = read_exact(c, size + 1)
    assert block[-1:] == b",", block[-1:]
    items = block[:-1].split(b"\0")[:-1]
    return dict(zip(items[0::2], items[1::2]))


def uwsgi_vars(c):
    head = read_exact(c, 3)
    size = head[0] | (head[1] << 8)
    block = read_exact(c, size)
    out, i = {}, 0
    while i < len(block):
        kl = block[i] | (block[i + 1] << 8)
        k = block[i + 2 : i + 2 + kl]
        i += 2 + kl
        vl = block[i] | (block[i + 1] << 8)
        v = block[i + 2 : i + 2 + vl]
        i += 2 + vl
        out[k] = v
    return out


def handle(c):
    first = read_exact(c, 1)
    env = uwsgi_vars(c) if first == b"\0" else scgi_vars(c, first)
    env[b"PROTOCOL_SEEN"] = b"uwsgi" if first == b"\0" else b"scgi"
    body = read_exact(c, int(env.get(b"CONTENT_LENGTH", b"0") or 0))
    query = env.get(b"QUERY_STRING", b"")
    if query == b"crash":
        os._exit(3)
    if query == b"garbage":
        c.sendall(b"this is not a header\n")
        return
    text = b"".join(k + b"=" + v + b"\n" for k, v in sorted(env.items())) + b"body=" + body
    if query == b"nph":
        head = b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\n"
    elif query.startswith(b"status="):
        head = b"Status: " + query[7:] + b" Set\r\nContent-Type: text/plain\r\n\r\n"
    else:
        head = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    c.sendall(head + text)


def main():
    if len(sys.argv) > 1:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sys.argv[1])
        s.listen(16)
    else:
        s = socket.socket(fileno=0)
    while True:
        c, _ = s.accept()
        try:
            handle(c)
        except EOFError:
            pass
        finally:
            c.close()


main()
