#!/usr/bin/env python3
"""A small HTTP CONNECT proxy for tests/e2e/t_s3.sh.

    connectproxy.py LISTEN_PORT LOG [USER:PASSWORD]

Accepts CONNECT host:port, optionally requiring Proxy-Authorization Basic
USER:PASSWORD (407 otherwise), then relays bytes both ways. Each CONNECT
is appended to LOG as "CONNECT host:port auth=ok|none". Prints the port.
"""
import base64
import socket
import sys
import threading

import relay

port, logp = int(sys.argv[1]), sys.argv[2]
need = sys.argv[3] if len(sys.argv) > 3 else None
lock = threading.Lock()


def log(line):
    with lock, open(logp, "a") as f:
        f.write(line + "\n")


def handle(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            c.close()
            return
        buf += d
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = head[0].split()
    if len(parts) < 2 or parts[0] != "CONNECT":
        c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    auth = "none"
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "proxy-authorization":
            v = v.strip()
            if v.lower().startswith("basic "):
                auth = "ok" if base64.b64decode(v[6:]).decode() == need else "bad"
    log("CONNECT %s auth=%s" % (parts[1], auth))
    if need is not None and auth != "ok":
        c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                  b"Proxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    host, _, p = parts[1].rpartition(":")
    try:
        s = socket.create_connection((host.strip("[]"), int(p)))
    except OSError:
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    relay.splice(c, s)


relay.serve(port, handle)
