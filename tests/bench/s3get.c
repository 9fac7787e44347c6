/*
 * s3get.c: bench-only driver. Fetches one S3 object to a file through the
 * agent's own s3_fetch() (HEAD, budget check, streamed GET with If-Match,
 * SHA-256 + MD5 on the way, the same libcurl/mbedTLS client), so the
 * download can be timed without the unpack that `cdagent deploy` does
 * right after it. Built by tests/bench/run.sh against
 * build/obj/musl/libagent.a, static, like the release binary.
 *
 *	s3get ENDPOINT BUCKET KEY DEST
 *
 * The CA bundle comes from $AWS_SSL_CA_BUNDLE, as in the agent.
 * Prints "bytes=N gets=G sha256=H" on success.
 */
#include <stdio.h>
#include <string.h>

#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "s3.h"

int
main(int argc, char **argv)
{
	struct http_opts ho;
	struct http *h = NULL;
	struct creds c;
	struct s3_fetch_req rq;
	struct s3_fetch_stats st;
	struct err e = ERR_INIT;
	char ak[] = "AKIDEXAMPLE";
	char sk[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: s3get ENDPOINT BUCKET KEY DEST\n");
		return 2;
	}
	log_setup("s3get", LOG_WARN, 1);
	memset(&ho, 0, sizeof(ho));
	if (http_new(&h, &ho, &e) != 0) {
		fprintf(stderr, "s3get: %s\n", e.msg);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.access_key_id = ak;
	c.secret_access_key = sk;
	c.source = "env";
	memset(&rq, 0, sizeof(rq));
	memset(&st, 0, sizeof(st));
	rq.bucket = argv[2];
	rq.key = argv[3];
	rq.region = "us-east-1";
	rq.creds = &c;
	rq.http = h;
	rq.endpoint = argv[1];
	rq.force_path_style = 1;
	rq.expansion_factor = 1;
	r = s3_fetch(&rq, argv[4], &st, &e);
	http_free(h);
	if (r != 0) {
		fprintf(stderr, "s3get: %s\n", e.msg);
		return 1;
	}
	printf("bytes=%llu gets=%d sha256=%s\n", (unsigned long long)st.size,
	    st.gets, st.sha256);
	return 0;
}
