#!/bin/sh
# ValidateService: the page the start script serves must answer.
. "$(dirname "$0")/env.sh"
i=0
while [ $i -lt 50 ]; do
	if python3 - "$APP_PORT" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=1).read()
sys.exit(0 if b"cdagent example" in body else 1)
PY
	then
		echo "health check passed on port $APP_PORT"
		exit 0
	fi
	sleep 0.2; i=$((i + 1))
done
echo "health check failed: nothing answers on port $APP_PORT" >&2
exit 1
