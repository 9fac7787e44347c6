#!/bin/sh
# tests/bench/soak.sh DIR: the footprint soak of issue 5.
#
# One `cdagent run` process, sampled from /proc/PID/status (VmRSS) once a
# second into $BENCH/soak-rss.tsv:
#  1. idle polling: fakecp (HTTPS, SigV4 checked) with no deployments and
#     --poll-hold 0, the agent with :wait_between_runs: 0, so polls are
#     back to back, until BENCH_POLLS polls (default 10,000) are answered;
#  2. the agent is pointed (config rewrite + SIGHUP, the documented reload)
#     at a second fakecp holding BENCH_DEPLOYS deployments (default 1,000),
#     chained one after the other in one group, each DownloadBundle +
#     Install of a tiny tgz from moto (S3) with a PKCS7/JSON signed spec;
#     each Install replaces the previous one's file (cleanup included).
# RSS is read at start (after the first answered polls), after the polls,
# right after the reload, and after the deployments.
. "$(dirname "$0")/lib.sh"

S=$1
POLLS=${BENCH_POLLS:-10000}
DEPLOYS=${BENCH_DEPLOYS:-1000}
MAXWAIT=${BENCH_SOAK_MAX_S:-900}	# per phase
FCP=$TOP/tests/fakecp
HOST=arn:aws:iam::123456789012:user/onprem-1
rm -rf "$S"; mkdir -p "$S"
export PYTHONDONTWRITEBYTECODE=1

python3 -c 'import moto, boto3' 2>/dev/null || { say "soak: python3 moto/boto3 missing (tests/e2e need them too)"; exit 1; }
sh "$FCP/mkca.sh" "$S/pki" >/dev/null 2>&1 || { say "soak: mkca failed"; exit 1; }
export AWS_SSL_CA_BUNDLE=$S/pki/ca.pem

# ---- moto (S3) and the bundle -------------------------------------------------
MOTO_PORT=$(free_port)
bg "$S/moto.log" python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
MOTO_URL=http://127.0.0.1:$MOTO_PORT
mkdir -p "$S/src"
printf 'version: 0.0\nos: linux\nfiles:\n  - source: index.html\n    destination: %s/www\n' "$S" > "$S/src/appspec.yml"
echo "soak" > "$S/src/index.html"
python3 - "$MOTO_URL" "$S/src" <<'PY' || { say "soak: S3 upload to moto failed"; exit 1; }
import boto3, io, sys, tarfile, time
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(150):
    try:
        s3.create_bucket(Bucket="bundles"); break
    except Exception:
        time.sleep(0.1)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    t.add(sys.argv[2], arcname=".")
s3.put_object(Bucket="bundles", Key="soak.tgz", Body=buf.getvalue())
PY

# ---- scenarios ------------------------------------------------------------------
printf '{"host_identifier": "%s", "deployments": []}\n' "$HOST" > "$S/idle.json"
python3 - "$HOST" "$DEPLOYS" > "$S/deploys.json" <<'PY'
import json, sys
host, n = sys.argv[1], int(sys.argv[2])
rev = {"RevisionType": "S3", "S3Revision": {"Bucket": "bundles", "Key": "soak.tgz", "BundleType": "tgz"}}
deps = []
for i in range(n):
    d = {"deployment_id": "d-S%08d" % i, "group_id": "g-soak", "group_name": "Soak",
         "application_name": "Soak", "revision": rev, "commands": ["DownloadBundle", "Install"],
         "file_exists_behavior": "OVERWRITE"}
    if i:
        d["after"] = "d-S%08d" % (i - 1)
    deps.append(d)
print(json.dumps({"host_identifier": host, "deployments": deps}))
PY
cat > "$S/onprem.yml" <<EOF
---
aws_access_key_id: AKIDEXAMPLE
aws_secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
iam_user_arn: $HOST
region: us-east-1
EOF
start_fakecp() { # start_fakecp NAME SCENARIO: sets FCP_PORT, TR
	TR=$S/$1.jsonl; rm -f "$S/$1.port" "$TR"
	bg "$S/$1.log" python3 "$TOP/tests/bench/fakecp_fast.py" --scenario "$2" --certs "$S/pki" \
		--port 0 --port-file "$S/$1.port" --transcript "$TR" --poll-hold 0
	_i=0
	while [ ! -s "$S/$1.port" ]; do
		_i=$((_i + 1)); [ $_i -lt 1800 ] || { say "soak: fakecp $1 did not start"; tail "$S/$1.log" >&2; return 1; }
		sleep 0.1
	done
	FCP_PORT=$(cat "$S/$1.port")
}
agent_conf() {
	cat > "$S/agent.yml.tmp" <<EOF
---
:root_dir: '$S/root'
:log_dir: '$S/log'
:pid_dir: '$S/pid'
:on_premises_config_file: '$S/onprem.yml'
:deploy_control_endpoint: 'https://127.0.0.1:$1/'
:s3_endpoint_override: '$MOTO_URL'
:wait_between_runs: 0
:hook_kill_grace_seconds: 1
:kill_agent_max_wait_time_seconds: 20
EOF
	mv "$S/agent.yml.tmp" "$S/agent.yml"
}
rss_of() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
count() { _c=$(grep -c "$1" "$2" 2>/dev/null); echo "${_c:-0}"; }
polls() { count '"operation": "PollHostCommand"' "$1"; }
finished() { count '"event": "deployment_finished"' "$1"; }

# ---- phase 1: idle polling -------------------------------------------------------
start_fakecp idle "$S/idle.json" || exit 1
agent_conf "$FCP_PORT"
bg "$S/agent.log" "$CDAGENT" run -c "$S/agent.yml"
AGENT=$BG_PID
T0=$(date +%s)
printf 'elapsed_s\tphase\tcount\tvmrss_kib\n' > "$BENCH/soak-rss.tsv"
sample() { printf '%s\t%s\t%s\t%s\n' $(($(date +%s) - T0)) "$1" "$2" "$(rss_of $AGENT)" >> "$BENCH/soak-rss.tsv"; }
i=0
while [ "$(polls "$TR")" -lt 20 ]; do
	kill -0 $AGENT 2>/dev/null || { say "soak: the agent exited"; tail "$S/agent.log" >&2; exit 1; }
	i=$((i + 1)); [ $i -lt 300 ] || { say "soak: no polls answered"; tail "$S/agent.log" >&2; exit 1; }
	sleep 0.1
done
RSS0=$(rss_of $AGENT) P0=$(polls "$TR") t0=$(now_ns)
sample polls "$P0"
n=$P0
while [ "$n" -lt "$POLLS" ]; do
	kill -0 $AGENT 2>/dev/null || { say "soak: the agent exited during polling"; tail "$S/agent.log" >&2; exit 1; }
	[ $(($(date +%s) - T0)) -lt "$MAXWAIT" ] || { note "soak: stopped polling at $n polls after ${MAXWAIT} s"; break; }
	sleep 1; n=$(polls "$TR"); sample polls "$n"
done
t1=$(now_ns)
RSS1=$(rss_of $AGENT) N1=$(polls "$TR")
RATE=$(awk -v n=$((N1 - P0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (t / 1e9) }')
PEAK1=$(awk -F '\t' '$2 == "polls" && $4 > m { m = $4 } END { print m + 0 }' "$BENCH/soak-rss.tsv")
say "  soak: $N1 polls at $RATE polls/s; RSS $RSS0 -> $RSS1 KiB"

# ---- phase 2: deployments after a reload -------------------------------------------
say "  soak: starting fakecp with $DEPLOYS deployments (signing $DEPLOYS specs)"
start_fakecp deploys "$S/deploys.json" || exit 1
agent_conf "$FCP_PORT"
kill -HUP $AGENT
i=0
while ! grep -q '"operation": "PollHostCommand"' "$TR" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 300 ] || { say "soak: the agent did not move to the new fakecp"; tail "$S/agent.log" >&2; exit 1; }
	sleep 0.1
done
RSS2=$(rss_of $AGENT)
t0=$(now_ns) T1=$(date +%s)
n=0
while [ "$n" -lt "$DEPLOYS" ]; do
	kill -0 $AGENT 2>/dev/null || { say "soak: the agent exited during deployments"; tail "$S/agent.log" >&2; exit 1; }
	[ $(($(date +%s) - T1)) -lt "$MAXWAIT" ] || { note "soak: stopped at $n deployments after ${MAXWAIT} s"; break; }
	sleep 1; n=$(finished "$TR"); sample deploys "$n"
done
t1=$(now_ns)
sleep 1
RSS3=$(rss_of $AGENT) M=$(finished "$TR")
OKD=$(grep '"event": "deployment_finished"' "$TR" | grep -c '"status": "Succeeded"')
DRATE=$(awk -v n="$M" -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", n / (t / 1e9) }')
PEAK2=$(awk -F '\t' '$2 == "deploys" && $4 > m { m = $4 } END { print m + 0 }' "$BENCH/soak-rss.tsv")
say "  soak: $M deployments ($OKD succeeded) at $DRATE/s; RSS $RSS2 -> $RSS3 KiB"
kill -TERM $AGENT; wait $AGENT 2>/dev/null

# ---- figures ----------------------------------------------------------------------
kib() { echo "$1 KiB"; }
lim=4096	# 4 MiB
g1=$((RSS1 - RSS0)) g2=$((RSS3 - RSS2))
record soak "RSS at start (after $P0 polls)" - "$RSS0" KiB "< 4096 KiB" "$(verdict "$RSS0" lt $lim)"
record soak "RSS after $N1 polls" - "$RSS1" KiB "< 4096 KiB" "$(verdict "$RSS1" lt $lim)"
record soak "RSS peak while polling (1 s samples)" - "$PEAK1" KiB "< 4096 KiB" "$(verdict "$PEAK1" lt $lim)"
record soak "RSS growth over the polls" - "$g1" KiB "<= 64 KiB" "$(verdict "$g1" le 64)"
record soak "poll rate (fakecp-bound)" - "$RATE" polls/s "" info
record soak "RSS after reload, before deployments" - "$RSS2" KiB "< 4096 KiB" "$(verdict "$RSS2" lt $lim)"
record soak "RSS after $M deployments ($OKD succeeded)" - "$RSS3" KiB "< 4096 KiB" "$(verdict "$RSS3" lt $lim)"
record soak "RSS peak during deployments (1 s samples)" - "$PEAK2" KiB "" info
record soak "RSS growth over the deployments" - "$g2" KiB "<= 64 KiB" "$(verdict "$g2" le 64)"
record soak "deployment rate" - "$DRATE" /s "" info
record soak "binary size (build/cdagent)" - "$(stat -c %s "$CDAGENT")" bytes "" info
[ "$N1" -ge "$POLLS" ] || note "soak: $N1 polls, fewer than the $POLLS asked"
[ "$M" -ge "$DEPLOYS" ] || note "soak: $M deployments, fewer than the $DEPLOYS asked"
[ "$OKD" = "$M" ] || note "soak: only $OKD of $M deployments succeeded (see $S/agent.log)"
exit 0
