/*
 * cp.h: the CodeDeploy Commands API client ("codedeploy-commands", JSON
 * 1.1 over HTTPS, SigV4; reference §2 and CodeDeployCommand.api.json).
 *
 * Typed calls for the four operations the agent uses. Requests go through
 * a transport: the default signs with SigV4 and sends with http.c; unit
 * tests plug in their own to feed canned responses.
 *
 * Service errors come back as AG_EPROTO with the message
 * "<ErrorType>: <message>" (the "namespace#" prefix stripped), network
 * errors as AG_ENET. cp_error_kind() classifies an error for backoff.
 */
#ifndef CDAGENT_CP_H
#define CDAGENT_CP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct config;
struct creds_provider;
struct err;
struct http;

/* One raw exchange, as a transport reports it. */
struct cp_reply {
	long status;		/* HTTP status, 0 when nothing came back */
	struct buf body;	/* response body (bounded) */
	char date[64];		/* the Date header, "" when absent */
};

struct cp_transport {
	/*
	 * POST body to the endpoint with X-Amz-Target target. Returns 0 when
	 * an HTTP response arrived (any status), AG_ENET otherwise.
	 */
	int (*post)(void *arg, const char *target, const char *body,
	    size_t len, long timeout_ms, struct cp_reply *reply,
	    struct err *e);
	void *arg;
};

struct cp_opts {
	const char *endpoint;	/* https://codedeploy-commands.<r>.<domain> */
	const char *region;	/* SigV4 signing region */
	int secure;		/* :enable_auth_policy: the -secure service */
	long read_timeout_s;	/* long-poll read timeout (80) */
	const struct cp_transport *transport;	/* NULL: SigV4 over http */
	struct http *http;	/* for the default transport */
	struct creds_provider *creds;	/* for the default transport */
};

struct cp;

int cp_new(struct cp **out, const struct cp_opts *o, struct err *e);
void cp_free(struct cp *c);	/* NULL-safe */

/*
 * §2.3: the endpoint URL for region from the config: deploy_control_endpoint
 * verbatim, else https://codedeploy-commands[-secure][-fips].<region>.<domain>
 * with the domain rules for cn- and eusc- regions. FIPS only in the US
 * regions the service offers it in.
 */
int cp_endpoint(const struct config *c, const char *region, struct buf *out,
    struct err *e);

/* The signing name: codedeploy-commands or codedeploy-commands-secure. */
const char *cp_signing_name(int secure);

struct cp_command {
	char *host_command_id;		/* owned, opaque */
	char *host_id;			/* owned */
	char *execution_id;		/* owned: DeploymentExecutionId */
	char *name;			/* owned: CommandName */
	int64_t nonce;
};
void cp_command_free(struct cp_command *c);	/* NULL-safe */

/* PollHostCommand; *out is NULL when there is nothing to do. */
int cp_poll(struct cp *c, const char *host_id, struct cp_command **out,
    struct err *e);

/*
 * GetDeploymentSpecification. Checks DeploymentSystem is "CodeDeploy" and
 * the specification is present; returns the GenericEnvelope's Format and
 * Payload (heap strings).
 */
int cp_get_spec(struct cp *c, const char *execution_id, const char *host_id,
    char **format, char **payload, struct err *e);

/*
 * PutHostCommandAcknowledgement with {"IsCommandNoop":noop}. status gets
 * the returned CommandStatus, or "" when the reply has none.
 */
int cp_ack(struct cp *c, const char *host_command_id, int noop,
    char status[16], struct err *e);

/* PutHostCommandComplete(status, Diagnostics {"Format":"JSON", payload}). */
int cp_complete(struct cp *c, const char *host_command_id, const char *status,
    const char *payload, struct err *e);

/*
 * The §3.5 diagnostics payload, keys in the order error_code, script_name,
 * message, log, at most 8192 characters: the message is cut first, then
 * the front of the log.
 */
int cp_diagnostics(int error_code, const char *script_name,
    const char *message, const char *log, struct buf *out);

enum cp_error_kind {
	CP_ERR_NETWORK,		/* no answer: network, TLS, proxy */
	CP_ERR_THROTTLE,	/* ThrottlingException, HTTP 429 */
	CP_ERR_AUTH,		/* AccessDenied, signature, credentials */
	CP_ERR_SERVER,		/* 5xx */
	CP_ERR_CLIENT,		/* any other 4xx or a bad reply */
};
enum cp_error_kind cp_error_kind(int code, const struct err *e);

/*
 * Clock skew measured from the last reply's Date header (server minus
 * local, seconds), and whether one was measured. For "Signature expired".
 */
int cp_last_skew(const struct cp *c, int64_t *skew_s);

#endif
