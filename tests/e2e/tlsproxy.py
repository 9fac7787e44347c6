#!/usr/bin/env python3
"""TLS terminator for tests/e2e/t_s3.sh: TLS on LISTEN_PORT, plain TCP to
the target (moto), bytes relayed unchanged (the Host header and so the
signature stay as the client sent them).

    tlsproxy.py LISTEN_PORT CERT KEY TARGET_HOST TARGET_PORT
"""
import socket
import ssl
import sys

import relay

port, cert, key, thost, tport = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                 sys.argv[4], int(sys.argv[5]))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)


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
    relay.splice(c, s, close_both=True)


relay.serve(port, handle)
