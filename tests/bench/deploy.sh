#!/bin/sh
# tests/bench/deploy.sh FSDIR FSLABEL: the deploy benchmarks of issue 3 on
# one filesystem. Inputs are generated under FSDIR/in, every run installs
# into FSDIR/run (emptied and synced before each run, outside the timing),
# with a fresh deployment group, so no cleanup of a previous install is
# measured and cdagent and the baseline start from the same state.
#
#  noop   4 hooks that `exit 0`: overhead = median wall - 4 x the median
#         cost of running the same script directly (fork+exec from sh)
#  10k    10,000 x 1 KiB files, versus tar -xzf + cp -a
#  200M   one incompressible 200 MiB file, versus tar -xzf + cp -a
. "$(dirname "$0")/lib.sh"

FS=$1 L=$2
REPS=${BENCH_REPS:-5}
BIG_REPS=${BENCH_BIG_REPS:-3}
NFILES=${BENCH_FILES:-10000}
BIGMIB=${BENCH_BIG_MIB:-200}
IN=$FS/in RUN=$FS/run CONF=$FS/agent.yml
rm -rf "$IN" "$RUN"; mkdir -p "$IN"

cat > "$CONF" <<EOF
---
:root_dir: '$RUN/root'
:log_dir: '$RUN/log'
EOF

# ---- inputs ------------------------------------------------------------------
say "  [$L] generating bundles in $IN"
appspec() { # appspec DIR [files-destination]
	printf 'version: 0.0\nos: linux\n' > "$1/appspec.yml"
	[ -n "${2:-}" ] && printf 'files:\n  - source: files\n    destination: %s\n' "$2" >> "$1/appspec.yml"
	return 0
}
# noop: 4 hooks, no files; nohook: the same bundle without hooks
mkdir -p "$IN/noop/scripts" "$IN/nohook"
appspec "$IN/noop"; appspec "$IN/nohook"
printf '#!/bin/sh\nexit 0\n' > "$IN/noop/scripts/noop.sh"; chmod 755 "$IN/noop/scripts/noop.sh"
printf 'hooks:\n' >> "$IN/noop/appspec.yml"
for ev in BeforeInstall AfterInstall ApplicationStart ValidateService; do
	printf '  %s:\n    - location: scripts/noop.sh\n      timeout: 60\n' "$ev" >> "$IN/noop/appspec.yml"
done
(cd "$IN/noop" && tar -czf "$IN/noop.tgz" .) &&
(cd "$IN/nohook" && tar -czf "$IN/nohook.tgz" .) || exit 1
# 10k: NFILES x 1 KiB of random bytes, 100 per directory
mkdir -p "$IN/small/files"; appspec "$IN/small" "$RUN/dest"
python3 - "$IN/small/files" "$NFILES" <<'PY' || exit 1
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.dat" % i), "wb") as f:
        f.write(os.urandom(1024))
PY
(cd "$IN/small" && tar -czf "$IN/small.tgz" .) || exit 1
rm -rf "$IN/small"
# 200M: one incompressible file (the same bytes on every filesystem)
mkdir -p "$IN/big/files"; appspec "$IN/big" "$RUN/dest"
if [ -f "$BENCH/big-${BIGMIB}M.bin" ]; then
	cp "$BENCH/big-${BIGMIB}M.bin" "$IN/big/files/big.bin"
else
	openssl rand -out "$IN/big/files/big.bin" $((BIGMIB << 20)) 2>/dev/null ||
		head -c $((BIGMIB << 20)) /dev/urandom > "$IN/big/files/big.bin"
	cp "$IN/big/files/big.bin" "$BENCH/big-${BIGMIB}M.bin"
fi
(cd "$IN/big" && tar -czf "$IN/big.tgz" .) || exit 1
rm -rf "$IN/big"

fresh() { rm -rf "$RUN"; mkdir -p "$RUN"; sync; }
# dep GROUP BUNDLE: cdagent deploy as the issue gives it (a command line,
# not a function, so GNU time can run it)
DEP="$CDAGENT deploy -c $CONF -t tgz -b OVERWRITE -q"
dep() { $DEP -g "$1" -l "$2"; }
# untar_cp BUNDLE: the baseline, tar -xzf then cp -a of the tree
untar_cp() {
	sh -c 'mkdir -p "$1/x" && tar -xzf "$2" -C "$1/x" && cp -a "$1/x/files" "$1/dest"' untar-cp "$RUN" "$1"
}
fail_run() { say "  [$L] $1 failed (rc $RUN_RC):"; sed 's/^/    | /' "$BENCH/$2.out" | tail -n 5 >&2; }
RC=0

# ---- noop: 4 no-op hooks ------------------------------------------------------
fresh; dep warm "$IN/noop.tgz" >/dev/null 2>&1	# page cache, binary
walls= hookcost= bases= rss=
i=0
while [ $i -lt "$REPS" ]; do
	fresh
	bare noop dep "noop-$i" "$IN/noop.tgz"
	[ $RUN_RC = 0 ] || { fail_run "noop deploy" noop; RC=1; break; }
	walls="$walls $RUN_NS"
	fresh
	bare nohook dep "nohook-$i" "$IN/nohook.tgz"
	[ $RUN_RC = 0 ] || { fail_run "nohook deploy" nohook; RC=1; break; }
	bases="$bases $RUN_NS"
	# the same script run directly, 100 times, from sh (fork+exec each)
	bare direct sh -c 'i=0; while [ $i -lt 100 ]; do "$0"; i=$((i+1)); done' "$IN/noop/scripts/noop.sh"
	hookcost="$hookcost $((RUN_NS / 100))"
	i=$((i + 1))
done
fresh
timed noop-rss $DEP -g noop-rss -l "$IN/noop.tgz"; rss=$RUN_KB
if [ -n "$walls" ] && [ $RC = 0 ]; then
	w=$(median $walls) h=$(median $hookcost) b=$(median $bases)
	ov=$((w - 4 * h))
	record deploy "noop: wall, 4 no-op hooks" "$L" "$(ms "$w")" ms "" info
	record deploy "noop: one hook run directly" "$L" "$(ms "$h")" ms "" info
	record deploy "noop: agent overhead (wall - 4 x hook)" "$L" "$(ms "$ov")" ms "< 20 ms" "$(verdict "$ov" lt 20000000)"
	record deploy "noop: same bundle, no hooks (wall)" "$L" "$(ms "$b")" ms "" info
	record deploy "noop: cdagent peak RSS" "$L" "$(mib "$rss")" MiB "< 16 MiB" "$(verdict "$rss" lt 16384)"
fi

# ---- 10k files and 200 MiB: cdagent versus tar -xzf + cp -a, interleaved -----
versus() { # versus SLUG NAME BUNDLE REPS
	_s=$1 _n=$2 _b=$3 _r=$4
	fresh; dep "warm-$_s" "$_b" >/dev/null 2>&1; fresh; untar_cp "$_b"	# warm caches
	_ca= _tc= _rss= _i=0
	while [ $_i -lt "$_r" ]; do
		fresh
		timed "$_s-cdagent" $DEP -g "$_s-$_i" -l "$_b"
		[ $RUN_RC = 0 ] || { fail_run "$_n deploy" "$_s-cdagent"; return 1; }
		[ -n "$(ls -A "$RUN/dest" 2>/dev/null)" ] ||
			{ say "  [$L] $_n: destination not populated"; return 1; }
		_ca="$_ca $RUN_NS"; _rss="$_rss $RUN_KB"
		fresh
		timed "$_s-tar" sh -c 'mkdir -p "$1/x" && tar -xzf "$2" -C "$1/x" && cp -a "$1/x/files" "$1/dest"' untar-cp "$RUN" "$_b"
		[ $RUN_RC = 0 ] || { fail_run "$_n tar+cp" "$_s-tar"; return 1; }
		_tc="$_tc $RUN_NS"
		_i=$((_i + 1))
	done
	_c=$(median $_ca) _t=$(median $_tc) _m=$(max $_rss)
	_ratio=$(awk -v c="$_c" -v t="$_t" 'BEGIN { printf "%.2f", c / t }')
	record deploy "$_n: cdagent deploy (wall)" "$L" "$(ms "$_c")" ms "" info
	record deploy "$_n: tar -xzf + cp -a (wall)" "$L" "$(ms "$_t")" ms "" info
	record deploy "$_n: cdagent / (tar+cp)" "$L" "$_ratio" x "<= 1.00" "$(verdict "$_ratio" le 1.0)"
	record deploy "$_n: cdagent peak RSS" "$L" "$(mib "$_m")" MiB "< 16 MiB" "$(verdict "$_m" lt 16384)"
	return 0
}
versus small "${NFILES} x 1KiB" "$IN/small.tgz" "$REPS" || RC=1
versus big "${BIGMIB}MiB file" "$IN/big.tgz" "$BIG_REPS" || RC=1

rm -rf "$RUN" "$IN"
exit $RC
