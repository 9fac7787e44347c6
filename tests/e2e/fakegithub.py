#!/usr/bin/env python3
"""A stand-in for the GitHub API and its codeload host, for t_github.sh.

    fakegithub.py CERT KEY BUNDLE_DIR TOKEN LOG

Two HTTPS servers in one process, on ports picked by the kernel:
  api       127.0.0.1:<api port>
            GET /repos/<o>/<r>/<tarball|zipball>/<ref>: 401 with GitHub's
            "Bad credentials" body unless Authorization is "token TOKEN"
            (TOKEN "-": no token needed), 400 without a User-Agent
            "cdagent/...", else 302 to the codeload host.
  codeload  localhost:<codeload port> (another host name and port: a
            client must not send the API's Authorization header there)
            GET /<o>/<r>/legacy.<tar.gz|zip>/<ref>?token=...: the
            contents of BUNDLE_DIR under one top-level directory
            "<o>-<r>-<ref[:7]>/", as GitHub makes them (a tar.gz with a
            pax global header carrying the commit, or a zip).
Each request is appended to LOG as one JSON line: server, method, path,
authorization (the header as received, or null), user_agent.
Prints "<api port> <codeload port>" on one line once both listen.
"""
import http.server
import io
import json
import os
import ssl
import sys
import tarfile
import threading
import zipfile

cert, key, bundle, token, logp = sys.argv[1:6]
lock = threading.Lock()
ports = {}


def log(server, h):
    with lock, open(logp, "a") as f:
        f.write(json.dumps({
            "server": server, "method": h.command, "path": h.path,
            "authorization": h.headers.get("Authorization"),
            "user_agent": h.headers.get("User-Agent")}) + "\n")


def make_archive(kind, owner, repo, ref):
    top = "%s-%s-%s" % (owner, repo, ref[:7])
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as z:
            for d, _, files in os.walk(bundle):
                for n in files:
                    p = os.path.join(d, n)
                    z.write(p, os.path.join(top, os.path.relpath(p, bundle)))
    else:
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT,
                          pax_headers={"comment": ref}) as t:
            t.add(bundle, arcname=top)
    return buf.getvalue()


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.server_name, fmt % args))


class Api(Base):
    server_name = "api"

    def do_GET(self):
        log("api", self)
        parts = self.path.split("/", 5)
        # ['', 'repos', o, r, kind, ref]
        if len(parts) != 6 or parts[1] != "repos" or \
                parts[4] not in ("tarball", "zipball"):
            return self.reply(404, b'{"message":"Not Found"}')
        if not (self.headers.get("User-Agent") or "").startswith("cdagent/"):
            return self.reply(400, b'{"message":"no User-Agent"}')
        if token != "-" and self.headers.get("Authorization") != "token " + token:
            return self.reply(401, b'{"message":"Bad credentials",'
                              b'"documentation_url":"https://docs.github.com/rest"}')
        o, r, kind, ref = parts[2], parts[3], parts[4], parts[5]
        ext = "zip" if kind == "zipball" else "tar.gz"
        loc = "https://localhost:%d/%s/%s/legacy.%s/%s?token=CODELOADSIG" % (
            ports["codeload"], o, r, ext, ref)
        self.reply(302, b"", "text/html", [("Location", loc)])


class Codeload(Base):
    server_name = "codeload"

    def do_GET(self):
        log("codeload", self)
        path = self.path.split("?", 1)[0]
        parts = path.split("/", 4)
        # ['', o, r, 'legacy.tar.gz', ref]
        if len(parts) != 5 or not parts[3].startswith("legacy."):
            return self.reply(404, b"not found", "text/plain")
        kind = "zip" if parts[3] == "legacy.zip" else "tar"
        body = make_archive(kind, parts[1], parts[2], parts[4])
        self.reply(200, body, "application/x-gzip" if kind == "tar"
                   else "application/zip")


def serve(name, handler, host):
    s = http.server.ThreadingHTTPServer((host, 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    ports[name] = s.server_address[1]
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


serve("api", Api, "127.0.0.1")
serve("codeload", Codeload, "127.0.0.1")
print("%d %d" % (ports["api"], ports["codeload"]), flush=True)
threading.Event().wait()
