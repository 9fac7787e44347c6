/*
 * sigv4.h: AWS Signature Version 4, as a pure function.
 *
 * sigv4_sign() turns (request, credentials, time) into the headers that
 * authenticate the request: Authorization, X-Amz-Date,
 * X-Amz-Content-Sha256 (when asked for) and X-Amz-Security-Token (when the
 * credentials carry a session token). It reads no clock, environment or
 * file, so the AWS test-suite vectors and botocore match byte for byte.
 *
 *	struct sigv4_header h[] = {
 *		{ "Content-Type", "application/x-amz-json-1.1" },
 *		{ "X-Amz-Target", "CodeDeployCommandService_v20141006.Poll" },
 *	};
 *	struct sigv4_req rq = {
 *		.method = "POST", .host = "codedeploy-commands.us-east-1...",
 *		.path = "/", .headers = h, .nheaders = 2,
 *		.body = json, .body_len = n,
 *		.region = "us-east-1", .service = "codedeploy-commands",
 *		.flags = SIGV4_CONTENT_SHA256,
 *	};
 *	struct sigv4_out o;
 *	sigv4_out_init(&o);
 *	if (sigv4_sign(&rq, &creds, now_s, &o, &e) == 0)
 *		send "Authorization: " buf_cstr(&o.authorization), ...
 *	sigv4_out_release(&o);	// zeroes the signature
 *
 * The canonical request follows the AWS rules exactly:
 *  - path: the caller passes the path as it goes on the request line
 *    (already percent-encoded, see sigv4_uri_encode()). For S3 it is used
 *    as it is. For every other service it is normalised (dot segments and
 *    empty segments removed, RFC 3986 5.2.4 as botocore does) and then
 *    URI-encoded once more ("double encoding");
 *  - query: split on '&' and the first '='; each key and value is decoded
 *    and re-encoded with only unreserved characters left bare; pairs are
 *    sorted by encoded key, then encoded value; a bare key gets "key=";
 *  - headers: names lowercased, values trimmed with runs of blanks
 *    collapsed to one space, repeated names joined with ',' in order;
 *    sorted by name. "host" is always signed.
 */
#ifndef CDAGENT_SIGV4_H
#define CDAGENT_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct err;

/* Credentials borrowed for one signature; session_token may be NULL. */
struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

struct sigv4_header {
	const char *name;
	const char *value;
};

enum sigv4_flags {
	SIGV4_S3 = 1 << 0,		/* S3 path rules: no normalising, no
					 * second encoding */
	SIGV4_CONTENT_SHA256 = 1 << 1,	/* add and sign X-Amz-Content-Sha256 */
	SIGV4_TOKEN_UNSIGNED = 1 << 2,	/* leave the token header out of the
					 * signature (old STS behaviour; only
					 * for the test-suite vector) */
};

struct sigv4_req {
	const char *method;		/* "GET", "POST", ... */
	const char *host;		/* Host header value, with :port if any */
	const char *path;		/* request-line path, percent-encoded */
	const char *query;		/* without '?', percent-encoded; or NULL */
	const struct sigv4_header *headers;	/* not Host, X-Amz-Date,
						 * X-Amz-Content-Sha256 or
						 * X-Amz-Security-Token */
	size_t nheaders;
	const void *body;		/* payload; NULL with body_len 0 */
	size_t body_len;
	const char *payload_hash;	/* hex SHA-256 or "UNSIGNED-PAYLOAD" to
					 * use instead of hashing body; NULL */
	const char *region;		/* "us-east-1" */
	const char *service;		/* signing name: "s3", ... */
	unsigned flags;			/* enum sigv4_flags */
};

struct sigv4_out {
	char amz_date[17];		/* X-Amz-Date: 20150830T123600Z */
	char content_sha256[65];	/* payload hash (hex or UNSIGNED-PAYLOAD) */
	struct buf authorization;	/* owned: the Authorization value */
	struct buf canonical;		/* owned: the canonical request, kept for
					 * debugging and tests (not secret) */
	struct buf signed_headers;	/* owned: "host;x-amz-date" */
};

void sigv4_out_init(struct sigv4_out *o);

/* Releases the buffers; the Authorization value is zeroed first. */
void sigv4_out_release(struct sigv4_out *o);

/*
 * Sign rq with c at now (seconds since the epoch, UTC). Returns 0, or
 * AG_EINVAL (missing field, header that the signer owns) or AG_ENOMEM.
 * On success o holds the values of the headers to send:
 *	Authorization: <o->authorization>
 *	X-Amz-Date: <o->amz_date>
 *	X-Amz-Content-Sha256: <o->content_sha256>  (with SIGV4_CONTENT_SHA256)
 *	X-Amz-Security-Token: <c->session_token>   (when set)
 */
int sigv4_sign(const struct sigv4_req *rq, const struct sigv4_creds *c,
    int64_t now, struct sigv4_out *o, struct err *e);

/*
 * Append s to b percent-encoded the AWS way: A-Z a-z 0-9 - _ . ~ stay,
 * every other byte becomes %XX (upper-case hex); '/' stays when keep_slash
 * (object keys in a path). Returns 0 or the buf error.
 */
int sigv4_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash);

/* Hex SHA-256 of data into out[65]. */
void sigv4_sha256_hex(const void *data, size_t n, char out[65]);

#endif
