#!/bin/sh
# End-to-end tests of `cdagent deploy`: real files, real processes, real
# users. Each case deploys a bundle made here into a sandbox root under $T.
. "$(dirname "$0")/lib.sh"

ROOT=$T/root
CONF=$T/agent.yml
cat > "$CONF" <<EOF2
---
:root_dir: '$ROOT'
:log_dir: '$T/log'
:hook_kill_grace_seconds: 1
:archive_max_extraction_size: 10485760
EOF2
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

# deploy GROUP BUNDLE [ARGS...]: run cdagent deploy, output in $T/out
deploy() {
	_g=$1 _b=$2; shift 2
	"$CDAGENT" deploy -c "$CONF" -g "$_g" -l "$_b" "$@" >"$T/out" 2>&1
}
# newbundle DIR: a bundle skeleton with an appspec header
newbundle() {
	rm -rf "$1"; mkdir -p "$1/scripts"
	printf 'version: 0.0\nos: linux\n' > "$1/appspec.yml"
}
has() { grep -qF -- "$1" "$T/out"; }
show() { sed 's/^/    | /' "$T/out" | tail -n 15; }

# ---- happy path: files, modes, owners, ACLs, env, credentials hidden -----
B=$T/b1; newbundle "$B"
mkdir -p "$B/site/sub"
echo index > "$B/site/index.html"; echo data > "$B/site/sub/data.txt"
echo conf > "$B/site/app.conf"; ln -s index.html "$B/site/home.html"
cat >> "$B/appspec.yml" <<EOF2
files:
  - source: site
    destination: $T/www
permissions:
  - object: $T/www
    pattern: "*.html"
    mode: 640
    type: [file]
  - object: $T/www/app.conf
    mode: "0600"
hooks:
  AfterInstall:
    - location: scripts/env.sh
  ValidateService:
    - location: scripts/check.sh
      timeout: 30
EOF2
cat > "$B/scripts/env.sh" <<'EOF2'
#!/bin/sh
env > "$HOOK_OUT/env.$LIFECYCLE_EVENT"
echo "hello from $LIFECYCLE_EVENT"
echo "to stderr" >&2
EOF2
cat > "$B/scripts/check.sh" <<'EOF2'
#!/bin/sh
test -f "$HOOK_DEST/index.html"
EOF2
chmod +x "$B/scripts/"*.sh
if [ $IS_ROOT = 1 ]; then
	# owner, group and ACL need root: a permission entry before hooks:
	awk -v T="$T" '/^hooks:/ { print "  - object: " T "/www/sub"; print "    owner: nobody"; print "    group: nogroup"; print "    acls:"; print "      - \"u:nobody:rw\"" } { print }' "$B/appspec.yml" > "$B/a.tmp" && mv "$B/a.tmp" "$B/appspec.yml"
fi
mkdir -p "$T/hookout"
HOOK_OUT=$T/hookout HOOK_DEST=$T/www AWS_SECRET_ACCESS_KEY=topsecret \
AWS_ACCESS_KEY_ID=AKIDEXAMPLE deploy g1 "$B" -a myapp -d Fleet1
rc=$?
check "happy: exit 0" [ $rc -eq 0 ] || show
check "happy: success message" has "Local deployment successful"
check "happy: file installed" [ "$(cat "$T/www/sub/data.txt" 2>/dev/null)" = data ]
check "happy: symlink kept as symlink" [ "$(readlink "$T/www/home.html")" = index.html ]
check "happy: mode 640 on *.html" [ "$(stat -c %a "$T/www/index.html")" = 640 ]
check "happy: mode 0600 on a file object" [ "$(stat -c %a "$T/www/app.conf")" = 600 ]
E=$T/hookout/env.AfterInstall
check "hook env: LIFECYCLE_EVENT" grep -qx 'LIFECYCLE_EVENT=AfterInstall' "$E"
check "hook env: APPLICATION_NAME" grep -qx 'APPLICATION_NAME=myapp' "$E"
check "hook env: DEPLOYMENT_GROUP_NAME" grep -qx 'DEPLOYMENT_GROUP_NAME=Fleet1' "$E"
check "hook env: DEPLOYMENT_GROUP_ID" grep -qx 'DEPLOYMENT_GROUP_ID=g1' "$E"
check "hook env: DEPLOYMENT_ID d-XXXXXXXXX-local" grep -qE '^DEPLOYMENT_ID=d-[A-Z0-9]{9}-local$' "$E"
check "hook env: no credentials" sh -c "! grep -q -e topsecret -e AKIDEXAMPLE '$E'"
DID=$(sed -n 's/^DEPLOYMENT_ID=//p' "$E")
DDIR=$ROOT/g1/$DID
SL=$DDIR/logs/scripts.log
check "scripts.log: stdout line format" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} \[stdout\]hello from AfterInstall$' "$SL"
check "scripts.log: stderr line" grep -q '\[stderr\]to stderr' "$SL"
check "layout: bundle archive" [ -d "$DDIR/deployment-archive/scripts" ]
check "layout: last_successful marker" [ "$(cat "$ROOT/deployment-instructions/g1_last_successful_install")" = "$DDIR" ]
check "layout: most_recent marker" [ "$(cat "$ROOT/deployment-instructions/g1_most_recent_install")" = "$DDIR" ]
check "layout: cleanup file lists installed file" grep -qx "$T/www/sub/data.txt" "$ROOT/deployment-instructions/g1-cleanup"
check "layout: install.json is JSON" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['instructions']" "$ROOT/deployment-instructions/g1-install.json"
if [ $IS_ROOT = 1 ]; then
	check "happy: owner nobody" [ "$(stat -c %U:%G "$T/www/sub/data.txt")" = nobody:nogroup ]
	check "happy: ACL user:nobody:rw-" sh -c "getfacl -p '$T/www/sub/data.txt' 2>/dev/null | grep -q '^user:nobody:rw-'"
else
	skip "owner/ACL checks need root"
fi

# ---- second deployment: cleanup of the first, ApplicationStop from v1 ----
B2=$T/b2; newbundle "$B2"
mkdir -p "$B2/site"; echo v2 > "$B2/site/index.html"
cat >> "$B2/appspec.yml" <<EOF2
files:
  - source: site
    destination: $T/www2
hooks:
  ApplicationStop:
    - location: scripts/stop.sh
EOF2
printf '#!/bin/sh\necho "stop from REV" >> "%s/stops"\n' "$T" > "$B2/scripts/stop.sh"
chmod +x "$B2/scripts/stop.sh"
cp -a "$B2" "$T/b2v1"; echo only-v1 > "$T/b2v1/site/old.txt"
sed -i 's/REV/v1/' "$T/b2v1/scripts/stop.sh"; sed -i 's/REV/v2/' "$B2/scripts/stop.sh"
deploy g2 "$T/b2v1"; check "second: v1 deploys" [ $? -eq 0 ]
check "second: first ApplicationStop is a no-op" [ ! -e "$T/stops" ]
deploy g2 "$B2"; check "second: v2 deploys" [ $? -eq 0 ] || show
check "second: ApplicationStop ran v1's script" [ "$(cat "$T/stops" 2>/dev/null)" = "stop from v1" ]
check "second: v1-only file cleaned up" [ ! -e "$T/www2/old.txt" ]
check "second: v2 content" [ "$(cat "$T/www2/index.html")" = v2 ]

# ---- file_exists_behavior -------------------------------------------------
B3=$T/b3; newbundle "$B3"; mkdir -p "$B3/site"; echo new > "$B3/site/f.txt"
printf 'files:\n  - source: site\n    destination: %s/www3\n' "$T" >> "$B3/appspec.yml"
mkdir -p "$T/www3"; echo old > "$T/www3/f.txt"
deploy g3 "$B3"; rc=$?
check "DISALLOW: fails" [ $rc -eq 1 ]
check "DISALLOW: message" has "The deployment failed because a specified file already exists at this location: $T/www3/f.txt"
check "DISALLOW: file untouched" [ "$(cat "$T/www3/f.txt")" = old ]
deploy g3 "$B3" -b RETAIN; check "RETAIN: succeeds" [ $? -eq 0 ] || show
check "RETAIN: old content kept" [ "$(cat "$T/www3/f.txt")" = old ]
deploy g3b "$B3" -b OVERWRITE; check "OVERWRITE: succeeds" [ $? -eq 0 ] || show
check "OVERWRITE: new content" [ "$(cat "$T/www3/f.txt")" = new ]
deploy g3c "$B3" -b SOMETIMES; check "bad -b: usage error 2" [ $? -eq 2 ]

# ---- hook error codes ------------------------------------------------------
hookbundle() { # hookbundle DIR SCRIPT-BODY [TIMEOUT]
	newbundle "$1"
	printf 'hooks:\n  AfterInstall:\n    - location: scripts/h.sh\n      timeout: %s\n' "${3:-30}" >> "$1/appspec.yml"
	printf '#!/bin/sh\n%s\n' "$2" > "$1/scripts/h.sh"; chmod +x "$1/scripts/h.sh"
}
hookbundle "$T/c1" "true"; rm "$T/c1/scripts/h.sh"
deploy c1 "$T/c1"; rc=$?
check "code 1: exit 1" [ $rc -eq 1 ]
check "code 1: reported" has "error_code: 1"
check "code 1: message" has "Script does not exist at specified location: $ROOT/c1/"

hookbundle "$T/c2x" "echo made-executable"; chmod -x "$T/c2x/scripts/h.sh"
deploy c2x "$T/c2x"; check "not executable: made executable and run" [ $? -eq 0 ] || show

hookbundle "$T/c4" "echo before-fail; exit 3"
deploy c4 "$T/c4"; rc=$?
check "code 4: exit 1" [ $rc -eq 1 ]
check "code 4: message" has "Script at specified location: scripts/h.sh failed with exit code 3"
check "code 4: output tail shown" has "[stdout]before-fail"
check "code 4: scripts.log path printed" has "/logs/scripts.log"

hookbundle "$T/c3" "trap '' TERM
(trap '' TERM; sleep 300) &
echo \$! >> $T/pids
setsid sh -c 'trap \"\" TERM; echo \$\$ >> $T/pids; exec sleep 300' &
echo \$\$ >> $T/pids
sleep 300" 1
: > "$T/pids"
deploy c3 "$T/c3"; rc=$?
check "code 3: exit 1" [ $rc -eq 1 ]
check "code 3: message" has "Script at specified location: scripts/h.sh failed to complete in 1 seconds"
sleep 0.3
alive=0
for p in $(cat "$T/pids"); do
	# a zombie waiting for init to reap it is dead: count only live ones
	st=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$p/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && alive=$((alive + 1))
done
check "code 3: no process of the tree survives ($(wc -l < "$T/pids") recorded)" [ $alive -eq 0 ]
for p in $(cat "$T/pids"); do kill -9 "$p" 2>/dev/null; done

hookbundle "$T/c6" "sleep 5 &
echo started-bg"
t0=$(date +%s)
deploy c6 "$T/c6"; rc=$?
check "outputs left open (default): judged by exit code" [ $rc -eq 0 ] || show
check "outputs left open (default): does not wait for the child" [ $(( $(date +%s) - t0 )) -lt 5 ]
cp "$CONF" "$T/agent-fail.yml"; echo ":hook_outputs_left_open: fail" >> "$T/agent-fail.yml"
"$CDAGENT" deploy -c "$T/agent-fail.yml" -g c6b -l "$T/c6" >"$T/out" 2>&1; rc=$?
check "code 6 (fail mode): exit 1" [ $rc -eq 1 ]
check "code 6 (fail mode): message" has "failed to close STDOUT"

# ---- runas a real user ------------------------------------------------------
if [ $IS_ROOT = 1 ]; then
	U=cdagent-e2e-$$
	useradd -M -s /bin/sh "$U" 2>/dev/null
	hookbundle "$T/ru" "id -u > $T/runas-uid; echo \$HOME \$USER > $T/runas-env"
	sed -i "s|timeout: 30|timeout: 30\n      runas: $U|" "$T/ru/appspec.yml"
	chmod 777 "$T"
	deploy ru "$T/ru"; rc=$?
	check "runas: succeeds" [ $rc -eq 0 ] || show
	check "runas: id -u inside the hook" [ "$(cat "$T/runas-uid" 2>/dev/null)" = "$(id -u "$U")" ]
	check "runas: USER set" grep -q " $U\$" "$T/runas-env"
	hookbundle "$T/ru2" "true"
	sed -i "s|timeout: 30|timeout: 30\n      runas: no-such-user-xyz|" "$T/ru2/appspec.yml"
	deploy ru2 "$T/ru2"; rc=$?
	check "runas unknown user: fails before spawning" [ $rc -eq 1 ]
	check "runas unknown user: names the user" has "no-such-user-xyz"
	userdel "$U" 2>/dev/null
else
	skip "runas needs root"
fi

# ---- paths with spaces --------------------------------------------------------
SP="$T/with space/bundle dir"
newbundle "$SP"; mkdir -p "$SP/my scripts"
printf 'files:\n  - source: "my scripts"\n    destination: "%s/dest dir"\nhooks:\n  AfterInstall:\n    - location: "my scripts/a hook.sh"\n' "$T" >> "$SP/appspec.yml"
printf '#!/bin/sh\necho "ran with spaces" > "%s/space-ok"\n' "$T" > "$SP/my scripts/a hook.sh"
chmod +x "$SP/my scripts/a hook.sh"
deploy "sp" "$SP"; rc=$?
check "spaces: deploys" [ $rc -eq 0 ] || show
check "spaces: hook ran" [ -f "$T/space-ok" ]
check "spaces: file installed" [ -f "$T/dest dir/a hook.sh" ]

# ---- archives: tgz, zip, and hostile catalogues ------------------------------
hookbundle "$T/arch" "echo from-archive > $T/arch-ok"
(cd "$T/arch" && tar czf "$T/good.tgz" . && python3 -c "
import zipfile,os,sys
z=zipfile.ZipFile(sys.argv[1],'w')
for d,_,fs in os.walk('.'):
    for f in fs:
        p=os.path.join(d,f); i=zipfile.ZipInfo.from_file(p, p[2:]); z.writestr(i, open(p,'rb').read())
z.close()" "$T/good.zip")
deploy tgz "$T/good.tgz" -t tgz; check "tgz bundle deploys" [ $? -eq 0 ] || show
check "progress: unpack summary line" grep -qE '^  unpack: 2 files, ' "$T/out"
check "progress: each event named" grep -qx 'DownloadBundle' "$T/out"
check "progress: script start and elapsed time" grep -qE '^  script scripts/h.sh finished after [0-9.]+ s$' "$T/out"
rm -f "$T/arch-ok"
deploy zip "$T/good.zip" -t zip; check "zip bundle deploys" [ $? -eq 0 ] || show
check "zip bundle: hook ran (mode kept)" [ -f "$T/arch-ok" ]

mkdir -p "$T/outside"
python3 - "$T" <<'PY'
import io, sys, tarfile, os
T = sys.argv[1]
def mk(name, entries):
    with tarfile.open(os.path.join(T, name + ".tgz"), "w:gz") as t:
        a = tarfile.TarInfo("appspec.yml"); data = b"version: 0.0\nos: linux\n"
        a.size = len(data); t.addfile(a, io.BytesIO(data))
        for e in entries:
            data = e.pop("data", b"")
            i = tarfile.TarInfo(e.pop("name"))
            for k, v in e.items(): setattr(i, k, v)
            i.size = len(data) if i.type in (tarfile.REGTYPE,) else 0
            t.addfile(i, io.BytesIO(data) if i.size else None)
mk("abs", [{"name": T + "/outside/abs-evil", "data": b"x"}])
mk("dotdot", [{"name": "../outside/dotdot-evil", "data": b"x"}])
mk("symesc", [{"name": "lnk", "type": tarfile.SYMTYPE, "linkname": "../../outside"},
              {"name": "lnk/sym-evil", "data": b"x"}])
mk("hardout", [{"name": "hl", "type": tarfile.LNKTYPE, "linkname": "/etc/passwd"}])
mk("device", [{"name": "dev", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}])
mk("setuid", [{"name": "suid", "data": b"#!/bin/sh\n", "mode": 0o4755}])
mk("bomb", [{"name": "big", "data": b"\0" * (12 << 20)}])
PY
for h in abs:abs-evil dotdot:dotdot-evil symesc:lnk hardout:hl device:dev setuid:suid bomb:big; do
	n=${h%%:*} entry=${h#*:}
	deploy "h-$n" "$T/$n.tgz" -t tgz; rc=$?
	check "hostile $n: rejected" [ $rc -eq 1 ]
	check "hostile $n: error names entry '$entry'" has "$entry"
done
check "hostile: nothing written outside the root" [ -z "$(ls -A "$T/outside")" ]
check "hostile: no partial archive left" sh -c "! ls -d '$ROOT'/h-*/*/deployment-archive 2>/dev/null | grep -q ."

# ---- crash: SIGKILL mid-install leaves no half-written state file -----------
CB=$T/crash; newbundle "$CB"; mkdir -p "$CB/files"
i=0; while [ $i -lt 2000 ]; do echo "$i" > "$CB/files/f$i"; i=$((i + 1)); done
printf 'files:\n  - source: files\n    destination: %s/crashdest\n' "$T" >> "$CB/appspec.yml"
bad=0
for delay in 0.05 0.1 0.2 0.3 0.5; do
	"$CDAGENT" deploy -c "$CONF" -g crash -l "$CB" -b OVERWRITE >/dev/null 2>&1 &
	pid=$!; sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	for m in "$ROOT"/deployment-instructions/crash_*; do
		[ -f "$m" ] || continue
		[ -d "$(cat "$m")" ] || { bad=1; echo "bad marker $m: $(cat "$m")"; }
	done
	j=$ROOT/deployment-instructions/crash-install.json
	if [ -f "$j" ] && ! python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$j"; then
		bad=1; echo "torn install.json"
	fi
done
check "crash: markers and install.json never torn" [ $bad -eq 0 ]
deploy crash "$CB" -b OVERWRITE; check "crash: next deployment recovers" [ $? -eq 0 ] || show
check "crash: all files installed" [ "$(ls "$T/crashdest" | wc -l)" -eq 2000 ]

# ---- usage errors ----------------------------------------------------------------
"$CDAGENT" deploy -t rar -l "$B" >"$T/out" 2>&1; check "bad type: exit 2" [ $? -eq 2 ]
"$CDAGENT" deploy -l "$T/nonexistent" >"$T/out" 2>&1; check "missing location: exit 2" [ $? -eq 2 ]
"$CDAGENT" deploy -c "$CONF" -l http://example.com/x.tgz -t tgz >"$T/out" 2>&1
check "http location refused" [ $? -ne 0 ] && has "https"
"$CDAGENT" deploy -c "$CONF" -l "$B" -e AfterInstall,DownloadBundle >"$T/out" 2>&1
check "events: hook before DownloadBundle refused" [ $? -eq 2 ]

# ---- retention: max_revisions ------------------------------------------------
cp "$CONF" "$T/agent-ret.yml"; echo ":max_revisions: 2" >> "$T/agent-ret.yml"
hookbundle "$T/ret" "true"
n=0; while [ $n -lt 5 ]; do
	"$CDAGENT" deploy -c "$T/agent-ret.yml" -g ret -l "$T/ret" >"$T/out" 2>&1 || fail "retention: deployment $n"
	n=$((n + 1)); sleep 0.05
done
check "retention: at most max_revisions deployment dirs kept" [ "$(ls "$ROOT/ret" | wc -l)" -le 2 ]
check "retention: the last successful one is kept" [ -d "$(cat "$ROOT/deployment-instructions/ret_last_successful_install")" ]

# ---- validate: every problem, not just the first -----------------------------
VB=$T/val; newbundle "$VB"
cat >> "$VB/appspec.yml" <<EOF2
files:
  - source: missing-dir
    destination: /tmp/x
permissions:
  - object: /tmp/x
    mode: 0999
    owner: no-such-owner-xyz
hooks:
  AfterInstall:
    - location: scripts/missing.sh
      runas: no-such-runas-xyz
    - location: scripts/ok.sh
      timeout: 0
EOF2
"$CDAGENT" validate "$VB" >"$T/out" 2>&1; rc=$?
check "validate: bad bundle exits 1" [ $rc -eq 1 ]
check "validate: names the bad timeout" has "timeout"
check "validate: names the bad mode" has "mode"
check "validate: names the missing source" has "source missing-dir does not exist"
check "validate: names the missing script" has "script scripts/missing.sh does not exist"
check "validate: names the unknown runas user" has "unknown user no-such-runas-xyz"
check "validate: names the unknown owner" has "unknown user no-such-owner-xyz"
check "validate: counts them" has "7 problems found"
"$CDAGENT" validate "$T/good.tgz" >"$T/out" 2>&1; rc=$?
check "validate: good archive exits 0" [ $rc -eq 0 ] || show
check "validate: says valid" has "valid"

# ---- root_dir written with a trailing slash: retention still keeps the
# current and the last successful deployment ---------------------------------
printf -- "---\n:root_dir: '%s/rootslash/'\n:log_dir: '%s/log'\n:max_revisions: 1\n" "$T" "$T" > "$T/agent-slash.yml"
hookbundle "$T/slash" "true"
n=0; bad=0
while [ $n -lt 3 ]; do
	"$CDAGENT" deploy -c "$T/agent-slash.yml" -g sl -l "$T/slash" >"$T/out" 2>&1 || bad=1
	n=$((n + 1))
done
check "root_dir with a trailing slash: every deployment succeeds" [ $bad -eq 0 ]
check "root_dir with a trailing slash: last successful kept" [ -d "$(cat "$T/rootslash/deployment-instructions/sl_last_successful_install")" ]

# ---- a directory bundle 300 levels deep: a clear error, not a crash -------
newbundle "$T/deep"; p=$T/deep; i=0
while [ $i -lt 300 ]; do p=$p/a; i=$((i + 1)); done
mkdir -p "$p"
deploy deep "$T/deep" -e DownloadBundle; rc=$?
check "deep directory bundle: fails cleanly (exit 1)" [ $rc -eq 1 ]
check "deep directory bundle: says why" has "more than 256 directory levels"
