#!/bin/sh
# tests/bench/download.sh LABEL:DIR...: the download benchmark of issue 4.
#
# One nginx (Debian's) on 127.0.0.1 with a test certificate from
# tests/fakecp/mkca.sh serves a 1 GiB incompressible file from each
# filesystem, path-style as S3 would (/<bucket>/<key>: bucket "tmpfs" or
# "disk"; nginx ignores the SigV4 headers). Both clients fetch the same URL
# over HTTPS into the same filesystem, interleaved rep by rep:
#
#  curl    curl -s -o DEST --cacert ca.pem URL
#  cdagent build/bench/s3get: a bench-only driver (s3get.c) linked with
#          the agent's own libagent.a, calling s3_fetch() exactly as
#          DownloadBundle does (HEAD, disk-budget check, GET with If-Match
#          streamed to the file, SHA-256 + MD5 of every byte, fsync), but
#          without the unpack that `cdagent deploy` does right after, so
#          the figure is the download alone.
#
# Throughput is MB/s (10^6 bytes) of wall time, median over the reps.
# s3_fetch fsyncs the file before returning and curl does not, so on disk a
# third figure, curl followed by `sync FILE`, shows what that costs.
. "$(dirname "$0")/lib.sh"

REPS=${BENCH_DL_REPS:-3}
MIB=${BENCH_DL_MIB:-1024}
SIZE=$((MIB << 20))
D=$BENCH/download
rm -rf "$D"; mkdir -p "$D"

command -v nginx >/dev/null 2>&1 || { say "download: nginx is not installed"; exit 1; }
command -v curl >/dev/null 2>&1 || { say "download: curl is not installed"; exit 1; }

# ---- the driver ---------------------------------------------------------------
say "  building build/bench/s3get (s3_fetch driver) against build/obj/musl/libagent.a"
make -s -C "$TOP" build/obj/musl/libagent.a >/dev/null || { say "download: libagent.a did not build"; exit 1; }
DEPLIBS="-lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lyaml -larchive -lzstd -llzma -lbz2 -lz -ljansson -lpthread"
musl-gcc -std=c11 -D_GNU_SOURCE -Os -I"$TOP/agent" -I"$TOP/platform" -I"$TOP/build/deps/musl/include" \
	-static -Wl,--gc-sections -s -o "$BENCH/s3get" "$TOP/tests/bench/s3get.c" \
	"$TOP/build/obj/musl/libagent.a" -L"$TOP/build/deps/musl/lib" $DEPLIBS ||
	{ say "download: s3get did not build"; exit 1; }

# ---- the server -----------------------------------------------------------------
sh "$TOP/tests/fakecp/mkca.sh" "$D/pki" >/dev/null 2>&1 || { say "download: mkca failed"; exit 1; }
PORT=$(free_port) PORT2=$(free_port)
while [ "$PORT2" = "$PORT" ]; do PORT2=$(free_port); done
{
	[ "$(id -u)" = 0 ] && echo "user root;"
	cat <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $D/nginx.pid;
error_log $D/nginx-error.log warn;
events { worker_connections 64; }
http {
	log_format tls "\$server_port \$ssl_protocol \$ssl_cipher [\$http_user_agent] \$request_method \$uri \$status";
	access_log $D/nginx-access.log tls;
	default_type application/octet-stream;
	client_body_temp_path $D/tmp;
	server {
		listen 127.0.0.1:$PORT ssl;
		ssl_certificate $D/pki/server.pem;
		ssl_certificate_key $D/pki/server.key;
		ssl_protocols TLSv1.2 TLSv1.3;
EOF
	for fd in "$@"; do
		printf '\t\tlocation /%s/ { alias %s/; }\n' "${fd%%:*}" "${fd#*:}/dl-src"
	done
	# the same, but the server picks AES-GCM whatever the client prefers
	printf '\t}\n\tserver {\n\t\tlisten 127.0.0.1:%s ssl;\n' "$PORT2"
	printf '\t\tssl_certificate %s;\n\t\tssl_certificate_key %s;\n' "$D/pki/server.pem" "$D/pki/server.key"
	printf '\t\tssl_protocols TLSv1.2 TLSv1.3;\n\t\tssl_prefer_server_ciphers on;\n'
	printf '\t\tssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;\n'
	printf '\t\tssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;\n'
	for fd in "$@"; do
		printf '\t\tlocation /%s/ { alias %s/; }\n' "${fd%%:*}" "${fd#*:}/dl-src"
	done
	printf '\t}\n}\n'
} > "$D/nginx.conf"
mkdir -p "$D/tmp"

# the 1 GiB object, the same bytes on every filesystem
for fd in "$@"; do
	dir=${fd#*:}/dl-src
	rm -rf "$dir"; mkdir -p "$dir"
	if [ -z "${first:-}" ]; then
		say "  generating a $MIB MiB incompressible object in $dir"
		openssl rand -out "$dir/obj.bin" "$SIZE" 2>/dev/null ||
			head -c "$SIZE" /dev/urandom > "$dir/obj.bin"
		first=$dir/obj.bin
	else
		cp "$first" "$dir/obj.bin"
	fi
done
bg "$D/nginx.out" nginx -c "$D/nginx.conf" -e "$D/nginx-error.log"
NGINX_PID=$BG_PID
URL=https://127.0.0.1:$PORT URL2=https://127.0.0.1:$PORT2
i=0
until curl -s -o /dev/null --cacert "$D/pki/ca.pem" "$URL/" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { say "download: nginx did not start"; cat "$D/nginx-error.log" >&2; exit 1; }
	sleep 0.1
done
export AWS_SSL_CA_BUNDLE=$D/pki/ca.pem

mbps() { awk -v b="$SIZE" -v n="$1" 'BEGIN { printf "%.0f", b / (n / 1e9) / 1e6 }'; }
RC=0
for fd in "$@"; do
	L=${fd%%:*} dir=${fd#*:}
	dst=$dir/dl-dst
	# warm up: the object in the page cache, the server's TLS session
	curl -s -o /dev/null --cacert "$D/pki/ca.pem" "$URL/$L/obj.bin"
	cu= ca= cs= ag= rss= i=0
	while [ $i -lt "$REPS" ]; do
		rm -f "$dst"; sync
		timed dl-curl curl -s -S -o "$dst" --cacert "$D/pki/ca.pem" "$URL/$L/obj.bin"
		[ $RUN_RC = 0 ] && [ "$(stat -c %s "$dst")" = "$SIZE" ] || { say "download [$L]: curl failed"; cat "$BENCH/dl-curl.out" >&2; RC=1; break; }
		cu="$cu $RUN_NS"
		rm -f "$dst" "$dst.part.json"; sync
		timed dl-cdagent "$BENCH/s3get" "$URL" "$L" obj.bin "$dst"
		[ $RUN_RC = 0 ] && [ "$(stat -c %s "$dst")" = "$SIZE" ] || { say "download [$L]: s3get failed"; cat "$BENCH/dl-cdagent.out" >&2; RC=1; break; }
		ca="$ca $RUN_NS"; rss="$rss $RUN_KB"
		rm -f "$dst" "$dst.part.json"; sync
		timed dl-cdagent-aes "$BENCH/s3get" "$URL2" "$L" obj.bin "$dst"
		[ $RUN_RC = 0 ] && ag="$ag $RUN_NS"
		if [ "$L" != tmpfs ]; then
			rm -f "$dst"; sync
			timed dl-curl-sync sh -c 'curl -s -S -o "$1" --cacert "$2" "$3" && sync "$1"' curl-sync "$dst" "$D/pki/ca.pem" "$URL/$L/obj.bin"
			cs="$cs $RUN_NS"
		fi
		i=$((i + 1))
	done
	rm -f "$dst"
	[ -n "$ca" ] && [ -n "$cu" ] || continue
	c=$(mbps "$(median $cu)") a=$(mbps "$(median $ca)") m=$(max $rss)
	pct=$(awk -v a="$a" -v c="$c" 'BEGIN { printf "%.0f", 100 * a / c }')
	record download "curl -o: throughput" "$L" "$c" MB/s "" info
	[ -n "$cs" ] && record download "curl -o + sync FILE: throughput" "$L" "$(mbps "$(median $cs)")" MB/s "" info
	record download "cdagent s3_fetch: throughput" "$L" "$a" MB/s "" info
	[ -n "$ag" ] && record download "cdagent s3_fetch, server picks AES-GCM: throughput" "$L" "$(mbps "$(median $ag)")" MB/s "" info
	record download "cdagent / curl" "$L" "$pct" % ">= 90 %" "$(verdict "$pct" ge 90)"
	record download "cdagent s3_fetch: peak RSS" "$L" "$(mib "$m")" MiB "< 16 MiB" "$(verdict "$m" lt 16384)"
done

kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null
# which TLS version and cipher each client got (from nginx's access log)
awk -v p="$PORT" '$4 == "GET" || $5 == "GET" { k = ($1 == p ? "default server" : "AES-GCM server") ": " $0; sub(/ GET .*/, "", k); if (!(k in seen)) { seen[k] = 1; print k } }' "$D/nginx-access.log" |
	sed -e 's/ [0-9]* TLS/ TLS/' -e 's/\[curl[^]]*\]/curl/' -e 's/\[[^]]*\]/cdagent/' | sort -u | while read -r line; do
	note "download TLS: $line"
done
for fd in "$@"; do rm -rf "${fd#*:}/dl-src" "${fd#*:}/dl-dst"; done
exit $RC
