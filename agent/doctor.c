/*
 * doctor.c: `cdagent doctor`, the network and identity check a user runs
 * when the agent cannot reach the service.
 *
 * It looks at things the way the daemon does (daemon.c load_identity and
 * client_init): the same config, identity, region, credential sources and
 * HTTP client settings. For each destination it then walks the layers in
 * order (proxy choice, DNS, TCP, TLS/HTTP) and stops at the first one that
 * fails, so the line printed names the layer to fix. Every line is meant to
 * be acted on without reading the source: it says what was used and where
 * that came from.
 *
 * Secrets are never printed: credentials show their source only, proxy
 * URLs are redacted, and URLs lose their query strings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "cp.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "s3.h"
#include "util.h"
#include "version.h"
#include "banned.h"

static const char doctor_usage[] =
"usage: cdagent doctor [-c CONFIG] [--bucket NAME] [--region R]\n"
"\n"
"Check what the agent needs to work, the way the daemon would: the config,\n"
"the CA bundle, the host identity, the region and the credentials (their\n"
"source only, never the keys); then, for the control plane, the S3\n"
"endpoint of --bucket and the instance metadata service: which proxy is\n"
"used and why, DNS, TCP connect, and the TLS handshake with the agent's CA\n"
"bundle (any HTTP answer counts as reachable). The clock is compared with\n"
"the control plane's Date header. Each failure says what to change.\n"
"\n"
"  -c, --config FILE   agent config (default " CLI_DEFAULT_CONFIG ";\n"
"                      built-in defaults when that file is absent)\n"
"  -b, --bucket NAME   also check the S3 endpoint serving bucket NAME\n"
"  -r, --region R      region to check (default: the on-premises config,\n"
"                      then AWS_REGION)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 everything needed works, 1 something needed failed,\n"
"2 bad usage.\n";

#define CONNECT_TIMEOUT_MS 5000
#define IMDS_CONNECT_TIMEOUT_MS 2000
#define HTTP_TIMEOUT_MS 15000
#define SKEW_MAX_S 300

enum mark { M_OK, M_FAIL, M_WARN, M_INFO };

struct doctor {
	const struct config *c;
	struct http *h;
	struct buf ca;
	const char *ca_src;
	int problems;
	int have_skew;
	int64_t skew_s;
	char date[64];
};

static void AG_PRINTF(3, 4)
say(struct doctor *d, enum mark m, const char *fmt, ...)
{
	static const char *const tag[] = { "ok", "FAIL", "warn", "--" };
	va_list ap;

	if (m == M_FAIL)
		d->problems++;
	printf("  [%-4s] ", tag[m]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A required check that fails is a problem; an optional one only a warning. */
static enum mark
fail_mark(int needed)
{
	return needed ? M_FAIL : M_WARN;
}

static const char *
ca_source_words(const char *src)
{
	if (src == NULL)
		return "-";
	if (strcmp(src, "system") == 0)
		return "the system";
	if (strcmp(src, "ca_bundle") == 0)
		return ":ca_bundle: in the config";
	if (strcmp(src, "AWS_SSL_CA_BUNDLE") == 0)
		return "$AWS_SSL_CA_BUNDLE";
	if (strcmp(src, "SSL_CERT_FILE") == 0)
		return "$SSL_CERT_FILE";
	return src;
}

/* The port of url (explicit, else the scheme's), as a string. */
static void
url_port(const char *url, char *out, size_t n)
{
	const char *a = strstr(url, "://"), *end, *p;
	int https = strncasecmp(url, "https:", 6) == 0;

	snprintf(out, n, "%s", https ? "443" : "80");
	if (a == NULL)
		return;
	a += 3;
	end = a + strcspn(a, "/?#");
	for (p = a; p < end; p++)	/* skip user:pass@ */
		if (*p == '@')
			a = p + 1;
	if (*a == '[') {
		if ((p = memchr(a, ']', (size_t)(end - a))) == NULL)
			return;
		p++;
	} else {
		p = memchr(a, ':', (size_t)(end - a));
	}
	if (p != NULL && p < end && *p == ':' && p + 1 < end)
		snprintf(out, n, "%.*s", (int)(end - p - 1), p + 1);
}

/*
 * Connect to one address within timeout_ms: 0, or errno (ETIMEDOUT for
 * the timeout).
 */
static int
try_connect(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, err = 0, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			err = ETIMEDOUT;
			goto out;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &sl) != 0)
			err = errno;
	}
 out:
	close(fd);
	return err;
}

static void
addr_str(const struct addrinfo *ai, char *out, size_t n)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)n, NULL,
	    0, NI_NUMERICHOST) != 0)
		snprintf(out, n, "?");
}

/*
 * DNS then TCP to host:port. Returns 0 when a connection was made; else
 * prints what failed (when `needed` as a problem) and returns -1.
 */
static int
check_dns_tcp(struct doctor *d, const char *host, const char *port,
    int via_proxy, int timeout_ms, int needed)
{
	struct addrinfo hints, *res = NULL, *ai;
	char a[INET6_ADDRSTRLEN + 2], list[512] = "";
	char why[512] = "";
	int64_t t0;
	int gr, err = 0, n = 0, ok = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if ((gr = getaddrinfo(host, port, &hints, &res)) != 0) {
		say(d, fail_mark(needed), "DNS: cannot resolve %s%s (%s): "
		    "check /etc/resolv.conf%s", host, via_proxy ?
		    ", the proxy host" : "", gr == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(gr), via_proxy ?
		    " and the proxy URL" : " or set a proxy (:proxy_uri: or "
		    "HTTPS_PROXY)");
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		addr_str(ai, a, sizeof(a));
		if (strstr(list, a) == NULL && n++ < 6)
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "%s%s", list[0] ? ", " : "", a);
	}
	say(d, M_OK, "DNS: %s%s -> %s", host, via_proxy ? " (proxy)" : "",
	    list);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		t0 = plat_clock_ms();
		addr_str(ai, a, sizeof(a));
		if ((err = try_connect(ai, timeout_ms)) == 0) {
			say(d, M_OK, "connect: %s port %s in %lld ms", a, port,
			    (long long)(plat_clock_ms() - t0));
			ok = 0;
			break;
		}
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    "%s%s: %s", why[0] ? "; " : "", a, err == ETIMEDOUT ?
		    "timed out" : strerror(err));
	}
	if (ok != 0) {
		if (err == ECONNREFUSED)
			say(d, fail_mark(needed), "connect: refused on port "
			    "%s (%s): nothing listens there; check the "
			    "%s", port, why, via_proxy ? "proxy URL and that "
			    "the proxy runs" : "endpoint URL and port");
		else if (err == ETIMEDOUT)
			say(d, fail_mark(needed), "connect: timeout after %d "
			    "ms to port %s (%s): a firewall drops the "
			    "traffic%s", timeout_ms, port, why, via_proxy ?
			    "" : "; open it or set a proxy (:proxy_uri: or "
			    "HTTPS_PROXY)");
		else
			say(d, fail_mark(needed), "connect: port %s: %s: "
			    "check the network route", port, why);
	}
	freeaddrinfo(res);
	return ok;
}

static int
discard_sink(void *arg, const void *data, size_t n, struct err *e)
{
	(void)arg;
	(void)data;
	(void)n;
	(void)e;
	return 0;
}

/* "Thu, 26 Nov 2026 04:06:50 GMT" -> server minus local, seconds. */
static int
date_skew(const char *date, int64_t *skew)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(date, "%a, %d %b %Y %H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*skew = (int64_t)t - (int64_t)time(NULL);
	return 0;
}

/* The underlying error on its own line, folded to one line. */
static void
detail(const char *msg)
{
	const char *p;

	fputs("         detail: ", stdout);
	for (p = msg; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			putchar(*p);
		else if (p[1] != '\0' && p[1] != ' ')
			putchar(' ');
	putchar('\n');
}

/* The HTTP layer: TLS handshake with the agent's CA, any status is fine. */
static void
check_http(struct doctor *d, const char *url, enum http_dest dest,
    const char *host, int needed, int want_date)
{
	struct http_req rq;
	struct http_resp resp;
	struct err e = ERR_INIT;
	int https = strncasecmp(url, "https:", 6) == 0, r;

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.dest = dest;
	rq.sink = discard_sink;
	rq.max_attempts = 1;
	rq.timeout_ms = HTTP_TIMEOUT_MS;
	http_resp_init(&resp, 4096);
	r = http_do(d->h, &rq, &resp, &e);
	if (r == 0) {
		if (resp.status == 407)
			say(d, fail_mark(needed), "proxy: HTTP 407: the proxy "
			    "wants credentials: put user:password@ in the "
			    "proxy URL");
		else
			say(d, M_OK, "%sHTTP %ld from the server", https ?
			    "TLS: handshake ok (certificate trusted), " : "",
			    resp.status);
		if (want_date && resp.date[0] != '\0') {
			snprintf(d->date, sizeof(d->date), "%s", resp.date);
			d->have_skew = date_skew(resp.date, &d->skew_s) == 0;
		}
	} else if (strstr(e.msg, "not trusted") != NULL) {
		say(d, fail_mark(needed), "TLS: certificate of %s not trusted "
		    "by %s (from %s): set AWS_SSL_CA_BUNDLE or :ca_bundle: to "
		    "the CA that signs it (a TLS-inspecting proxy's CA goes "
		    "there too)", host, buf_cstr(&d->ca),
		    ca_source_words(d->ca_src));
		detail(e.msg);
	} else if (strstr(e.msg, "cannot use CA bundle") != NULL) {
		say(d, fail_mark(needed), "TLS: the CA bundle %s (from %s) "
		    "cannot be used: is it PEM certificates?",
		    buf_cstr(&d->ca), ca_source_words(d->ca_src));
		detail(e.msg);
	} else if (strstr(e.msg, "TLS handshake") != NULL) {
		say(d, fail_mark(needed), "TLS: handshake with %s failed: is "
		    "this an HTTPS port, or does a middlebox interfere?",
		    host);
		detail(e.msg);
	} else if (strstr(e.msg, "response 407") != NULL) {
		say(d, fail_mark(needed), "proxy: HTTP 407: the proxy refused "
		    "the credentials: check user:password@ in the proxy URL");
		detail(e.msg);
	} else if (strstr(e.msg, "CONNECT") != NULL ||
	    strstr(e.msg, "proxy") != NULL) {
		say(d, fail_mark(needed), "proxy: the request through the "
		    "proxy failed: check the proxy URL, its credentials and "
		    "that it allows %s", host);
		detail(e.msg);
	} else if (r == AG_ETIMEOUT) {
		say(d, fail_mark(needed), "%s: no answer within %d s: the "
		    "server or a middlebox holds the connection", https ?
		    "TLS/HTTP" : "HTTP", HTTP_TIMEOUT_MS / 1000);
		detail(e.msg);
	} else {
		say(d, fail_mark(needed), "%s: %s", https ? "TLS/HTTP" : "HTTP",
		    e.msg);
	}
	http_resp_release(&resp);
}

/* One destination, layer by layer; stops at the first failure. */
static void
check_dest(struct doctor *d, const char *title, const char *url,
    enum http_dest dest, int needed, int timeout_ms, int want_date)
{
	struct buf red = BUF_INIT(4096), host = BUF_INIT(1024);
	struct buf proxy = BUF_INIT(4096), phost = BUF_INIT(1024);
	struct buf pred = BUF_INIT(4096);
	struct err e = ERR_INIT;
	const char *src = NULL;
	char port[16];

	http_redact_url(url, &red);
	printf("\n%s: %s%s\n", title, buf_cstr(&red), needed ? "" :
	    " (not needed here: failures are warnings)");
	if (http_url_host(url, &host) != 0) {
		say(d, fail_mark(needed), "URL %s has no host name",
		    buf_cstr(&red));
		goto out;
	}
	if (http_proxy_for(d->h, dest, url, &proxy, &src, &e) != 0) {
		say(d, fail_mark(needed), "proxy: %s", e.msg);
		goto out;
	}
	if (proxy.len > 0) {
		http_redact_url(buf_cstr(&proxy), &pred);
		say(d, M_INFO, "proxy: %s (from %s)", buf_cstr(&pred), src);
		if (http_url_host(buf_cstr(&proxy), &phost) != 0) {
			say(d, fail_mark(needed), "proxy: %s has no host name "
			    "(from %s)", buf_cstr(&pred), src);
			goto out;
		}
		say(d, M_INFO, "DNS of %s is the proxy's job",
		    buf_cstr(&host));
		url_port(buf_cstr(&proxy), port, sizeof(port));
		if (check_dns_tcp(d, buf_cstr(&phost), port, 1, timeout_ms,
		    needed) != 0)
			goto out;
	} else {
		if (strcmp(src, "none") == 0)
			say(d, M_INFO, "proxy: none, direct (no proxy "
			    "configured for this destination)");
		else if (strncmp(src, "NO_PROXY", 8) == 0)
			say(d, M_INFO, "proxy: none, direct (NO_PROXY matches "
			    "%s)", buf_cstr(&host));
		else
			say(d, M_INFO, "proxy: none, direct (%s)", src);
		url_port(url, port, sizeof(port));
		if (check_dns_tcp(d, buf_cstr(&host), port, 0, timeout_ms,
		    needed) != 0)
			goto out;
	}
	check_http(d, url, dest, buf_cstr(&host), needed, want_date);
 out:
	buf_release(&red);
	buf_release(&host);
	buf_release_secret(&proxy);
	buf_release(&phost);
	buf_release(&pred);
}

/* Load -c CONFIG; the default path may be absent (built-in defaults). */
static int
load_config(struct doctor *d, struct config *c, const char *path,
    int explicit_path)
{
	struct err e = ERR_INIT;

	if (config_init(c, &e) != 0) {
		say(d, M_FAIL, "config: %s", e.msg);
		return -1;
	}
	if (!explicit_path && access(path, F_OK) != 0) {
		say(d, M_INFO, "config: %s does not exist: built-in defaults",
		    path);
		return 0;
	}
	if (config_load(c, path, &e) != 0) {
		say(d, M_FAIL, "config: %s", e.msg);
		return -1;
	}
	say(d, M_OK, "config: %s", path);
	return 0;
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "region", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cpath = CLI_DEFAULT_CONFIG, *bucket = NULL;
	const char *region_arg = NULL, *region = NULL, *region_src = NULL;
	const char *host_id = NULL, *env;
	struct doctor d;
	struct config conf;
	struct onprem op;
	struct creds cr;
	struct creds_provider *cp = NULL;
	struct http_opts ho;
	struct buf ep = BUF_INIT(4096), url = BUF_INIT(4096);
	struct buf s3host = BUF_INIT(1024), s3path = BUF_INIT(4096);
	struct buf s3q = BUF_INIT(1024), imds = BUF_INIT(1024);
	struct err e = ERR_INIT;
	int c, explicit_cfg = 0, have_op = 0, conf_ok = 0;
	char *cut;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:b:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cpath = optarg; explicit_cfg = 1; break;
		case 'b': bucket = optarg; break;
		case 'r': region_arg = optarg; break;
		case 'h': fputs(doctor_usage, stdout); return CLI_EXIT_OK;
		default:
			cli_errorf("doctor: bad option (see 'cdagent doctor "
			    "--help')");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_errorf("doctor: unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	memset(&d, 0, sizeof(d));
	memset(&op, 0, sizeof(op));
	memset(&cr, 0, sizeof(cr));
	buf_init(&d.ca, 4096);
	d.c = &conf;
	log_setup("cdagent", LOG_WARN, 1);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("cdagent doctor %s\n\nlocal setup:\n", CDAGENT_VERSION);
	if (load_config(&d, &conf, cpath, explicit_cfg) != 0) {
		config_release(&conf);
		goto out;
	}
	conf_ok = 1;
	cfg = &conf;

	if (http_ca_bundle(conf.ca_bundle, &d.ca, &d.ca_src, &e) != 0)
		say(&d, M_FAIL, "CA bundle: %s", e.msg);
	else
		say(&d, M_OK, "CA bundle: %s (from %s)", buf_cstr(&d.ca),
		    ca_source_words(d.ca_src));

	/* identity and region: daemon.c load_identity */
	if ((c = onprem_load(&op, conf.on_premises_config_file, &e)) == 0) {
		have_op = 1;
		host_id = op.iam_user_arn != NULL ? op.iam_user_arn :
		    op.iam_session_arn;
		say(&d, M_OK, "on-premises config: %s (%s)",
		    conf.on_premises_config_file, op.iam_user_arn != NULL ?
		    "IAM user" : op.iam_session_arn != NULL ? "IAM session" :
		    "no ARN");
	} else if (c == AG_EIO) {
		onprem_release(&op);
		say(&d, M_INFO, "on-premises config: %s does not exist "
		    "(fine on EC2: credentials come from instance metadata)",
		    conf.on_premises_config_file);
	} else {
		onprem_release(&op);
		say(&d, M_FAIL, "on-premises config: %s", e.msg);
	}
	if ((env = getenv("AWS_HOST_IDENTIFIER")) != NULL && *env != '\0')
		say(&d, M_OK, "host identity: %s (from AWS_HOST_IDENTIFIER)",
		    env);
	else if (host_id != NULL)
		say(&d, M_OK, "host identity: %s (from %s)", host_id,
		    conf.on_premises_config_file);
	else
		say(&d, M_FAIL, "host identity: none: register this host "
		    "(cdagent register) so that %s names its ARN, or set "
		    "AWS_HOST_IDENTIFIER", conf.on_premises_config_file);
	if (region_arg != NULL) {
		region = region_arg;
		region_src = "--region";
	} else if (have_op && op.region != NULL && *op.region != '\0') {
		region = op.region;
		region_src = conf.on_premises_config_file;
	} else if ((env = getenv("AWS_REGION")) != NULL && *env != '\0') {
		region = env;
		region_src = "AWS_REGION";
	}
	if (region != NULL)
		say(&d, M_OK, "region: %s (from %s)", region, region_src);
	else
		say(&d, M_FAIL, "region: none: set region in %s or AWS_REGION",
		    conf.on_premises_config_file);

	http_opts_from_config(&ho, &conf);
	ho.connect_timeout_s = CONNECT_TIMEOUT_MS / 1000;
	ho.low_speed_time_s = 10;
	ho.max_attempts = 1;
	if (http_new(&d.h, &ho, &e) != 0) {
		say(&d, M_FAIL, "HTTP client: %s", e.msg);
		goto out;
	}
	if (creds_provider_new(&cp, have_op ? &op : NULL, CREDS_IMDS |
	    (conf.disable_imds_v1 ? CREDS_NO_IMDS_V1 : 0), d.h, &e) != 0 ||
	    creds_get(cp, &cr, &e) != 0)
		say(&d, M_FAIL, "credentials: %s", e.msg);
	else
		say(&d, M_OK, "credentials: found (source: %s)%s", cr.source,
		    cr.expires_ms > 0 && cr.expires_ms < plat_time_ms() ?
		    ", but already expired" : "");
	creds_release(&cr);

	if (region != NULL || conf.deploy_control_endpoint != NULL) {
		if (cp_endpoint(&conf, region, &ep, &e) != 0)
			say(&d, M_FAIL, "control plane endpoint: %s", e.msg);
		else
			check_dest(&d, "control plane", buf_cstr(&ep),
			    HTTP_DEST_CONTROL, 1, CONNECT_TIMEOUT_MS, 1);
	}
	if (bucket != NULL) {
		struct s3_fetch_req sr;

		memset(&sr, 0, sizeof(sr));
		sr.bucket = bucket;
		sr.key = "cdagent-doctor";
		sr.region = region;
		sr.endpoint = conf.s3_endpoint_override;
		sr.force_path_style = conf.s3_force_path_style;
		sr.use_fips = conf.use_fips_mode;
		if (s3_object_url(&sr, &url, &s3host, &s3path, &s3q, &e) != 0) {
			say(&d, M_FAIL, "S3 endpoint of bucket %s: %s", bucket,
			    e.msg);
		} else {
			/* the bucket's root, not the made-up key */
			if ((cut = strstr(url.ptr, "/cdagent-doctor")) != NULL)
				buf_truncate(&url, (size_t)(cut - url.ptr) + 1);
			check_dest(&d, "S3 (bucket)", buf_cstr(&url),
			    HTTP_DEST_STORAGE, 1, CONNECT_TIMEOUT_MS, 0);
		}
	}
	if (buf_addf(&imds, "%s/latest/meta-data/",
	    creds_imds_endpoint()) == 0)
		check_dest(&d, "instance metadata", buf_cstr(&imds),
		    HTTP_DEST_IMDS, !have_op, IMDS_CONNECT_TIMEOUT_MS, 0);

	printf("\nclock:\n");
	if (d.have_skew && (d.skew_s > SKEW_MAX_S || d.skew_s < -SKEW_MAX_S))
		say(&d, M_FAIL, "local time is %lld s %s the control plane's "
		    "(Date: %s): requests will be refused (Signature "
		    "expired); fix NTP (timedatectl, chrony)",
		    (long long)(d.skew_s < 0 ? -d.skew_s : d.skew_s),
		    d.skew_s < 0 ? "ahead of" : "behind", d.date);
	else if (d.have_skew)
		say(&d, M_OK, "local time within %lld s of the control plane's "
		    "(Date: %s)", (long long)(d.skew_s < 0 ? -d.skew_s :
		    d.skew_s), d.date);
	else
		say(&d, M_INFO, "not compared: no Date header from the control "
		    "plane");
 out:
	printf("\n%s\n", d.problems == 0 ? "result: everything needed works" :
	    "result: problems found (see FAIL lines above)");
	if (d.problems > 0)
		printf("%d problem%s\n", d.problems, d.problems == 1 ? "" :
		    "s");
	creds_provider_free(cp);
	http_free(d.h);
	if (have_op)
		onprem_release(&op);
	if (conf_ok) {
		cfg = NULL;
		config_release(&conf);
	}
	buf_release(&d.ca);
	buf_release(&ep);
	buf_release(&url);
	buf_release(&s3host);
	buf_release(&s3path);
	buf_release(&s3q);
	buf_release(&imds);
	return d.problems == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
