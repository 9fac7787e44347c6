# tests/bench/lib.sh: shared helpers for the benchmarks (sourced).
#
# Every figure goes through `record`, which appends one tab-separated line
# to $RESULTS:  section  metric  fs  value  unit  target  verdict
# (verdict: ok, MISS, or info when there is no target). run.sh prints the
# summary from that file and writes build/bench/results.md.
#
# Timing is wall clock from `date +%s%N` around the command; peak RSS is
# GNU time's %M (KiB) of the same run. Figures are medians over the reps.

set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
CDAGENT=${CDAGENT:-$TOP/build/cdagent}
BENCH=${BENCH:-$TOP/build/bench}
RESULTS=${RESULTS:-$BENCH/results.tsv}
GNUTIME=${GNUTIME:-/usr/bin/time}
export TOP CDAGENT BENCH RESULTS

now_ns() { date +%s%N; }

# median N...: the median of integers (lower middle for an even count)
median() {
	printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
# max N...
max() { printf '%s\n' "$@" | sort -n | tail -n 1; }

# ms NS: nanoseconds as milliseconds with one decimal
ms() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1e6 }'; }
# mib KIB: KiB as MiB with one decimal
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# timed LABEL CMD...: run CMD once under GNU time; sets RUN_NS (wall ns),
# RUN_KB (peak RSS, KiB) and RUN_RC. Output of CMD goes to $BENCH/LABEL.out.
timed() {
	_l=$1; shift
	_t0=$(now_ns)
	"$GNUTIME" -f %M -o "$BENCH/.rss" "$@" >"$BENCH/$_l.out" 2>&1
	RUN_RC=$?
	_t1=$(now_ns)
	RUN_NS=$((_t1 - _t0))
	RUN_KB=$(tail -n 1 "$BENCH/.rss" 2>/dev/null | tr -cd 0-9)
	[ -n "$RUN_KB" ] || RUN_KB=0
}

# bare LABEL CMD...: the same without GNU time (for the millisecond
# figures, where time's own fork+exec would show); sets RUN_NS, RUN_RC.
bare() {
	_l=$1; shift
	_t0=$(now_ns)
	"$@" >"$BENCH/$_l.out" 2>&1
	RUN_RC=$?
	_t1=$(now_ns)
	RUN_NS=$((_t1 - _t0))
}

# record SECTION METRIC FS VALUE UNIT TARGET VERDICT
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"
}

# verdict VALUE OP LIMIT: ok or MISS (OP: lt, le, ge)
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == "lt") ? v < l : (op == "le") ? v <= l : v >= l
		print ok ? "ok" : "MISS" }'
}

# table SECTION: print SECTION's rows of $RESULTS as an aligned table
table() {
	awk -F '\t' -v s="$1" '
	$1 == s { n++; m[n] = $2; f[n] = $3; v[n] = $4 " " $5; t[n] = $6; r[n] = $7
		if (length(m[n]) > wm) wm = length(m[n]); if (length(f[n]) > wf) wf = length(f[n])
		if (length(v[n]) > wv) wv = length(v[n]); if (length(t[n]) > wt) wt = length(t[n]) }
	END {
		if (!n) exit
		if (wm < 6) wm = 6; if (wf < 2) wf = 2; if (wv < 6) wv = 6; if (wt < 6) wt = 6
		fmt = "  %-" wm "s  %-" wf "s  %" wv "s  %-" wt "s  %s\n"
		printf fmt, "metric", "fs", "figure", "target", "verdict"
		for (i = 1; i <= n; i++) printf fmt, m[i], f[i], v[i], t[i], r[i]
	}' "${2:-$RESULTS}"
}

note() { echo "  note: $*"; echo "$*" >> "$BENCH/notes.txt"; }
say() { echo "$*" >&2; }

# bg PIDFILE LOG CMD...: start a helper in the background; run.sh stops
# every PID listed in $BENCH/pids at exit.
bg() {
	_log=$1; shift
	"$@" >"$_log" 2>&1 &
	BG_PID=$!
	echo "$BG_PID" >> "$BENCH/pids"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fs_label DIR: "tmpfs" or "disk (<fstype>)"
fs_type() { stat -f -c %T "$1" 2>/dev/null || echo '?'; }
