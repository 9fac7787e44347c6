"""fakecp with TCP_NODELAY on its sockets (bench only).

http.server writes the status line and headers, then the body, in two
send() calls; with Nagle on, the second waits for the client's delayed ACK
(~40 ms on Linux), so back-to-back polls run at ~23/s and the soak would
measure that timer instead of the agent. This runs tests/fakecp/fakecp.py
unchanged except for setting TCP_NODELAY on each accepted connection.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakecp"))
import fakecp  # noqa: E402

_setup = fakecp.Handler.setup


def setup(self):
    try:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    _setup(self)


fakecp.Handler.setup = setup
sys.exit(fakecp.main())
