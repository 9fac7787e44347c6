#!/usr/bin/env python3
"""Fault-injecting TCP proxy for tests/e2e/t_s3.sh.

    faultproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT CUT_AFTER ARM_FILE LOG

Forwards every connection to the target. While ARM_FILE exists, the first
connection whose server-to-client stream passes CUT_AFTER bytes is closed
right there (both directions), and ARM_FILE is removed: "cut the next
big response once". Request heads (first line, Range, If-Match) are
appended to LOG so the test can assert that a resume used Range.
Prints the port when ready.
"""
import os
import socket
import sys
import threading

import relay

port, thost, tport, cut_after, arm, logp = (
    int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
    sys.argv[5], sys.argv[6])
lock = threading.Lock()


def log(line):
    with lock, open(logp, "a") as f:
        f.write(line + "\n")


def c2s(cli, srv):
    try:
        while True:
            b = cli.recv(65536)
            if not b:
                break
            head = b.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            if lines and " HTTP/1." in lines[0]:
                keep = [lines[0]] + [l for l in lines[1:] if
                                     l.lower().startswith(("range:", "if-match:"))]
                log(" | ".join(keep))
            srv.sendall(b)
    except OSError:
        pass
    finally:
        try:
            srv.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def s2c(cli, srv):
    sent = 0
    armed = os.path.exists(arm)
    try:
        while True:
            b = srv.recv(65536)
            if not b:
                break
            if armed and sent + len(b) > cut_after:
                with lock:
                    still = os.path.exists(arm)
                    if still:
                        os.unlink(arm)
                if still:
                    cli.sendall(b[:max(0, cut_after - sent)])
                    log("CUT after %d bytes" % cut_after)
                    cli.shutdown(socket.SHUT_RDWR)
                    cli.close()
                    srv.close()
                    return
                armed = False
            cli.sendall(b)
            sent += len(b)
    except OSError:
        pass
    finally:
        try:
            cli.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(cli):
    try:
        srv = socket.create_connection((thost, tport))
    except OSError:
        cli.close()
        return
    threading.Thread(target=c2s, args=(cli, srv), daemon=True).start()
    s2c(cli, srv)


relay.serve(port, handle)
