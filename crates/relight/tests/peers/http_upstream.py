#!/usr/bin/env python3
"""An HTTP/1.1 upstream for the proxy tests, on Python's standard library only.

    http_upstream.py PORT   (127.0.0.1:PORT, HTTP/1.1 keep-alive, a thread per connection)

  /echo...   "NAME: value" lines of what it received (method, target, headers), then the body
  /stream    a chunked body of 5 parts, 100 ms apart
  /stall     waits 30 s before answering
  /close     closes the connection without answering
  /garbage   answers bytes that are not HTTP
  /conns     how many connections it has accepted
  /ws        a WebSocket echo server (RFC 6455), text and binary frames, until close
"""
import base64
import hashlib
import http.server
import socketserver
import struct
import sys
import threading
import time

CONNS = 0
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global CONNS
        with LOCK:
            CONNS += 1
        super().setup()

    def log_message(self, *args):
        pass

    def reply(self, body, status=200, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive")
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("X-Upstream", "py")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def handle_any(self):
        path = self.path
        if path.startswith("/ws"):
            return self.websocket()
        if path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                part = f"part {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
            return
        if path.startswith("/stall"):
            time.sleep(30)
            return self.reply(b"late")
        if path.startswith("/close"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if path.startswith("/garbage"):
            self.wfile.write(b"this is not http\r\n\r\n")
            self.close_connection = True
            return
        if path.startswith("/conns"):
            return self.reply(str(CONNS).encode())
        body = self.body()
        lines = [f"method: {self.command}", f"target: {self.path}", f"version: {self.request_version}"]
        lines += [f"{k.lower()}: {v}" for k, v in self.headers.items()]
        self.reply(("\n".join(lines) + "\n\n").encode() + body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        r = self.rfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                break
            opcode = head[0] & 0x0F
            length = head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", r.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", r.read(8))[0]
            mask = r.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(length)))
            if opcode == 8:
                self.wfile.write(b"\x88\x00")
                break
            out = bytes([0x80 | opcode])
            if len(data) < 126:
                out += bytes([len(data)])
            else:
                out += bytes([126]) + struct.pack("!H", len(data))
            self.wfile.write(out + data)
            self.wfile.flush()
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
