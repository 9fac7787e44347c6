#!/bin/sh
# ApplicationStop: runs the PREVIOUS revision's copy of this script.
. "$(dirname "$0")/env.sh"
echo "stopping the web server of $APPLICATION_NAME ($LIFECYCLE_EVENT, deployment $DEPLOYMENT_ID)"
if [ -f "$APP_PIDFILE" ] && kill -0 "$(cat "$APP_PIDFILE")" 2>/dev/null; then
	kill "$(cat "$APP_PIDFILE")"
	echo "stopped pid $(cat "$APP_PIDFILE")"
else
	echo "no server running"
fi
rm -f "$APP_PIDFILE"
