"""Shared pieces of the test proxies (connectproxy, tlsproxy, faultproxy):
copy bytes between two sockets, and the accept loop on 127.0.0.1."""
import socket
import threading


def pipe(a, b, close_both=False):
    """Copy a to b until a ends; then half-close b (or close both, for
    TLS sockets, which have no half-close)."""
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            if close_both:
                a.close()
                b.close()
            else:
                b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def splice(a, b, close_both=False):
    """Relay both ways between a and b until both directions end."""
    threading.Thread(target=pipe, args=(b, a, close_both), daemon=True).start()
    pipe(a, b, close_both)


def serve(port, handle):
    """Listen on 127.0.0.1:port (0: any), print the port, and run
    handle(conn) in a thread per connection, forever."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print(ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
