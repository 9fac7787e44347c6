#!/bin/sh
# End-to-end tests of `cdagent run` against the fake control plane
# (tests/fakecp, HTTPS with a test CA, SigV4 checked on every request) and
# moto as S3: full in-place deployments from S3, a second deployment, a
# failing hook, a timeout, a tampered specification, an ack of Failed, two
# groups in parallel, poll backoff, crash recovery, and SIGTERM.
. "$(dirname "$0")/lib.sh"

FCP=$TOP/tests/fakecp
TRQ="python3 $FCP/transcript.py"
export PYTHONDONTWRITEBYTECODE=1
HOST=arn:aws:iam::123456789012:user/onprem-1
AK=AKIDEXAMPLE SK=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY

sh "$FCP/mkca.sh" "$T/pki" >/dev/null 2>&1 || { fail "mkca"; exit 0; }
export AWS_SSL_CA_BUNDLE=$T/pki/ca.pem
moto_start || { fail "moto start"; exit 0; }
APP_PORT=$(free_port)

# ---- bundles in S3 ----------------------------------------------------------
mkbundle() { # mkbundle NAME VERSION: the example app, sandboxed under $T
	_d=$T/src/$1
	rm -rf "$_d"; mkdir -p "$T/src"; cp -a "$TOP/hooks-examples/linux" "$_d"
	sed -i "s|/var/www/cdagent-example|$T/www|" "$_d/appspec.yml"
	printf 'APP_DIR=%s/www\nAPP_PORT=%s\nAPP_PIDFILE=%s/server.pid\n' "$T" "$APP_PORT" "$T" > "$_d/scripts/env.sh"
	sed -i "s|Deployed by cdagent.|Deployed by cdagent: revision $2.|" "$_d/app/index.html"
}
hookonly() { # hookonly NAME EVENT TIMEOUT BODY
	_d=$T/src/$1; rm -rf "$_d"; mkdir -p "$_d"
	printf 'version: 0.0\nos: linux\nhooks:\n  %s:\n    - location: h.sh\n      timeout: %s\n' "$2" "$3" > "$_d/appspec.yml"
	printf '#!/bin/sh\n%s\n' "$4" > "$_d/h.sh"; chmod +x "$_d/h.sh"
}
mkbundle v1 1; echo "only in revision 1" > "$T/src/v1/app/old.html"
mkbundle v2 2
hookonly fail AfterInstall 30 'echo "about to fail"; echo "on stderr" >&2; exit 3'
hookonly slow AfterInstall 1 'echo sleeping; trap "" TERM; sleep 60'
hookonly par1 AfterInstall 30 "date +%s.%N > $T/par1.start; sleep 2; date +%s.%N > $T/par1.end"
hookonly par2 AfterInstall 30 "date +%s.%N > $T/par2.start; sleep 2; date +%s.%N > $T/par2.end"
hookonly graceful AfterInstall 60 "echo \$\$ > $T/graceful.pid; sleep 3; echo finished"
hookonly crash AfterInstall 120 "echo \$\$ > $T/crash.pid; sleep 100 & echo \$! >> $T/crash.pid; wait"
python3 - "$MOTO_URL" "$T/src" <<'PY' || fail "upload bundles"
import boto3, io, os, sys, tarfile
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
s3.create_bucket(Bucket="bundles")
for name in os.listdir(sys.argv[2]):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(os.path.join(sys.argv[2], name), arcname=".")
    s3.put_object(Bucket="bundles", Key="app/%s.tgz" % name, Body=buf.getvalue())
PY

# ---- agent configuration ---------------------------------------------------
cat > "$T/onprem.yml" <<EOF2
---
aws_access_key_id: $AK
aws_secret_access_key: $SK
iam_user_arn: $HOST
region: us-east-1
EOF2
start_fakecp() { # start_fakecp SCENARIO [ARGS...]
	_s=$1; shift
	rm -f "$T/port"
	bg_start "$T/fakecp.log" python3 "$FCP/fakecp.py" --scenario "$_s" \
		--certs "$T/pki" --port 0 --port-file "$T/port" --transcript "$T/tr.jsonl" "$@"
	FCP_PID=$BG_PID
	wait_file "$T/port"
	cat > "$T/agent.yml" <<EOF2
---
:root_dir: '$T/root'
:log_dir: '$T/log'
:on_premises_config_file: '$T/onprem.yml'
:pid_dir: '$T/pid'
:deploy_control_endpoint: 'https://127.0.0.1:$(cat "$T/port")/'
:s3_endpoint_override: '$MOTO_URL'
:wait_between_runs: 0
:hook_kill_grace_seconds: 1
:kill_agent_max_wait_time_seconds: 20
EOF2
}
stop_fakecp() { kill "$FCP_PID" 2>/dev/null; wait "$FCP_PID" 2>/dev/null; }
rev() { printf '{"RevisionType":"S3","S3Revision":{"Bucket":"bundles","Key":"app/%s.tgz","BundleType":"tgz"}}' "$1"; }
completes() { $TRQ "$T/tr.jsonl" completes --deployment "$1"; }
# diag D COMMAND FIELD: a field of the diagnostics payload of D's COMMAND
diag() {
	python3 - "$T/tr.jsonl" "$1" "$2" "$3" <<'PY'
import json, sys
sys.path.insert(0, "%s/tests/fakecp" % __import__("os").environ["TOP"])
import transcript
for r in transcript.load(sys.argv[1]):
    if r.get("type") == "request" and r.get("operation") == "PutHostCommandComplete" \
            and r.get("deployment_id", "") in ("", sys.argv[2]):
        b = r.get("request") or {}
        ev = [e for e in transcript.events(transcript.load(sys.argv[1]), "command_issued")
              if e.get("host_command_identifier") == b.get("HostCommandIdentifier")]
        if ev and ev[0].get("deployment_id") == sys.argv[2] and ev[0].get("command") == sys.argv[3]:
            p = json.loads(b["Diagnostics"]["Payload"])
            if sys.argv[4] == "keys":
                print(",".join(p.keys()))
            elif sys.argv[4] == "status":
                print(b["CommandStatus"])
            else:
                print(p[sys.argv[4]])
            break
PY
}

# ---- run 1: deployments, failures, tampering, parallel groups ---------------
IN_PLACE='["ApplicationStop","DownloadBundle","BeforeInstall","Install","AfterInstall","ApplicationStart","ValidateService"]'
cat > "$T/s1.json" <<EOF2
{"host_identifier": "$HOST", "deployments": [
 {"deployment_id": "d-AAAAAAAA1", "group_id": "g-app", "group_name": "App", "application_name": "Example",
  "revision": $(rev v1), "commands": $IN_PLACE},
 {"deployment_id": "d-AAAAAAAA2", "group_id": "g-app", "group_name": "App", "application_name": "Example",
  "revision": $(rev v2), "commands": $IN_PLACE, "after": "d-AAAAAAAA1"},
 {"deployment_id": "d-FAILHOOK1", "group_id": "g-fail", "group_name": "Fail", "application_name": "F",
  "revision": $(rev fail), "commands": ["DownloadBundle","Install","AfterInstall"]},
 {"deployment_id": "d-TIMEOUT01", "group_id": "g-slow", "group_name": "Slow", "application_name": "S",
  "revision": $(rev slow), "commands": ["DownloadBundle","Install","AfterInstall"]},
 {"deployment_id": "d-TAMPERED1", "group_id": "g-tamper", "group_name": "Tamper", "application_name": "T",
  "revision": $(rev v1), "commands": ["DownloadBundle"], "tamper": true},
 {"deployment_id": "d-ACKFAIL01", "group_id": "g-ack", "group_name": "Ack", "application_name": "A",
  "revision": $(rev v1), "commands": ["BeforeBlockTraffic"], "ack_status": {"BeforeBlockTraffic": "Failed"}},
 {"deployment_id": "d-PARALLEL1", "group_id": "g-par1", "group_name": "P1", "application_name": "P",
  "revision": $(rev par1), "commands": ["DownloadBundle","AfterInstall"], "after": "d-AAAAAAAA2"},
 {"deployment_id": "d-PARALLEL2", "group_id": "g-par2", "group_name": "P2", "application_name": "P",
  "revision": $(rev par2), "commands": ["DownloadBundle","AfterInstall"], "after": "d-AAAAAAAA2"}
]}
EOF2
start_fakecp "$T/s1.json" --poll-hold 1
bg_start "$T/agent1.log" "$CDAGENT" run -c "$T/agent.yml"
AGENT=$BG_PID
for d in d-AAAAAAAA2 d-FAILHOOK1 d-TIMEOUT01 d-TAMPERED1 d-ACKFAIL01 d-PARALLEL1 d-PARALLEL2; do
	$TRQ "$T/tr.jsonl" wait --event deployment_finished --deployment $d --timeout 90 >/dev/null ||
		echo "timed out waiting for $d"
done
t0=$(date +%s.%N)
kill -TERM $AGENT; wait $AGENT; rc=$?
check "run: SIGTERM exits 0" [ $rc -eq 0 ]
check "run: every request correctly signed" [ "$($TRQ "$T/tr.jsonl" count --bad-sig)" = 0 ]
check "run: no request rejected by the model" [ "$($TRQ "$T/tr.jsonl" count --status 400)" = 0 ]
check "deploy 1 from S3: Succeeded" [ "$($TRQ "$T/tr.jsonl" deployment d-AAAAAAAA1)" = Succeeded ]
check "deploy 2 from S3: Succeeded" [ "$($TRQ "$T/tr.jsonl" deployment d-AAAAAAAA2)" = Succeeded ]
check "deploy: app serves revision 2" sh -c "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$APP_PORT/').read().decode())\" | grep -q 'revision 2'"
check "deploy 2: ApplicationStop ran revision 1's script" grep -q "stopped pid" "$T"/root/g-app/d-AAAAAAAA2/logs/scripts.log
check "deploy 2: revision 1's old.html cleaned up" [ ! -e "$T/www/old.html" ]
check "diagnostics: success payload" [ "$(diag d-AAAAAAAA1 Install message)" = "Succeeded: " ]
check "diagnostics: keys in order" [ "$(diag d-FAILHOOK1 AfterInstall keys)" = "error_code,script_name,message,log" ]
check "failing hook: Failed" [ "$(diag d-FAILHOOK1 AfterInstall status)" = Failed ]
check "failing hook: error_code 4" [ "$(diag d-FAILHOOK1 AfterInstall error_code)" = 4 ]
check "failing hook: script_name" [ "$(diag d-FAILHOOK1 AfterInstall script_name)" = h.sh ]
check "failing hook: message" [ "$(diag d-FAILHOOK1 AfterInstall message)" = "Script at specified location: h.sh failed with exit code 3" ]
check "failing hook: log tail" sh -c "[ \"\$(cat <<'X'
$(diag d-FAILHOOK1 AfterInstall log)
X
)\" = \"LifecycleEvent - AfterInstall
Script - h.sh
[stdout]about to fail
[stderr]on stderr\" ]"
check "timeout: error_code 3" [ "$(diag d-TIMEOUT01 AfterInstall error_code)" = 3 ]
check "timeout: message" [ "$(diag d-TIMEOUT01 AfterInstall message)" = "Script at specified location: h.sh failed to complete in 1 seconds" ]
check "tampered spec: Failed" [ "$(diag d-TAMPERED1 DownloadBundle status)" = Failed ]
check "tampered spec: error_code 5, says why" sh -c "[ '$(diag d-TAMPERED1 DownloadBundle error_code)' = 5 ] && echo '$(diag d-TAMPERED1 DownloadBundle message)' | grep -q 'does not verify'"
check "tampered spec: nothing downloaded" [ ! -e "$T/root/g-tamper" ]
check "ack Failed on a no-op: completed as CompletedNoopCommand" [ "$(diag d-ACKFAIL01 BeforeBlockTraffic message)" = "Succeeded: CompletedNoopCommand" ]
check "one completion per command" python3 - "$T/tr.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["request"]["HostCommandIdentifier"] for l in open(sys.argv[1])
    if '"PutHostCommandComplete"' in l and json.loads(l).get("type") == "request")
sys.exit(0 if c and max(c.values()) == 1 else 1)
PY
if [ -f "$T/par1.start" ] && [ -f "$T/par2.start" ]; then
	check "two groups ran in parallel (hooks overlap)" python3 -c "
import sys
a=[float(open('$T/par1.'+x).read()) for x in ('start','end')]
b=[float(open('$T/par2.'+x).read()) for x in ('start','end')]
sys.exit(0 if a[0] < b[1] and b[0] < a[1] else 1)"
else
	fail "two groups ran in parallel: hooks did not run"
fi
check "status: shows groups" sh -c "'$CDAGENT' status -c '$T/agent.yml' | grep -q 'g-app'"
stop_fakecp

# ---- run 2: poll errors back off as §3.1 (10 s, then 13 s) ------------------
: > "$T/tr.jsonl"
printf '{"host_identifier": "%s", "deployments": [], "faults": [{"op": "PollHostCommand", "times": 2, "kind": "500"}]}\n' "$HOST" > "$T/s2.json"
start_fakecp "$T/s2.json" --poll-hold 0.2
bg_start "$T/agent2.log" "$CDAGENT" run -c "$T/agent.yml"
AGENT=$BG_PID
$TRQ "$T/tr.jsonl" wait --timeout 40 --count 3 --event poll_answered >/dev/null 2>&1 || sleep 26
kill -TERM $AGENT; wait $AGENT
check "backoff: 10 s then 13 s after 5xx" python3 - "$T/tr.jsonl" <<'PY'
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])
     if json.loads(l).get("type") == "request" and json.loads(l).get("operation") == "PollHostCommand"]
if len(t) < 3:
    print("only %d polls" % len(t)); sys.exit(1)
d1, d2 = t[1] - t[0], t[2] - t[1]
print("gaps %.1f %.1f" % (d1, d2))
sys.exit(0 if 9.5 <= d1 <= 11.5 and 12.5 <= d2 <= 14.5 else 1)
PY
stop_fakecp

# ---- run 3: SIGKILL mid-hook, restart: code 7 once, hook tree gone ----------
: > "$T/tr.jsonl"
cat > "$T/s3.json" <<EOF2
{"host_identifier": "$HOST", "deployments": [
 {"deployment_id": "d-CRASH0001", "group_id": "g-crash", "group_name": "C", "application_name": "C",
  "revision": $(rev crash), "commands": ["DownloadBundle","AfterInstall"]}]}
EOF2
start_fakecp "$T/s3.json" --poll-hold 0.5
bg_start "$T/agent3.log" "$CDAGENT" run -c "$T/agent.yml"
AGENT=$BG_PID
wait_file "$T/crash.pid" 200
sleep 0.3
kill -KILL $AGENT; wait $AGENT 2>/dev/null
alive_before=0
for p in $(cat "$T/crash.pid" 2>/dev/null); do kill -0 "$p" 2>/dev/null && alive_before=$((alive_before + 1)); done
check "crash: the hook outlived the agent" [ $alive_before -ge 1 ]
check "crash: tracking file records the command" [ -s "$T/root/ongoing-deployment/d-CRASH0001" ]
"$CDAGENT" run -c "$T/agent.yml" --once > "$T/agent3b.log" 2>&1
sleep 0.3
alive=0
for p in $(cat "$T/crash.pid" 2>/dev/null); do
	st=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$p/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && alive=$((alive + 1))
done
check "crash: restart killed the leftover hook tree" [ $alive -eq 0 ]
check "crash: code 7 reported" [ "$(diag d-CRASH0001 AfterInstall error_code)" = 7 ]
check "crash: message" [ "$(diag d-CRASH0001 AfterInstall message)" = "Failed: Failing in-progress lifecycle event after an agent restart." ]
check "crash: reported exactly once" [ "$($TRQ "$T/tr.jsonl" count --op PutHostCommandComplete)" = 2 ]
check "crash: tracking file removed" [ ! -e "$T/root/ongoing-deployment/d-CRASH0001" ]
stop_fakecp

# ---- run 3b: SIGTERM while a hook runs: it finishes and is reported ---------
: > "$T/tr.jsonl"
cat > "$T/s3b.json" <<EOF2
{"host_identifier": "$HOST", "deployments": [
 {"deployment_id": "d-GRACEFUL1", "group_id": "g-grace", "group_name": "G", "application_name": "G",
  "revision": $(rev graceful), "commands": ["DownloadBundle","AfterInstall"]}]}
EOF2
start_fakecp "$T/s3b.json" --poll-hold 0.5
bg_start "$T/agent3c.log" "$CDAGENT" run -c "$T/agent.yml"
AGENT=$BG_PID
wait_file "$T/graceful.pid" 200
kill -TERM $AGENT; wait $AGENT; rc=$?
check "graceful stop: exit 0" [ $rc -eq 0 ]
check "graceful stop: the running hook finished and was reported Succeeded" [ "$(diag d-GRACEFUL1 AfterInstall status)" = Succeeded ]
check "graceful stop: nothing left to journal" [ -z "$(ls -A "$T/root/.cdagent/journal" 2>/dev/null)" ]
stop_fakecp

# ---- run 4: SIGTERM during a long poll exits within a second ----------------
: > "$T/tr.jsonl"
printf '{"host_identifier": "%s", "deployments": []}\n' "$HOST" > "$T/s4.json"
start_fakecp "$T/s4.json" --poll-hold 30
bg_start "$T/agent4.log" "$CDAGENT" run -c "$T/agent.yml"
AGENT=$BG_PID
sleep 2
check "pid file names the agent" [ "$(cat "$T/pid/codedeploy-agent.pid" 2>/dev/null)" = "$AGENT" ]
"$CDAGENT" run -c "$T/agent.yml" --once > "$T/o2" 2>&1; rc=$?
check "a second agent on the same config refuses to start" [ $rc -eq 1 ]
check "a second agent says another one runs" grep -q "another agent is running" "$T/o2"
t0=$(date +%s%N)
kill -TERM $AGENT; wait $AGENT; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "SIGTERM during a long poll: exit 0" [ $rc -eq 0 ]
check "pid file removed at exit" [ ! -e "$T/pid/codedeploy-agent.pid" ]
check "SIGTERM during a long poll: gone in ${ms} ms (< 1000)" [ $ms -lt 1000 ]
stop_fakecp

# ---- cloned host: machine id differs from the registered one --------------
cp "$T/onprem.yml" "$T/onprem-orig.yml"
echo "machine_id: 0123456789abcdef0123456789abcdef" >> "$T/onprem.yml"
echo "fedcba9876543210fedcba9876543210" > "$T/machine-id"
CDAGENT_MACHINE_ID_FILE=$T/machine-id "$CDAGENT" run -c "$T/agent.yml" --once > "$T/o" 2>&1; rc=$?
check "cloned host: exit 78 (not restarted by systemd)" [ $rc -eq 78 ]
check "cloned host: says what to do" grep -q "image-prep" "$T/o"
echo "0123456789abcdef0123456789abcdef" > "$T/machine-id"
cp "$T/onprem-orig.yml" "$T/onprem.yml"

# ---- EC2: identity and credentials from instance metadata (§8.3) ----------
: > "$T/tr.jsonl"
EC2ID=arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0
cat > "$T/s5.json" <<EOF2
{"host_identifier": "$EC2ID", "deployments": [
 {"deployment_id": "d-EC2000001", "group_id": "g-ec2", "group_name": "E", "application_name": "E",
  "revision": $(rev v1), "commands": ["BeforeBlockTraffic"]}]}
EOF2
start_fakecp "$T/s5.json" --poll-hold 0.5
IMDS_PORT=$(free_port)
bg_start "$T/imds.log" python3 "$TOP/tests/e2e/fakeimds.py" "$IMDS_PORT" "$AK" "$SK" us-east-1
IMDS_PID=$BG_PID
sleep 0.5
sed -i "s|onprem.yml|no-onprem.yml|" "$T/agent.yml"
CDAGENT_IMDS_ENDPOINT=http://127.0.0.1:$IMDS_PORT timeout 60 "$CDAGENT" run -c "$T/agent.yml" --once > "$T/o" 2>&1; rc=$?
check "EC2: run --once with metadata identity (rc $rc)" [ $rc -eq 0 ] || sed 's/^/    | /' "$T/o" | tail -5
check "EC2: polled as arn:aws:ec2:...:instance/i-..." grep -q "\"HostIdentifier\": \"$EC2ID\"" "$T/tr.jsonl"
check "EC2: signed with the role credentials" [ "$($TRQ "$T/tr.jsonl" count --bad-sig)" = 0 ]
check "EC2: the command completed" [ "$($TRQ "$T/tr.jsonl" deployment d-EC2000001)" = Succeeded ]
kill "$IMDS_PID" 2>/dev/null; wait "$IMDS_PID" 2>/dev/null
stop_fakecp
sed -i "s|no-onprem.yml|onprem.yml|" "$T/agent.yml"

# ---- bad identity: a clear error ---------------------------------------------
sed -i 's|onprem.yml|missing.yml|' "$T/agent.yml"
CDAGENT_IMDS_ENDPOINT=http://127.0.0.1:$(free_port) \
	"$CDAGENT" run -c "$T/agent.yml" --once > "$T/o" 2>&1; rc=$?
check "no identity: fails" [ $rc -ne 0 ]
check "no identity: says to register" grep -q "register" "$T/o"
