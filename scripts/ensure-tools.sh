#!/bin/sh
# Install the Debian packages cdagent's build and tests need, when missing.
# As root this runs apt-get; otherwise it prints the exact command and fails.
#
#   scripts/ensure-tools.sh build|check|deb
set -eu
what=${1:-build}

pkgs="make gcc musl-tools musl-dev cmake dpkg-dev pkg-config ca-certificates"
case $what in
check)	pkgs="$pkgs libcmocka-dev valgrind acl openssl python3 procps psmisc" ;;
deb)	pkgs="$pkgs lintian debootstrap systemd" ;;
esac

missing=
for p in $pkgs; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $s in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "cdagent needs these Debian packages:$missing" >&2
	echo "install them as root:  apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
