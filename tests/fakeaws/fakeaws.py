#!/usr/bin/env python3
"""fakeaws: a fake CodeDeploy (registration API) + IAM endpoint for tests.

    python3 tests/fakeaws/fakeaws.py --certs DIR --port 0 --port-file P \
        --transcript T.jsonl [--fail OP[:CODE[:STATUS]]]... [--http]

One HTTPS port serves both services; a request with X-Amz-Target is
CodeDeploy (JSON 1.1, signing name `codedeploy`, region --region), any
other POST is IAM (Query API, form-encoded, signing name `iam`, region
--iam-region, XML replies). Every request must carry a good SigV4
signature for the operator key (--access-key/--secret-key/--session-token)
and is validated against botocore's service models on this machine
(required members, types, lengths, patterns, unknown members), then
against the service rules registration depends on (instance name and ARN
patterns, duplicates, tag limits, DeleteConflict, ...).

State (registered instances and their tags, IAM users with their access
keys and inline policies) is kept in memory:
    GET  /_state   -> {"requests": N, "ops": {...}, "instances": {...},
                       "users": {...}}
    POST /_fail    {"op": "PutUserPolicy", "code": "X", "status": 400,
                    "times": 1}    make the next call(s) of op fail
    POST /_reset   drop all state and faults
--fail OP[:CODE[:STATUS]] on the command line makes every call of OP fail.
The transcript is JSON lines: {"t", "service", "op", "status", "error",
"params"} with secrets redacted. Standard library only.
"""
import argparse
import datetime
import gzip
import http.server
import json
import os
import random
import re
import signal
import ssl
import string
import sys
import threading
import time
import uuid
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakecp"))

from model import Model  # noqa: E402
from sigv4verify import Verifier  # noqa: E402

DEFAULT_AK = "AKIDEXAMPLE"
DEFAULT_SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ACCOUNT = "123456789012"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
SECRET_PARAMS = {"SecretAccessKey", "PolicyDocument"}

NAME_RE = re.compile(r"[A-Za-z0-9+=,.@_-]+")
USER_ARN_RE = re.compile(r"arn:aws:iam::[0-9]{12}:user/[A-Za-z0-9/+=,.@_-]+")
SESSION_ARN_RE = re.compile(
    r"arn:aws:sts::[0-9]{12}:assumed-role/[A-Za-z0-9+=,.@_-]{1,64}/[A-Za-z0-9+=,.@_-]{2,64}")


def log(*a):
    print("fakeaws:", *a, file=sys.stderr, flush=True)


def botocore_model(service, version):
    import botocore  # only to find the data directory
    d = os.path.join(os.path.dirname(botocore.__file__), "data", service, version)
    for name, opener in (("service-2.json", open), ("service-2.json.gz", gzip.open)):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with opener(p, "rt") as f:
                return Model(json.load(f))
    raise SystemExit("fakeaws: no botocore model for %s %s in %s" % (service, version, d))


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def query_to_struct(model, shape_name, flat, prefix, used):
    """Rebuild a structure from Query API params (Name, Name.member.N, A.B)."""
    s = model.shapes[shape_name]
    out = {}
    for mname, ref in s.get("members", {}).items():
        key = prefix + mname
        v = query_value(model, ref["shape"], flat, key, used)
        if v is not None:
            out[mname] = v
    return out


def query_value(model, shape_name, flat, key, used):
    s = model.shapes[shape_name]
    t = s["type"]
    if t == "structure":
        if not any(k.startswith(key + ".") for k in flat):
            return None
        return query_to_struct(model, shape_name, flat, key + ".", used)
    if t == "list":
        items, i = [], 1
        if key in flat and flat[key] == "":
            used.add(key)
            return []
        while True:
            k = "%s.member.%d" % (key, i)
            if k not in flat and not any(x.startswith(k + ".") for x in flat):
                break
            items.append(query_value(model, s["member"]["shape"], flat, k, used))
            i += 1
        return items if items else None
    if key not in flat:
        return None
    used.add(key)
    v = flat[key]
    if t in ("integer", "long"):
        try:
            return int(v)
        except ValueError:
            return v  # the model check reports it
    if t == "boolean":
        return {"true": True, "false": False}.get(v, v)
    return v


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.ops = {}
        self.instances = {}     # name -> {"iamUserArn"|"iamSessionArn", "tags": [...]}
        self.users = {}         # name -> {"path", "arn", "keys": {id: secret}, "policies": {}}
        self.faults = []        # {"op", "code", "status", "times"}

    def snapshot(self):
        return {"requests": self.requests, "ops": dict(self.ops),
                "instances": self.instances,
                "users": {n: {"path": u["path"], "arn": u["arn"],
                              "keys": sorted(u["keys"]),
                              "policies": u["policies"]}
                          for n, u in self.users.items()}}

    def fault_for(self, op):
        for f in self.faults:
            if f["op"] == op and f.get("times", -1) != 0:
                if f.get("times", -1) > 0:
                    f["times"] -= 1
                return f
        return None


def rand(chars, n):
    return "".join(random.choice(chars) for _ in range(n))


# ---- CodeDeploy ---------------------------------------------------------------

def cd_check_name(name):
    if not NAME_RE.fullmatch(name) or len(name) > 100 or name.startswith("i-"):
        raise ApiError("InvalidInstanceNameException",
                       "The on-premises instance name was specified in an invalid format.")


def cd_check_tags(tags):
    if len(tags) > 10:
        raise ApiError("TagLimitExceededException", "The maximum allowed number of tags was exceeded.")
    for t in tags:
        if not t.get("Key") or len(t["Key"]) > 128 or len(t.get("Value", "")) > 256:
            raise ApiError("InvalidTagException", "The tag was specified in an invalid format.")


def cd_instance(st, name):
    cd_check_name(name)
    inst = st.instances.get(name)
    if inst is None:
        raise ApiError("InstanceNotRegisteredException",
                       "The specified on-premises instance is not registered.")
    return inst


def codedeploy(st, op, b):
    if op == "RegisterOnPremisesInstance":
        name = b["instanceName"]
        cd_check_name(name)
        user, sess = b.get("iamUserArn"), b.get("iamSessionArn")
        if user and sess:
            raise ApiError("MultipleIamArnsProvidedException",
                           "Both an user ARN and a session ARN were included in the request.")
        if not user and not sess:
            raise ApiError("IamArnRequiredException", "No IAM ARN was included in the request.")
        if user and not USER_ARN_RE.fullmatch(user):
            raise ApiError("InvalidIamUserArnException", "The user ARN is not valid.")
        if sess and not SESSION_ARN_RE.fullmatch(sess):
            raise ApiError("InvalidIamSessionArnException", "The IAM session ARN is not valid.")
        if name in st.instances:
            raise ApiError("InstanceNameAlreadyRegisteredException",
                           "The specified on-premises instance name is already registered.")
        for i in st.instances.values():
            if user and i.get("iamUserArn") == user:
                raise ApiError("IamUserArnAlreadyRegisteredException",
                               "The specified user ARN is already registered with an "
                               "on-premises instance.")
            if sess and i.get("iamSessionArn") == sess:
                raise ApiError("IamSessionArnAlreadyRegisteredException",
                               "The request included an IAM session ARN that has already "
                               "been used to register a different instance.")
        inst = {"tags": [], "registerTime": time.time()}
        inst["iamUserArn" if user else "iamSessionArn"] = user or sess
        st.instances[name] = inst
        return {}
    if op in ("AddTagsToOnPremisesInstances", "RemoveTagsFromOnPremisesInstances"):
        if not b["tags"]:
            raise ApiError("TagRequiredException", "A tag was not specified.")
        cd_check_tags(b["tags"])
        insts = [cd_instance(st, n) for n in b["instanceNames"]]
        for inst in insts:
            for t in b["tags"]:
                t = {"Key": t["Key"], "Value": t.get("Value", "")}
                inst["tags"] = [x for x in inst["tags"] if x["Key"] != t["Key"]]
                if op.startswith("Add"):
                    inst["tags"].append(t)
            if len(inst["tags"]) > 10:
                raise ApiError("TagLimitExceededException",
                               "The maximum allowed number of tags was exceeded.")
        return {}
    if op == "GetOnPremisesInstance":
        name = b["instanceName"]
        inst = cd_instance(st, name)
        info = {"instanceName": name, "tags": inst["tags"],
                "instanceArn": "arn:aws:codedeploy:us-east-1:%s:instance/%s" % (ACCOUNT, name),
                "registerTime": inst["registerTime"]}
        for k in ("iamUserArn", "iamSessionArn"):
            if k in inst:
                info[k] = inst[k]
        return {"instanceInfo": info}
    if op == "DeregisterOnPremisesInstance":
        name = b["instanceName"]
        cd_check_name(name)
        st.instances.pop(name, None)   # the service does not complain
        return {}
    raise ApiError("UnknownOperationException", "fakeaws does not implement %s" % op)


# ---- IAM --------------------------------------------------------------------------

def iam_user(st, name):
    u = st.users.get(name)
    if u is None:
        raise ApiError("NoSuchEntity", "The user with name %s cannot be found." % name, 404)
    return u


def iam(st, op, p):
    """Returns the inner XML of the <OpResult> element (or None)."""
    if op == "CreateUser":
        name, path = p["UserName"], p.get("Path", "/")
        if name.lower() in (n.lower() for n in st.users):
            raise ApiError("EntityAlreadyExists", "User with name %s already exists." % name, 409)
        arn = "arn:aws:iam::%s:user%s%s" % (ACCOUNT, path, name)
        st.users[name] = {"path": path, "arn": arn, "keys": {}, "policies": {},
                          "id": "AIDA" + rand(string.ascii_uppercase + string.digits, 17)}
        return ("<User><Path>%s</Path><UserName>%s</UserName><UserId>%s</UserId>"
                "<Arn>%s</Arn><CreateDate>%s</CreateDate></User>"
                % (escape(path), escape(name), st.users[name]["id"], escape(arn), now_iso()))
    if op == "CreateAccessKey":
        name = p.get("UserName")
        if name is None:
            raise ApiError("ValidationError", "fakeaws needs UserName")
        u = iam_user(st, name)
        if len(u["keys"]) >= 2:
            raise ApiError("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
        akid = "AKIA" + rand(string.ascii_uppercase + string.digits, 16)
        secret = rand(string.ascii_letters + string.digits + "+/", 40)
        u["keys"][akid] = secret
        return ("<AccessKey><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId>"
                "<Status>Active</Status><SecretAccessKey>%s</SecretAccessKey>"
                "<CreateDate>%s</CreateDate></AccessKey>"
                % (escape(name), akid, escape(secret), now_iso()))
    if op == "PutUserPolicy":
        u = iam_user(st, p["UserName"])
        try:
            doc = json.loads(p["PolicyDocument"])
            assert isinstance(doc, dict) and "Statement" in doc
        except (ValueError, AssertionError):
            raise ApiError("MalformedPolicyDocument", "Syntax errors in policy.")
        u["policies"][p["PolicyName"]] = doc
        return None
    if op == "DeleteUserPolicy":
        u = iam_user(st, p["UserName"])
        if p["PolicyName"] not in u["policies"]:
            raise ApiError("NoSuchEntity", "The user policy with name %s cannot be found."
                           % p["PolicyName"], 404)
        del u["policies"][p["PolicyName"]]
        return None
    if op == "DeleteAccessKey":
        u = iam_user(st, p["UserName"])
        if p["AccessKeyId"] not in u["keys"]:
            raise ApiError("NoSuchEntity", "The Access Key with id %s cannot be found."
                           % p["AccessKeyId"], 404)
        del u["keys"][p["AccessKeyId"]]
        return None
    if op == "DeleteUser":
        u = iam_user(st, p["UserName"])
        if u["keys"] or u["policies"]:
            raise ApiError("DeleteConflict", "Cannot delete entity, must delete policies "
                           "and access keys first.", 409)
        del st.users[p["UserName"]]
        return None
    if op == "ListUserPolicies":
        u = iam_user(st, p["UserName"])
        return ("<PolicyNames>%s</PolicyNames><IsTruncated>false</IsTruncated>"
                % "".join("<member>%s</member>" % escape(n) for n in sorted(u["policies"])))
    if op == "ListAccessKeys":
        name = p.get("UserName")
        u = iam_user(st, name)
        return ("<AccessKeyMetadata>%s</AccessKeyMetadata><IsTruncated>false</IsTruncated>"
                % "".join("<member><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId>"
                          "<Status>Active</Status></member>" % (escape(name), k)
                          for k in sorted(u["keys"])))
    raise ApiError("InvalidAction", "fakeaws does not implement %s" % op)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- HTTP ---------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            log(fmt % a)

    def reply(self, status, body, ctype):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        if self.path == "/_state":
            with srv.state.lock:
                body = json.dumps(srv.state.snapshot(), indent=1, default=str)
            return self.reply(200, body, "application/json")
        self.reply(404, "not found\n", "text/plain")

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path in ("/_fail", "/_reset"):
            with srv.state.lock:
                if self.path == "/_reset":
                    srv.state.reset()
                else:
                    f = json.loads(body)
                    f.setdefault("times", 1)
                    srv.state.faults.append(f)
            return self.reply(200, "{}", "application/json")
        with srv.state.lock:
            srv.state.requests += 1
        if self.headers.get("X-Amz-Target") is not None:
            self.handle_codedeploy(body)
        else:
            self.handle_iam(body)

    def record(self, service, op, status, error, params):
        red = {k: ("<redacted>" if k in SECRET_PARAMS else v) for k, v in (params or {}).items()}
        self.server.tr.write({"t": time.time(), "service": service, "op": op,
                              "status": status, "error": error, "params": red})

    def verify(self, verifier, body):
        return verifier.verify(self.command, self.path, list(self.headers.items()), body,
                               time.time())

    def handle_codedeploy(self, body):
        srv = self.server
        target = self.headers.get("X-Amz-Target", "")
        prefix = srv.cd_model.meta["targetPrefix"] + "."
        op = target[len(prefix):] if target.startswith(prefix) else None
        b = None

        def fail(code, msg, status=400):
            self.record("codedeploy", op or target, status, code, b if isinstance(b, dict) else None)
            self.reply(status, json.dumps({"__type": code, "message": msg}),
                       "application/x-amz-json-1.1")

        aerr = self.verify(srv.cd_verifier, body)
        if aerr is not None:
            return fail(aerr.type, aerr.message, 403)
        if self.headers.get("Content-Type", "").split(";")[0] != "application/x-amz-json-1.1":
            return fail("SerializationException", "Content-Type must be application/x-amz-json-1.1")
        if op is None or op not in srv.cd_model.operations:
            return fail("UnknownOperationException", "unknown target %s" % target)
        try:
            b = json.loads(body or b"{}")
        except ValueError as e:
            return fail("SerializationException", "body is not JSON: %s" % e)
        errs = srv.cd_model.validate_input(op, b)
        if errs:
            return fail("ValidationException", "%d validation error%s detected: %s"
                        % (len(errs), "" if len(errs) == 1 else "s", "; ".join(errs)))
        with srv.state.lock:
            srv.state.ops[op] = srv.state.ops.get(op, 0) + 1
            f = srv.state.fault_for(op)
            if f is not None:
                return fail(f.get("code", "InjectedFault"), "fakeaws: injected failure of %s" % op,
                            int(f.get("status", 400)))
            try:
                out = codedeploy(srv.state, op, b)
            except ApiError as e:
                return fail(e.code, e.message, e.status)
        self.record("codedeploy", op, 200, None, b)
        self.reply(200, json.dumps(out, default=str), "application/x-amz-json-1.1")

    def handle_iam(self, body):
        srv = self.server
        op, p = None, {}

        def fail(code, msg, status=400):
            self.record("iam", op, status, code, p)
            self.reply(status, '<?xml version="1.0" encoding="UTF-8"?>\n'
                       '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>'
                       '<Message>%s</Message></Error><RequestId>%s</RequestId>'
                       '</ErrorResponse>\n' % (IAM_NS, escape(code), escape(msg), uuid.uuid4()),
                       "text/xml")

        aerr = self.verify(srv.iam_verifier, body)
        if aerr is not None:
            return fail("SignatureDoesNotMatch" if "Signature" in aerr.type else aerr.type,
                        aerr.message, 403)
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            return fail("InvalidParameterValue", "Content-Type must be form-urlencoded")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError) as e:
            return fail("MalformedQueryString", str(e))
        for k, v in pairs:
            if k in p:
                return fail("InvalidParameterValue", "duplicate parameter %s" % k)
            p[k] = v
        op = p.pop("Action", None)
        if op is None or op not in srv.iam_model.operations:
            return fail("InvalidAction", "The action %s is not valid for this web service." % op)
        if p.pop("Version", None) != srv.iam_model.meta["apiVersion"]:
            return fail("InvalidParameterValue", "Version must be %s"
                        % srv.iam_model.meta["apiVersion"])
        used = set()
        shape = srv.iam_model.input_shape(op)
        struct = query_to_struct(srv.iam_model, shape, p, "", used) if shape else {}
        extra = sorted(set(p) - used)
        errs = ["Unknown parameter '%s'" % k for k in extra]
        errs += srv.iam_model.validate_input(op, struct)
        if errs:
            return fail("ValidationError", "%d validation error%s detected: %s"
                        % (len(errs), "" if len(errs) == 1 else "s", "; ".join(errs)))
        with srv.state.lock:
            srv.state.ops[op] = srv.state.ops.get(op, 0) + 1
            f = srv.state.fault_for(op)
            if f is not None:
                return fail(f.get("code", "InjectedFault"), "fakeaws: injected failure of %s" % op,
                            int(f.get("status", 400)))
            try:
                inner = iam(srv.state, op, struct)
            except ApiError as e:
                return fail(e.code, e.message, e.status)
        self.record("iam", op, 200, None, p)
        result = "<%sResult>%s</%sResult>" % (op, inner, op) if inner is not None else ""
        self.reply(200, '<?xml version="1.0" encoding="UTF-8"?>\n'
                   '<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId>'
                   '</ResponseMetadata></%sResponse>\n' % (op, IAM_NS, result, uuid.uuid4(), op),
                   "text/xml")


class Transcript:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, rec):
        with self.lock:
            if self.f:
                self.f.write(json.dumps(rec, default=str) + "\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_ctx is not None:
            sock.settimeout(10)
            try:
                sock = self.ssl_ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                sock.close()
                raise OSError("TLS handshake: %s" % e)
            sock.settimeout(None)
        return sock, addr

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def parse_fail(s):
    parts = s.split(":")
    f = {"op": parts[0], "times": -1}
    if len(parts) > 1 and parts[1]:
        f["code"] = parts[1]
    if len(parts) > 2 and parts[2]:
        f["status"] = int(parts[2])
    return f


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake CodeDeploy registration + IAM endpoint")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--transcript")
    ap.add_argument("--certs", help="directory made by tests/fakecp/mkca.sh")
    ap.add_argument("--http", action="store_true", help="plain HTTP, for debugging")
    ap.add_argument("--region", default="us-east-1", help="CodeDeploy signing region")
    ap.add_argument("--iam-region", default="us-east-1", help="IAM signing region")
    ap.add_argument("--access-key", default=os.environ.get("FAKEAWS_ACCESS_KEY", DEFAULT_AK))
    ap.add_argument("--secret-key", default=os.environ.get("FAKEAWS_SECRET_KEY", DEFAULT_SK))
    ap.add_argument("--session-token", default=os.environ.get("FAKEAWS_SESSION_TOKEN"))
    ap.add_argument("--fail", action="append", default=[], type=parse_fail,
                    help="OP[:CODE[:STATUS]]: every call of OP fails (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    srv = Server((args.host, args.port), Handler)
    srv.args = args
    srv.state = State()
    srv.state.faults = list(args.fail)
    srv.tr = Transcript(args.transcript)
    srv.cd_model = botocore_model("codedeploy", "2014-10-06")
    srv.iam_model = botocore_model("iam", "2010-05-08")
    creds = {args.access_key: (args.secret_key, args.session_token)}
    srv.cd_verifier = Verifier(creds, args.region, "codedeploy")
    srv.iam_verifier = Verifier(creds, args.iam_region, "iam")
    srv.ssl_ctx = None
    if not args.http:
        if not args.certs:
            raise SystemExit("fakeaws: --certs DIR (from tests/fakecp/mkca.sh) or --http")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(os.path.join(args.certs, "server.pem"),
                            os.path.join(args.certs, "server.key"))
        srv.ssl_ctx = ctx

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    th.start()
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("listening on %d" % port, flush=True)
    while not stop.wait(0.5):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
