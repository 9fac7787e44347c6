#!/usr/bin/env python3
"""An HTTPS server whose clock is off, for t_doctor.sh.

    skewhttps.py CERT KEY OFFSET_SECONDS

Answers every GET with 404 and a Date header OFFSET_SECONDS away from the
real time (negative: in the past). Prints the port.
"""
import email.utils
import http.server
import ssl
import sys
import time

cert, key, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])


class H(http.server.BaseHTTPRequestHandler):
    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() + offset, usegmt=True)

    def do_GET(self):
        body = b'{"__type":"UnknownOperationException"}'
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
