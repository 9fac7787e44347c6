# Settings shared by the hook scripts (sourced). The demo rewrites them.
APP_DIR=/var/www/cdagent-example
APP_PORT=8089
APP_PIDFILE=/tmp/cdagent-example.pid
