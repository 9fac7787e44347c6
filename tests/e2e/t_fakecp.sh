#!/bin/sh
# The fake control plane itself (tests/fakecp), driven by a botocore-signed
# client, so that it is known-good before the agent is tested against it:
# SigV4 verification, model checks, scripted deployments, CMS envelopes,
# ack overrides, fault injection, long polls, transcript, clean SIGTERM.
. "$(dirname "$0")/lib.sh"

FCP=$TOP/tests/fakecp
PKI=$T/pki
export PYTHONDONTWRITEBYTECODE=1

# report: turn "ok NAME" / "FAIL NAME" lines on stdin into ok/fail
report() {
	while IFS= read -r _l; do
		case $_l in
		"ok "*) ok "${_l#ok }" ;;
		"FAIL "*) fail "${_l#FAIL }" ;;
		*) echo "    | $_l" ;;
		esac
	done
}

sh "$FCP/mkca.sh" "$PKI" && ok "mkca.sh makes CA, server and signer" || fail "mkca.sh"
check "mkca: server cert chains to the CA" \
	sh -c "openssl verify -CAfile '$PKI/ca.pem' '$PKI/server.pem' >/dev/null"
check "mkca: server cert names 127.0.0.1 and localhost" \
	sh -c "openssl x509 -in '$PKI/server.pem' -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1, DNS:localhost'"
m1=$(cksum < "$PKI/ca.pem"); sh "$FCP/mkca.sh" "$PKI"
check "mkca: reuses an existing set" [ "$m1" = "$(cksum < "$PKI/ca.pem")" ]

HOST=arn:aws:iam::123456789012:user/onprem-1
cat > "$T/scenario.json" <<EOF
{"host_identifier": "$HOST",
 "deployments": [
  {"deployment_id": "d-AAAAAAAAA", "group_id": "11111111-2222-3333-4444-555555555555",
   "group_name": "G1", "application_name": "App1",
   "revision": {"RevisionType": "S3", "S3Revision": {"Bucket": "bkt", "Key": "app.tgz", "BundleType": "tgz"}},
   "commands": ["BeforeInstall", "Install"]},
  {"deployment_id": "d-BBBBBBBBB", "group_name": "G2", "application_name": "App2",
   "commands": ["ApplicationStop", "AfterInstall"], "tamper": true,
   "ack_status": {"ApplicationStop": "Succeeded"}},
  {"deployment_id": "d-CCCCCCCCC", "group_name": "G3", "application_name": "App3",
   "after": "d-AAAAAAAAA", "spec_format": "TEXT/JSON",
   "revision": {"RevisionType": "Local Directory", "LocalRevision": {"Location": "/tmp/x", "BundleType": "directory"}},
   "commands": ["ValidateService"]}
 ],
 "faults": [
  {"op": "PollHostCommand", "times": 1, "kind": "500"},
  {"op": "GetDeploymentSpecification", "times": 1, "kind": "throttle", "status": 429},
  {"op": "PostHostCommandUpdate", "kind": "drop"},
  {"op": "PutHostCommandAcknowledgement", "kind": "ack", "status": "Pending", "command": "ValidateService"}
 ]}
EOF
TR=$T/transcript.jsonl
bg_start "$T/fakecp.log" python3 "$FCP/fakecp.py" --scenario "$T/scenario.json" \
	--certs "$PKI" --port 0 --port-file "$T/port" --transcript "$TR" --poll-hold 1.5
FCP_PID=$BG_PID
wait_file "$T/port"
PORT=$(cat "$T/port" 2>/dev/null)
check "starts, writes --port-file and prints 'listening on PORT'" \
	grep -qx "listening on $PORT" "$T/fakecp.log"

python3 - "https://127.0.0.1:$PORT" "$PKI" "$HOST" "$FCP" <<'PY' 2>&1 | report
import base64, datetime, json, subprocess, sys, threading, time
sys.path.insert(0, sys.argv[4])
sys.excepthook = lambda t, v, tb: print("FAIL driver crashed: %s: %s" % (t.__name__, v))
import botocore.auth
import client

URL, PKI, HOST = sys.argv[1:4]
CA = PKI + "/ca.pem"


def call(op, body, **kw):
    kw.setdefault("cafile", CA)
    return client.call(URL, op, body, **kw)


def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else ": %s" % (detail,)))


def err(r):
    return r[1].get("__type") if isinstance(r[1], dict) else None


def msg(r):
    return r[1].get("message", "") if isinstance(r[1], dict) else ""


poll = {"HostIdentifier": HOST}

# ---- authentication -------------------------------------------------------
r = call("PollHostCommand", poll, secret_key="wrong")
check("wrong secret -> 400 InvalidSignatureException",
      r[0] == 400 and err(r) == "InvalidSignatureException"
      and "signature we calculated does not match" in msg(r), r)
r = call("PollHostCommand", poll, access_key="AKIDUNKNOWN")
check("unknown key -> UnrecognizedClientException",
      r[0] == 400 and err(r) == "UnrecognizedClientException", r)
r = call("PollHostCommand", poll, tweak=lambda h: h.__setitem__(
    "X-Amz-Target", "CodeDeployCommandService_v20141006.PostHostCommandUpdate"))
check("signed header changed after signing -> InvalidSignatureException",
      err(r) == "InvalidSignatureException", r)
r = call("PollHostCommand", poll, tweak=lambda h: h.__setitem__("X-Amz-Content-Sha256", "0" * 64))
check("X-Amz-Content-Sha256 not matching the body -> rejected",
      err(r) == "InvalidSignatureException" and "x-amz-content-sha256" in msg(r), r)
r = call("PollHostCommand", poll, tweak=lambda h: h.pop("Authorization"))
check("no Authorization -> MissingAuthenticationTokenException",
      err(r) == "MissingAuthenticationTokenException", r)
r = call("PollHostCommand", poll, service="codedeploy-commands-secure")
check("wrong signing name -> InvalidSignatureException",
      err(r) == "InvalidSignatureException" and "codedeploy-commands" in msg(r), r)
r = call("PollHostCommand", poll, region="eu-west-1")
check("wrong scope region -> InvalidSignatureException", err(r) == "InvalidSignatureException", r)
real_now = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(minutes=6)
r = call("PollHostCommand", poll)
botocore.auth.get_current_datetime = real_now
check("6 min clock skew -> InvalidSignatureException 'Signature expired'",
      err(r) == "InvalidSignatureException" and msg(r).startswith("Signature expired"), r)
hdrs = {}
r = call("PollHostCommand", poll, session_token="TOKEN", resp_headers=hdrs)
check("session token for a key without one -> UnrecognizedClientException",
      err(r) == "UnrecognizedClientException", r)
check("responses carry a Date header", "date" in hdrs and hdrs["date"].endswith("GMT"), hdrs)

# ---- routing and the model -------------------------------------------------
r = call("PollHostCommand", poll, target_prefix="CodeDeployCommandService")
check("secure prefix on a standard server -> UnknownOperationException",
      r[0] == 400 and r[1] == {"__type": "UnknownOperationException"}, r)
r = call("DeleteEverything", poll)
check("unknown operation -> UnknownOperationException", err(r) == "UnknownOperationException", r)
r = call("PollHostCommand", {})
check("missing HostIdentifier -> ClientException naming it",
      r[0] == 400 and err(r) == "ClientException" and "'HostIdentifier'" in msg(r), r)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST})
check("missing DeploymentExecutionId -> ClientException naming it",
      err(r) == "ClientException" and "'DeploymentExecutionId'" in msg(r), r)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST, "DeploymentExecutionId": "CodeDeploy/x/y"})
check("DeploymentExecutionId not matching the pattern -> ClientException",
      err(r) == "ClientException" and "DeploymentExecutionId" in msg(r) and "pattern" in msg(r), r)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST,
                                        "DeploymentExecutionId": "a/b/c/" + "d" * 124})
check("DeploymentExecutionId over 129 chars -> ClientException",
      err(r) == "ClientException" and "less than or equal to 129" in msg(r), r)
r = call("PollHostCommand", {"HostIdentifier": HOST, "Extra": 1})
check("unknown member -> ClientException naming it", err(r) == "ClientException" and "Extra" in msg(r), r)
r = call("PollHostCommand", {"HostIdentifier": 7})
check("wrong member type -> ClientException", err(r) == "ClientException" and "HostIdentifier" in msg(r), r)
r = call("PutHostCommandComplete", {"HostCommandIdentifier": "x", "CommandStatus": "Done"})
check("CommandStatus outside the enum -> ClientException",
      err(r) == "ClientException" and "CommandStatus" in msg(r) and "enum" in msg(r), r)
r = call("PostHostCommandUpdate", {"HostCommandIdentifier": "x", "EstimatedCompletionTime": "soon"})
check("timestamp as a string -> ClientException", err(r) == "ClientException"
      and "EstimatedCompletionTime" in msg(r), r)
r = call("PutHostCommandAcknowledgement", {"HostCommandIdentifier": "x",
                                           "Diagnostics": {"Format": "", "Payload": "{}"}})
check("empty Diagnostics.Format -> ClientException naming it",
      err(r) == "ClientException" and "Diagnostics.Format" in msg(r), r)
r = call("PollHostCommand", poll, content_type="application/json")
check("wrong Content-Type -> ClientException", err(r) == "ClientException", r)
r = call("PollHostCommand", b'{"HostIdentifier": "a", "HostIdentifier": "b"}')
check("duplicate member -> ClientException", err(r) == "ClientException", r)

# ---- scripted deployments ---------------------------------------------------
r = call("PollHostCommand", poll)
check("fault: first valid poll -> 500 ServerException", r[0] == 500 and err(r) == "ServerException", r)
r = call("PollHostCommand", poll)
hc = r[1].get("HostCommand", {}) if isinstance(r[1], dict) else {}
check("then a correctly signed poll gets a command", r[0] == 200 and hc.get("CommandName") == "BeforeInstall", r)
check("HostCommand: execution id, host, nonce",
      hc.get("DeploymentExecutionId") == "CodeDeploy/us-east-1/G1/arn:aws:codedeploy:us-east-1:"
      "123456789012:deployment/d-AAAAAAAAA" and hc.get("HostIdentifier") == HOST
      and isinstance(hc.get("Nonce"), int), hc)
try:
    ident = json.loads(base64.b64decode(hc["HostCommandIdentifier"]))
    good = isinstance(ident, list) and ident[1]["commandName"] == "BeforeInstall"
except Exception as e:
    good = e
check("HostCommandIdentifier is base64 of a JSON array", good is True, good)
a1 = hc

r = call("PollHostCommand", poll)
b1 = r[1].get("HostCommand", {})
check("another deployment interleaves while the first command is open",
      b1.get("CommandName") == "ApplicationStop" and "d-BBBBBBBBB" in b1.get("DeploymentExecutionId", ""), r)
t0 = time.time()
r = call("PollHostCommand", poll)
dt = time.time() - t0
check("nothing ready: {} after holding the poll (--poll-hold 1.5)", r == (200, {}) and 1.3 < dt < 3, (r, dt))

# specification envelopes
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST, "DeploymentExecutionId": a1["DeploymentExecutionId"]})
check("fault: spec throttled with 429 ThrottlingException", r[0] == 429 and err(r) == "ThrottlingException", r)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST, "DeploymentExecutionId": a1["DeploymentExecutionId"]})
env = r[1].get("DeploymentSpecification", {}).get("GenericEnvelope", {})
check("spec: DeploymentSystem CodeDeploy, PKCS7/JSON envelope",
      r[0] == 200 and r[1].get("DeploymentSystem") == "CodeDeploy" and env.get("Format") == "PKCS7/JSON"
      and env.get("Payload", "").startswith("-----BEGIN PKCS7-----"), r)
v = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "PEM"],
                   input=env.get("Payload", "").encode(), capture_output=True)
check("spec: openssl cms -verify -noverify succeeds", v.returncode == 0, v.stderr[-300:])
v2 = subprocess.run(["openssl", "cms", "-verify", "-CAfile", CA, "-inform", "PEM"],
                    input=env.get("Payload", "").encode(), capture_output=True)
check("spec: signer chains to the test CA", v2.returncode == 0, v2.stderr[-300:])
try:
    spec = json.loads(v.stdout)
except ValueError:
    spec = {}
check("spec: content is the scenario's deployment",
      spec.get("DeploymentId") == "arn:aws:codedeploy:us-east-1:123456789012:deployment/d-AAAAAAAAA"
      and spec.get("DeploymentGroupId") == "11111111-2222-3333-4444-555555555555"
      and spec.get("DeploymentGroupName") == "G1" and spec.get("ApplicationName") == "App1"
      and spec.get("Revision") == {"RevisionType": "S3", "S3Revision":
                                   {"Bucket": "bkt", "Key": "app.tgz", "BundleType": "tgz"}}, spec)

r = call("GetDeploymentSpecification", {"HostIdentifier": HOST, "DeploymentExecutionId": b1["DeploymentExecutionId"]})
penv = r[1]["DeploymentSpecification"]["GenericEnvelope"]["Payload"]
v = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "PEM"],
                   input=penv.encode(), capture_output=True)
check("tampered spec does NOT verify", r[0] == 200 and v.returncode != 0, v)
v = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-nosigs", "-inform", "PEM"],
                   input=penv.encode(), capture_output=True)
try:
    tj = json.loads(v.stdout)
except ValueError:
    tj = None
check("tampered spec content is still valid JSON, one letter changed",
      isinstance(tj, dict) and tj.get("ApplicationName", "").lower() == "app2"
      and tj.get("ApplicationName") != "App2", v.stdout)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST,
                                        "DeploymentExecutionId": "CodeDeploy/us-east-1/G9/arn:x/d-NOPE"})
check("spec of an unknown deployment -> ClientException", err(r) == "ClientException", r)

# acknowledgements
noop = {"Format": "JSON", "Payload": json.dumps({"IsCommandNoop": False})}
r = call("PutHostCommandAcknowledgement", {"HostCommandIdentifier": a1["HostCommandIdentifier"], "Diagnostics": noop})
check("ack -> CommandStatus InProgress", r == (200, {"CommandStatus": "InProgress"}), r)
r = call("PutHostCommandAcknowledgement", {"HostCommandIdentifier": b1["HostCommandIdentifier"],
                                           "Diagnostics": {"Format": "JSON", "Payload": "{\"IsCommandNoop\":true}"}})
check("ack status override (ApplicationStop -> Succeeded)", r == (200, {"CommandStatus": "Succeeded"}), r)
r = call("PutHostCommandAcknowledgement", {"HostCommandIdentifier": "bm9wZQ=="})
check("ack of an unknown HostCommandIdentifier -> ClientException", err(r) == "ClientException", r)
r = call("PollHostCommand", poll)
b2 = r[1].get("HostCommand", {})
check("a command finished by the ack override lets the next one go",
      b2.get("CommandName") == "AfterInstall", r)

# long poll woken by a completion
res = {}
th = threading.Thread(target=lambda: res.update(r=call("PollHostCommand", poll), t=time.time()))
t0 = time.time()
th.start()
time.sleep(0.4)
ok_diag = {"Format": "JSON", "Payload": json.dumps(
    {"error_code": 0, "script_name": "", "message": "Succeeded: ", "log": ""})}
r = call("PutHostCommandComplete", {"HostCommandIdentifier": a1["HostCommandIdentifier"],
                                    "CommandStatus": "Succeeded", "Diagnostics": ok_diag})
check("complete -> 200 {}", r == (200, {}), r)
th.join()
check("a held poll is answered as soon as the next command is ready",
      res["r"][1].get("HostCommand", {}).get("CommandName") == "Install" and res["t"] - t0 < 1.2,
      (res, res.get("t", 0) - t0))
a2 = res["r"][1]["HostCommand"]

# completions: key order, payload limit
bad_order = {"Format": "JSON", "Payload": '{"script_name":"s.sh","error_code":4,"message":"m","log":"l"}'}
r = call("PutHostCommandComplete", {"HostCommandIdentifier": b2["HostCommandIdentifier"],
                                    "CommandStatus": "Failed", "Diagnostics": bad_order})
check("complete with keys out of order accepted (and recorded)", r == (200, {}), r)
big = {"Format": "JSON", "Payload": json.dumps({"error_code": 4, "script_name": "", "message": "", "log": "x" * 8200})}
r = call("PutHostCommandComplete", {"HostCommandIdentifier": a2["HostCommandIdentifier"],
                                    "CommandStatus": "Failed", "Diagnostics": big})
check("Payload over 8192 chars -> ClientException naming Diagnostics.Payload",
      err(r) == "ClientException" and "Diagnostics.Payload" in msg(r), r)

# PostHostCommandUpdate: dropped connection, then an answer
try:
    r = call("PostHostCommandUpdate", {"HostCommandIdentifier": a2["HostCommandIdentifier"],
                                       "EstimatedCompletionTime": int(time.time()) + 60})
    dropped = r
except Exception as e:
    dropped = type(e).__name__
check("fault: drop closes the connection without an answer", isinstance(dropped, str), dropped)
r = call("PostHostCommandUpdate", {"HostCommandIdentifier": a2["HostCommandIdentifier"],
                                   "EstimatedCompletionTime": time.time() + 60})
check("update -> CommandStatus InProgress", r == (200, {"CommandStatus": "InProgress"}), r)

r = call("PutHostCommandComplete", {"HostCommandIdentifier": a2["HostCommandIdentifier"],
                                    "CommandStatus": "Succeeded", "Diagnostics": ok_diag})
check("last command of d-AAAAAAAAA completed", r == (200, {}), r)
r = call("PollHostCommand", poll)
c1 = r[1].get("HostCommand", {})
check("'after' deployment starts once the first finishes", c1.get("CommandName") == "ValidateService"
      and "d-CCCCCCCCC" in c1.get("DeploymentExecutionId", ""), r)
r = call("GetDeploymentSpecification", {"HostIdentifier": HOST, "DeploymentExecutionId": c1["DeploymentExecutionId"]})
env = r[1]["DeploymentSpecification"]["GenericEnvelope"]
check("TEXT/JSON spec is the plain JSON", env["Format"] == "TEXT/JSON"
      and json.loads(env["Payload"])["Revision"]["RevisionType"] == "Local Directory", env)
r = call("PutHostCommandAcknowledgement", {"HostCommandIdentifier": c1["HostCommandIdentifier"]})
check("fault kind ack: ack of ValidateService returns Pending", r == (200, {"CommandStatus": "Pending"}), r)
r = call("PutHostCommandComplete", {"HostCommandIdentifier": c1["HostCommandIdentifier"],
                                    "CommandStatus": "Succeeded", "Diagnostics": ok_diag})
r = call("PutHostCommandComplete", {"HostCommandIdentifier": c1["HostCommandIdentifier"],
                                    "CommandStatus": "Failed", "Diagnostics": ok_diag})
check("a second completion is accepted (recorded as duplicate)", r == (200, {}), r)
PY

# curl's own SigV4 implementation, keep-alive and Expect: 100-continue
if curl --help all 2>/dev/null | grep -q aws-sigv4; then
	cu() {
		curl -s --cacert "$PKI/ca.pem" --aws-sigv4 "aws:amz:us-east-1:codedeploy-commands" \
			--user 'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' \
			-H 'Content-Type: application/x-amz-json-1.1' \
			-H 'X-Amz-Target: CodeDeployCommandService_v20141006.PollHostCommand' \
			-d "{\"HostIdentifier\":\"$HOST\"}" "https://127.0.0.1:$PORT/" "$@"
	}
	out=$(cu -H 'Expect: 100-continue' -w ' %{http_code}' --next -v 2>"$T/curl.err" \
		--cacert "$PKI/ca.pem" --aws-sigv4 "aws:amz:us-east-1:codedeploy-commands" \
		--user 'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' \
		-H 'Content-Type: application/x-amz-json-1.1' \
		-H 'X-Amz-Target: CodeDeployCommandService_v20141006.PollHostCommand' \
		-d "{\"HostIdentifier\":\"$HOST\"}" "https://127.0.0.1:$PORT/" -w ' %{http_code}')
	check "curl --aws-sigv4 (another signer) accepted, with Expect: 100-continue" \
		[ "$out" = "{} 200{} 200" ]
	check "keep-alive: second request on the same connection" grep -q "Re-using existing connection" "$T/curl.err"
	out=$(curl -s --cacert "$PKI/ca.pem" -w ' %{http_code}' "https://127.0.0.1:$PORT/")
	check "unsigned GET / (agent TLS probe) gets an HTTP answer" [ "$out" = '{"__type": "UnknownOperationException"} 404' ]
else
	skip "curl without --aws-sigv4"
fi

# ---- transcript ---------------------------------------------------------------
Q="python3 $FCP/transcript.py $TR"
out=$($Q completes --deployment d-AAAAAAAAA)
check "transcript: completes --deployment lists both commands in order" python3 -c '
import json, sys; c = json.loads(sys.argv[1])
assert [x["command"] for x in c] == ["BeforeInstall", "Install"], c
assert [x["status"] for x in c] == ["Succeeded", "Succeeded"], c
assert all(x["key_order_ok"] and not x["problems"] for x in c), c
assert c[0]["diagnostics"] == {"error_code": 0, "script_name": "", "message": "Succeeded: ", "log": ""}
' "$out"
check "transcript: wrong key order recorded" python3 -c '
import json, sys; c = json.loads(sys.argv[1])
assert len(c) == 1 and c[0]["key_order_ok"] is False and c[0]["problems"], c
' "$($Q completes --deployment d-BBBBBBBBB)"
check "transcript: duplicate completion recorded" python3 -c '
import json, sys; c = json.loads(sys.argv[1])
assert [x["duplicate"] for x in c] == [False, True], c
' "$($Q completes --deployment d-CCCCCCCCC)"
check "transcript: issued commands of d-BBBBBBBBB" \
	[ "$($Q commands --deployment d-BBBBBBBBB | tr -d ' \n')" = '["ApplicationStop","AfterInstall"]' ]
check "transcript: deployment statuses" \
	[ "$($Q deployment d-AAAAAAAAA)/$($Q deployment d-BBBBBBBBB)/$($Q deployment d-CCCCCCCCC)" = Succeeded/Failed/Succeeded ]
check "transcript: ack records the no-op flag and override" python3 -c '
import json, sys; a = json.loads(sys.argv[1])
assert [(x["command"], x["is_noop"], x["returned_status"]) for x in a] == [("ApplicationStop", True, "Succeeded")], a
' "$($Q acks --deployment d-BBBBBBBBB)"
check "transcript: bad signatures counted" [ "$($Q count --bad-sig)" -ge 8 ]
check "transcript: the injected 500 is recorded" [ "$($Q count --op PollHostCommand --status 500)" -eq 1 ]
check "transcript: the dropped request is recorded" python3 -c '
import json, sys; r = json.loads(sys.argv[1])
d = [x for x in r if x["fault"] == "drop"]
assert len(d) == 1 and d[0]["status"] is None and d[0]["response"] is None, r
' "$($Q requests --op PostHostCommandUpdate)"
check "transcript: every request has time, signature_ok, status, response" python3 -c '
import sys; sys.path.insert(0, sys.argv[2]); import transcript as t
rs = t.requests(t.load(sys.argv[1])); assert len(rs) > 40, len(rs)
for r in rs:
    assert isinstance(r["t"], float) and "signature_ok" in r and "status" in r and "response" in r, r
    assert "request" in r and "operation" in r, r
' "$TR" "$FCP"
echo '{"deployments": [{"deployment_id": "d-1", "comand": []}], "faults": [{"kind": "boom"}]}' > "$T/typo.json"
python3 "$FCP/fakecp.py" --scenario "$T/typo.json" --port 0 >"$T/typo.out" 2>&1; rc=$?
check "scenario typos are fatal (exit 2, named)" sh -c "[ $rc -eq 2 ] && grep -q \"unknown key 'comand'\" '$T/typo.out' && grep -q \"unknown kind 'boom'\" '$T/typo.out'"
check "transcript: spec_served events" [ "$($Q count --event spec_served)" -ge 3 ]
$Q wait --event deployment_finished --count 3 --timeout 2
check "transcript wait: all three deployments finished" [ $? -eq 0 ]

kill -TERM "$FCP_PID"; wait "$FCP_PID"; rc=$?
check "SIGTERM: clean exit 0" [ "$rc" -eq 0 ]
check "SIGTERM: server_stop in the transcript" [ "$($Q count --event server_stop)" -eq 1 ]

# ---- secure model, plain HTTP, session token, command-line faults ------------
echo '{"empty_poll": {"HostCommand": null}}' > "$T/scenario2.json"
bg_start "$T/fakecp2.log" python3 "$FCP/fakecp.py" --certs "$PKI" --http --secure \
	--scenario "$T/scenario2.json" \
	--port 0 --port-file "$T/port2" --transcript "$T/tr2.jsonl" --poll-hold 0.2 \
	--access-key ASIATEST --secret-key s3cr3t --session-token TOK \
	--fault '{"op": "PollHostCommand", "kind": "throttle", "times": 2}' \
	--fault '{"op": "PollHostCommand", "kind": "slow", "seconds": 0.6}' \
	--fault '{"kind": "error", "status": 403, "type": "AccessDeniedException", "message": "no"}' \
	--fault '{"op": "PollHostCommand", "kind": "garbage"}' \
	--fault '{"op": "PollHostCommand", "kind": "reset"}'
FCP2_PID=$BG_PID
wait_file "$T/port2"
python3 - "http://127.0.0.1:$(cat "$T/port2")" "$FCP" <<'PY' 2>&1 | report
import sys, time
sys.path.insert(0, sys.argv[2])
sys.excepthook = lambda t, v, tb: print("FAIL driver crashed: %s: %s" % (t.__name__, v))
import client
URL = sys.argv[1]
kw = dict(access_key="ASIATEST", secret_key="s3cr3t", session_token="TOK", secure=True)
def check(name, cond, detail=""):
    print(("ok " if cond else "FAIL ") + name + ("" if cond else ": %s" % (detail,)))
p = {"HostIdentifier": "i-1"}
r = client.call(URL, "PollHostCommand", p, **dict(kw, session_token=None))
check("session token missing -> UnrecognizedClientException", r[1].get("__type") == "UnrecognizedClientException", r)
r = client.call(URL, "PollHostCommand", p, **dict(kw, session_token="OTHER"))
check("wrong session token -> UnrecognizedClientException", r[1].get("__type") == "UnrecognizedClientException", r)
r = client.call(URL, "PollHostCommand", p, **dict(kw, secure=False))
check("secure server: codedeploy-commands signing name rejected", r[1].get("__type") == "InvalidSignatureException", r)
r = client.call(URL, "PollHostCommand", p, **dict(kw, service="codedeploy-commands-secure",
                                                   target_prefix="CodeDeployCommandService_v20141006"))
check("secure server: _v20141006 prefix -> UnknownOperationException",
      r == (400, {"__type": "UnknownOperationException"}), r)
r1 = client.call(URL, "PollHostCommand", p, **kw)
r2 = client.call(URL, "PollHostCommand", p, **kw)
check("--fault: throttled twice (400 ThrottlingException)",
      [r1[0], r1[1].get("__type"), r2[0]] == [400, "ThrottlingException", 400], (r1, r2))
t0 = time.time()
r3 = client.call(URL, "PollHostCommand", p, **kw)
dt = time.time() - t0
check("--fault slow: delayed, then answered (no deployments: {} after the hold)",
      r3 == (200, {"HostCommand": None}) and 0.75 < dt < 2.5, (r3, dt))
r = client.call(URL, "PollHostCommand", p, **kw)
check("--fault error: 403 AccessDeniedException",
      r == (403, {"__type": "AccessDeniedException", "message": "no"}), r)
r = client.call(URL, "PollHostCommand", p, **kw)
check("--fault garbage: 200 with a non-JSON body", r[0] == 200 and isinstance(r[1], str), r)
try:
    r = client.call(URL, "PollHostCommand", p, **kw)
except Exception as e:
    r = type(e).__name__
check("--fault reset: connection reset", r in ("ConnectionResetError", "RemoteDisconnected"), r)
r = client.call(URL, "PollHostCommand", p, **kw)
check("faults used up: normal answer again", r == (200, {"HostCommand": None}), r)
PY
kill -TERM "$FCP2_PID"; wait "$FCP2_PID"
check "secure/http server: clean exit" [ $? -eq 0 ]
