#!/usr/bin/env python3
"""A stand-in for the EC2 instance metadata service (IMDSv2 + v1).

    fakeimds.py LISTEN_PORT AK SK REGION [v1only]

PUT /latest/api/token returns a token (405 with v1only, to force the
fallback); GETs need X-aws-ec2-metadata-token unless v1only (401
otherwise). Serves the role list, the role credentials (expiring in 1 h)
and the identity document. Prints the port; logs requests to stderr.
"""
import datetime
import http.server
import json
import sys

port, ak, sk, region = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
v1only = len(sys.argv) > 5 and sys.argv[5] == "v1only"
TOKEN = "fake-imds-token"


class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path != "/latest/api/token" or v1only:
            return self.reply(405)
        self.reply(200, TOKEN.encode())

    def do_GET(self):
        if not v1only and self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self.reply(401)
        exp = (datetime.datetime.now(datetime.timezone.utc) +
               datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        docs = {
            "/latest/meta-data/iam/security-credentials/": b"test-role",
            "/latest/meta-data/iam/security-credentials/test-role":
                json.dumps({"Code": "Success", "Type": "AWS-HMAC",
                            "AccessKeyId": ak, "SecretAccessKey": sk,
                            "Token": "", "Expiration": exp}).encode(),
            "/latest/meta-data/services/partition": b"aws",
            "/latest/meta-data/services/domain": b"amazonaws.com",
            "/latest/dynamic/instance-identity/document":
                json.dumps({"region": region, "accountId": "123456789012",
                            "instanceId": "i-0123456789abcdef0"}).encode(),
        }
        if self.path in docs:
            return self.reply(200, docs[self.path])
        self.reply(404)


s = http.server.HTTPServer(("127.0.0.1", port), H)
print(s.server_address[1], flush=True)
s.serve_forever()
