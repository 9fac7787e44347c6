#!/bin/sh
# BeforeInstall: make sure what the app needs is on the host.
for tool in python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "missing dependency: $tool" >&2
		exit 1
	fi
	echo "found $tool: $(command -v "$tool")"
done
