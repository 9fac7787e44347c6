/*
 * Unit tests for pkcs7.c. Every key, certificate and envelope is made at
 * test time by the openssl CLI (gen.sh below) in a mkdtemp directory:
 *	rsa, rsa2  self-signed RSA-2048        ec  self-signed P-256
 *	ca -> leaf, ca -> inter -> leaf2       other  an unrelated CA
 * and envelopes from `openssl cms -sign` and `openssl smime -sign`, with and
 * without signed attributes, PEM, DER and streamed BER, SHA-1/256/384/512.
 * Tampered envelopes are made here by editing the DER in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "pkcs7.h"
#include "platform.h"

static const char gen_sh[] =
"set -e\n"
"cd \"$1\"\n"
"printf '%s' '{\"DeploymentId\":\"d-EXAMPLE11\",\"DeploymentGroupId\":"
"\"1b1cc9e8-aaef-43e7-9bc8-988e6649cf6e\",\"ApplicationName\":\"MyApp\","
"\"Revision\":{\"RevisionType\":\"S3\",\"S3Revision\":{\"Bucket\":\"b\","
"\"Key\":\"app.zip\",\"BundleType\":\"zip\"}}}' > spec.json\n"
"i=0; : > big.json\n"
"while [ $i -lt 400 ]; do\n"
"  echo \"{\\\"line\\\":$i,\\\"pad\\\":\\\"0123456789abcdef0123456789\\\"}\" >> big.json\n"
"  i=$((i + 1))\n"
"done\n"
"selfsigned() { # name keyopts...\n"
"  n=$1; shift\n"
"  openssl req -x509 -newkey \"$@\" -nodes -keyout $n.key -out $n.crt \\\n"
"    -subj \"/O=cdagent test/CN=$n\" -days 3650\n"
"}\n"
"selfsigned rsa rsa:2048\n"
"selfsigned rsa2 rsa:2048\n"
"selfsigned ec ec -pkeyopt ec_paramgen_curve:P-256\n"
"CAEXT='-addext basicConstraints=critical,CA:TRUE "
"-addext keyUsage=critical,keyCertSign,cRLSign'\n"
"selfsigned ca rsa:2048 $CAEXT\n"
"selfsigned other rsa:2048 $CAEXT\n"
"openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.crt \\\n"
"  -subj '/O=cdagent test/CN=leaf' -days 3650 -CA ca.crt -CAkey ca.key \\\n"
"  -addext basicConstraints=CA:FALSE\n"
"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
"  -keyout inter.key -out inter.crt -subj '/O=cdagent test/CN=inter' \\\n"
"  -days 3650 -CA ca.crt -CAkey ca.key $CAEXT\n"
"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
"  -keyout leaf2.key -out leaf2.crt -subj '/O=cdagent test/CN=leaf2' \\\n"
"  -days 3650 -CA inter.crt -CAkey inter.key -addext basicConstraints=CA:FALSE\n"
"cms() { # out signer args...\n"
"  o=$1; s=$2; shift 2\n"
"  openssl cms -sign -binary -nodetach -in spec.json -signer $s.crt \\\n"
"    -inkey $s.key -out $o \"$@\"\n"
"}\n"
"smime() { # out signer args...\n"
"  o=$1; s=$2; shift 2\n"
"  openssl smime -sign -binary -nodetach -in spec.json -signer $s.crt \\\n"
"    -inkey $s.key -out $o \"$@\"\n"
"}\n"
"cms cms_rsa.pem rsa -outform PEM\n"
"cms cms_rsa.der rsa -outform DER\n"
"cms cms_rsa_noattr.pem rsa -outform PEM -noattr\n"
"cms cms_rsa_noattr.der rsa -outform DER -noattr\n"
"cms cms_rsa2_noattr.der rsa2 -outform DER -noattr\n"
"cms cms_rsa_sha1.pem rsa -outform PEM -md sha1\n"
"cms cms_rsa_sha512.der rsa -outform DER -md sha512\n"
"cms cms_ec.pem ec -outform PEM\n"
"cms cms_ec_noattr.der ec -outform DER -noattr\n"
"cms cms_ec_sha1.der ec -outform DER -md sha1\n"
"cms cms_ec_sha384.pem ec -outform PEM -md sha384\n"
"cms cms_ec_keyid.der ec -outform DER -keyid\n"
"cms cms_rsa_stream.der rsa -outform DER -stream\n"
"cms cms_nocerts.der rsa -outform DER -nocerts\n"
"cms cms_two.der rsa -outform DER -signer ec.crt -inkey ec.key\n"
"cms cms_leaf.pem leaf -outform PEM\n"
"cms cms_leaf2.der leaf2 -outform DER -certfile inter.crt\n"
"smime smime_rsa.pem rsa -outform PEM\n"
"smime smime_rsa.der rsa -outform DER\n"
"smime smime_ec.der ec -outform DER\n"
"smime smime_rsa_sha1.pem rsa -outform PEM -md sha1\n"
"smime smime_ec_sha1.der ec -outform DER -md sha1\n"
"smime smime_ec_stream.pem ec -outform PEM -stream -md sha256\n"
"openssl cms -sign -binary -nodetach -stream -outform DER -in big.json \\\n"
"  -signer ec.crt -inkey ec.key -out cms_big_stream.der\n"
"openssl cms -sign -binary -outform DER -in spec.json -signer rsa.crt \\\n"
"  -inkey rsa.key -out cms_detached.der\n";

struct fx {
	char dir[PATH_MAX];
	char *spec;		/* spec.json */
	size_t spec_len;
};

/* Read dir/name; NULL when missing. */
static unsigned char *
slurp(const struct fx *f, const char *name, size_t *len)
{
	char path[PATH_MAX + 64];
	unsigned char *p = NULL;
	long n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(p = malloc((size_t)n + 1));
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	p[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void
path_of(const struct fx *f, const char *name, char *out, size_t sz)
{
	snprintf(out, sz, "%s/%s", f->dir, name);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char script[PATH_MAX + 16], cmd[3 * PATH_MAX + 64];
	FILE *fp;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_pkcs7-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(script, sizeof(script), "%s/gen.sh", f->dir);
	assert_non_null(fp = fopen(script, "w"));
	assert_int_equal(fputs(gen_sh, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "sh %s %s >%s/gen.log 2>&1", script, f->dir,
	    f->dir);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/gen.log >&2", f->dir);
		(void)system(cmd);
		fail_msg("openssl fixture generation failed");
	}
	f->spec = (char *)slurp(f, "spec.json", &f->spec_len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(plat_fs_rm_rf(f->dir, &e), 0);
	free(f->spec);
	free(f);
	return 0;
}

/* Verify the envelope in file name; returns the code, e filled. */
static int
verify_file(const struct fx *f, const char *name, const char *ca,
    char **content, size_t *clen, char **subject, struct err *e)
{
	unsigned char *env;
	size_t len;
	char capath[PATH_MAX + 64];
	int r;

	env = slurp(f, name, &len);
	if (ca != NULL)
		path_of(f, ca, capath, sizeof(capath));
	r = pkcs7_verify(env, len, ca != NULL ? capath : NULL, content, clen,
	    subject, e);
	free(env);
	return r;
}

/* The envelope verifies and carries spec.json, signed by cn. */
static void
expect_ok(const struct fx *f, const char *name, const char *ca,
    const char *cn)
{
	struct err e = ERR_INIT;
	char *content = NULL, *subject = NULL;
	size_t clen = 0;
	int r;

	r = verify_file(f, name, ca, &content, &clen, &subject, &e);
	if (r != 0)
		fail_msg("%s: %s", name, e.msg);
	assert_non_null(content);
	assert_int_equal(clen, f->spec_len);
	assert_memory_equal(content, f->spec, clen);
	assert_int_equal(content[clen], '\0');
	assert_non_null(subject);
	if (strstr(subject, cn) == NULL)
		fail_msg("%s: signed by \"%s\", want %s", name, subject, cn);
	free(content);
	free(subject);
}

/* The envelope fails with code and a message containing what. */
static void
expect_fail_buf(const void *env, size_t len, const char *ca, int code,
    const char *what)
{
	struct err e = ERR_INIT;
	char *content = (char *)1, *subject = (char *)1;
	size_t clen = 1;
	int r;

	r = pkcs7_verify(env, len, ca, &content, &clen, &subject, &e);
	if (r != code || strstr(e.msg, what) == NULL)
		fail_msg("want %d \"%s\", got %d \"%s\"", code, what, r, e.msg);
	assert_null(content);
	assert_null(subject);
	assert_int_equal(clen, 0);
}

static void
expect_fail(const struct fx *f, const char *name, const char *ca, int code,
    const char *what)
{
	unsigned char *env;
	size_t len;
	char capath[PATH_MAX + 64];

	env = slurp(f, name, &len);
	if (ca != NULL)
		path_of(f, ca, capath, sizeof(capath));
	expect_fail_buf(env, len, ca != NULL ? capath : NULL, code, what);
	free(env);
}

/* signingTime 1.2.840.113549.1.9.5, SET { UTCTime YYMMDDHHMMSSZ } */
static const unsigned char signing_time[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05, 0x31, 0x0f, 0x17, 0x0d };

static unsigned char *
find(unsigned char *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

static void
test_pkcs7_cms_variants(void **state)
{
	const struct fx *f = *state;

	expect_ok(f, "cms_rsa.pem", NULL, "CN=rsa");
	expect_ok(f, "cms_rsa.der", NULL, "CN=rsa");
	expect_ok(f, "cms_rsa_noattr.pem", NULL, "CN=rsa");
	expect_ok(f, "cms_rsa_noattr.der", NULL, "CN=rsa");
	expect_ok(f, "cms_rsa_sha1.pem", NULL, "CN=rsa");
	expect_ok(f, "cms_rsa_sha512.der", NULL, "CN=rsa");
	expect_ok(f, "cms_ec.pem", NULL, "CN=ec");
	expect_ok(f, "cms_ec_noattr.der", NULL, "CN=ec");
	expect_ok(f, "cms_ec_sha1.der", NULL, "CN=ec");
	expect_ok(f, "cms_ec_sha384.pem", NULL, "CN=ec");
	expect_ok(f, "cms_ec_keyid.der", NULL, "CN=ec");
	expect_ok(f, "cms_rsa_stream.der", NULL, "CN=rsa");
	/* both signers verify; the subject is the first SignerInfo's */
	expect_ok(f, "cms_two.der", NULL, "O=cdagent test, CN=");
}

/* With two signers, one bad signature fails the envelope. */
static void
test_pkcs7_two_signers_one_bad(void **state)
{
	const struct fx *f = *state;
	unsigned char *env;
	size_t len;

	env = slurp(f, "cms_two.der", &len);
	env[len - 1] ^= 0x01;	/* the last SignerInfo's signature */
	expect_fail_buf(env, len, NULL, AG_EINVAL, "bad signature");
	free(env);
}

static void
test_pkcs7_smime_variants(void **state)
{
	const struct fx *f = *state;

	expect_ok(f, "smime_rsa.pem", NULL, "CN=rsa");
	expect_ok(f, "smime_rsa.der", NULL, "CN=rsa");
	expect_ok(f, "smime_ec.der", NULL, "CN=ec");
	expect_ok(f, "smime_rsa_sha1.pem", NULL, "CN=rsa");
	expect_ok(f, "smime_ec_sha1.der", NULL, "CN=ec");
	expect_ok(f, "smime_ec_stream.pem", NULL, "CN=ec");
}

/* Indefinite lengths and a content split into several OCTET STRINGs. */
static void
test_pkcs7_stream_chunks(void **state)
{
	const struct fx *f = *state;
	struct err e = ERR_INIT;
	unsigned char *big;
	char *content = NULL;
	size_t blen, clen;

	big = slurp(f, "big.json", &blen);
	assert_true(blen > 8192);
	assert_int_equal(verify_file(f, "cms_big_stream.der", NULL, &content,
	    &clen, NULL, &e), 0);
	assert_int_equal(clen, blen);
	assert_memory_equal(content, big, blen);
	free(content);
	free(big);
}

/*
 * A tiny BER walker for trusted test input, to turn definite lengths into
 * indefinite ones where openssl never writes them.
 */
static size_t
ber_hdr(const unsigned char *p, size_t *len)
{
	size_t i, n;

	if (p[1] == 0x80) {
		*len = SIZE_MAX;
		return 2;
	}
	if (p[1] < 0x80) {
		*len = p[1];
		return 2;
	}
	n = p[1] & 0x7f;
	for (*len = 0, i = 0; i < n; i++)
		*len = *len << 8 | p[2 + i];
	return 2 + n;
}

static size_t
ber_size(const unsigned char *p)
{
	size_t len, h = ber_hdr(p, &len), off;

	if (len != SIZE_MAX)
		return h + len;
	for (off = h; p[off] != 0 || p[off + 1] != 0; off += ber_size(p + off))
		;
	return off + 2;
}

/* Offset of child idx of the value at off (idx < 0: the last one). */
static size_t
ber_child(const unsigned char *b, size_t off, int idx)
{
	size_t len, h = ber_hdr(b + off, &len), end, c, last;
	int i;

	end = len == SIZE_MAX ? off + ber_size(b + off) - 2 : off + h + len;
	for (c = off + h, last = c, i = 0; c < end; c += ber_size(b + c), i++) {
		if (i == idx)
			return c;
		last = c;
	}
	assert_true(idx < 0);
	return last;
}

/* Re-encode the definite value at off with an indefinite length. */
static unsigned char *
ber_make_indef(unsigned char *b, size_t *n, size_t off)
{
	size_t len, h = ber_hdr(b + off, &len);
	unsigned char *o;

	assert_true(len != SIZE_MAX);
	assert_non_null(o = malloc(*n + 4));
	memcpy(o, b, off + 1);
	o[off + 1] = 0x80;
	memcpy(o + off + 2, b + off + h, len);
	o[off + 2 + len] = 0;
	o[off + 3 + len] = 0;
	memcpy(o + off + 4 + len, b + off + h + len, *n - off - h - len);
	*n = *n - h + 4;
	free(b);
	return o;
}

/*
 * Indefinite-length signerInfos, SignerInfo and signed attributes: the
 * attributes must be hashed as DER, so they are re-encoded with their
 * definite length.
 */
static void
test_pkcs7_indefinite_signed_attrs(void **state)
{
	const struct fx *f = *state;
	struct err e = ERR_INIT;
	unsigned char *b, *p;
	char *content = NULL, *subject = NULL;
	size_t n, sd, sis, si, clen;

	b = slurp(f, "cms_rsa_stream.der", &n);
	sd = ber_child(b, ber_child(b, 0, 1), 0);	/* SignedData */
	sis = ber_child(b, sd, -1);			/* signerInfos */
	b = ber_make_indef(b, &n, sis);
	si = ber_child(b, sis, 0);
	b = ber_make_indef(b, &n, si);
	assert_int_equal(b[ber_child(b, si, 3)], 0xa0);
	b = ber_make_indef(b, &n, ber_child(b, si, 3));
	if (pkcs7_verify(b, n, NULL, &content, &clen, &subject, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(clen, f->spec_len);
	assert_memory_equal(content, f->spec, clen);
	free(content);
	free(subject);
	/* and it is still checked: change the signing time */
	assert_non_null(p = find(b, n, signing_time, sizeof(signing_time)));
	p[sizeof(signing_time) + 11] ^= 0x01;
	expect_fail_buf(b, n, NULL, AG_EINVAL, "bad signature");
	free(b);
}

static void
test_pkcs7_tampered_content(void **state)
{
	const struct fx *f = *state;
	static const char *const names[] = { "cms_rsa.der", "smime_ec.der",
	    "cms_rsa_noattr.der", "cms_ec_noattr.der" };
	static const char *const why[] = { "messageDigest", "messageDigest",
	    "bad signature", "bad signature" };
	unsigned char *env, *p;
	size_t i, len;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		env = slurp(f, names[i], &len);
		assert_non_null(p = find(env, len, f->spec, f->spec_len));
		assert_int_equal(p[2], 'D');
		p[2] = 'E';	/* "DeploymentId" -> "EeploymentId" */
		expect_fail_buf(env, len, NULL, AG_EINVAL, why[i]);
		free(env);
	}
}

static void
test_pkcs7_tampered_signing_time(void **state)
{
	const struct fx *f = *state;
	static const char *const names[] = { "cms_rsa.der", "cms_ec_sha1.der",
	    "smime_rsa.der" };
	unsigned char *env, *p;
	size_t i, len;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		env = slurp(f, names[i], &len);
		assert_non_null(p = find(env, len, signing_time, sizeof(signing_time)));
		p += sizeof(signing_time) + 11;		/* YYMMDDHHMMSSZ: last S */
		*p = *p == '0' ? '1' : '0';
		expect_fail_buf(env, len, NULL, AG_EINVAL, "bad signature");
		free(env);
	}
}

/*
 * Wrong key: the signature bytes of an envelope signed by rsa2 spliced into
 * the same envelope signed by rsa (both RSA-2048, no attributes, so the
 * lengths match and only the key differs).
 */
static void
test_pkcs7_wrong_key(void **state)
{
	const struct fx *f = *state;
	static const unsigned char sighdr[] = { 0x04, 0x82, 0x01, 0x00 };
	unsigned char *a, *b, *pa = NULL, *pb = NULL, *q;
	size_t alen, blen;

	a = slurp(f, "cms_rsa_noattr.der", &alen);
	b = slurp(f, "cms_rsa2_noattr.der", &blen);
	/* the signature is the last 256-byte OCTET STRING */
	for (q = a; (q = find(q, alen - (size_t)(q - a), sighdr, 4)) != NULL;
	    q++)
		pa = q;
	for (q = b; (q = find(q, blen - (size_t)(q - b), sighdr, 4)) != NULL;
	    q++)
		pb = q;
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal((size_t)(pa - a) + 4 + 256, alen);
	assert_int_equal((size_t)(pb - b) + 4 + 256, blen);
	memcpy(pa + 4, pb + 4, 256);
	expect_fail_buf(a, alen, NULL, AG_EINVAL, "bad signature by "
	    "O=cdagent test, CN=rsa");
	free(a);
	free(b);
}

static void
test_pkcs7_signer_missing(void **state)
{
	const struct fx *f = *state;

	expect_fail(f, "cms_nocerts.der", NULL, AG_EINVAL,
	    "signer certificate not among");
	expect_fail(f, "cms_detached.der", NULL, AG_EPROTO,
	    "no attached content");
}

static void
test_pkcs7_ca_pinning(void **state)
{
	const struct fx *f = *state;

	/* NOVERIFY by default: a leaf of an unknown CA is fine */
	expect_ok(f, "cms_leaf.pem", NULL, "CN=leaf");
	expect_ok(f, "cms_leaf.pem", "ca.crt", "CN=leaf");
	expect_ok(f, "cms_leaf2.der", "ca.crt", "CN=leaf2");
	expect_fail(f, "cms_leaf.pem", "other.crt", AG_EINVAL,
	    "does not chain to");
	expect_fail(f, "cms_leaf2.der", "other.crt", AG_EINVAL,
	    "does not chain to");
	/* a self-signed signer is not a CA of its own here */
	expect_fail(f, "cms_rsa.pem", "ca.crt", AG_EINVAL, "does not chain");
	expect_fail(f, "cms_leaf.pem", "nonexistent.crt", AG_EIO,
	    "read CA file");
	expect_fail(f, "cms_leaf.pem", "spec.json", AG_EIO, "read CA file");
}

static void
test_pkcs7_garbage(void **state)
{
	const struct fx *f = *state;
	static const unsigned char deep_hdr[] = { 0x30, 0x80 };
	static const unsigned char huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff,
	    0xff, 0x00 };
	static const unsigned char longlen[] = { 0x30, 0x89, 1, 1, 1, 1, 1, 1,
	    1, 1, 1 };
	static const unsigned char prim_indef[] = { 0x04, 0x80, 0x00, 0x00 };
	static const unsigned char hightag[] = { 0x1f, 0x81, 0x01, 0x00 };
	static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n";
	static const char bad_pem[] = "-----BEGIN PKCS7-----\n!!!!\n"
	    "-----END PKCS7-----\n";
	unsigned char *env, *deep;
	size_t len, i;

	expect_fail_buf(NULL, 0, NULL, AG_EPROTO, "empty");
	expect_fail_buf("", 0, NULL, AG_EPROTO, "empty");
	expect_fail_buf(huge, sizeof(huge), NULL, AG_EPROTO, "past the end");
	expect_fail_buf(longlen, sizeof(longlen), NULL, AG_EPROTO,
	    "bad length");
	expect_fail_buf(prim_indef, sizeof(prim_indef), NULL, AG_EPROTO,
	    "indefinite length on a primitive");
	expect_fail_buf(hightag, sizeof(hightag), NULL, AG_EPROTO,
	    "high tag");
	expect_fail_buf(cert_pem, sizeof(cert_pem) - 1, NULL, AG_EPROTO,
	    "PEM label");
	expect_fail_buf(bad_pem, sizeof(bad_pem) - 1, NULL, AG_EPROTO,
	    "bad PEM");

	/* 5000 nested indefinite SEQUENCEs */
	assert_non_null(deep = malloc(10000));
	for (i = 0; i < 5000; i++)
		memcpy(deep + 2 * i, deep_hdr, 2);
	expect_fail_buf(deep, 10000, NULL, AG_EPROTO, "nesting too deep");
	free(deep);

	/* trailing bytes after the ContentInfo */
	env = slurp(f, "cms_rsa.der", &len);
	assert_non_null(env = realloc(env, len + 1));
	env[len] = '\n';
	expect_fail_buf(env, len + 1, NULL, AG_EPROTO, "unexpected value");
	/* a JSON payload is no envelope */
	expect_fail_buf(f->spec, f->spec_len, NULL, AG_EPROTO, "expected");
	free(env);
}

/* Every 97th truncation of DER, BER and PEM envelopes fails cleanly. */
static void
test_pkcs7_truncated(void **state)
{
	const struct fx *f = *state;
	static const char *const names[] = { "cms_rsa.der", "cms_rsa.pem",
	    "smime_ec.der", "cms_rsa_stream.der", "smime_ec_stream.pem",
	    "cms_two.der" };
	struct err e = ERR_INIT;
	unsigned char *env, *cut;
	char *content, *subject;
	size_t i, n, len, clen;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		env = slurp(f, names[i], &len);
		for (n = 0; n < len; n += 97) {
			/* a copy of exactly n bytes, so valgrind sees overreads */
			assert_non_null(cut = malloc(n > 0 ? n : 1));
			memcpy(cut, env, n);
			assert_int_not_equal(pkcs7_verify(cut, n, NULL,
			    &content, &clen, &subject, &e), 0);
			assert_null(content);
			assert_true(e.code == AG_EPROTO);
			free(cut);
		}
		free(env);
	}
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
test_pkcs7_random(void **state)
{
	static const char pem_hdr[] = "-----BEGIN PKCS7-----\n";
	struct err e = ERR_INIT;
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	unsigned char *buf;
	char *content, *subject;
	size_t i, j, n, clen;
	int r;

	(void)state;
	for (i = 0; i < 300; i++) {
		n = 1 + (size_t)(rnd(&s) % 1500);
		assert_non_null(buf = malloc(n));
		for (j = 0; j < n; j++)
			buf[j] = (unsigned char)rnd(&s);
		if (i % 3 == 1 && n > 2) {
			buf[0] = 0x30;
			buf[1] = 0x80;
		} else if (i % 3 == 2 && n > sizeof(pem_hdr))
			memcpy(buf, pem_hdr, sizeof(pem_hdr) - 1);
		r = pkcs7_verify(buf, n, NULL, &content, &clen, &subject, &e);
		assert_int_not_equal(r, 0);
		assert_null(content);
		free(buf);
	}
}

/*
 * libFuzzer-style robustness: deterministic mutations of valid envelopes.
 * Some mutants still verify (a byte of an unused certificate field); any
 * result is fine as long as the out-parameters and the code agree and
 * nothing crashes or leaks (valgrind).
 */
static void
test_pkcs7_mutations(void **state)
{
	const struct fx *f = *state;
	static const char *const names[] = { "cms_rsa.der",
	    "cms_ec_noattr.der", "cms_rsa_stream.der", "smime_ec.der" };
	static const unsigned char special[] = { 0x00, 0x80, 0x81, 0x82,
	    0x84, 0xff, 0x30, 0x31, 0x04, 0x24, 0xa0, 0x7f };
	struct err e = ERR_INIT;
	uint64_t s = 0x243f6a8885a308d3ULL;
	unsigned char *env, *m;
	char *content, *subject;
	size_t i, k, len, n, pos, span, clen;
	int r, ok = 0;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		env = slurp(f, names[k], &len);
		for (i = 0; i < 750; i++) {
			assert_non_null(m = malloc(len));
			memcpy(m, env, len);
			n = len;
			pos = (size_t)(rnd(&s) % len);
			switch (rnd(&s) % 6) {
			case 0:		/* flip a bit */
				m[pos] ^= (unsigned char)(1u << (rnd(&s) % 8));
				break;
			case 1:		/* an interesting byte */
				m[pos] = special[rnd(&s) % sizeof(special)];
				break;
			case 2:		/* random bytes */
				span = 1 + (size_t)(rnd(&s) % 8);
				for (; span > 0 && pos < len; span--, pos++)
					m[pos] = (unsigned char)rnd(&s);
				break;
			case 3:		/* truncate */
				n = pos;
				break;
			case 4:		/* delete a span */
				span = 1 + (size_t)(rnd(&s) % 16);
				if (span > len - pos)
					span = len - pos;
				memmove(m + pos, m + pos + span,
				    len - pos - span);
				n = len - span;
				break;
			default:	/* copy a span over another */
				span = 1 + (size_t)(rnd(&s) % 32);
				if (span > len - pos)
					span = len - pos;
				memmove(m + (size_t)(rnd(&s) % (len - span + 1)),
				    m + pos, span);
				break;
			}
			r = pkcs7_verify(m, n, NULL, &content, &clen, &subject,
			    &e);
			if (r == 0) {
				assert_non_null(content);
				assert_non_null(subject);
				/* the signature covers what came out */
				assert_int_equal(clen, f->spec_len);
				assert_memory_equal(content, f->spec, clen);
				assert_int_equal(content[clen], '\0');
				free(content);
				free(subject);
				ok++;
			} else {
				assert_null(content);
				assert_null(subject);
				assert_true(r == AG_EPROTO || r == AG_EINVAL);
				assert_true(e.msg[0] != '\0');
			}
			free(m);
		}
		free(env);
	}
	print_message("%d of 3000 mutants still verify\n", ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkcs7_cms_variants),
		cmocka_unit_test(test_pkcs7_smime_variants),
		cmocka_unit_test(test_pkcs7_stream_chunks),
		cmocka_unit_test(test_pkcs7_indefinite_signed_attrs),
		cmocka_unit_test(test_pkcs7_tampered_content),
		cmocka_unit_test(test_pkcs7_tampered_signing_time),
		cmocka_unit_test(test_pkcs7_two_signers_one_bad),
		cmocka_unit_test(test_pkcs7_wrong_key),
		cmocka_unit_test(test_pkcs7_signer_missing),
		cmocka_unit_test(test_pkcs7_ca_pinning),
		cmocka_unit_test(test_pkcs7_garbage),
		cmocka_unit_test(test_pkcs7_truncated),
		cmocka_unit_test(test_pkcs7_random),
		cmocka_unit_test(test_pkcs7_mutations),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
