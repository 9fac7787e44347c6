#!/bin/sh
# Test driver for `make check`, `make unit`, `make e2e`, `make asan`.
#
#   tests/run.sh unit|unit-asan|e2e|all [UNIT_BINARIES...]
#
# Unit tests (cmocka) run under valgrind (--error-exitcode=1,
# --leak-check=full); a valgrind error fails that binary. End-to-end tests
# are tests/e2e/t_*.sh, each reporting its cases through tests/e2e/lib.sh.
# The last line is the summary: "N passed, N failed[, N skipped]".
set -u
mode=$1; shift
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/build/test
mkdir -p "$OUT"
RES=$OUT/results.txt
: > "$RES"
export CDAGENT_TEST_RESULTS=$RES TOP

count_cmocka() { # file -> "passed failed"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -n 1)
	echo "${p:-0} ${f:-0}"
}

run_unit() { # flavour bins...
	fl=$1; shift
	for t in "$@"; do
		n=$(basename "$t")
		log=$OUT/$fl-$n.log
		if [ "$fl" = unit ] && command -v valgrind >/dev/null; then
			valgrind -q --error-exitcode=99 --leak-check=full \
			    --errors-for-leak-kinds=definite,indirect \
			    "$t" >"$log" 2>&1
		else
			ASAN_OPTIONS=detect_leaks=1 "$t" >"$log" 2>&1
		fi
		rc=$?
		set -- $(count_cmocka "$log")
		p=$1 f=$2
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1	# crash, sanitizer or valgrind error
		fi
		if [ "$rc" -ne 0 ]; then
			echo "FAIL $fl/$n (exit $rc):"
			sed 's/^/    /' "$log" | tail -n 40
		else
			echo "ok   $fl/$n ($p tests)"
		fi
		echo "$p $f 0" >> "$RES"
	done
}

run_e2e() {
	for t in "$TOP"/tests/e2e/t_*.sh; do
		[ -f "$t" ] || continue
		n=$(basename "$t" .sh)
		log=$OUT/e2e-$n.log
		before=$(wc -l < "$RES")
		CDAGENT_TEST_NAME=$n sh "$t" >"$log" 2>&1
		rc=$?
		grep -E '^(ok|FAIL|SKIP) ' "$log" | sed "s|^|  $n: |"
		after=$(wc -l < "$RES")
		if [ "$rc" -ne 0 ] || [ "$after" -eq "$before" ]; then
			echo "FAIL e2e/$n (exit $rc):"
			tail -n 30 "$log" | sed 's/^/    /'
			echo "0 1 0" >> "$RES"
		fi
	done
}

# The deployment and daemon suites again with the ASan+UBSan build of the
# agent: every path they drive must be free of memory errors and leaks.
run_e2e_asan() {
	A=$TOP/build/asan/cdagent
	[ -x "$A" ] || { echo "SKIP e2e under ASan: $A not built"; echo "0 0 1" >> "$RES"; return; }
	rep=$OUT/asan-reports
	rm -rf "$rep"; mkdir -p "$rep"
	for t in t_deploy t_daemon; do
		log=$OUT/e2e-asan-$t.log
		CDAGENT=$A ASAN_OPTIONS=detect_leaks=1:log_path=$rep/asan \
		    UBSAN_OPTIONS=print_stacktrace=1:log_path=$rep/ubsan \
		    CDAGENT_TEST_RESULTS=/dev/null sh "$TOP/tests/e2e/$t.sh" >"$log" 2>&1
		nf=$(grep -c '^FAIL' "$log")
		if [ "$nf" -ne 0 ]; then
			echo "FAIL e2e-asan/$t: $nf case(s) failed under ASan:"
			grep '^FAIL' "$log" | sed 's/^/    /'
			echo "0 1 0" >> "$RES"
		else
			echo "ok   e2e-asan/$t (all cases pass with the ASan build)"
			echo "1 0 0" >> "$RES"
		fi
	done
	if [ -n "$(ls -A "$rep")" ]; then
		echo "FAIL e2e-asan: sanitizer reports:"
		cat "$rep"/* | grep -E 'ERROR|SUMMARY|runtime error|#[0-9] ' | head -40 | sed 's/^/    /'
		echo "0 1 0" >> "$RES"
	else
		echo "ok   e2e-asan: no ASan, LeakSanitizer or UBSan report"
		echo "1 0 0" >> "$RES"
	fi
}

case $mode in
unit)      run_unit unit "$@" ;;
unit-asan) run_unit asan "$@" ;;
e2e)       run_e2e ;;
all)       run_unit unit "$@"; run_e2e; run_e2e_asan ;;
*)         echo "usage: run.sh unit|unit-asan|e2e|all [bins]" >&2; exit 2 ;;
esac

awk '{ p += $1; f += $2; s += $3 } END {
	if (s > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s
	else printf "%d passed, %d failed\n", p, f
	exit (f > 0 || p == 0) ? 1 : 0 }' "$RES"
