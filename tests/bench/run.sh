#!/bin/sh
# tests/bench/run.sh: `make bench`. Benchmarks of build/cdagent, printed as
# tables with the target next to each figure; also written to
# build/bench/results.md. Never fails on a missed target: the exit status
# is non-zero only when a benchmark could not run at all.
#
#   deploy.sh    issue 3: no-op hooks, 10,000 x 1 KiB files, 200 MiB file
#   download.sh  issue 4: 1 GiB over loopback HTTPS, cdagent vs curl
#   soak.sh      issue 5: daemon RSS over 10,000 polls and 1,000 deployments
#
# Deploy and download run on tmpfs and on disk (build/bench/disk), side by
# side in the same run. Knobs (environment): BENCH_REPS (5), BENCH_BIG_REPS
# (3), BENCH_FILES (10000), BENCH_BIG_MIB (200), BENCH_DL_REPS (3),
# BENCH_DL_MIB (1024), BENCH_POLLS (10000), BENCH_DEPLOYS (1000),
# BENCH_ONLY (any of "deploy download soak"), BENCH_TMPFS (a tmpfs dir).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$TOP/build/bench
export TOP BENCH
. "$TOP/tests/bench/lib.sh"
ONLY=${BENCH_ONLY:-deploy download soak}

mkdir -p "$BENCH"
: > "$RESULTS"; : > "$BENCH/notes.txt"; : > "$BENCH/pids"
MOUNTED= TMPFS=
cleanup() {
	for p in $(cat "$BENCH/pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
	for p in $(cat "$BENCH/pids" 2>/dev/null); do wait "$p" 2>/dev/null; done
	[ -n "$TMPFS" ] && rm -rf "$TMPFS"
	[ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
	rm -rf "$BENCH/disk" "$BENCH"/big-*.bin
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools: GNU time, nginx, curl, openssl (installed when root) -------------
need=
[ -x /usr/bin/time ] || need="$need time"
command -v nginx >/dev/null 2>&1 || need="$need nginx"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
if [ -n "$need" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "installing:$need"
		# Debian's policy-rc.d in containers keeps nginx's service from starting
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null; }
	else
		echo "bench needs:$need (as root: apt-get install -y$need)" >&2
	fi
fi
[ -x /usr/bin/time ] || { echo "bench: GNU time (/usr/bin/time) is required" >&2; exit 1; }
[ -x "$CDAGENT" ] || { echo "bench: $CDAGENT missing (make)" >&2; exit 1; }
# a private copy: a rebuild of build/cdagent during the run can't disturb it
cp "$CDAGENT" "$BENCH/cdagent" || exit 1
CDAGENT=$BENCH/cdagent
export CDAGENT

# ---- filesystems ------------------------------------------------------------------
DISK=$BENCH/disk
rm -rf "$DISK"; mkdir -p "$DISK"
if [ -n "${BENCH_TMPFS:-}" ]; then
	TMPFS=$BENCH_TMPFS/cdagent-bench.$$
elif [ "$(fs_type /dev/shm)" = tmpfs ] && [ -w /dev/shm ]; then
	TMPFS=/dev/shm/cdagent-bench.$$
elif [ "$(id -u)" = 0 ]; then
	mkdir -p "$BENCH/tmpfs"
	if mount -t tmpfs -o size=6g tmpfs "$BENCH/tmpfs"; then
		MOUNTED=$BENCH/tmpfs TMPFS=$BENCH/tmpfs/run
	fi
fi
FSLIST=
if [ -n "$TMPFS" ]; then
	mkdir -p "$TMPFS"; FSLIST="tmpfs:$TMPFS"
else
	note "no tmpfs (not root and /dev/shm unusable): tmpfs figures skipped"
fi
FSLIST="$FSLIST disk:$DISK"
echo "cdagent bench: $("$CDAGENT" version 2>/dev/null | head -n 1)"
echo "  binary $CDAGENT, $(stat -c %s "$CDAGENT") bytes; $(nproc) CPUs; $(uname -r)"
echo "  tmpfs: ${TMPFS:-none}; disk: $DISK ($(fs_type "$DISK"))"
T_START=$(date +%s)
RC=0
has() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

section() { echo; echo "== $1"; }
if has deploy; then
	section "deploy (issue 3): median of ${BENCH_REPS:-5} runs (200 MiB: ${BENCH_BIG_REPS:-3}); wall ms, RSS peak"
	for fd in $FSLIST; do
		sh "$TOP/tests/bench/deploy.sh" "${fd#*:}/deploy" "${fd%%:*}" || { echo "  deploy on ${fd%%:*}: could not run"; RC=1; }
	done
	table deploy
fi
if has download; then
	section "download (issue 4): ${BENCH_DL_MIB:-1024} MiB over loopback HTTPS (nginx), median of ${BENCH_DL_REPS:-3}"
	sh "$TOP/tests/bench/download.sh" $FSLIST || { echo "  download: could not run"; RC=1; }
	table download
fi
if has soak; then
	section "soak (issue 5): cdagent run against fakecp, VmRSS of the daemon"
	SOAKDIR=${TMPFS:-$DISK}/soak
	sh "$TOP/tests/bench/soak.sh" "$SOAKDIR" || { echo "  soak: could not run"; RC=1; }
	rm -rf "$SOAKDIR"
	table soak
fi

# ---- summary -------------------------------------------------------------------------
T_END=$(date +%s)
section "summary ($((T_END - T_START)) s)"
for s in deploy download soak; do
	awk -F '\t' -v s="$s" '$1 == s && $7 != "info"' "$RESULTS" | grep -q . || continue
	echo " $s:"
	awk -F '\t' -v s="$s" '$1 == s && $7 != "info"' "$RESULTS" > "$BENCH/.sum"
	table "$s" "$BENCH/.sum"
done
misses=$(awk -F '\t' '$7 == "MISS"' "$RESULTS" | wc -l)
echo "  $(awk -F '\t' '$7 == "ok"' "$RESULTS" | wc -l) targets met, $misses missed (figures only: make bench never fails on a target)"
[ -s "$BENCH/notes.txt" ] && { echo "  notes:"; sed 's/^/    - /' "$BENCH/notes.txt"; }

{
	echo "# cdagent benchmarks"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git -C "$TOP" rev-parse --short=12 HEAD 2>/dev/null), $(stat -c %s "$CDAGENT")-byte binary, $(nproc) CPUs, kernel $(uname -r); tmpfs: ${TMPFS:-skipped}, disk: $(fs_type "$DISK"). Produced by \`make bench\` (tests/bench/run.sh)."
	echo
	echo "| section | metric | fs | figure | target | verdict |"
	echo "|---|---|---|---:|---|---|"
	awk -F '\t' '{ printf "| %s | %s | %s | %s %s | %s | %s |\n", $1, $2, $3, $4, $5, ($6 == "" ? "-" : $6), $7 }' "$RESULTS"
	if [ -s "$BENCH/notes.txt" ]; then
		echo; echo "Notes:"; echo
		sed 's/^/- /' "$BENCH/notes.txt"
	fi
} > "$BENCH/results.md"
echo "  written: build/bench/results.md"
exit $RC
