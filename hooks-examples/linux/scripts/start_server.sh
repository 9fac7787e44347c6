#!/bin/sh
# ApplicationStart: serve the app on 127.0.0.1:$APP_PORT. The server's
# streams are redirected so the hook can finish while it runs on.
. "$(dirname "$0")/env.sh"
cd "$APP_DIR" || exit 1
nohup python3 -m http.server --bind 127.0.0.1 "$APP_PORT" \
	>/dev/null 2>&1 </dev/null &
echo $! > "$APP_PIDFILE"
echo "started web server pid $! on port $APP_PORT serving $APP_DIR"
