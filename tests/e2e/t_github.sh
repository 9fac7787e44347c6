#!/bin/sh
# GitHub revisions end to end (reference §12.2): `cdagent deploy -l` with a
# GitHub URL against tests/e2e/fakegithub.py, an HTTPS stand-in for
# api.github.com (on 127.0.0.1, checks the token) that redirects to a
# codeload stand-in on another host name and port (localhost). Asserts the
# deployment, BUNDLE_COMMIT, the token reaching the API host only and never
# the logs, the §12.2 retry text for a wrong token, the github.com/<o>/<r>
# form, zipballs, and a wrong CA. No AWS identity exists for these runs.
. "$(dirname "$0")/lib.sh"

export PYTHONDONTWRITEBYTECODE=1
TOKEN=ghp_TESTTOKEN0123456789abcdefSECRET
sh "$TOP/tests/fakecp/mkca.sh" "$T/pki" >/dev/null 2>&1 || { fail "mkca"; exit 0; }

# ---- the bundle: files and a hook recording its environment ----------------
B=$T/bundle
mkdir -p "$B/site" "$B/scripts"
echo "from github" > "$B/site/index.html"
cat > "$B/appspec.yml" <<EOF2
version: 0.0
os: linux
files:
  - source: site
    destination: $T/www
hooks:
  AfterInstall:
    - location: scripts/hook.sh
EOF2
cat > "$B/scripts/hook.sh" <<EOF2
#!/bin/sh
env > "$T/hook.env.\$DEPLOYMENT_GROUP_ID"
echo "commit \$BUNDLE_COMMIT"
EOF2
chmod +x "$B/scripts/hook.sh"

: > "$T/gh.log"
bg_start "$T/gh.out" python3 "$TOP/tests/e2e/fakegithub.py" \
    "$T/pki/server.pem" "$T/pki/server.key" "$B" "$TOKEN" "$T/gh.log"
_i=0
while [ "$_i" -lt 100 ] && ! [ -s "$T/gh.out" ]; do sleep 0.05; _i=$((_i + 1)); done
API_PORT=$(head -n 1 "$T/gh.out" | cut -d' ' -f1)
CL_PORT=$(head -n 1 "$T/gh.out" | cut -d' ' -f2)
case $API_PORT$CL_PORT in
''|*[!0-9]*) fail "fakegithub started: $(tail -3 "$T/gh.out")"; exit 0 ;;
esac
ok "fakegithub: API on 127.0.0.1:$API_PORT, codeload on localhost:$CL_PORT"

CONF=$T/agent.yml
cat > "$CONF" <<EOF2
---
:root_dir: '$T/root'
:log_dir: '$T/log'
:on_premises_config_file: '$T/no-such-onprem.yml'
EOF2
LOG=$T/log/codedeploy-local.log
DEAD_PORT=$(free_port)

# gh_deploy GROUP TOKEN LOCATION [ARGS...]: no AWS identity anywhere
gh_deploy() {
	_g=$1 _tok=$2 _loc=$3; shift 3
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	    -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_PROFILE \
	    -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy \
	    CDAGENT_IMDS_ENDPOINT=http://127.0.0.1:$DEAD_PORT \
	    CDAGENT_GITHUB_API=https://127.0.0.1:$API_PORT \
	    AWS_SSL_CA_BUNDLE=${CA:-$T/pki/ca.pem} \
	    CDAGENT_GITHUB_RETRY_DELAY_MS=100 \
	    CDAGENT_GITHUB_TOKEN=$_tok \
	    "$CDAGENT" deploy -c "$CONF" -g "$_g" -l "$_loc" -b OVERWRITE "$@" \
	    >"$T/out" 2>"$T/err"
	_rc=$?
	cat "$T/out" "$T/err" >> "$T/all"
	return $_rc
}
has() { grep -qF -- "$1" "$T/out" "$T/err"; }
show() { cat "$T/out" "$T/err" | sed 's/^/    | /' | tail -n 15; }
# requests SERVER FIELD: that field of every logged request to SERVER
requests() {
	python3 - "$T/gh.log" "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["server"] == sys.argv[2]:
        print(r[sys.argv[3]])
PY
}

# ---- 1. the API form with a token: deployed through the redirect ----------
if gh_deploy g1 "$TOKEN" https://api.github.com/repos/o/r/tarball/abc123 -t tar &&
    has "Local deployment successful"; then
	ok "deploy -l https://api.github.com/repos/o/r/tarball/abc123 -t tar"
else
	fail "deploy -l https://api.github.com/repos/o/r/tarball/abc123"; show
fi
check "files installed from the stripped o-r-abc123/ top directory" \
    grep -qx "from github" "$T/www/index.html"
check "the hook ran with BUNDLE_COMMIT=abc123" \
    grep -qx "BUNDLE_COMMIT=abc123" "$T/hook.env.g1"
check "the API host got /repos/o/r/tarball/abc123" \
    [ "$(requests api path)" = "/repos/o/r/tarball/abc123" ]
check "the token reached the API host" \
    [ "$(requests api authorization)" = "token $TOKEN" ]
check "codeload (another host) was asked for the archive" \
    [ "$(requests codeload path)" = "/o/r/legacy.tar.gz/abc123?token=CODELOADSIG" ]
check "no Authorization header reached the redirect host" \
    [ "$(requests codeload authorization | sort -u)" = "None" ]
check "User-Agent cdagent/<version> on both hosts" \
    [ "$(requests api user_agent; requests codeload user_agent)" = \
      "$(printf 'cdagent/%s\ncdagent/%s' "$("$CDAGENT" version | sed -n '1s/^cdagent \([^ ]*\).*/\1/p')" \
          "$("$CDAGENT" version | sed -n '1s/^cdagent \([^ ]*\).*/\1/p')")" ]
check "the token is not in the hook's environment" \
    sh -c '! grep -q "$1" "$2"' - "$TOKEN" "$T/hook.env.g1"
check "the codeload signature (query string) is not logged" \
    sh -c '! grep -q CODELOADSIG "$1" "$2" "$3"' - "$LOG" "$T/out" "$T/err"

# ---- 2. a wrong token: 401 four times, the §12.2 text --------------------
: > "$T/gh.log"
t0=$(date +%s%N)
if gh_deploy g2 ghp_WRONG https://api.github.com/repos/o/r/tarball/abc123 -t tar; then
	fail "a wrong token fails the deployment"; show
else
	ok "a wrong token fails the deployment (exit $?)"
fi
t1=$(date +%s%N)
W="Could not download bundle at 'https://127.0.0.1:$API_PORT/repos/o/r/tarball/abc123' after 3 retries. Server returned codes: 401 'Unauthorized'; 401 'Unauthorized'; 401 'Unauthorized'; 401 'Unauthorized'."
if has "$W"; then ok "message: $W"; else fail "retry message"; show; fi
check "4 GETs to the API, none to codeload" \
    [ "$(requests api path | wc -l)" -eq 4 ] && [ -z "$(requests codeload path)" ]
check "retry sleeps 0.1, 0.3, 0.9 s (CDAGENT_GITHUB_RETRY_DELAY_MS=100)" \
    [ $(( (t1 - t0) / 1000000 )) -ge 1300 ]
check "failed in DownloadBundle with error_code 5" \
    sh -c 'grep -q "failed in DownloadBundle" "$1" && grep -q "error_code: 5" "$1"' - "$T/err"

# ---- 3. https://github.com/<o>/<r>: CommitId HEAD, same API path shape -----
: > "$T/gh.log"
if gh_deploy g3 "$TOKEN" https://github.com/o/r -t tar && has "Local deployment successful"; then
	ok "deploy -l https://github.com/o/r -t tar"
else
	fail "deploy -l https://github.com/o/r"; show
fi
check "github.com/o/r maps to /repos/o/r/tarball/HEAD" \
    [ "$(requests api path)" = "/repos/o/r/tarball/HEAD" ]
check "the hook ran with BUNDLE_COMMIT=HEAD" \
    grep -qx "BUNDLE_COMMIT=HEAD" "$T/hook.env.g3"

# ---- 4. a zipball --------------------------------------------------------
: > "$T/gh.log"
if gh_deploy g4 "$TOKEN" https://api.github.com/repos/o/r/zipball/def4567890 -t zip &&
    has "Local deployment successful"; then
	ok "deploy a zipball"
else
	fail "deploy a zipball"; show
fi
check "zipball: /repos/o/r/zipball/def4567890 then legacy.zip" \
    [ "$(requests api path; requests codeload path)" = \
      "$(printf '/repos/o/r/zipball/def4567890\n/o/r/legacy.zip/def4567890?token=CODELOADSIG')" ]
check "zipball: hook ran with BUNDLE_COMMIT=def4567890" \
    grep -qx "BUNDLE_COMMIT=def4567890" "$T/hook.env.g4"

# ---- 5. a CA that did not sign the server: rejected, bundle named ----------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/wrong.key" -out "$T/wrong.pem" -days 2 -subj "/CN=wrong" \
    >/dev/null 2>&1
if CA=$T/wrong.pem gh_deploy g5 "$TOKEN" https://api.github.com/repos/o/r/tarball/abc123 -t tar; then
	fail "a wrong CA is rejected"; show
elif has "not trusted" && has "$T/wrong.pem"; then
	ok "a wrong CA is rejected, the message names the bundle"
else
	fail "wrong CA message"; show
fi

# ---- the token never in the agent's log, stdout or stderr ------------------
if grep -q "$TOKEN" "$LOG" "$T/all"; then
	fail "the token appears in the log or the output"
elif [ -s "$LOG" ] && grep -q "with an access token" "$LOG"; then
	ok "the token is not in the agent log nor any run's stdout/stderr"
else
	fail "agent log $LOG missing or incomplete"
fi
