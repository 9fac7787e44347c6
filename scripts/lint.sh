#!/bin/sh
# Every .c file of agent/ and platform/ includes banned.h last.
set -eu
bad=0
for f in agent/*.c platform/*/*.c; do
	[ -f "$f" ] || continue
	last=$(grep -n '^#include' "$f" | tail -n 1 | cut -d: -f2-)
	case $last in
	*'"banned.h"'*) ;;
	*) echo "lint: $f does not include banned.h last" >&2; bad=1 ;;
	esac
done
if grep -n '_WIN32' agent/*.c agent/*.h; then
	echo "lint: no _WIN32 in agent/ (use platform/platform.h)" >&2
	bad=1
fi
exit $bad
