#!/bin/sh
# S3 fetch end to end: moto in signature-checking mode, a fault-injecting
# proxy, a TLS terminator with a CA made here, and a CONNECT proxy with a
# password. The cases themselves are in tests/unit/test_s3_live.c (built
# by `make check`/`make unit`); this script sets up the peers, runs it
# with the CDAGENT_S3_* variables, and reports each cmocka case.
. "$(dirname "$0")/lib.sh"

LIVE=${S3_LIVE_BIN:-$TOP/build/dev/tests/test_s3_live}
if [ ! -x "$LIVE" ]; then
	skip "s3: $LIVE not built (make check builds it)"
	exit 0
fi
if ! python3 -c 'import moto, boto3' 2>/dev/null; then
	skip "s3: python3 with moto and boto3 not available"
	exit 0
fi

# -- moto with SigV4 checks: the first 4 calls create the IAM identity ----
MOTO_PORT=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=4 bg_start "$T/moto.log" \
    python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
MOTO_URL=http://127.0.0.1:$MOTO_PORT
# readiness by TCP connect only: an HTTP probe would use up one of the 4
# unauthenticated actions
wait_tcp() {
	python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(150):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}
if ! wait_tcp "$MOTO_PORT"; then
	fail "moto started: $(tail -5 "$T/moto.log")"
	exit 0
fi
ok "moto started (signature checking)"

python3 - "$MOTO_URL" "$T" <<'PY' >"$T/setup.env" 2>"$T/setup.err"
import hashlib, json, os, sys
import boto3
url, t = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=url, region_name="us-east-1",
          aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="cdagent")                                   # 1
pol = iam.create_policy(PolicyName="s3all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))  # 2
iam.attach_user_policy(UserName="cdagent",
                       PolicyArn=pol["Policy"]["Arn"])                # 3
k = iam.create_access_key(UserName="cdagent")["AccessKey"]            # 4
ak, sk = k["AccessKeyId"], k["SecretAccessKey"]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=ak, aws_secret_access_key=sk)
# anonymous and wrong-key requests must fail now
bad = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id=ak, aws_secret_access_key="nope")
s3.create_bucket(Bucket="plain")
try:
    bad.list_objects_v2(Bucket="plain")
    raise SystemExit("moto accepted a wrong secret: not checking signatures")
except bad.exceptions.ClientError as ex:
    assert ex.response["Error"]["Code"] == "SignatureDoesNotMatch", ex
s3.create_bucket(Bucket="versioned")
s3.put_bucket_versioning(Bucket="versioned",
                         VersioningConfiguration={"Status": "Enabled"})
b1 = os.urandom(700 * 1024)
v1 = s3.put_object(Bucket="versioned", Key="bundle.tar", Body=b1)["VersionId"]
s3.put_object(Bucket="versioned", Key="bundle.tar", Body=os.urandom(1000))
print("CDAGENT_S3_AK=%s" % ak)
print("CDAGENT_S3_SK=%s" % sk)
print("CDAGENT_S3_V1=%s" % v1)
print("CDAGENT_S3_V1_SHA256=%s" % hashlib.sha256(b1).hexdigest())
PY
if [ $? -ne 0 ]; then
	fail "moto IAM user, buckets, versions: $(tail -3 "$T/setup.err")"
	exit 0
fi
ok "moto IAM user, policy, key; plain + versioned buckets"

# -- fault proxy, TLS terminator with a test CA, CONNECT proxy ------------
start_helper() { # VAR LOG CMD... : start, read the port it prints
	_var=$1 _log=$2; shift 2
	bg_start "$_log" "$@"
	_i=0
	while [ "$_i" -lt 100 ] && ! [ -s "$_log" ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	eval "$_var=\$(head -n 1 \"\$_log\")"
}

start_helper FAULT_PORT "$T/fault.out" python3 "$TOP/tests/e2e/faultproxy.py" \
    0 127.0.0.1 "$MOTO_PORT" 1200000 "$T/fault.arm" "$T/fault.log"

mk_ca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 -subj "/CN=$1" \
	    >>"$T/openssl.log" 2>&1
}
mk_certs() {
	mk_ca testca && mk_ca wrongca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/srv.key" -out "$T/srv.csr" -subj "/CN=127.0.0.1" \
	    >>"$T/openssl.log" 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$T/srv.ext" &&
	openssl x509 -req -in "$T/srv.csr" -CA "$T/testca.pem" \
	    -CAkey "$T/testca.key" -CAcreateserial -out "$T/srv.pem" -days 2 \
	    -extfile "$T/srv.ext" >>"$T/openssl.log" 2>&1
}
mk_certs || mk_certs || cat "$T/openssl.log"
check "test CA and server certificate made with openssl" [ -s "$T/srv.pem" ]
start_helper TLS_PORT "$T/tls.out" python3 "$TOP/tests/e2e/tlsproxy.py" 0 \
    "$T/srv.pem" "$T/srv.key" 127.0.0.1 "$MOTO_PORT"
: > "$T/proxy.log"
start_helper PROXY_PORT "$T/proxy.out" python3 \
    "$TOP/tests/e2e/connectproxy.py" 0 "$T/proxy.log" "proxyuser:proxypass"
start_helper IMDS_PORT "$T/imds.out" python3 "$TOP/tests/e2e/fakeimds.py" \
    0 "$(sed -n 's/^CDAGENT_S3_AK=//p' "$T/setup.env")" \
    "$(sed -n 's/^CDAGENT_S3_SK=//p' "$T/setup.env")" us-east-1
start_helper IMDS1_PORT "$T/imds1.out" python3 "$TOP/tests/e2e/fakeimds.py" \
    0 "$(sed -n 's/^CDAGENT_S3_AK=//p' "$T/setup.env")" \
    "$(sed -n 's/^CDAGENT_S3_SK=//p' "$T/setup.env")" us-east-1 v1only
check "helpers listening" [ -n "$FAULT_PORT" ] && [ -n "$TLS_PORT" ] && \
    [ -n "$PROXY_PORT" ]

# -- run the live cases ---------------------------------------------------
mkdir -p "$T/work"
set -a
. "$T/setup.env"
set +a
CDAGENT_S3_ENDPOINT=$MOTO_URL \
CDAGENT_S3_BUCKET=plain CDAGENT_S3_VBUCKET=versioned \
CDAGENT_S3_FAULT_ENDPOINT=http://127.0.0.1:$FAULT_PORT \
CDAGENT_S3_FAULT_ARM=$T/fault.arm \
CDAGENT_S3_TLS_ENDPOINT=https://127.0.0.1:$TLS_PORT \
CDAGENT_S3_CA=$T/testca.pem CDAGENT_S3_WRONG_CA=$T/wrongca.pem \
CDAGENT_S3_PROXY=http://proxyuser:proxypass@127.0.0.1:$PROXY_PORT \
CDAGENT_S3_PROXY_LOG=$T/proxy.log \
CDAGENT_S3_TMP=$T/work \
CDAGENT_S3_IMDS=http://127.0.0.1:$IMDS_PORT \
CDAGENT_S3_IMDS_V1=http://127.0.0.1:$IMDS1_PORT \
    "$LIVE" >"$T/live.log" 2>&1
rc=$?
sed 's/^/    /' "$T/live.log"
grep -E '^\[       OK \] ' "$T/live.log" | while read -r _ _ _ name; do
	ok "s3 $name"
done
grep -E '^\[  FAILED  \] test_' "$T/live.log" | sort -u | while read -r _ _ _ name; do
	fail "s3 $name"
done
grep -E '^\[  SKIPPED \] test_' "$T/live.log" | while read -r _ _ _ name; do
	skip "s3 $name"
done
check "test_s3_live exit status 0" [ "$rc" -eq 0 ]
check "live cases ran (not skipped)" grep -q 'test_live_resume' "$T/live.log"

# -- what the peers saw ----------------------------------------------------
check "resume used Range + If-Match" \
    grep -q 'Range: bytes=[1-9][0-9]*- | If-Match\|If-Match: .* | Range: bytes=[1-9]' \
    "$T/fault.log"
check "fault proxy cut a response" grep -q '^CUT' "$T/fault.log"
check "CONNECT proxy used with credentials" \
    grep -q "CONNECT 127.0.0.1:$TLS_PORT auth=ok" "$T/proxy.log"
check "no secret key in the output" sh -c \
    "! grep -q -- \"\$CDAGENT_S3_SK\" '$T/live.log'"
check "no proxy password in the output" sh -c \
    "! grep -q proxypass '$T/live.log'"
