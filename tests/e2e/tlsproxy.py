#!/usr/bin/env python3
"""TLS terminator for tests/e2e/t_s3.sh: TLS on LISTEN_PORT, plain TCP to
the target (moto), bytes relayed unchanged (the Host header and so the
signature stay as the client sent them).

    tlsproxy.py LISTEN_PORT CERT KEY TARGET_HOST TARGET_PORT
"""
import socket
import ssl
import sys
import threading

port, cert, key, thost, tport = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                 sys.argv[4], int(sys.argv[5]))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def handle(raw):
    try:
        c = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()
        return
    try:
        s = socket.create_connection((thost, tport))
    except OSError:
        c.close()
        return
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
    pipe(c, s)


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
print(ls.getsockname()[1], flush=True)
while True:
    cc, _ = ls.accept()
    threading.Thread(target=handle, args=(cc,), daemon=True).start()
