#!/bin/sh
# mkca.sh DIR: make test PKI for fakecp and other tests, with the openssl CLI.
#
#   DIR/ca.pem, ca.key          test CA (trust anchor for the agent:
#                               AWS_SSL_CA_BUNDLE / SSL_CERT_FILE)
#   DIR/server.pem, server.key  TLS server cert, SAN IP:127.0.0.1, DNS:localhost
#   DIR/signer.pem, signer.key  deployment-spec signer (openssl cms -sign)
#
# Idempotent: an existing complete set is reused. Key types from the
# environment: SERVER_KEYTYPE=ec|rsa (default ec, P-256),
# SIGNER_KEYTYPE=rsa|ec (default rsa, 2048, like the real signer).
set -eu
[ $# -eq 1 ] || { echo "usage: mkca.sh DIR" >&2; exit 2; }
d=$1
mkdir -p "$d"
if [ -s "$d/ca.pem" ] && [ -s "$d/server.pem" ] && [ -s "$d/signer.pem" ]; then
	exit 0
fi
w=$(mktemp -d "$d/.mkca.XXXXXX")
trap 'rm -rf "$w"' EXIT

genkey() { # TYPE OUT
	case $1 in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" 2>/dev/null ;;
	*)   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
	esac
}
serial() { echo "0x$(openssl rand -hex 8)"; }

cat > "$w/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[v3_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
CNF
cnf=$w/openssl.cnf

genkey ec "$w/ca.key"
openssl req -config "$cnf" -x509 -new -key "$w/ca.key" -sha256 -days 30 \
	-set_serial "$(serial)" -subj "/O=cdagent tests/CN=fakecp test CA" \
	-extensions v3_ca -out "$w/ca.pem"

# leaf CN EXT KEYTYPE NAME
leaf() {
	genkey "$3" "$w/$4.key"
	openssl req -config "$cnf" -new -key "$w/$4.key" -subj "$1" -out "$w/$4.csr"
	openssl x509 -req -in "$w/$4.csr" -CA "$w/ca.pem" -CAkey "$w/ca.key" \
		-set_serial "$(serial)" -days 30 -sha256 \
		-extfile "$cnf" -extensions "$2" -out "$w/$4.pem" 2>/dev/null
}
leaf "/O=cdagent tests/CN=localhost" v3_server "${SERVER_KEYTYPE:-ec}" server
leaf "/C=US/ST=Washington/L=Seattle/O=cdagent tests/CN=codedeploy-signer-us-east-1.amazonaws.com" \
	v3_signer "${SIGNER_KEYTYPE:-rsa}" signer
chmod 600 "$w"/*.key
for f in ca.key ca.pem server.key server.pem signer.key signer.pem; do
	mv -f "$w/$f" "$d/$f"
done
