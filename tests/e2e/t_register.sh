#!/bin/sh
# End-to-end tests of `cdagent register` / `cdagent deregister` against
# tests/fakeaws (CodeDeploy + IAM over HTTPS with the test CA; SigV4 and
# botocore's models checked on every request): each identity mode, tags,
# validation errors with no request made, rollback after a failure past
# CreateUser, deregister with --delete-iam-user, --from-env deleting its
# file, and the written config used by `cdagent run --once` against fakecp.
. "$(dirname "$0")/lib.sh"

FAW=$TOP/tests/fakeaws
FCP=$TOP/tests/fakecp
export PYTHONDONTWRITEBYTECODE=1
OPAK=AKIDOPERATOR0000001 OPSK=operatorSecretKeyForTests/0123456789ab
HOSTAK=AKIDEXAMPLEHOST0001 HOSTSK=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
UARN=arn:aws:iam::123456789012:user/onprem-1
SARN=arn:aws:sts::123456789012:assumed-role/CodeDeployInstanceRole/host-2

sh "$FCP/mkca.sh" "$T/pki" >/dev/null 2>&1 || { fail "mkca"; exit 0; }
export AWS_SSL_CA_BUNDLE=$T/pki/ca.pem
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE SSL_CERT_FILE
export AWS_ACCESS_KEY_ID=$OPAK AWS_SECRET_ACCESS_KEY=$OPSK
export HOME=$T/home
mkdir -p "$HOME"
echo 0123456789abcdef0123456789abcdef > "$T/machine-id"
export CDAGENT_MACHINE_ID_FILE=$T/machine-id
printf '%s\n' "$HOSTSK" > "$T/host.sk"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$HOSTAK" "$HOSTSK" > "$T/session-creds"
ONP=$T/onprem.yml

start_fake() { # start_fake [ARGS...]: (re)start fakeaws with fresh state
	[ -n "${FAW_PID:-}" ] && { kill "$FAW_PID" 2>/dev/null; wait "$FAW_PID" 2>/dev/null; }
	rm -f "$T/port"
	bg_start "$T/fakeaws.log" python3 "$FAW/fakeaws.py" --certs "$T/pki" \
		--port 0 --port-file "$T/port" --transcript "$T/tr.jsonl" \
		--access-key "$OPAK" --secret-key "$OPSK" "$@"
	FAW_PID=$BG_PID
	wait_file "$T/port"
	URL=https://127.0.0.1:$(cat "$T/port")
	cat > "$T/agent.yml" <<EOF2
---
:root_dir: '$T/root'
:log_dir: '$T/log'
:on_premises_config_file: '$ONP'
:pid_dir: '$T/pid'
:codedeploy_endpoint: '$URL'
:iam_endpoint: '$URL/'
EOF2
}
# state EXPR: evaluate a Python expression over the fake's /_state as s
state() {
	python3 - "$URL" "$1" <<'PY'
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=__import__("os").environ["AWS_SSL_CA_BUNDLE"])
s = json.load(urllib.request.urlopen(sys.argv[1] + "/_state", context=ctx))
v = eval(sys.argv[2], {"s": s})
if not v:
    print("    state: %s is %r in %s" % (sys.argv[2], v, json.dumps(s)), file=sys.stderr)
sys.exit(0 if v else 1)
PY
}
reg() { "$CDAGENT" register -c "$T/agent.yml" "$@" >"$T/out" 2>&1; RC=$?; }
dereg() { "$CDAGENT" deregister -c "$T/agent.yml" "$@" >"$T/out" 2>&1; RC=$?; }
mode() { stat -c %a "$1"; }
show() { sed 's/^/    | /' "$T/out"; }

start_fake
# ---- validation: exit 2, nothing sent ------------------------------------------
n=0
bad() { # bad NAME ARGS...: register must exit 2 before any request
	_n=$1; shift
	reg "$@"
	if [ "$RC" -eq 2 ]; then ok "validation: $_n"; else fail "validation: $_n (rc $RC)"; show; fi
}
bad "i- prefix" --instance-name i-123 --region us-east-1 --create-iam-user
bad "bad character" --instance-name 'host 1' --region us-east-1 --create-iam-user
bad "101 characters" --instance-name "$(printf 'a%.0s' $(seq 101))" --region us-east-1 --create-iam-user
bad "no mode" --instance-name h1 --region us-east-1
bad "two modes" --instance-name h1 --region us-east-1 --create-iam-user --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk"
bad "bad user ARN" --instance-name h1 --region us-east-1 --iam-user-arn arn:aws:iam::12345:user/x \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk"
bad "bad session ARN" --instance-name h1 --region us-east-1 \
	--iam-session-arn arn:aws:sts::123456789012:role/x --credentials-file "$T/session-creds"
bad "user ARN without keys" --instance-name h1 --region us-east-1 --iam-user-arn "$UARN"
bad "secret as an argument" --instance-name h1 --region us-east-1 --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key "$HOSTSK"
bad "11 tags" --instance-name h1 --region us-east-1 --create-iam-user --tags \
	$(for i in 1 2 3 4 5 6 7 8 9 10 11; do printf 'Key=k%s,Value=v ' "$i"; done)
bad "tag key of 129" --instance-name h1 --region us-east-1 --create-iam-user \
	--tags "Key=$(printf 'k%.0s' $(seq 129)),Value=v"
bad "tag value of 257" --instance-name h1 --region us-east-1 --create-iam-user \
	--tags "Key=k,Value=$(printf 'v%.0s' $(seq 257))"
bad "tag syntax" --instance-name h1 --region us-east-1 --create-iam-user --tags Env=prod
bad "no region" --instance-name h1 --create-iam-user
bad "no credentials" --instance-name h1 --region us-east-1 --create-iam-user --profile nosuch
check "validation: the fake saw zero requests" state 's["requests"] == 0'
check "validation: nothing written" test ! -e "$ONP"

# ---- IAM user mode, tags, config used by the daemon ---------------------------
reg --instance-name onprem-1 --region us-east-1 --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk" \
	--tags Key=Env,Value=prod Key=Team,Value='ops and dev'
if [ "$RC" -eq 0 ]; then ok "user mode: register"; else fail "user mode: register (rc $RC)"; show; fi
check "user mode: instance registered with the ARN" \
	state "s['instances']['onprem-1']['iamUserArn'] == '$UARN'"
check "user mode: tags" state "sorted((t['Key'], t['Value']) for t in s['instances']['onprem-1']['tags']) == [('Env', 'prod'), ('Team', 'ops and dev')]"
check "user mode: config mode 0600" test "$(mode "$ONP")" = 600
check "user mode: config holds the host keys" grep -q "aws_secret_access_key: '$HOSTSK'" "$ONP"
check "user mode: config holds the machine id" grep -q "machine_id: '0123456789abcdef0123456789abcdef'" "$ONP"
check "user mode: operator key never in the config" sh -c "! grep -q '$OPAK\|$OPSK' '$ONP'"
check "user mode: no IAM call" state "not any(k in s['ops'] for k in ('CreateUser', 'CreateAccessKey'))"

# the daemon loads it and polls with the host's keys (fakecp only knows those)
rm -f "$T/cp.port"
bg_start "$T/fakecp.log" python3 "$FCP/fakecp.py" --certs "$T/pki" --port 0 \
	--port-file "$T/cp.port" --transcript "$T/cp.jsonl" --poll-hold 0.2 \
	--access-key "$HOSTAK" --secret-key "$HOSTSK"
CP_PID=$BG_PID
wait_file "$T/cp.port"
sed "s|^:codedeploy_endpoint:.*|:deploy_control_endpoint: 'https://127.0.0.1:$(cat "$T/cp.port")/'|" \
	"$T/agent.yml" > "$T/agent-run.yml"
timeout 60 "$CDAGENT" run -c "$T/agent-run.yml" --once >"$T/run.log" 2>&1
RC=$?
check "user mode: cdagent run --once loads the config (rc $RC)" test "$RC" -eq 0
check "user mode: daemon polled as the registered user" grep -q "\"HostIdentifier\": \"$UARN\"" "$T/cp.jsonl"
kill "$CP_PID" 2>/dev/null; wait "$CP_PID" 2>/dev/null

reg --instance-name onprem-9 --region us-east-1 --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk"
check "existing config refused without --force (rc $RC)" test "$RC" -eq 2

dereg
if [ "$RC" -eq 0 ]; then ok "user mode: deregister"; else fail "user mode: deregister (rc $RC)"; show; fi
check "user mode: instance gone" state "'onprem-1' not in s['instances']"
check "user mode: tags were removed first" state "s['ops'].get('RemoveTagsFromOnPremisesInstances') == 1"
check "user mode: config deleted" test ! -e "$ONP"

# ---- session mode --------------------------------------------------------------
reg --instance-name host-2 --region us-east-1 --iam-session-arn "$SARN" \
	--credentials-file "$T/session-creds"
if [ "$RC" -eq 0 ]; then ok "session mode: register"; else fail "session mode: register (rc $RC)"; show; fi
check "session mode: instance registered with the session ARN" \
	state "s['instances']['host-2']['iamSessionArn'] == '$SARN'"
check "session mode: config has the credentials file" grep -q "aws_credentials_file: '$T/session-creds'" "$ONP"
check "session mode: no keys in the config" sh -c "! grep -q aws_secret_access_key '$ONP'"
reg --force --instance-name host-3 --region us-east-1 --iam-session-arn "${SARN}b" \
	--credentials-file "$T/session-creds"
check "session mode: --force overwrites (rc $RC)" grep -q "instance_name: 'host-3'" "$ONP"
dereg --delete-iam-user
check "session mode: --delete-iam-user refused before any change (rc $RC)" \
	sh -c "[ $RC -eq 1 ] && [ -e '$ONP' ] && grep -q 'no IAM user' '$T/out'"
check "session mode: still registered" state "'host-3' in s['instances'] and s['ops'].get('DeregisterOnPremisesInstance') == 1"

# ---- --create-iam-user, then deregister --delete-iam-user ------------------------
start_fake
rm -f "$ONP"
reg --instance-name web-1 --region us-east-1 --create-iam-user --tags Key=Role,Value=web
if [ "$RC" -eq 0 ]; then ok "create user: register"; else fail "create user: register (rc $RC)"; show; fi
check "create user: user under /AWS/CodeDeploy/" state "s['users']['web-1']['path'] == '/AWS/CodeDeploy/'"
check "create user: one access key" state "len(s['users']['web-1']['keys']) == 1"
check "create user: policy codedeploy-agent allows s3:Get* and s3:List*" \
	state "s['users']['web-1']['policies']['codedeploy-agent']['Statement'][0]['Action'] == ['s3:Get*', 's3:List*']"
check "create user: registered with the new user's ARN" \
	state "s['instances']['web-1']['iamUserArn'] == 'arn:aws:iam::123456789012:user/AWS/CodeDeploy/web-1'"
check "create user: config holds the new key" \
	state "\"aws_access_key_id: '%s'\" % s['users']['web-1']['keys'][0] in open('$ONP').read()"
check "create user: config mode 0600" test "$(mode "$ONP")" = 600
dereg --delete-iam-user
if [ "$RC" -eq 0 ]; then ok "create user: deregister --delete-iam-user"; else fail "create user: deregister --delete-iam-user (rc $RC)"; show; fi
check "create user: instance gone" state "s['instances'] == {}"
check "create user: user, key and policy gone" state "s['users'] == {}"
check "create user: config deleted" test ! -e "$ONP"

# ---- rollback after a failure past CreateUser -----------------------------------
for step in PutUserPolicy RegisterOnPremisesInstance AddTagsToOnPremisesInstances; do
	start_fake --fail "$step:InjectedFault:400"
	reg --instance-name rb-1 --region us-east-1 --create-iam-user --tags Key=A,Value=b
	check "rollback at $step: exit 1 (rc $RC)" test "$RC" -eq 1
	check "rollback at $step: the fake holds no user, key or policy" state "s['users'] == {}"
	check "rollback at $step: no instance left" state "s['instances'] == {}"
	check "rollback at $step: said so" grep -q "rolled back: deleted IAM user rb-1" "$T/out"
	check "rollback at $step: no config" test ! -e "$ONP"
done
start_fake --fail CreateUser:EntityAlreadyExists:409
reg --instance-name rb-2 --region us-east-1 --create-iam-user
check "CreateUser refused: exit 1, nothing to roll back" sh -c "[ $RC -eq 1 ] && ! grep -q 'rolling back' '$T/out'"

# ---- deregister failure keeps the config -----------------------------------------
start_fake --fail DeregisterOnPremisesInstance:InjectedFault:400
reg --instance-name keep-1 --region us-east-1 --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk"
dereg
check "deregister failure: exit 1 (rc $RC)" test "$RC" -eq 1
check "deregister failure: config kept" test -e "$ONP"
rm -f "$ONP"

# ---- --from-env ----------------------------------------------------------------------
start_fake
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
cat > "$T/reg.env" <<EOF2
# first-boot registration
INSTANCE_NAME=golden-7
REGION=us-east-1
TAGS="Key=Env,Value=prod;Key=Image,Value=golden"
CREATE_IAM_USER=true
AWS_ACCESS_KEY_ID=$OPAK
AWS_SECRET_ACCESS_KEY='$OPSK'
EOF2
chmod 600 "$T/reg.env"
reg --from-env "$T/reg.env"
if [ "$RC" -eq 0 ]; then ok "from-env: register"; else fail "from-env: register (rc $RC)"; show; fi
check "from-env: file deleted" test ! -e "$T/reg.env"
check "from-env: registered with tags" state "len(s['instances']['golden-7']['tags']) == 2 and 'golden-7' in s['users']"
printf 'INSTANCE_NAME=x\nBOGUS=1\n' > "$T/bad.env"
reg --from-env "$T/bad.env"
check "from-env: unknown key is a usage error, file kept (rc $RC)" sh -c "[ $RC -eq 2 ] && [ -e '$T/bad.env' ]"

# operator credentials from a shared credentials file and --profile
rm -f "$ONP"
mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = wrong0000000000000\naws_secret_access_key = wrong\n[admin]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$OPAK" "$OPSK" > "$HOME/.aws/credentials"
reg --profile admin --instance-name prof-1 --region us-east-1 --iam-user-arn "$UARN" \
	--access-key-id "$HOSTAK" --secret-access-key-file "$T/host.sk"
if [ "$RC" -eq 0 ]; then ok "shared credentials file with --profile"; else fail "shared credentials file with --profile (rc $RC)"; show; fi

# ---- first boot of a golden image: the service registers from register.env --
rm -f "$ONP"
start_fake
cat > "$T/register.env" <<EOF2
INSTANCE_NAME=golden-8
REGION=us-east-1
IAM_USER_ARN=$UARN
ACCESS_KEY_ID=$HOSTAK
SECRET_ACCESS_KEY=$HOSTSK
AWS_ACCESS_KEY_ID=$OPAK
AWS_SECRET_ACCESS_KEY='$OPSK'
EOF2
chmod 600 "$T/register.env"
rm -f "$T/cp.port"
bg_start "$T/fakecp2.log" python3 "$FCP/fakecp.py" --certs "$T/pki" --port 0 \
	--port-file "$T/cp.port" --transcript "$T/cp2.jsonl" --poll-hold 0.2 \
	--access-key "$HOSTAK" --secret-key "$HOSTSK"
CP_PID=$BG_PID
wait_file "$T/cp.port"
cp "$T/agent.yml" "$T/agent-fb.yml"
echo ":deploy_control_endpoint: 'https://127.0.0.1:$(cat "$T/cp.port")/'" >> "$T/agent-fb.yml"
timeout 60 "$CDAGENT" run -c "$T/agent-fb.yml" --once >"$T/fb.log" 2>&1
RC=$?
check "first boot: run registers from register.env, then polls (rc $RC)" test "$RC" -eq 0
check "first boot: registered with the service" state "'golden-8' in s['instances']"
check "first boot: on-premises config written" test -s "$ONP"
check "first boot: register.env deleted" test ! -e "$T/register.env"
check "first boot: polled as the registered user" grep -q "\"HostIdentifier\": \"$UARN\"" "$T/cp2.jsonl"
check "first boot: no unknown-key warning for the written config" sh -c "! grep -q 'unknown key' '$T/fb.log'"
kill "$CP_PID" 2>/dev/null; wait "$CP_PID" 2>/dev/null
rm -f "$ONP"

# ---- help -------------------------------------------------------------------------------
check "register --help" sh -c "'$CDAGENT' register --help | grep -q -- --create-iam-user"
check "deregister --help" sh -c "'$CDAGENT' deregister --help | grep -q -- --delete-iam-user"
check "every request was signed and valid" sh -c "! grep -q '\"status\": 403\\|ValidationE' '$T/tr.jsonl'"

# operator session credentials (AWS_SESSION_TOKEN signed and sent)
start_fake --session-token "op-session-token/123=="
rm -f "$ONP"
AWS_ACCESS_KEY_ID=$OPAK AWS_SECRET_ACCESS_KEY=$OPSK AWS_SESSION_TOKEN="op-session-token/123==" \
	reg --instance-name tok-1 --region us-east-1 --iam-session-arn "$SARN" \
	--credentials-file "$T/session-creds"
if [ "$RC" -eq 0 ]; then ok "operator session token"; else fail "operator session token (rc $RC)"; show; fi
AWS_ACCESS_KEY_ID=$OPAK AWS_SECRET_ACCESS_KEY=$OPSK \
	dereg
check "operator without the session token is refused (rc $RC)" sh -c "[ $RC -eq 1 ] && [ -e '$ONP' ]"
