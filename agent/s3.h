/*
 * s3.h: fetch an S3 object (any S3-compatible endpoint) to a file.
 *
 *	struct s3_fetch_req rq = {
 *		.bucket = "b", .key = "app/bundle.tgz", .version = NULL,
 *		.etag = spec_etag, .region = "us-east-1", .creds = &c,
 *		.http = h, .endpoint = cfg->s3_endpoint_override,
 *		.force_path_style = cfg->s3_force_path_style,
 *		.use_fips = cfg->use_fips_mode, .budget_dir = cfg->root_dir,
 *		.disk_reserve = cfg->disk_reserve_bytes,
 *		.expansion_factor = cfg->disk_expansion_factor,
 *	};
 *	struct s3_fetch_stats st;
 *	r = s3_fetch(&rq, "<deployment>/bundle.tar", &st, &e);
 *
 * What s3_fetch does (reference §12.1):
 *  - URL: endpoint override when set (path style for IP addresses,
 *    explicit ports, bucket names that are not DNS labels or contain '.',
 *    and force_path_style; virtual-hosted otherwise); else
 *    https://s3-fips.<region>.amazonaws.com with use_fips,
 *    s3.<region>.amazonaws.com.cn for cn-*, s3.eusc-de-east-1.amazonaws.eu,
 *    s3.<region>.amazonaws.com. A plain http:// override is allowed and
 *    logged as a warning.
 *  - HEAD first: size and ETag. The disk budget is checked then: size x
 *    expansion_factor must fit in the free space of budget_dir minus
 *    disk_reserve, or AG_EIO with the numbers.
 *  - GET streamed to dst_path (never held in memory), SHA-256 and MD5
 *    computed on the way. Every GET carries If-Match with the HEAD ETag.
 *  - Resume: `<dst_path>.part.json` records bucket, key, version, ETag and
 *    size. If it matches the object, the bytes already in dst_path are
 *    kept (and hashed) and the rest is asked for with Range; a transfer
 *    cut in the middle resumes the same way within the call, and the
 *    sidecar lets a later call (after a restart) resume too. A changed
 *    object answers 412 (or its ETag differs): the file restarts from zero.
 *  - Checks: the spec ETag against the response ETag (quotes stripped,
 *    plain string comparison, so multipart "...-N" ETags work); a
 *    single-part ETag (32 hex digits, no SSE-KMS/SSE-C) must equal the
 *    MD5 of the bytes written.
 *  - S3 errors name bucket, key, version and the S3 code, e.g.
 *    "s3://b/k (version v): NoSuchVersion: ... (HTTP 404)"; wrong-region
 *    answers name the bucket's region.
 * On success the sidecar is removed and dst_path holds the object.
 */
#ifndef CDAGENT_S3_H
#define CDAGENT_S3_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct creds;
struct err;
struct http;

struct s3_fetch_req {
	const char *bucket;
	const char *key;		/* raw key, not encoded */
	const char *version;		/* versionId, or NULL */
	const char *etag;		/* expected ETag (spec), or NULL */
	const char *region;		/* signing region */
	const struct creds *creds;
	struct http *http;
	const char *endpoint;		/* override URL, or NULL */
	int force_path_style;
	int use_fips;
	const char *budget_dir;		/* free-space check; NULL: none */
	uint64_t disk_reserve;		/* bytes kept free in budget_dir */
	int expansion_factor;		/* < 1 treated as 1 */
	int max_attempts;		/* GETs incl. resumes; 0: 5 */
};

struct s3_fetch_stats {
	uint64_t size;			/* object size */
	uint64_t bytes_fetched;		/* body bytes received, all GETs */
	uint64_t resumed_from;		/* offset of the last Range GET, 0 */
	int gets;			/* GET requests that returned data */
	int restarts;			/* restarts from zero (412, 200) */
	char sha256[65], md5[33];	/* of the whole file, hex */
	char etag[256];			/* as returned, quotes stripped */
	char version_id[256];		/* x-amz-version-id, if any */
};

int s3_fetch(const struct s3_fetch_req *rq, const char *dst_path,
    struct s3_fetch_stats *st, struct err *e);

/*
 * PUT data as the object rq->bucket/rq->key (used by tests and `doctor`);
 * the new ETag goes to etag_out (may be NULL, size 256).
 */
int s3_put(const struct s3_fetch_req *rq, const void *data, size_t n,
    char *etag_out, struct err *e);

/*
 * The request target for rq: full URL (with ?versionId=), the Host header
 * value and the request-line path+query, as s3_fetch uses them. Exposed
 * for tests and `doctor`.
 */
int s3_object_url(const struct s3_fetch_req *rq, struct buf *url,
    struct buf *host, struct buf *path, struct buf *query, struct err *e);

/* <Code> and <Message> of an S3 XML error body ("" when absent). */
void s3_parse_error(const char *xml, char *code, size_t codesz, char *msg,
    size_t msgsz);

/* 1 when s (quotes allowed) is a multipart ETag: hex, '-', digits. */
int s3_etag_is_multipart(const char *s);

#endif
