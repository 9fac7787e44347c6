#!/bin/sh
# make demo: until the deployment engine lands, show the built binary.
set -eu
./build/cdagent version
