/*
 * creds.h: where the agent's AWS credentials and region come from.
 *
 * Sources, first match wins (reference §8.2-8.5):
 *  1. the on-premises config (struct onprem, loaded by the caller):
 *     - IAM user: static aws_access_key_id / aws_secret_access_key;
 *     - IAM session: aws_credentials_file, a shared-credentials file read
 *       from profile "default" (or $AWS_PROFILE) and re-read whenever its
 *       mtime changes or 30 minutes passed; a file readable by group or
 *       others gives one warning per change;
 *  2. with CREDS_ENV only (`cdagent deploy`, the developer tool):
 *     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *  3. with CREDS_IMDS: EC2 instance metadata. IMDSv2 (PUT
 *     /latest/api/token, 6 h TTL, cached and re-fetched on 401), then the
 *     role from /latest/meta-data/iam/security-credentials/; refreshed 5
 *     minutes before Expiration. IMDSv1 (no token) is tried only when the
 *     token PUT fails and CREDS_NO_IMDS_V1 is not set.
 *     $CDAGENT_IMDS_ENDPOINT (e.g. http://127.0.0.1:8111) replaces
 *     http://169.254.169.254 for tests.
 *
 * Region: the on-premises config, then $AWS_REGION, then the IMDS
 * identity document.
 *
 * Keys live only in memory, are wiped on release (util_free_secret), are
 * never logged and never put in a child's environment.
 */
#ifndef CDAGENT_CREDS_H
#define CDAGENT_CREDS_H

#include <stdint.h>

#include "buf.h"

struct err;
struct http;
struct onprem;

struct creds {
	char *access_key_id;		/* owned secret */
	char *secret_access_key;	/* owned secret */
	char *session_token;		/* owned secret, or NULL */
	int64_t expires_ms;		/* wall clock ms; 0: does not expire */
	const char *source;		/* static: "onprem", "file", "env",
					 * "imds" */
};

/* Wipes and frees the strings; NULL-safe fields. */
void creds_release(struct creds *c);

/* Deep copy (for handing credentials to another thread). */
int creds_copy(struct creds *dst, const struct creds *src, struct err *e);

enum creds_flags {
	CREDS_ENV = 1 << 0,		/* AWS_ACCESS_KEY_ID etc. */
	CREDS_IMDS = 1 << 1,		/* instance metadata */
	CREDS_NO_IMDS_V1 = 1 << 2,	/* cfg->disable_imds_v1 */
};

struct creds_provider;

/*
 * op (may be NULL: not on-premises) and h are borrowed and must outlive
 * the provider; h is only used for IMDS.
 */
int creds_provider_new(struct creds_provider **out, const struct onprem *op,
    unsigned flags, struct http *h, struct err *e);
void creds_provider_free(struct creds_provider *p);	/* wipes, NULL-safe */

/*
 * Current credentials as a copy in out (release with creds_release),
 * refreshing first when the file changed or expiry is near. AG_EINVAL
 * when no source is configured or a file lacks keys, AG_EIO for an
 * unreadable file ("failed to load credentials from path P"), AG_ENET
 * for IMDS failures.
 */
int creds_get(struct creds_provider *p, struct creds *out, struct err *e);

/* The signing region into out. */
int creds_region(struct creds_provider *p, struct buf *out, struct err *e);

/*
 * Parse shared-credentials text (INI): the [profile] section's
 * aws_access_key_id, aws_secret_access_key, aws_session_token. Exposed
 * for tests.
 */
int creds_parse_shared(const char *text, const char *profile,
    struct creds *out, struct err *e);

/* Base URL of the metadata service ($CDAGENT_IMDS_ENDPOINT or default). */
const char *creds_imds_endpoint(void);

/*
 * GET path (e.g. "/latest/dynamic/instance-identity/document") from the
 * instance metadata service with the provider's IMDSv2 token (IMDSv1 when
 * allowed). Any answer but 200 is AG_ENET naming the path.
 */
int creds_imds_get(struct creds_provider *p, const char *path,
    struct buf *body, struct err *e);

#endif
