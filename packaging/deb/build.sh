#!/bin/sh
# Build the Debian package of cdagent from the static release binary.
#
#   sh packaging/deb/build.sh [VERSION]
#
# VERSION is the full Debian version; the default is CDAGENT_VERSION from
# agent/version.h with revision -1 ("0.1.0-1"). The result is
# build/cdagent_<VERSION>_amd64.deb, and its path is the last line printed.
# Needs build/cdagent (`make`) and dpkg-deb. CDAGENT_BIN overrides the
# binary, CDAGENT_DEB_DIR the output directory (build/). The package tree
# is built in <output directory>/deb/root and kept for inspection. Timestamps come from SOURCE_DATE_EPOCH, else from the last
# commit, so the same inputs give the same .deb.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
P=$TOP/packaging/deb
BIN=${CDAGENT_BIN:-$TOP/build/cdagent}

die() { echo "deb: $*" >&2; exit 1; }

upstream=$(sed -n 's/^#define CDAGENT_VERSION "\(.*\)"$/\1/p' \
    "$TOP/agent/version.h")
[ -n "$upstream" ] || die "no CDAGENT_VERSION in agent/version.h"
VERSION=${1:-$upstream-1}
case $VERSION in
[0-9]*-[0-9A-Za-z]*) ;;
*) die "version '$VERSION' must look like UPSTREAM-REVISION (0.1.0-1)" ;;
esac

[ -x "$BIN" ] || die "$BIN missing: run make first"
command -v dpkg-deb >/dev/null || die "dpkg-deb missing (apt-get install dpkg)"
# The package promises no run-time dependencies: refuse a dynamic binary.
if LC_ALL=C readelf -l "$BIN" 2>/dev/null | grep -q 'INTERP'; then
	die "$BIN is dynamically linked; build the release binary with make"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$TOP" log -1 --format=%ct 2>/dev/null ||
	    date +%s)
fi
export SOURCE_DATE_EPOCH

umask 022
D=${CDAGENT_DEB_DIR:-$TOP/build}
R=$D/deb/root
rm -rf "$R"
mkdir -p "$R/DEBIAN"

doc=$R/usr/share/doc/cdagent
install -D -m 0755 "$BIN" "$R/usr/sbin/cdagent"
install -D -m 0644 "$P/cdagent.service" "$R/lib/systemd/system/cdagent.service"
install -D -m 0644 "$P/codedeployagent.yml" \
    "$R/etc/codedeploy-agent/conf/codedeployagent.yml"
install -D -m 0644 "$P/codedeploy.onpremises.yml" \
    "$doc/examples/codedeploy.onpremises.yml"
install -D -m 0644 "$P/copyright" "$doc/copyright"
install -D -m 0644 "$P/lintian-overrides" \
    "$R/usr/share/lintian/overrides/cdagent"
mkdir -p "$R/usr/share/man/man8"
gzip -9n < "$P/cdagent.8" > "$R/usr/share/man/man8/cdagent.8.gz"
chmod 0644 "$R/usr/share/man/man8/cdagent.8.gz"

# changelog: the committed one, with an entry on top when VERSION is not
# the version of its first entry (a rebuild with a bumped version).
top=$(sed -n '1s/^cdagent (\([^)]*\)).*/\1/p' "$P/changelog")
{
	if [ "$top" != "$VERSION" ]; then
		printf 'cdagent (%s) unstable; urgency=medium\n\n' "$VERSION"
		printf '  * Rebuild of cdagent %s as version %s.\n\n' \
		    "$upstream" "$VERSION"
		printf ' -- cdagent maintainers <cdagent@example.org>  %s\n\n' \
		    "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
	fi
	cat "$P/changelog"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

for s in postinst prerm postrm; do
	install -m 0755 "$P/$s" "$R/DEBIAN/$s"
done
echo /etc/codedeploy-agent/conf/codedeployagent.yml > "$R/DEBIAN/conffiles"
chmod 0644 "$R/DEBIAN/conffiles"

# Static-Built-Using: the Debian sources linked into the binary, from the
# .dsc files scripts/deps.sh fetched, and musl from the installed musl-dev.
sbu=
for dsc in "$TOP"/build/deps/src/*.dsc; do
	[ -f "$dsc" ] || continue
	src=$(sed -n 's/^Source: //p' "$dsc")
	ver=$(sed -n 's/^Version: //p' "$dsc")
	[ -n "$src" ] && [ -n "$ver" ] && sbu="$sbu, $src (= $ver)"
done
musl=$(dpkg-query -W -f='${source:Package} (= ${source:Version})' musl-dev \
    2>/dev/null || true)
[ -n "$musl" ] && sbu="$sbu, $musl"
sbu=${sbu#, }
[ -n "$sbu" ] && sbu="Static-Built-Using: $sbu
"

size=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
awk -v ver="$VERSION" -v size="$size" -v sbu="$sbu" '{
	gsub(/@VERSION@/, ver); gsub(/@SIZE@/, size)
	if (index($0, "@STATIC_BUILT_USING@")) {
		sub(/@STATIC_BUILT_USING@/, ""); printf "%s", sbu
	}
	print }' "$P/control.in" > "$R/DEBIAN/control"

(cd "$R" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' |
    LC_ALL=C sort | xargs md5sum) > "$R/DEBIAN/md5sums"
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/md5sums"

find "$R" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

OUT=$D/cdagent_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$OUT" >/dev/null
echo "$OUT"
