#!/bin/sh
# BeforeInstall: keep a copy of what is deployed now.
. "$(dirname "$0")/env.sh"
if [ -d "$APP_DIR" ]; then
	rm -rf "$APP_DIR.bak"
	cp -a "$APP_DIR" "$APP_DIR.bak"
	echo "backed up $APP_DIR to $APP_DIR.bak"
else
	echo "first deployment: nothing to back up"
fi
