#!/bin/sh
# `cdagent doctor` end to end against local servers: fakecp (HTTPS, test
# CA) as the control plane and as the S3 endpoint, a CONNECT proxy with a
# password, a fake instance metadata service, and an HTTPS server with a
# wrong clock. Cases: all good, a wrong CA, HTTPS_PROXY with NO_PROXY, an
# unresolvable host, a refused port, clock skew, EC2-style identity from
# metadata, and no secret in any output.
. "$(dirname "$0")/lib.sh"

export PYTHONDONTWRITEBYTECODE=1
HOST=arn:aws:iam::123456789012:user/doctor-host
AK=AKIDDOCTOREXAMPLE SK=doctorSecretKeyEXAMPLE0123456789abcdefgh
IMDS_SK=imdsSecretKeyEXAMPLE9876543210zyxwvu
PPASS=proxyPassSECRET42
sh "$TOP/tests/fakecp/mkca.sh" "$T/pki" >/dev/null 2>&1 || { fail "mkca"; exit 0; }

start_helper() { # VAR LOG CMD... : start, read the port it prints
	_var=$1 _log=$2; shift 2
	bg_start "$_log" "$@"
	wait_file "$_log"
	eval "$_var=\$(head -n 1 \"\$_log\")"
}
bg_start "$T/fakecp.log" python3 "$TOP/tests/fakecp/fakecp.py" \
    --certs "$T/pki" --port 0 --port-file "$T/port" --transcript "$T/tr.jsonl"
wait_file "$T/port"
FCP=$(cat "$T/port")
: > "$T/proxy.log"
start_helper PROXY "$T/proxy.out" python3 "$TOP/tests/e2e/connectproxy.py" \
    0 "$T/proxy.log" "puser:$PPASS"
start_helper IMDS "$T/imds.out" python3 "$TOP/tests/e2e/fakeimds.py" \
    0 AKIDIMDSEXAMPLE "$IMDS_SK" eu-west-1
start_helper SKEW "$T/skew.out" python3 "$TOP/tests/e2e/skewhttps.py" \
    "$T/pki/server.pem" "$T/pki/server.key" -900
case "$FCP$PROXY$IMDS$SKEW" in
''|*[!0-9]*) fail "helpers started"; exit 0 ;;
esac
ok "fakecp :$FCP, CONNECT proxy :$PROXY, fake IMDS :$IMDS, skewed clock :$SKEW"
DEAD=$(free_port)

cat > "$T/onprem.yml" <<EOF2
---
aws_access_key_id: $AK
aws_secret_access_key: $SK
iam_user_arn: $HOST
region: us-east-1
EOF2
chmod 600 "$T/onprem.yml"
conf() { # conf NAME ENDPOINT [ONPREM]: an agent config
	cat > "$T/$1.yml" <<EOF2
---
:root_dir: '$T/root'
:log_dir: '$T/log'
:on_premises_config_file: '${3:-$T/onprem.yml}'
:deploy_control_endpoint: '$2'
:s3_endpoint_override: 'https://localhost:$FCP'
EOF2
}
conf good "https://127.0.0.1:$FCP/"
conf nodns "https://no-such-host.invalid/"
conf refused "https://127.0.0.1:$DEAD/"
conf skew "https://127.0.0.1:$SKEW/"
conf ec2 "https://127.0.0.1:$FCP/" "$T/no-such-onprem.yml"

# doctor CONF [ARGS...]: output in $T/out, status in $RC; all output kept
doctor() {
	_c=$1; shift
	env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy \
	    -u ALL_PROXY -u all_proxy -u NO_PROXY -u no_proxy \
	    -u AWS_REGION -u AWS_HOST_IDENTIFIER -u AWS_ACCESS_KEY_ID \
	    -u AWS_SECRET_ACCESS_KEY -u SSL_CERT_FILE \
	    AWS_SSL_CA_BUNDLE=${CA:-$T/pki/ca.pem} \
	    CDAGENT_IMDS_ENDPOINT=${IMDS_URL:-http://127.0.0.1:$DEAD} \
	    ${DENV:-} "$CDAGENT" doctor -c "$T/$_c.yml" "$@" >"$T/out" 2>&1
	RC=$?
	cat "$T/out" >> "$T/all"
}
has() { grep -qF -- "$1" "$T/out"; }
show() { sed 's/^/    | /' "$T/out"; }
expect() { # expect NAME RC STRING...: status and every string present
	_n=$1 _rc=$2; shift 2
	_ok=1
	[ "$RC" = "$_rc" ] || _ok=0
	for _s in "$@"; do has "$_s" || { _ok=0; echo "    missing: $_s"; }; done
	if [ $_ok = 1 ]; then ok "$_n"; else fail "$_n (exit $RC)"; show; fi
}

# ---- --help and usage ------------------------------------------------------
"$CDAGENT" doctor --help > "$T/help" 2>&1
check "doctor --help exits 0 with the options" \
    sh -c 'grep -q -- "--bucket NAME" "$1" && grep -q "Exit status" "$1"' - "$T/help"
"$CDAGENT" doctor --bogus >/dev/null 2>&1
check "doctor with a bad option exits 2" [ $? -eq 2 ]

# ---- everything works -------------------------------------------------------
doctor good --bucket my-bucket
expect "all good: exit 0" 0 \
    "[ok  ] config: $T/good.yml" \
    "[ok  ] CA bundle: $T/pki/ca.pem (from \$AWS_SSL_CA_BUNDLE)" \
    "[ok  ] host identity: $HOST (from $T/onprem.yml)" \
    "[ok  ] region: us-east-1 (from $T/onprem.yml)" \
    "[ok  ] credentials: found (source: onprem)" \
    "control plane: https://127.0.0.1:$FCP/" \
    "[ok  ] DNS: 127.0.0.1 -> 127.0.0.1" \
    "[ok  ] connect: 127.0.0.1 port $FCP" \
    "[ok  ] TLS: handshake ok (certificate trusted), HTTP 404 from the server" \
    "S3 (bucket): https://localhost:$FCP/my-bucket/" \
    "[--  ] proxy: none, direct (no proxy configured for this destination)" \
    "[ok  ] local time within" \
    "result: everything needed works"
check "metadata not needed on-premises: a failure there is only a warning" \
    sh -c 'grep -A5 "^instance metadata: " "$1" | grep -q "\[warn\] connect: refused"' - "$T/out"

# ---- a CA that did not sign the server --------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/wrong.key" -out "$T/wrong.pem" -days 2 -subj "/CN=wrong" \
    >/dev/null 2>&1
CA=$T/wrong.pem doctor good
expect "wrong CA: exit 1, the bundle and its source named" 1 \
    "[FAIL] TLS: certificate of 127.0.0.1 not trusted by $T/wrong.pem (from \$AWS_SSL_CA_BUNDLE): set AWS_SSL_CA_BUNDLE or :ca_bundle:" \
    "result: problems found"

# ---- HTTPS_PROXY with NO_PROXY: the choice printed per destination ----------
DENV="HTTPS_PROXY=http://puser:$PPASS@127.0.0.1:$PROXY NO_PROXY=localhost,169.254.169.254" \
    doctor good --bucket my-bucket
expect "HTTPS_PROXY for the control plane, NO_PROXY for S3 on localhost" 0 \
    "[--  ] proxy: http://127.0.0.1:$PROXY/ (from HTTPS_PROXY)" \
    "[--  ] DNS of 127.0.0.1 is the proxy's job" \
    "[ok  ] DNS: 127.0.0.1 (proxy) -> 127.0.0.1" \
    "[--  ] proxy: none, direct (NO_PROXY matches localhost)" \
    "[--  ] proxy: none, direct (metadata (never proxied))"
check "the control plane went through the proxy, with its password" \
    grep -qx "CONNECT 127.0.0.1:$FCP auth=ok" "$T/proxy.log"
check "S3 on localhost did not go through the proxy" \
    sh -c '! grep -q "CONNECT localhost" "$1"' - "$T/proxy.log"
DENV="HTTPS_PROXY=http://puser:wrong@127.0.0.1:$PROXY" doctor good
expect "a proxy refusing the credentials: exit 1, said so" 1 \
    "[FAIL] proxy: HTTP 407: the proxy refused the credentials"

# ---- an unresolvable host, a refused port -----------------------------------
doctor nodns
expect "unresolvable endpoint: exit 1, DNS named" 1 \
    "[FAIL] DNS: cannot resolve no-such-host.invalid" \
    "check /etc/resolv.conf or set a proxy"
doctor refused
expect "refused port: exit 1, connect named" 1 \
    "[FAIL] connect: refused on port $DEAD"

# ---- clock skew from the control plane's Date header --------------------------
doctor skew
expect "control plane clock 15 min ahead: exit 1, skew flagged" 1 \
    "[ok  ] TLS: handshake ok" "[FAIL] local time is" "s ahead of the control plane's"

# ---- EC2 style: no on-premises config, credentials from metadata --------------
IMDS_URL=http://127.0.0.1:$IMDS doctor ec2
expect "no identity without on-premises config or AWS_HOST_IDENTIFIER: exit 1" 1 \
    "[FAIL] host identity: none: register this host" "[FAIL] region: none"
IMDS_URL=http://127.0.0.1:$IMDS \
DENV="AWS_HOST_IDENTIFIER=i-0123456789abcdef0 AWS_REGION=eu-west-1" doctor ec2
expect "EC2 style: credentials from metadata, metadata needed and reachable" 0 \
    "[ok  ] host identity: i-0123456789abcdef0 (from AWS_HOST_IDENTIFIER)" \
    "[ok  ] region: eu-west-1 (from AWS_REGION)" \
    "[ok  ] credentials: found (source: imds)" \
    "instance metadata: http://127.0.0.1:$IMDS/latest/meta-data/" \
    "HTTP 401 from the server"
IMDS_URL=http://127.0.0.1:$DEAD \
DENV="AWS_HOST_IDENTIFIER=i-0123456789abcdef0 AWS_REGION=eu-west-1" doctor ec2
expect "EC2 style with metadata down: exit 1" 1 \
    "[FAIL] credentials:" "[FAIL] connect: refused on port $DEAD"

# ---- no secret anywhere ---------------------------------------------------------
leaks=
for s in "$SK" "$AK" "$IMDS_SK" "$PPASS" "wrong@"; do
	grep -qF -- "$s" "$T/all" && leaks="$leaks $s"
done
if [ -z "$leaks" ]; then
	ok "no key, secret or proxy password in any doctor output"
else
	fail "secrets in doctor output:$leaks"
fi
