#!/bin/sh
# The harness itself: the binary's CLI contract, and moto as a real S3 peer
# (bucket, object, read back) started and stopped by PID.
. "$(dirname "$0")/lib.sh"

out=$("$CDAGENT" version 2>&1); rc=$?
check "version exits 0" [ "$rc" -eq 0 ]
for lib in "cdagent 0" "Mbed TLS 3.6" "libyaml 0.2" "libarchive 3" "libcurl 8" "jansson 2"; do
	case $out in *"$lib"*) ok "version names $lib" ;; *) fail "version names $lib: $out" ;; esac
done

"$CDAGENT" bogus >"$T/o" 2>"$T/e"; rc=$?
check "unknown command exits 2" [ "$rc" -eq 2 ]
check "unknown command: one line on stderr" [ "$(wc -l < "$T/e")" -eq 1 ]
check "unknown command: nothing on stdout" [ ! -s "$T/o" ]

"$CDAGENT" --help >"$T/o" 2>&1; rc=$?
check "--help exits 0" [ "$rc" -eq 0 ]
for c in run deploy validate register deregister status doctor image-prep version; do
	"$CDAGENT" "$c" --help >"$T/h" 2>&1 || fail "$c --help exit status"
	grep -q "usage: cdagent $c" "$T/h" && ok "$c --help" || fail "$c --help: $(cat "$T/h")"
done

check "static binary" sh -c "ldd '$CDAGENT' 2>&1 | grep -q 'not a dynamic executable'"

if moto_start; then
	ok "moto started"
	python3 - "$MOTO_URL" <<'PY' && ok "moto: bucket, put, get" || fail "moto: bucket, put, get"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
s3.create_bucket(Bucket="harness")
s3.put_object(Bucket="harness", Key="k", Body=b"hello")
assert s3.get_object(Bucket="harness", Key="k")["Body"].read() == b"hello"
PY
	kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null
	check "moto stopped by PID" sh -c "! kill -0 $MOTO_PID 2>/dev/null"
else
	fail "moto started: $(tail -5 "$T/moto.log")"
fi
