#!/bin/sh
# Build cdagent's third-party libraries from Debian source packages.
#
#   scripts/deps.sh FLAVOUR        FLAVOUR: musl | glibc | (mingw, later)
#
# Result: build/deps/FLAVOUR/{include,lib}. Nothing third-party is ever
# committed: sources come from `apt-get source` at build time. Re-running
# with the prefix present does nothing (stamp file).
#
# Sources: bookworm for zlib, bzip2, xz, zstd, libyaml, libarchive, jansson;
# the next suite (trixie) for mbedTLS 3.6 and curl 8.x, through a private
# apt state folder so the system's sources are never touched.
set -eu

FL=${1:?usage: deps.sh src|musl|glibc}
TOP=$(cd "$(dirname "$0")/.." && pwd)
D=$TOP/build/deps
SRC=$D/src
PREFIX=$D/$FL
B=$D/obj-$FL
J=-j$(nproc 2>/dev/null || echo 2)

[ "$FL" != src ] && [ -f "$PREFIX/.stamp" ] && exit 0

# One build per prefix at a time (two makes may race for the same one):
# wait for the other, then find its stamp.
mkdir -p "$D"
exec 9>"$D/.lock-$FL"
flock 9
[ "$FL" != src ] && [ -f "$PREFIX/.stamp" ] && exit 0

log() { printf 'deps[%s]: %s\n' "$FL" "$*"; }

# --- sources -----------------------------------------------------------------
A=$D/apt-next
O="-o Dir::Etc::sourcelist=$A/next.sources -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$A/lists -o Dir::Cache=$A/cache"

add_deb_src() {
	f=/etc/apt/sources.list.d/debian.sources
	if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
	    grep -qs '^deb-src' /etc/apt/sources.list; then
		return 0
	fi
	[ -f "$f" ] || { echo "deps: no $f to mirror a deb-src entry from" >&2; exit 1; }
	if [ "$(id -u)" != 0 ]; then
		echo "deps: add a deb-src entry (as root: sed 's/^Types: deb\$/Types: deb-src/' $f > /etc/apt/sources.list.d/debian-src.sources; apt-get update)" >&2
		exit 1
	fi
	sed 's/^Types: deb$/Types: deb-src/' "$f" > /etc/apt/sources.list.d/debian-src.sources
	apt-get update -qq
}

# fetch OPTS PKG PATTERN: apt-get source the newest version whose upstream
# matches PATTERN (a grep -E regex); the archive index can run ahead of its
# pool, so a 404 moves on to the next version madison lists.
fetch() {
	opts=$1 pkg=$2 pat=$3
	vers=$(apt-cache $opts madison "$pkg" 2>/dev/null |
	    awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); print $2 }' |
	    grep -E "$pat" || true)
	[ -n "$vers" ] || { echo "deps: no source version of $pkg matching $pat" >&2; exit 1; }
	for v in $vers; do
		if (cd "$SRC" && apt-get $opts source -qq "$pkg=$v" >/dev/null 2>&1); then
			log "fetched $pkg $v"
			return 0
		fi
		log "$pkg $v not downloadable, trying the next version"
	done
	echo "deps: could not download any source of $pkg" >&2
	exit 1
}

if [ ! -f "$SRC/.stamp" ]; then
	add_deb_src
	rm -rf "$SRC"; mkdir -p "$SRC" "$A/lists/partial" "$A/cache/archives/partial"
	awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources |
	    sed -e 's/^Types: .*/Types: deb-src/' -e 's/^Suites: .*/Suites: trixie/' > "$A/next.sources"
	apt-get $O update -qq
	apt-cache madison zlib >/dev/null 2>&1 || apt-get update -qq
	fetch "" zlib '^1:1\.'
	fetch "" bzip2 '^1\.0\.'
	fetch "" xz-utils '^5\.'
	fetch "" libzstd '^1\.5'
	fetch "" libyaml '^0\.2'
	fetch "" libarchive '^3\.'
	fetch "" jansson '^2\.1[4-9]'
	fetch "$O" mbedtls '^3\.6\.'
	fetch "$O" curl '^8\.'
	touch "$SRC/.stamp"
fi
[ "$FL" = src ] && exit 0

srcdir() { ls -d "$SRC"/$1-*/ | head -n 1; }

# --- toolchain ---------------------------------------------------------------
case $FL in
musl)
	CC=musl-gcc
	CFLAGS="-Os -ffunction-sections -fdata-sections -fPIE"
	BT=MinSizeRel SYS="set(CMAKE_SYSTEM_NAME Linux)" PIC=OFF ;;
glibc)
	CC=gcc
	CFLAGS="-O2 -g -fPIC -ffunction-sections -fdata-sections"
	BT=RelWithDebInfo SYS="" PIC=ON ;;
*)
	echo "deps: unknown flavour $FL" >&2; exit 2 ;;
esac
export CC CFLAGS PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig

rm -rf "$B" "$PREFIX"; mkdir -p "$B" "$PREFIX/lib" "$PREFIX/include"
TC=$B/toolchain.cmake
cat > "$TC" <<TCEOF
$SYS
set(CMAKE_C_COMPILER $CC)
set(CMAKE_POSITION_INDEPENDENT_CODE $PIC)
set(CMAKE_FIND_ROOT_PATH $PREFIX)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
TCEOF
cm() { # cm NAME SRCDIR ARGS...
	n=$1 s=$2; shift 2
	cmake -S "$s" -B "$B/$n" -DCMAKE_TOOLCHAIN_FILE="$TC" -DCMAKE_BUILD_TYPE=$BT \
	    "-DCMAKE_C_FLAGS=$CFLAGS" -DCMAKE_INSTALL_PREFIX="$PREFIX" \
	    -DBUILD_SHARED_LIBS=OFF "$@" >"$B/$n.configure.log" 2>&1 ||
	    { tail -n 30 "$B/$n.configure.log" >&2; exit 1; }
}
quiet() { # quiet LOG CMD...: run, show the log only on failure
	l=$1; shift
	"$@" >"$l" 2>&1 || { tail -n 40 "$l" >&2; exit 1; }
}

log "zlib"
cp -a "$(srcdir zlib)" "$B/zlib"
(cd "$B/zlib" && quiet ../zlib.log sh -c "./configure --static --prefix='$PREFIX' && make $J libz.a && make install")

log "bzip2"
cp -a "$(srcdir bzip2)" "$B/bzip2"
(cd "$B/bzip2" && quiet ../bzip2.log make $J libbz2.a CC="$CC" CFLAGS="$CFLAGS -D_FILE_OFFSET_BITS=64")
install -m644 "$B/bzip2/libbz2.a" "$PREFIX/lib/"
install -m644 "$B/bzip2/bzlib.h" "$PREFIX/include/"

log "xz"
cp -a "$(srcdir xz-utils)" "$B/xz"
(cd "$B/xz" && quiet ../xz.log sh -c "./configure --prefix='$PREFIX' --disable-shared --enable-static \
    --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links \
    --disable-scripts --disable-doc --disable-nls && make $J && make install")

log "zstd"
cp -a "$(srcdir libzstd)" "$B/zstd"
(cd "$B/zstd" && quiet ../zstd.log sh -c "make $J -C lib libzstd.a-release CC='$CC' && \
    make -C lib install-static install-includes install-pc PREFIX='$PREFIX'")

log "mbedtls"
# Bulk crypto (AES-GCM, SHA-256, MD5 of every downloaded byte) is the one
# hot loop of the agent: -O2 there, -Os everywhere else.
CFLAGS_SAVED=$CFLAGS
CFLAGS=$(echo "$CFLAGS" | sed 's/-Os/-O2/')
MBT=$BT; [ "$BT" = MinSizeRel ] && MBT=Release
cm mbedtls "$(srcdir mbedtls)" -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF \
    -DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
    -DCMAKE_BUILD_TYPE=$MBT
CFLAGS=$CFLAGS_SAVED
quiet "$B/mbedtls.build.log" sh -c "cmake --build '$B/mbedtls' $J && cmake --install '$B/mbedtls'"

log "libyaml"
cm yaml "$(srcdir libyaml)" -DBUILD_TESTING=OFF -DINSTALL_CMAKE_DIR=lib/cmake/yaml
quiet "$B/yaml.build.log" sh -c "cmake --build '$B/yaml' $J && cmake --install '$B/yaml'"

log "libarchive"
AS=$(srcdir libarchive)
cm archive "$AS" -DPOSIX_REGEX_LIB=NONE \
    -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF \
    -DENABLE_LZ4=OFF -DENABLE_LZO=OFF -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF \
    -DENABLE_PCREPOSIX=OFF -DENABLE_CNG=OFF -DENABLE_ACL=OFF -DENABLE_XATTR=OFF \
    -DENABLE_ICONV=OFF -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF \
    -DENABLE_TEST=OFF -DENABLE_ZLIB=ON -DENABLE_ZSTD=ON -DENABLE_LZMA=ON -DENABLE_BZip2=ON
quiet "$B/archive.build.log" cmake --build "$B/archive" $J --target archive_static
install -m644 "$B/archive/libarchive/libarchive.a" "$PREFIX/lib/"
install -m644 "$AS/libarchive/archive.h" "$AS/libarchive/archive_entry.h" "$PREFIX/include/"

log "jansson"
cm jansson "$(srcdir jansson)" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF \
    -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON
quiet "$B/jansson.build.log" sh -c "cmake --build '$B/jansson' $J && cmake --install '$B/jansson'"

log "curl"
cm curl "$(srcdir curl)" -DBUILD_STATIC_LIBS=ON -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF \
    -DBUILD_EXAMPLES=OFF -DBUILD_LIBCURL_DOCS=OFF -DBUILD_MISC_DOCS=OFF -DENABLE_CURL_MANUAL=OFF \
    -DPICKY_COMPILER=OFF -DCURL_USE_PKGCONFIG=OFF -DHTTP_ONLY=ON -DCURL_DISABLE_ALTSVC=ON \
    -DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_KERBEROS_AUTH=ON \
    -DCURL_DISABLE_NEGOTIATE_AUTH=ON -DCURL_USE_GSSAPI=OFF -DCURL_DISABLE_WEBSOCKETS=ON \
    -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DCURL_USE_LIBPSL=OFF -DUSE_LIBIDN2=OFF \
    -DUSE_WIN32_IDN=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_NGHTTP2=OFF \
    -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DENABLE_IPV6=ON -DCURL_ZLIB=ON \
    -DCURL_USE_OPENSSL=OFF -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_USE_MBEDTLS=ON
quiet "$B/curl.build.log" sh -c "cmake --build '$B/curl' $J && cmake --install '$B/curl'"

rm -rf "$B"
touch "$PREFIX/.stamp"
log "done: $PREFIX"
