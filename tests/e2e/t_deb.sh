#!/bin/sh
# End-to-end test of the Debian package (packaging/deb): build it, lintian,
# then install, upgrade, remove and purge it with dpkg inside a minimal
# Debian root made by debootstrap, and use the installed agent there.
#
# The debootstrap root is made once and cached as a tarball in
# build/debootstrap/; every run unpacks a fresh copy under $T.
. "$(dirname "$0")/lib.sh"

SUITE=bookworm
CACHE=$TOP/build/debootstrap
TARBALL=$CACHE/$SUITE-minbase.tar
R=$T/root
HOSTBIN=

if [ "$(id -u)" != 0 ]; then
	skip "deb: needs root (dpkg and chroot); run make check as root"
	exit 0
fi
if ! command -v lintian >/dev/null || ! command -v debootstrap >/dev/null ||
    ! command -v systemd-analyze >/dev/null; then
	sh "$TOP/scripts/ensure-tools.sh" deb >"$T/tools.log" 2>&1 || true
fi
for tool in lintian debootstrap systemd-analyze dpkg-deb; do
	if ! command -v "$tool" >/dev/null; then
		skip "deb: $tool missing and 'scripts/ensure-tools.sh deb'" \
		    "could not install it (see its output above)"
		cat "$T/tools.log" 2>/dev/null
		exit 0
	fi
done
if [ ! -x "$CDAGENT" ]; then
	fail "deb: $CDAGENT missing (run make)"
	exit 0
fi

# Whatever happens: nothing mounted in the root, no binary left on the host.
_deb_cleanup() {
	if [ -n "$R" ] && grep -q " $R/proc " /proc/mounts 2>/dev/null; then
		umount "$R/proc" 2>/dev/null || umount -l "$R/proc"
	fi
	[ -n "$HOSTBIN" ] && rm -f "$HOSTBIN"
	HOSTBIN=
}
trap '_deb_cleanup; _cleanup' EXIT
trap '_deb_cleanup; _cleanup; exit 1' INT TERM

in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 "$@"; }
mode_of() { stat -c '%a %U:%G' "$R$1" 2>/dev/null; }
show() { sed 's/^/    | /' "$1" | tail -n "${2:-15}"; }
pkg_status() { in_root dpkg-query -W -f='${db:Status-Abbrev}${Version}' \
    cdagent 2>/dev/null; }

# ---- build and lintian ----------------------------------------------------
UPSTREAM=$(sed -n 's/^#define CDAGENT_VERSION "\(.*\)"$/\1/p' \
    "$TOP/agent/version.h")
V1=$UPSTREAM-1
V2=$UPSTREAM-1+test1
if DEB1=$(sh "$TOP/packaging/deb/build.sh" 2>"$T/build.err" | tail -n 1) &&
    [ -f "$DEB1" ]; then
	ok "deb: build.sh builds $(basename "$DEB1")"
else
	fail "deb: build.sh"; show "$T/build.err"
	exit 0
fi
check "deb: file name has the version" \
    [ "$(basename "$DEB1")" = "cdagent_${V1}_amd64.deb" ]
if lintian --fail-on error "$DEB1" >"$T/lintian.out" 2>&1; then
	ok "deb: lintian --fail-on error"
else
	fail "deb: lintian --fail-on error"; show "$T/lintian.out" 30
fi
DEB2=$(CDAGENT_DEB_DIR=$T sh "$TOP/packaging/deb/build.sh" "$V2" \
    2>"$T/build2.err" | tail -n 1)
check "deb: build.sh takes a version override" \
    test "$DEB2" = "$T/cdagent_${V2}_amd64.deb" -a -f "$DEB2"
check "deb: control has Conflicts/Replaces/Provides codedeploy-agent" \
    sh -c "dpkg-deb -f '$DEB1' Conflicts Replaces Provides |
        grep -c 'codedeploy-agent\$' | grep -qx 3"
check "deb: no Depends (static binary)" \
    [ -z "$(dpkg-deb -f "$DEB1" Depends)" ]

# ---- a fresh Debian root ----------------------------------------------------
if [ ! -f "$TARBALL" ]; then
	uri=$(sed -n 's/^URIs:[[:space:]]*//p' \
	    /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
	uri=${uri%% *}
	mkdir -p "$CACHE"
	rm -rf "$CACHE/root.tmp"
	echo "debootstrap --variant=minbase $SUITE from ${uri:-the default}" \
	    "(once; cached in $TARBALL)"
	if debootstrap --variant=minbase "$SUITE" "$CACHE/root.tmp" \
	    ${uri:+"$uri"} >"$CACHE/debootstrap.log" 2>&1 &&
	    tar -C "$CACHE/root.tmp" -cf "$TARBALL.tmp" . &&
	    mv "$TARBALL.tmp" "$TARBALL"; then
		:
	else
		fail "deb: debootstrap $SUITE (see $CACHE/debootstrap.log)"
		show "$CACHE/debootstrap.log"
		rm -rf "$CACHE/root.tmp" "$TARBALL.tmp"
		exit 0
	fi
	rm -rf "$CACHE/root.tmp"
fi
mkdir -p "$R"
if ! tar -C "$R" -xf "$TARBALL"; then
	fail "deb: unpack $TARBALL"
	exit 0
fi
cp "$DEB1" "$DEB2" "$R/tmp/"
D1=/tmp/$(basename "$DEB1")
D2=/tmp/$(basename "$DEB2")

# ---- install -------------------------------------------------------------------
if in_root dpkg -i "$D1" >"$T/install.out" 2>&1 </dev/null; then
	ok "install: dpkg -i in a $SUITE chroot"
else
	fail "install: dpkg -i"; show "$T/install.out"
	exit 0
fi
check "install: status installed $V1" [ "$(pkg_status)" = "ii $V1" ]
check "install: /usr/sbin/cdagent 0755 root" \
    [ "$(mode_of /usr/sbin/cdagent)" = "755 root:root" ]
check "install: unit file 0644" \
    [ "$(mode_of /lib/systemd/system/cdagent.service)" = "644 root:root" ]
check "install: default config 0644" \
    [ "$(mode_of /etc/codedeploy-agent/conf/codedeployagent.yml)" = \
    "644 root:root" ]
check "install: config is a conffile" sh -c "chroot '$R' dpkg-query -W \
    -f='\${Conffiles}' cdagent | grep -q ' /etc/codedeploy-agent/conf/codedeployagent.yml '"
check "install: no active on-premises config" \
    [ ! -e "$R/etc/codedeploy-agent/conf/codedeploy.onpremises.yml" ]
for f in /usr/share/man/man8/cdagent.8.gz /usr/share/doc/cdagent/copyright \
    /usr/share/doc/cdagent/changelog.Debian.gz \
    /usr/share/doc/cdagent/examples/codedeploy.onpremises.yml \
    /usr/share/lintian/overrides/cdagent; do
	check "install: $f 0644" [ "$(mode_of "$f")" = "644 root:root" ]
done
for d in /opt/codedeploy-agent/deployment-root /var/log/aws/codedeploy-agent \
    /etc/codedeploy-agent/conf /opt/codedeploy-agent/state/.pid; do
	check "install: postinst made $d 0755" \
	    [ "$(mode_of "$d")" = "755 root:root" ]
done
WANTS=/etc/systemd/system/multi-user.target.wants/cdagent.service
check "install: service enabled, not started (no systemd in a chroot)" \
    [ "$(readlink "$R$WANTS")" = /lib/systemd/system/cdagent.service ]
if in_root cdagent version >"$T/version.out" 2>&1 &&
    grep -q "^cdagent $UPSTREAM" "$T/version.out"; then
	ok "install: cdagent version runs in the chroot"
else
	fail "install: cdagent version"; show "$T/version.out"
fi

# ---- systemd-analyze verify of the installed unit ---------------------------
# ExecStart= must exist on the host and Documentation=man: must resolve, so
# the binary is put at /usr/sbin/cdagent for the check only (when absent)
# and man looks into the chroot.
if [ ! -e /usr/sbin/cdagent ]; then
	HOSTBIN=/usr/sbin/cdagent
	cp "$R/usr/sbin/cdagent" "$HOSTBIN"
fi
if MANPATH=$R/usr/share/man systemd-analyze verify \
    "$R/lib/systemd/system/cdagent.service" >"$T/verify.out" 2>&1; then
	ok "unit: systemd-analyze verify"
else
	fail "unit: systemd-analyze verify"; show "$T/verify.out"
fi
_deb_cleanup
for k in Type=notify Restart=on-failure KillMode=process TimeoutStopSec=7260 \
    'ExecStart=/usr/sbin/cdagent run'; do
	check "unit: $k" grep -qx "$k" "$R/lib/systemd/system/cdagent.service"
done
check "unit: no NoNewPrivileges/ProtectSystem/ProtectHome" sh -c \
    "! grep -Eq '^(NoNewPrivileges|ProtectSystem|ProtectHome|PrivateTmp)=' \
    '$R/lib/systemd/system/cdagent.service'"

# ---- deploy with the installed agent and its default config -------------------
# minbase has no python3 (the example bundle's web server needs it), so a
# small bundle with shell hooks exercises files, permissions and runas.
B=$R/tmp/bundle
mkdir -p "$B/app" "$B/scripts"
echo "hello from the chroot" > "$B/app/index.html"
cat > "$B/appspec.yml" <<'EOF'
version: 0.0
os: linux
files:
  - source: app
    destination: /srv/cdagent-test
permissions:
  - object: /srv/cdagent-test
    pattern: "*.html"
    mode: "0640"
    type: [file]
hooks:
  BeforeInstall:
    - location: scripts/before.sh
      timeout: 30
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 30
      runas: nobody
  ValidateService:
    - location: scripts/validate.sh
      timeout: 30
EOF
cat > "$B/scripts/before.sh" <<'EOF'
#!/bin/sh
echo "$LIFECYCLE_EVENT $DEPLOYMENT_GROUP_NAME" > /tmp/before.marker
EOF
cat > "$B/scripts/start.sh" <<'EOF'
#!/bin/sh
id -un > /tmp/start.marker
EOF
cat > "$B/scripts/validate.sh" <<'EOF'
#!/bin/sh
grep -q "hello from the chroot" /srv/cdagent-test/index.html
EOF
chmod 0755 "$B/scripts/"*.sh
# The installer applies modes through /proc/self/fd (no path races), so
# this step, and only this one, needs /proc.
mount -t proc proc "$R/proc"
in_root cdagent deploy --help >"$T/deploy-help.out" 2>&1
in_root cdagent deploy -l /tmp/bundle -g chroot-group -a deb-test \
    >"$T/deploy.out" 2>&1 </dev/null
rc=$?
_deb_cleanup
if grep -qi "not built" "$T/deploy-help.out" ||
    { [ $rc -eq 2 ] && grep -q "not built into this release" "$T/deploy.out"; }; then
	skip "deploy: 'cdagent deploy' is not built into this release yet"
else
	if [ $rc -eq 0 ]; then
		ok "deploy: cdagent deploy in the chroot, default config"
	else
		fail "deploy: cdagent deploy exit $rc"; show "$T/deploy.out"
	fi
	check "deploy: file installed" grep -q "hello from the chroot" \
	    "$R/srv/cdagent-test/index.html"
	check "deploy: permissions applied (0640)" \
	    [ "$(mode_of /srv/cdagent-test/index.html)" = "640 root:root" ]
	check "deploy: BeforeInstall hook ran" \
	    [ "$(cat "$R/tmp/before.marker" 2>/dev/null)" = \
	    "BeforeInstall LocalFleet" ]
	check "deploy: runas hook ran as nobody" \
	    [ "$(cat "$R/tmp/start.marker" 2>/dev/null)" = nobody ]
	check "deploy: scripts.log under the packaged root_dir" sh -c \
	    "ls '$R'/opt/codedeploy-agent/deployment-root/chroot-group/*/logs/scripts.log >/dev/null"
fi

# image-prep with the installed config (once the command is registered).
mkdir -p "$R/opt/codedeploy-agent/deployment-root/g-prep/d-1"
echo x > "$R/var/log/aws/codedeploy-agent/codedeploy-agent.log"
echo "region: us-west-2" > "$R/etc/codedeploy-agent/conf/codedeploy.onpremises.yml"
in_root cdagent image-prep --help >"$T/prep-help.out" 2>&1
if grep -qi "not built" "$T/prep-help.out"; then
	skip "image-prep: not registered in this build yet"
elif in_root cdagent image-prep >"$T/prep.out" 2>&1; then
	check "image-prep: prints what it removed" grep -q \
	    "^removed /opt/codedeploy-agent/deployment-root/g-prep$" "$T/prep.out"
	check "image-prep: deployment root emptied, kept" sh -c \
	    "[ -d '$R/opt/codedeploy-agent/deployment-root' ] &&
	     [ -z \"\$(ls -A '$R/opt/codedeploy-agent/deployment-root')\" ]"
	check "image-prep: agent log and on-premises config removed" sh -c \
	    "[ ! -e '$R/var/log/aws/codedeploy-agent/codedeploy-agent.log' ] &&
	     [ ! -e '$R/etc/codedeploy-agent/conf/codedeploy.onpremises.yml' ]"
	check "image-prep: agent config kept" \
	    [ -f "$R/etc/codedeploy-agent/conf/codedeployagent.yml" ]
else
	fail "image-prep in the chroot"; show "$T/prep.out"
fi
rm -f "$R/etc/codedeploy-agent/conf/codedeploy.onpremises.yml"

# ---- upgrade keeps a modified conffile ------------------------------------------
CONF=$R/etc/codedeploy-agent/conf/codedeployagent.yml
printf '# local change\n:max_revisions: 3\n' >> "$CONF"
sum=$(md5sum < "$CONF")
mkdir -p "$R/opt/codedeploy-agent/deployment-root/g-up"
echo state > "$R/opt/codedeploy-agent/deployment-root/g-up/keep"
if in_root dpkg -i "$D2" >"$T/upgrade.out" 2>&1 </dev/null; then
	ok "upgrade: dpkg -i $V2 over $V1"
else
	fail "upgrade: dpkg -i"; show "$T/upgrade.out"
fi
check "upgrade: status installed $V2" [ "$(pkg_status)" = "ii $V2" ]
check "upgrade: modified config kept" [ "$(md5sum < "$CONF")" = "$sum" ]
check "upgrade: no .dpkg-dist/.dpkg-new left" sh -c \
    "! ls '$R'/etc/codedeploy-agent/conf/*.dpkg-* 2>/dev/null | grep -q ."
check "upgrade: deployment root kept" \
    [ -f "$R/opt/codedeploy-agent/deployment-root/g-up/keep" ]
check "upgrade: service still enabled" [ -L "$R$WANTS" ]

# ---- remove keeps configuration and state, purge removes them --------------------
if in_root dpkg -r cdagent >"$T/remove.out" 2>&1 </dev/null; then
	ok "remove: dpkg -r"
else
	fail "remove: dpkg -r"; show "$T/remove.out"
fi
check "remove: status config-files" [ "$(pkg_status)" = "rc $V2" ]
check "remove: binary gone" [ ! -e "$R/usr/sbin/cdagent" ]
check "remove: /etc/codedeploy-agent kept (modified config)" \
    [ "$(md5sum < "$CONF" 2>/dev/null)" = "$sum" ]
check "remove: /opt/codedeploy-agent kept" \
    [ -f "$R/opt/codedeploy-agent/deployment-root/g-up/keep" ]
check "remove: /var/log/aws/codedeploy-agent kept" \
    [ -d "$R/var/log/aws/codedeploy-agent" ]
if in_root dpkg -P cdagent >"$T/purge.out" 2>&1 </dev/null; then
	ok "purge: dpkg -P"
else
	fail "purge: dpkg -P"; show "$T/purge.out"
fi
check "purge: package gone" [ -z "$(pkg_status)" ]
for d in /etc/codedeploy-agent /opt/codedeploy-agent \
    /var/log/aws/codedeploy-agent; do
	check "purge: $d removed" [ ! -e "$R$d" ]
done
check "purge: service link removed" test ! -e "$R$WANTS" -a ! -L "$R$WANTS"

# ---- without init-system-helpers: the fallback enables and cleans up -------------
mv "$R/usr/bin/deb-systemd-helper" "$R/usr/bin/deb-systemd-helper.off"
mv "$R/usr/bin/deb-systemd-invoke" "$R/usr/bin/deb-systemd-invoke.off"
if in_root dpkg -i "$D1" >"$T/install2.out" 2>&1 </dev/null &&
    [ "$(readlink "$R$WANTS")" = /lib/systemd/system/cdagent.service ]; then
	ok "no deb-systemd-helper: postinst makes the wants link"
else
	fail "no deb-systemd-helper: install"; show "$T/install2.out"
fi
in_root dpkg -P cdagent >"$T/purge2.out" 2>&1 </dev/null
check "no deb-systemd-helper: purge removes the link" \
    test ! -L "$R$WANTS" -a ! -e "$R/etc/codedeploy-agent"
mv "$R/usr/bin/deb-systemd-helper.off" "$R/usr/bin/deb-systemd-helper"
mv "$R/usr/bin/deb-systemd-invoke.off" "$R/usr/bin/deb-systemd-invoke"
exit 0
