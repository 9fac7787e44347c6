# tests/e2e/lib.sh: shared helpers for end-to-end tests (sourced).
#
# A test file is a sh script that sources this, runs cases, and reports
# each with ok/fail/skip. Servers it starts are registered with
# bg_start and stopped by PID at exit, whatever happens.

set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${CDAGENT_TEST_RESULTS:=/dev/null}"
CDAGENT=${CDAGENT:-$TOP/build/cdagent}
T=$(mktemp -d "${TMPDIR:-/tmp}/cdagent-e2e.XXXXXX")
_pids=
export T CDAGENT

_cleanup() {
	for p in $_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $_pids; do
		wait "$p" 2>/dev/null
	done
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT INT TERM

ok()   { echo "ok   $*"; echo "1 0 0" >> "$CDAGENT_TEST_RESULTS"; }
fail() { echo "FAIL $*"; echo "0 1 0" >> "$CDAGENT_TEST_RESULTS"; }
skip() { echo "SKIP $*"; echo "0 0 1" >> "$CDAGENT_TEST_RESULTS"; }

# check NAME CMD...: ok when CMD succeeds
check() {
	_n=$1; shift
	if "$@"; then ok "$_n"; else fail "$_n"; fi
}

# bg_start LOG CMD...: start a server in the background, remember its PID
bg_start() {
	_log=$1; shift
	"$@" >"$_log" 2>&1 &
	_pids="$_pids $!"
	BG_PID=$!
}

# free_port: a TCP port nobody listens on right now (127.0.0.1)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_file FILE [TRIES]: wait (0.1 s steps) until FILE exists and is not
# empty, as a server's port file once it listens
wait_file() {
	_i=0
	while [ ! -s "$1" ] && [ "$_i" -lt "${2:-100}" ]; do
		sleep 0.1; _i=$((_i + 1))
	done
	[ -s "$1" ]
}

# wait_http URL [TRIES]: poll until the URL answers (any status)
wait_http() {
	_i=0
	while [ "$_i" -lt "${2:-100}" ]; do
		if python3 -c 'import sys,urllib.request as u
try: u.urlopen(sys.argv[1], timeout=1)
except u.HTTPError: pass
except Exception: sys.exit(1)' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

# moto_start: S3 on 127.0.0.1:$MOTO_PORT (no signature checks)
moto_start() {
	MOTO_PORT=$(free_port)
	bg_start "$T/moto.log" python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
	MOTO_PID=$BG_PID
	MOTO_URL=http://127.0.0.1:$MOTO_PORT
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
	wait_http "$MOTO_URL/" 150
}
