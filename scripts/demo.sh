#!/bin/sh
# make demo: deploy the example web app (hooks-examples/linux) locally with
# `cdagent deploy`, twice, into a sandbox under build/demo/:
#   1st deployment: first install (ApplicationStop has no previous revision)
#   2nd deployment: ApplicationStop runs the 1st revision's script, and the
#                   files of the 1st install are cleaned up first.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
D=$TOP/build/demo
CDAGENT=$TOP/build/cdagent
[ -f "$D/server.pid" ] && kill "$(cat "$D/server.pid")" 2>/dev/null || true
rm -rf "$D"
mkdir -p "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

make_bundle() { # make_bundle DIR VERSION
	cp -a "$TOP/hooks-examples/linux" "$1"
	sed -i "s|/var/www/cdagent-example|$D/www|" "$1/appspec.yml"
	cat > "$1/scripts/env.sh" <<ENV
APP_DIR=$D/www
APP_PORT=$PORT
APP_PIDFILE=$D/server.pid
ENV
	sed -i "s|Deployed by cdagent.|Deployed by cdagent: revision $2.|" "$1/app/index.html"
}
make_bundle "$D/bundle-v1" 1
echo "only in revision 1" > "$D/bundle-v1/app/old.html"
make_bundle "$D/bundle-v2" 2

cat > "$D/codedeployagent.yml" <<CONF
---
:root_dir: '$D/deployment-root'
:log_dir: '$D/log'
:max_revisions: 5
CONF

echo "== deployment 1 =========================================="
"$CDAGENT" deploy -c "$D/codedeployagent.yml" -l "$D/bundle-v1" -t directory \
	-a cdagent-example -g demo-group
echo "== deployment 2 =========================================="
"$CDAGENT" deploy -c "$D/codedeployagent.yml" -l "$D/bundle-v2" -t directory \
	-a cdagent-example -g demo-group

echo "== result ================================================"
python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$PORT/').read().decode())" | grep revision
[ ! -e "$D/www/old.html" ] && echo "old.html of revision 1 was cleaned up"
echo "ApplicationStop of deployment 2 ran revision 1's script:"
grep -h "stopped pid" "$D"/deployment-root/demo-group/*/logs/scripts.log | sed 's/^/  /'
echo "deployment root: $D/deployment-root"
ls "$D/deployment-root" "$D/deployment-root/deployment-instructions" | sed 's/^/  /'
kill "$(cat "$D/server.pid")" 2>/dev/null && rm -f "$D/server.pid"
echo "demo web server stopped"
