/*
 * pkcs7.h: verify the signed envelope of a deployment specification
 * (reference §4.1, format "PKCS7/JSON") and return the JSON it carries.
 *
 * The envelope is a CMS / PKCS#7 SignedData with the content attached, as
 * `openssl cms -sign -nodetach` and `openssl smime -sign -nodetach` write
 * it: PEM ("-----BEGIN PKCS7-----" or "-----BEGIN CMS-----") or DER, and
 * BER with indefinite lengths and chunked (constructed) OCTET STRINGs as
 * `-stream` writes it.
 *
 * What is checked:
 *  - every SignerInfo (at least one) must verify; the signer certificate is
 *    found among the embedded certificates by issuerAndSerialNumber or
 *    subjectKeyIdentifier;
 *  - digests SHA-1, SHA-256, SHA-384, SHA-512; signatures RSA PKCS#1 v1.5
 *    and ECDSA;
 *  - with signed attributes, contentType must be id-data and messageDigest
 *    must equal the digest of the content; the signature then covers the
 *    DER SET of the attributes, else it covers the content itself.
 *
 * The certificate chain is not checked by default, like OpenSSL's
 * PKCS7_NOVERIFY that the Ruby and Rust agents use: the service's signer
 * CA bundle expired years ago. Given a CA file, every signer certificate
 * must chain to a certificate in it (mbedtls_x509_crt_verify: signatures,
 * validity dates, basicConstraints), using the embedded certificates as
 * intermediates.
 *
 *	char *json = NULL, *who = NULL;
 *	size_t n;
 *	if ((r = pkcs7_verify(payload, len, NULL, &json, &n, &who, e)) != 0)
 *		goto out;	// e.msg: what failed, and where
 *	log_info("deployment specification signed by %s", who);
 */
#ifndef CDAGENT_PKCS7_H
#define CDAGENT_PKCS7_H

#include <stddef.h>

struct err;

/*
 * Verify env (PEM or DER, len bytes; need not be NUL-terminated) and return
 * its attached content in *content (heap, *content_len bytes plus a NUL
 * that is not counted, free() it).
 *
 * ca_file NULL: signature only (NOVERIFY). Otherwise each signer
 * certificate must chain to a CA in ca_file (PEM or DER bundle).
 *
 * subject: when non-NULL, receives the first signer's subject DN
 * ("CN=...,O=...", heap, free() it) for logging.
 *
 * On error the out-parameters are NULL/0 and the code is:
 *	AG_EPROTO  malformed or unsupported input:
 *		   "deployment specification envelope: <what> at offset N"
 *		   (N counts bytes into the DER, after PEM decoding)
 *	AG_EINVAL  a signature, digest or chain that does not verify:
 *		   "deployment specification signature does not verify: <why>"
 *	AG_EIO     ca_file cannot be read or holds no certificate
 *	AG_ENOMEM
 */
int pkcs7_verify(const void *env, size_t len, const char *ca_file,
    char **content, size_t *content_len, char **subject, struct err *e);

#endif
