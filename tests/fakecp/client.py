#!/usr/bin/env python3
"""A botocore-signed client for fakecp (tests and debugging).

    client.py URL OPERATION [JSON_BODY] [--secure] [--cafile CA]
              [--access-key K] [--secret-key S] [--session-token T]
              [--region R] [--target-prefix P] [--service S]

Prints "STATUS BODY" on one line; exit 0 whatever the status.
As a module: call(url, op, body_dict_or_bytes, **kw) -> (status, dict_or_text)
"""
import argparse
import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def call(url, op, body, access_key=AK, secret_key=SK, session_token=None,
         region="us-east-1", secure=False, target_prefix=None, service=None,
         cafile=None, content_type="application/x-amz-json-1.1", content_sha256=True,
         tweak=None, timeout=30, resp_headers=None):
    """Sign with botocore and send. tweak(headers_dict) may alter the signed
    headers before sending (to break the signature on purpose).
    resp_headers, a dict, receives the response headers (lowercase names)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    if target_prefix is None:
        target_prefix = "CodeDeployCommandService" if secure else "CodeDeployCommandService_v20141006"
    if service is None:
        service = "codedeploy-commands-secure" if secure else "codedeploy-commands"
    headers = {"Content-Type": content_type, "X-Amz-Target": "%s.%s" % (target_prefix, op),
               "x-amz-codedeploy-agent-version": "fakecp-client"}
    if content_sha256:
        headers["X-Amz-Content-Sha256"] = hashlib.sha256(body).hexdigest()
    req = AWSRequest(method="POST", url=url.rstrip("/") + "/", data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key, session_token), service, region).add_auth(req)
    p = req.prepare()
    h = dict(p.headers.items())
    if tweak:
        tweak(h)
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", "/", body=p.body, headers=h)
        r = conn.getresponse()
        data = r.read()
        if resp_headers is not None:
            resp_headers.update({k.lower(): v for k, v in r.getheaders()})
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode("utf-8", "replace")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("op")
    ap.add_argument("body", nargs="?", default="{}")
    ap.add_argument("--secure", action="store_true")
    ap.add_argument("--cafile")
    ap.add_argument("--access-key", default=AK)
    ap.add_argument("--secret-key", default=SK)
    ap.add_argument("--session-token")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--target-prefix")
    ap.add_argument("--service")
    a = ap.parse_args()
    st, body = call(a.url, a.op, a.body, a.access_key, a.secret_key, a.session_token,
                    a.region, a.secure, a.target_prefix, a.service, a.cafile)
    print(st, json.dumps(body))


if __name__ == "__main__":
    sys.exit(main())
