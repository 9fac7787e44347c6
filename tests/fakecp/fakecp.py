#!/usr/bin/env python3
"""fakecp: a fake CodeDeploy Commands API control plane for tests.

    python3 tests/fakecp/fakecp.py --scenario S.json --port 0 \
        --port-file P --transcript T.jsonl [--certs DIR] [--http] [--secure]

See tests/fakecp/README.md for the scenario, fault and transcript formats.
Standard library only (plus the openssl CLI for certificates and CMS).
"""
import argparse
import base64
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from model import Model  # noqa: E402
from sigv4verify import Verifier  # noqa: E402

JSON_CT = "application/x-amz-json-1.1"
DEFAULT_AK = "AKIDEXAMPLE"
DEFAULT_SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DEFAULT_HOOKS = ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install",
                 "AfterInstall", "ApplicationStart", "ValidateService"]
DIAG_KEYS = ["error_code", "script_name", "message", "log"]
STATUSES = ["Pending", "InProgress", "Succeeded", "Failed"]


def log(*a):
    print("fakecp:", *a, file=sys.stderr, flush=True)


def _pairs_no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate member '%s'" % k)
        d[k] = v
    return d


class Transcript:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, rec):
        rec = dict(rec)
        rec.setdefault("t", time.time())
        line = json.dumps(rec, sort_keys=False, default=str)
        with self.lock:
            if self.f:
                self.f.write(line + "\n")
                self.f.flush()

    def event(self, name, **kw):
        self.write(dict({"t": time.time(), "type": "event", "event": name}, **kw))

    def close(self):
        with self.lock:
            if self.f:
                self.f.close()
                self.f = None


# --------------------------------------------------------------------------
# Scenario state

class Command:
    def __init__(self, dep, pos, name):
        self.dep = dep
        self.pos = pos
        self.name = name
        self.hcid = None
        self.nonce = None
        self.state = "waiting"      # waiting, issued, acked, done
        self.status = None          # final CommandStatus
        self.completions = 0


class Deployment:
    def __init__(self, cp, d, index):
        self.cp = cp
        self.raw = d
        self.id = d.get("deployment_id") or "d-%09d" % (index + 1)
        self.group_id = d.get("group_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "fakecp/" + self.id))
        self.group_name = d.get("group_name") or "Group-" + self.id
        self.application_name = d.get("application_name") or "App-" + self.id
        self.arn = "arn:aws:codedeploy:%s:%s:deployment/%s" % (cp.region, cp.account, self.id)
        self.execution_id = d.get("deployment_execution_id") or "CodeDeploy/%s/%s/%s" % (
            cp.region, self.group_name, self.arn)
        self.commands = [Command(self, i, n) for i, n in enumerate(d.get("commands", DEFAULT_HOOKS))]
        self.ack_status = d.get("ack_status", {})
        self.after = d.get("after", [])
        if isinstance(self.after, str):
            self.after = [self.after]
        self.start_delay = float(d.get("start_delay", 0))
        self.continue_on_failure = bool(d.get("continue_on_failure", False))
        self.host_identifier = d.get("command_host_identifier")
        self.state = "pending"      # pending, running, done
        self.status = None
        self.eligible_at = None
        self.next = 0               # index of the next command to issue
        self.spec_format = d.get("spec_format", "PKCS7/JSON")
        self.spec = self.build_spec()
        self.envelope_payload = None

    def build_spec(self):
        d = self.raw
        spec = {
            "DeploymentId": self.arn,
            "DeploymentGroupId": self.group_id,
            "DeploymentGroupName": self.group_name,
            "ApplicationName": self.application_name,
            "DeploymentCreator": d.get("deployment_creator", "user"),
            "DeploymentType": d.get("deployment_type", "IN_PLACE"),
            "AgentActionOverrides": {"AgentOverrides": {
                "FileExistsBehavior": d.get("file_exists_behavior", "DISALLOW")}},
        }
        if "appspec_filename" in d:
            spec["AppSpecFilename"] = d["appspec_filename"]
        if "all_possible_lifecycle_events" in d:
            spec["AllPossibleLifecycleEvents"] = d["all_possible_lifecycle_events"]
        spec["Revision"] = d.get("revision", {
            "RevisionType": "S3",
            "S3Revision": {"Bucket": "bucket", "Key": "app.zip", "BundleType": "zip"}})
        for k, v in d.get("spec", {}).items():    # overrides; null deletes
            if v is None:
                spec.pop(k, None)
            else:
                spec[k] = v
        return spec

    def spec_json(self):
        if "spec_text" in self.raw:
            return self.raw["spec_text"]
        return json.dumps(self.spec, separators=(",", ":"))


def cms_sign(text, certs, extra_args, tamper):
    """PEM PKCS#7 SignedData with the content attached, as the service sends."""
    content = text.encode()
    args = ["openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER",
            "-signer", os.path.join(certs, "signer.pem"),
            "-inkey", os.path.join(certs, "signer.key")] + list(extra_args)
    der = subprocess.run(args, input=content, stdout=subprocess.PIPE, check=True).stdout
    if tamper:
        at = der.find(content)
        if at < 0:
            raise RuntimeError("tamper: signed content not found in the DER")
        # Flip the case of one letter in a value, so the JSON stays valid and
        # only the signature check can tell.
        spec = json.loads(text)
        off = -1
        for key in ("ApplicationName", "DeploymentGroupName"):
            v = spec.get(key)
            if isinstance(v, str):
                i = text.find('"%s":' % key)
                j = text.find(json.dumps(v), i)
                for k in range(j + 1, j + 1 + len(v)):
                    if text[k].isascii() and text[k].isalpha():
                        off = k
                        break
            if off >= 0:
                break
        if off < 0:
            off = next(i for i, c in enumerate(text) if c.isascii() and c.isalpha())
        off = len(text[:off].encode())
        b = bytearray(der)
        b[at + off] ^= 0x20
        der = bytes(b)
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PKCS7-----\n" + "\n".join(lines) + "\n-----END PKCS7-----\n"


class Fault:
    def __init__(self, f):
        self.raw = f
        self.op = f.get("op")
        self.kind = str(f.get("kind", "500"))
        t = f.get("times", 1)
        self.left = float("inf") if t in (-1, "always", None) else int(t)
        self.after = int(f.get("after", 0))
        self.deployment = f.get("deployment")
        self.command = f.get("command")

    def matches(self, op, seen, dep, cmd):
        if self.left <= 0:
            return False
        if self.op and self.op != op:
            return False
        if self.kind == "ack" and op != "PutHostCommandAcknowledgement":
            return False
        if seen < self.after:
            return False
        if self.deployment and (dep is None or dep.id != self.deployment):
            return False
        if self.command and (cmd is None or cmd.name != self.command):
            return False
        return True


SCENARIO_KEYS = {"host_identifier", "region", "account_id", "poll_hold", "deployments",
                 "faults", "empty_poll", "comment"}
DEPLOYMENT_KEYS = {"deployment_id", "group_id", "group_name", "application_name", "revision",
                   "commands", "spec_format", "tamper", "ack_status", "after", "start_delay",
                   "continue_on_failure", "command_host_identifier", "deployment_execution_id",
                   "deployment_creator", "deployment_type", "file_exists_behavior",
                   "appspec_filename", "all_possible_lifecycle_events", "spec", "spec_text",
                   "spec_payload", "sign_args", "deployment_system", "spec_missing", "comment"}
FAULT_KEYS = {"op", "kind", "times", "after", "deployment", "command", "status", "type",
              "message", "seconds", "comment"}
FAULT_KINDS = {"500", "503", "throttle", "error", "slow", "drop", "reset", "garbage", "ack"}


def check_scenario(sc, cli_faults, ops):
    """Catch typos early: unknown keys and values are fatal."""
    errs = []
    if not isinstance(sc, dict):
        return ["scenario must be a JSON object"]
    errs += ["unknown scenario key '%s'" % k for k in sc if k not in SCENARIO_KEYS]
    for i, d in enumerate(sc.get("deployments", [])):
        errs += ["deployments[%d]: unknown key '%s'" % (i, k) for k in d if k not in DEPLOYMENT_KEYS]
        for c, st in d.get("ack_status", {}).items():
            if st not in STATUSES + [None, "", "omit"]:
                errs.append("deployments[%d].ack_status.%s: bad status %r" % (i, c, st))
    for i, f in enumerate(list(sc.get("faults", [])) + list(cli_faults)):
        errs += ["faults[%d]: unknown key '%s'" % (i, k) for k in f if k not in FAULT_KEYS]
        if str(f.get("kind", "500")) not in FAULT_KINDS:
            errs.append("faults[%d]: unknown kind %r (one of %s)" % (i, f.get("kind"),
                                                                  ", ".join(sorted(FAULT_KINDS))))
        if f.get("op") is not None and f["op"] not in ops:
            errs.append("faults[%d]: unknown op %r" % (i, f["op"]))
        if f.get("kind") == "ack" and f.get("status") not in STATUSES + [None, "", "omit"]:
            errs.append("faults[%d]: bad ack status %r" % (i, f.get("status")))
    return errs


class ControlPlane:
    def __init__(self, args, scenario, model, transcript):
        self.args = args
        self.model = model
        self.tr = transcript
        self.region = scenario.get("region", args.region)
        self.account = scenario.get("account_id", "123456789012")
        self.host_identifier = scenario.get("host_identifier", "*")
        self.empty_poll = scenario.get("empty_poll", {})
        self.poll_hold = float(args.poll_hold if args.poll_hold is not None
                               else scenario.get("poll_hold", 2))
        self.lock = threading.Condition()
        self.stopping = False
        self.nonce = 0
        self.started = time.time()
        self.deployments = [Deployment(self, d, i) for i, d in enumerate(scenario.get("deployments", []))]
        ids = [d.id for d in self.deployments]
        if len(set(ids)) != len(ids):
            raise SystemExit("fakecp: duplicate deployment_id in scenario")
        self.by_exec = {d.execution_id: d for d in self.deployments}
        self.by_hcid = {}
        self.faults = [Fault(f) for f in scenario.get("faults", [])] + [Fault(f) for f in args.fault]
        self.seen = {}
        for d in self.deployments:
            if d.spec_format == "PKCS7/JSON" and "spec_payload" not in d.raw:
                d.envelope_payload = cms_sign(d.spec_json(), args.certs,
                                              d.raw.get("sign_args", []),
                                              bool(d.raw.get("tamper")))
            else:
                d.envelope_payload = d.raw.get("spec_payload", d.spec_json())
        self._update()

    # ---- scheduling (call with self.lock held)
    def _update(self):
        now = time.time()
        done = {d.id for d in self.deployments if d.state == "done"}
        for d in self.deployments:
            if d.state == "pending" and all(a in done for a in d.after):
                if d.eligible_at is None:
                    d.eligible_at = now + d.start_delay
                if now >= d.eligible_at:
                    d.state = "running"
                    self.tr.event("deployment_started", deployment_id=d.id)
                    self._maybe_finish(d)

    def _maybe_finish(self, d):
        if d.state != "running":
            return
        failed = any(c.status == "Failed" for c in d.commands if c.state == "done")
        busy = any(c.state in ("issued", "acked") for c in d.commands)
        if busy:
            return
        if d.next >= len(d.commands) or (failed and not d.continue_on_failure):
            d.state = "done"
            d.status = "Failed" if failed else "Succeeded"
            self.tr.event("deployment_finished", deployment_id=d.id, status=d.status,
                          commands=[[c.name, c.status] for c in d.commands])
            self.lock.notify_all()
            self._update()

    def _next_wakeup(self):
        ts = [d.eligible_at for d in self.deployments
              if d.state == "pending" and d.eligible_at is not None]
        return min(ts) if ts else None

    def _ready(self):
        for d in self.deployments:
            if d.state != "running" or d.next >= len(d.commands):
                continue
            if any(c.state in ("issued", "acked") for c in d.commands):
                continue
            return d
        return None

    def _issue(self, d, host):
        c = d.commands[d.next]
        d.next += 1
        self.nonce += 1
        c.nonce = self.nonce
        ident = ["com.amazonaws.fakecp.HostCommandIdentifier", {
            "deploymentId": d.arn, "hostId": host, "commandName": c.name,
            "commandPosition": c.pos, "commandAttempt": 1, "nonce": c.nonce}]
        c.hcid = base64.b64encode(json.dumps(ident, separators=(",", ":")).encode()).decode()
        c.state = "issued"
        self.by_hcid[c.hcid] = c
        hc = {"HostCommandIdentifier": c.hcid,
              "HostIdentifier": d.host_identifier or host,
              "DeploymentExecutionId": d.execution_id,
              "CommandName": c.name,
              "Nonce": c.nonce}
        self.tr.event("command_issued", deployment_id=d.id, command=c.name, position=c.pos,
                      host_command_identifier=c.hcid, deployment_execution_id=d.execution_id,
                      nonce=c.nonce)
        return hc

    def stop(self):
        with self.lock:
            self.stopping = True
            self.lock.notify_all()

    # ---- fault lookup
    def take_fault(self, op, body):
        dep = cmd = None
        if isinstance(body, dict):
            with self.lock:
                cmd = self.by_hcid.get(body.get("HostCommandIdentifier"))
                dep = cmd.dep if cmd else self.by_exec.get(body.get("DeploymentExecutionId"))
        with self.lock:
            seen = self.seen.get(op, 0)
            self.seen[op] = seen + 1
            for f in self.faults:
                if f.matches(op, seen, dep, cmd):
                    f.left -= 1
                    return f
        return None

    # ---- operations: return (status, body_dict, extra_transcript_fields)
    def op_PollHostCommand(self, req):
        host = req["HostIdentifier"]
        if self.host_identifier not in ("*", None) and host != self.host_identifier:
            return 400, {"__type": "ClientException",
                         "message": "HostNotFoundException: host '%s' is not registered "
                                    "(scenario host_identifier is '%s')"
                                    % (host, self.host_identifier)}, {}
        deadline = time.time() + self.poll_hold
        with self.lock:
            while True:
                self._update()
                d = self._ready()
                if d is not None:
                    return 200, {"HostCommand": self._issue(d, host)}, {}
                now = time.time()
                if self.stopping or now >= deadline:
                    return 200, dict(self.empty_poll), {}
                wake = self._next_wakeup()
                until = deadline if wake is None else min(deadline, wake)
                self.lock.wait(max(0.01, until - now))

    def _check_host(self, host):
        if self.host_identifier not in ("*", None) and host != self.host_identifier:
            return {"__type": "ClientException",
                    "message": "HostNotFoundException: host '%s' is not registered" % host}
        return None

    def op_GetDeploymentSpecification(self, req):
        err = self._check_host(req["HostIdentifier"])
        if err:
            return 400, err, {}
        with self.lock:
            d = self.by_exec.get(req["DeploymentExecutionId"])
            if d is None or d.state == "pending":
                return 400, {"__type": "ClientException",
                             "message": "DeploymentNotFoundException: no current deployment "
                                        "for DeploymentExecutionId '%s'"
                                        % req["DeploymentExecutionId"]}, {}
        out = {"DeploymentSystem": d.raw.get("deployment_system", "CodeDeploy")}
        if not d.raw.get("spec_missing"):
            out["DeploymentSpecification"] = {
                "GenericEnvelope": {"Format": d.spec_format, "Payload": d.envelope_payload}}
        self.tr.event("spec_served", deployment_id=d.id, format=d.spec_format,
                      tampered=bool(d.raw.get("tamper")), spec=d.spec_json())
        return 200, out, {"deployment_id": d.id}

    def _command(self, req):
        c = self.by_hcid.get(req["HostCommandIdentifier"])
        if c is None:
            return None, (400, {"__type": "ClientException",
                                "message": "Invalid HostCommandIdentifier: no such host command"}, {})
        return c, None

    @staticmethod
    def _diag(req):
        """Decode a Diagnostics envelope: (format, payload_str, parsed_or_None, key_list, error)."""
        dg = req.get("Diagnostics")
        if dg is None:
            return None, None, None, None, "no Diagnostics"
        fmt, payload = dg.get("Format"), dg.get("Payload")
        if payload is None:
            return fmt, None, None, None, "Diagnostics has no Payload"
        try:
            pairs = json.loads(payload, object_pairs_hook=lambda p: p)
        except ValueError as e:
            return fmt, payload, None, None, "Payload is not JSON: %s" % e
        if not isinstance(pairs, list):
            return fmt, payload, None, None, "Payload is not a JSON object"
        return fmt, payload, json.loads(payload), [k for k, _ in pairs], None

    def op_PutHostCommandAcknowledgement(self, req, fault=None):
        with self.lock:
            c, err = self._command(req)
            if err:
                return err
            d = c.dep
            fmt, payload, parsed, keys, derr = self._diag(req)
            problems = []
            if derr:
                problems.append(derr)
            elif fmt != "JSON":
                problems.append("Diagnostics.Format is %r, not \"JSON\"" % fmt)
            if parsed is not None and (not isinstance(parsed.get("IsCommandNoop"), bool)
                                       or keys != ["IsCommandNoop"]):
                problems.append("Payload is not {\"IsCommandNoop\": bool}")
            is_noop = parsed.get("IsCommandNoop") if isinstance(parsed, dict) else None
            status = d.ack_status.get(c.name, "InProgress")
            if fault is not None:
                status = fault.raw.get("status")
            out = {} if status in (None, "", "omit") else {"CommandStatus": status}
            if c.state == "issued":
                c.state = "acked"
            if status in ("Succeeded", "Failed") and c.state != "done":
                # the service considers the command finished already
                c.state = "done"
                c.status = status
                self._maybe_finish(d)
                self.lock.notify_all()
            self.tr.event("command_acked", deployment_id=d.id, command=c.name,
                          host_command_identifier=c.hcid, is_noop=is_noop,
                          returned_status=out.get("CommandStatus"), problems=problems)
            if problems and self.args.strict_diagnostics:
                return 400, {"__type": "ClientException", "message": "; ".join(problems)}, {}
            return 200, out, {"deployment_id": d.id, "command": c.name}

    def op_PutHostCommandComplete(self, req):
        with self.lock:
            c, err = self._command(req)
            if err:
                return err
            d = c.dep
            fmt, payload, parsed, keys, derr = self._diag(req)
            problems = []
            if derr:
                problems.append(derr)
            else:
                if fmt != "JSON":
                    problems.append("Diagnostics.Format is %r, not \"JSON\"" % fmt)
                if parsed is not None and not isinstance(parsed, dict):
                    problems.append("Payload is not a JSON object")
                elif parsed is not None and sorted(keys) != sorted(DIAG_KEYS):
                    problems.append("Payload keys are %s, want %s" % (keys, DIAG_KEYS))
                if payload is not None and len(payload) > 8192:
                    problems.append("Payload is %d characters (> 8192)" % len(payload))
            key_order_ok = keys == DIAG_KEYS
            if keys is not None and not key_order_ok and sorted(keys) == sorted(DIAG_KEYS):
                problems.append("Payload keys in order %s, want %s" % (keys, DIAG_KEYS))
            c.completions += 1
            duplicate = c.completions > 1
            prev = c.state
            if c.state != "done":
                c.state = "done"
                c.status = req["CommandStatus"]
            self.tr.event("command_completed", deployment_id=d.id, command=c.name,
                          position=c.pos, host_command_identifier=c.hcid,
                          status=req["CommandStatus"], duplicate=duplicate,
                          state_before=prev, diagnostics_format=fmt, payload=payload,
                          payload_len=None if payload is None else len(payload),
                          diagnostics=parsed, keys=keys, key_order_ok=key_order_ok,
                          problems=problems)
            self._maybe_finish(d)
            self.lock.notify_all()
            if problems and self.args.strict_diagnostics:
                return 400, {"__type": "ClientException", "message": "; ".join(problems)}, {}
            return 200, {}, {"deployment_id": d.id, "command": c.name}

    def op_PostHostCommandUpdate(self, req):
        with self.lock:
            c, err = self._command(req)
            if err:
                return err
            self.tr.event("command_updated", deployment_id=c.dep.id, command=c.name,
                          estimated_completion_time=req.get("EstimatedCompletionTime"))
            st = c.status if c.state == "done" else "InProgress"
            return 200, {"CommandStatus": st}, {"deployment_id": c.dep.id, "command": c.name}

    def state(self):
        with self.lock:
            self._update()
            return {"deployments": [{
                "deployment_id": d.id, "state": d.state, "status": d.status,
                "deployment_execution_id": d.execution_id,
                "commands": [{"name": c.name, "state": c.state, "status": c.status,
                              "completions": c.completions} for c in d.commands]}
                for d in self.deployments]}


# --------------------------------------------------------------------------
# HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecp"
    sys_version = ""

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            log("%s %s" % (self.address_string(), fmt % a))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, raw=None, ctype=JSON_CT):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        cp = self.server.cp
        if self.path.split("?")[0] == "/_fakecp/state":
            return self._send(200, cp.state(), ctype="application/json")
        body = {"__type": "UnknownOperationException"}
        self.server.tr.write({"t": time.time(), "type": "request", "method": "GET",
                              "path": self.path, "target": None, "operation": None,
                              "request": None, "signature_ok": None, "status": 404,
                              "response": body, "fault": None})
        self._send(404, body)

    def do_POST(self):
        srv = self.server
        cp, tr, args = srv.cp, srv.tr, srv.args
        t0 = time.time()
        raw = self._read_body()
        target = self.headers.get("X-Amz-Target", "")
        rec = {"t": t0, "type": "request", "method": "POST", "path": self.path,
               "target": target, "operation": None,
               "agent_version": self.headers.get("x-amz-codedeploy-agent-version"),
               "user_agent": self.headers.get("User-Agent"),
               "content_type": self.headers.get("Content-Type")}
        try:
            rec["request"] = json.loads(raw) if raw else None
        except ValueError:
            rec["request"] = raw.decode("utf-8", "replace")

        def finish(status, body, fault=None, **extra):
            rec.update(extra)
            rec.update({"status": status, "response": body, "fault": fault,
                        "elapsed": round(time.time() - t0, 3)})
            tr.write(rec)
            self._send(status, body)

        # 1. authentication
        err = srv.verifier.verify("POST", self.path, self.headers.items(), raw, time.time())
        rec["signature_ok"] = err is None
        if err is not None:
            rec["signature_error"] = err.type
            rec.update({k: v for k, v in err.detail.items()})
            return finish(400, {"__type": err.type, "message": err.message})

        # 2. routing
        prefix, dot, op = target.partition(".")
        if prefix != srv.target_prefix or not dot or op not in cp.model.operations:
            return finish(400, {"__type": "UnknownOperationException"})
        rec["operation"] = op

        # 3. body against the model
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != JSON_CT:
            return finish(400, {"__type": "ClientException",
                                "message": "Content-Type must be %s, got '%s'" % (JSON_CT, ctype)})
        try:
            body = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs_no_dups)
        except (ValueError, UnicodeDecodeError) as e:
            return finish(400, {"__type": "ClientException",
                                "message": "Request body is not valid JSON: %s" % e})
        errs = cp.model.validate_input(op, body)
        if errs:
            msg = "%d validation error%s detected: %s" % (
                len(errs), "" if len(errs) == 1 else "s", "; ".join(errs))
            return finish(400, {"__type": "ClientException", "message": msg})

        # 4. faults
        f = cp.take_fault(op, body)
        if f is not None:
            tr.event("fault_injected", operation=op, kind=f.kind)
            k = f.kind
            if k == "500":
                return finish(500, {"__type": "ServerException",
                                    "message": "fakecp: injected server error"}, fault=k)
            if k == "503":
                return finish(503, {"__type": "ServiceUnavailableException",
                                    "message": "fakecp: injected unavailable"}, fault=k)
            if k == "throttle":
                return finish(int(f.raw.get("status", 400)),
                              {"__type": "ThrottlingException", "message": "Rate exceeded"},
                              fault=k)
            if k == "error":
                return finish(int(f.raw.get("status", 400)),
                              {"__type": f.raw.get("type", "ClientException"),
                               "message": f.raw.get("message", "fakecp: injected error")},
                              fault=k)
            if k in ("drop", "reset"):
                rec.update({"status": None, "response": None, "fault": k})
                tr.write(rec)
                self.close_connection = True
                if k == "reset":
                    try:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                return
            if k == "garbage":
                rec.update({"status": 200, "response": "<garbage>", "fault": k})
                tr.write(rec)
                return self._send(200, None, raw=b"<html>not json", ctype=JSON_CT)
            if k == "slow":
                time.sleep(float(f.raw.get("seconds", 5)))
            if k not in ("slow", "ack"):
                log("unknown fault kind", k)

        # 5. the operation
        if op == "PutHostCommandAcknowledgement":
            status, out, extra = cp.op_PutHostCommandAcknowledgement(
                body, f if f is not None and f.kind == "ack" else None)
        else:
            status, out, extra = getattr(cp, "op_" + op)(body)
        finish(status, out, fault=f.kind if f else None, **extra)

    def do_PUT(self):
        self._send(405, {"__type": "UnknownOperationException"})

    do_DELETE = do_PATCH = do_PUT


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        if self.ssl_ctx is None:
            request.settimeout(120)
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.tr.event("tls_error", client=client_address[0], error=str(e))
            return
        try:
            tls.settimeout(120)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake CodeDeploy Commands API control plane")
    ap.add_argument("--scenario", help="scenario JSON file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = choose a free port")
    ap.add_argument("--port-file", help="write the port here when ready")
    ap.add_argument("--transcript", help="JSON-lines transcript file (appended)")
    ap.add_argument("--certs", help="directory made by mkca.sh (made in a temp dir if absent)")
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--secure", action="store_true",
                    help="codedeploy-commands-secure signing name, CodeDeployCommandService prefix")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key", default=os.environ.get("FAKECP_ACCESS_KEY", DEFAULT_AK))
    ap.add_argument("--secret-key", default=os.environ.get("FAKECP_SECRET_KEY", DEFAULT_SK))
    ap.add_argument("--session-token", default=os.environ.get("FAKECP_SESSION_TOKEN"))
    ap.add_argument("--poll-hold", type=float, default=None,
                    help="seconds to hold an empty poll (default 2, or the scenario's)")
    ap.add_argument("--max-skew", type=float, default=300)
    ap.add_argument("--fault", action="append", default=[], type=json.loads,
                    help="a fault as JSON (repeatable), appended after the scenario's")
    ap.add_argument("--faults-file", help="JSON file: a list of faults, or {\"faults\": [...]}")
    ap.add_argument("--strict-diagnostics", action="store_true",
                    help="reject (ClientException) ack/complete diagnostics that break the contract")
    ap.add_argument("--model", default=os.path.join(HERE, "CodeDeployCommand.api.json"))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    scenario = {}
    if args.scenario:
        with open(args.scenario) as f:
            scenario = json.load(f)
    if args.faults_file:
        with open(args.faults_file) as f:
            ff = json.load(f)
        args.fault += ff["faults"] if isinstance(ff, dict) else ff

    model = Model.load(args.model)
    errs = check_scenario(scenario, args.fault, model.operations)
    if errs:
        for e in errs:
            log("scenario:", e)
        return 2

    tmpcerts = None
    if not args.certs:
        tmpcerts = tempfile.mkdtemp(prefix="fakecp-certs.")
        args.certs = tmpcerts
    subprocess.run(["sh", os.path.join(HERE, "mkca.sh"), args.certs], check=True)

    tr = Transcript(args.transcript)
    cp = ControlPlane(args, scenario, model, tr)

    srv = Server((args.host, args.port), Handler)
    srv.cp, srv.tr, srv.args = cp, tr, args
    service = "codedeploy-commands-secure" if args.secure else model.meta["endpointPrefix"]
    srv.target_prefix = "CodeDeployCommandService" if args.secure else model.meta["targetPrefix"]
    srv.verifier = Verifier({args.access_key: (args.secret_key, args.session_token)},
                            args.region, service, args.max_skew)
    srv.ssl_ctx = None
    if not args.http:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(os.path.join(args.certs, "server.pem"),
                            os.path.join(args.certs, "server.key"))
        srv.ssl_ctx = ctx

    port = srv.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    th.start()
    tr.event("server_start", port=port, scheme="http" if args.http else "https",
             secure=args.secure, signing_name=service, target_prefix=srv.target_prefix,
             region=args.region, certs=args.certs,
             deployments=[d.id for d in cp.deployments])
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("listening on %d" % port, flush=True)

    while not stop.wait(0.5):
        pass
    cp.stop()
    srv.shutdown()
    srv.server_close()
    tr.event("server_stop")
    tr.close()
    if tmpcerts:
        shutil.rmtree(tmpcerts, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
