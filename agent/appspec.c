/*
 * appspec.c: see appspec.h.
 *
 * The checks follow the Ruby agent's application_specification/ files in
 * order and wording, so a failing deployment reports what the service's
 * users already know, plus where in the file it went wrong. Where Ruby
 * would crash on an unexpected shape (a string where a list belongs), we
 * say so in a sentence of the same style instead.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "util.h"
#include "ydoc.h"
#include "banned.h"

#define APPSPEC_MAX_BYTES ((size_t)4 << 20)
#define VALUE_MAX 160		/* user text quoted in one message */
#define MSG_MAX 900		/* leaves room in struct err for context */

#define M_EMPTY "The deployment failed because the application " \
	"specification file was empty. Make sure your AppSpec file defines " \
	"at minimum the 'version' and 'os' properties."
#define M_YAML "The deployment failed because the application " \
	"specification file is not valid YAML (%.400s). Correct the syntax " \
	"of the AppSpec file, and then try again."
#define M_NOTMAP "The deployment failed because the application " \
	"specification file is %s, not a mapping of properties. Make sure " \
	"your AppSpec file defines at minimum the 'version' and 'os' " \
	"properties."
#define M_VERSION "The deployment failed because an invalid version value " \
	"(%s) was entered in the application specification file. Make sure " \
	"your AppSpec file specifies \"0.0\" as the version, and then try " \
	"again."
#define M_OS "The deployment failed because the application specification " \
	"file specifies an unsupported operating system (%s). Specify either " \
	"\"linux\" or \"windows\" in the os section of the AppSpec file, and " \
	"then try again."
#define M_FEB "The deployment failed because an invalid " \
	"file_exists_behavior value (%s) was entered in the application " \
	"specification file. Make sure your AppSpec file specifies one of " \
	"DISALLOW,OVERWRITE,RETAIN as the file_exists_behavior, and then try " \
	"again."
#define M_SHAPE "The deployment failed because the %s section of the " \
	"application specification file has an invalid format: %s. Update " \
	"the %s section of the AppSpec file, and then try again."
#define M_NOSOURCE "The deployment failed because the application " \
	"specification file specifies a destination file, but no source " \
	"file. Update the files section of the AppSpec file, and then try " \
	"again."
#define M_NODEST "The deployment failed because the application " \
	"specification file specifies only a source file (%s). Add the name " \
	"of the destination file to the files section of the AppSpec file, " \
	"and then try again."
#define M_LOCOUTSIDE "The deployment failed because the script location " \
	"(%s) in the application specification file is outside the revision: " \
	"give a path relative to the revision's root, without \"..\". " \
	"Update the hooks section of the AppSpec file, and then try again."
#define M_NOLOCATION "The deployment failed because the application " \
	"specification file specifies a script with no location value. " \
	"Specify the location in the hooks section of the AppSpec file, and " \
	"then try again."
#define M_TIMEOUT "The deployment failed because an invalid timeout value " \
	"was provided for a script in the application specification file. " \
	"Make corrections in the hooks section of the AppSpec file, and then " \
	"try again."
#define M_NOOBJECT "The deployment failed because a permission listed in " \
	"the application specification file has no object value. Update the " \
	"permissions section of the AppSpec file, and then try again."
#define M_WINPERM "The deployment failed because the application " \
	"specification file specifies file permissions, but the deployment " \
	"is targeting one or more Windows Server instances. Permissions are " \
	"supported only for Amazon Linux, Ubuntu Server, and Red Hat " \
	"Enterprise Linux (RHEL) instances. Update the permissions section " \
	"of the AppSpec file, and then try again."
#define M_TYPE "The deployment failed because the application " \
	"specification file specifies a permission for an object type not " \
	"supported for permissions (%s). Update the permissions section of " \
	"the AppSpec file, and then try again."
#define M_MODELEN "The deployment failed because the length of a " \
	"permissions mode (%s) in the application specification file is " \
	"invalid. Permissions modes must be between one and four characters " \
	"long. Update the permissions section of the AppSpec file, and then " \
	"try again."
#define M_MODECHAR "The deployment failed because the permissions mode " \
	"(%s) in the application specification file contains an invalid " \
	"character (%c). Update the permissions section of the AppSpec " \
	"file, and then try again."
#define M_ACL "The deployment failed because of a problem with the acls " \
	"permission settings in the application specification file. Invalid " \
	"acl entry (%s)."
#define M_ACLBASE "The deployment failed because of a problem with the " \
	"acls permission settings in the application specification file. " \
	"Use mode to set the base acl entry (%s). Update the permissions " \
	"section of the AppSpec file, and then try again."
#define M_ACLCHAR "The deployment failed because the access control list " \
	"(ACL) named %s in the application specification file contains an " \
	"invalid character (%c). Correct the ACL in the hooks section of the " \
	"AppSpec file, and then try again."
#define M_CONTEXT "The deployment failed because the application " \
	"specification file specifies an invalid context type (%s). Update " \
	"the permissions section of the AppSpec file, and then try again."
#define M_RANGE "The deployment failed because of a problem with the " \
	"SELinux range specified (%s) for the context parameter in the " \
	"permissions section of the application specification file: %s. " \
	"Make corrections in the permissions section of the AppSpec file, " \
	"and then try again."
#define M_NOTFOUND "The CodeDeploy agent did not find an AppSpec file " \
	"within the unpacked revision directory at revision-relative path " \
	"\"%.120s\". The revision was unpacked to directory \"%.160s\", and " \
	"the AppSpec file was expected but not found at path \"%.200s\". " \
	"Consult the AWS CodeDeploy Appspec documentation for more " \
	"information at http://docs.aws.amazon.com/codedeploy/latest/" \
	"userguide/reference-appspec-file.html"

/* Parser state: where messages go and whether to keep going. */
struct ps {
	const char *file;
	const char *want_os;
	struct strv *problems;
	struct err *e;
	int nerr;
};

/*
 * Report a validation problem at node `at` (NULL: the top of the file).
 * Returns non-zero when parsing must stop: always without a problems list
 * (Ruby raises on the first one), and on ENOMEM.
 */
static int
complain(struct ps *ps, const struct ydoc_node *at, const char *fmt, ...)
    AG_PRINTF(3, 4);

static int
complain(struct ps *ps, const struct ydoc_node *at, const char *fmt, ...)
{
	char msg[MSG_MAX + 64];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(msg, MSG_MAX, fmt, ap);
	va_end(ap);
	if (k < 0)
		msg[0] = '\0';
	k = (int)strlen(msg);
	snprintf(msg + k, sizeof(msg) - (size_t)k, " (%.40s:%d:%d)", ps->file,
	    at != NULL ? at->line : 1, at != NULL ? at->col : 1);
	if (ps->nerr++ == 0)
		err_set(ps->e, AG_EINVAL, "%s", msg);
	if (ps->problems == NULL)
		return AG_EINVAL;
	if (strv_push(ps->problems, msg) != 0)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	return 0;
}

/* ---- rendering user values into messages -------------------------------- */

struct out {
	char *p;
	size_t len, cap;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap) {
		n = o->cap - 1 - o->len;
		if (o->cap >= 4) {
			memcpy(o->p + o->len, s, n);
			memcpy(o->p + o->cap - 4, "...", 3);
			o->len = o->cap - 1;
			o->p[o->len] = '\0';
			return;
		}
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
render(struct out *o, const struct ydoc_node *n)
{
	size_t i;

	if (n == NULL || o->len + 1 >= o->cap)
		return;
	if (n->kind == YDOC_SCALAR) {
		if (!ydoc_is_null(n))
			out_add(o, n->text, n->len);
		return;
	}
	out_add(o, n->kind == YDOC_SEQ ? "[" : "{", 1);
	for (i = 0; i < n->n && o->len + 1 < o->cap; i++) {
		if (i > 0)
			out_add(o, n->kind == YDOC_MAP && i % 2 ? ": " : ", ",
			    2);
		render(o, n->items[i]);
	}
	out_add(o, n->kind == YDOC_SEQ ? "]" : "}", 1);
}

/* A node as it reads in a message ("" for null), clipped to VALUE_MAX. */
static const char *
show(const struct ydoc_node *n, char *tmp)
{
	struct out o = { tmp, 0, VALUE_MAX };

	tmp[0] = '\0';
	render(&o, n);
	return tmp;
}

/* ---- small helpers ------------------------------------------------------ */

static int
is_space(char c)
{
	/* Ruby's String#strip set. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

/* A scalar's text with Ruby strip applied, or NULL on ENOMEM. */
static char *
strip_dup(const char *s)
{
	size_t n;
	char *p;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Ruby's String#to_i: leading blanks, a sign, digits with single '_'
 * between them, and the rest ignored ("300.7" is 300, "abc" is 0).
 * Saturates where Ruby would grow a Bignum.
 */
static long
ruby_to_i(const char *s)
{
	long v = 0;
	int neg = 0;

	while (is_space(*s))
		s++;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (LONG_MAX - (*s - '0')) / 10)
			return neg ? LONG_MIN : LONG_MAX;
		v = v * 10 + (*s - '0');
		if (s[1] == '_' && s[2] >= '0' && s[2] <= '9')
			s++;
	}
	return neg ? -v : v;
}

/* "section: expected X, found Y" */
static int
bad_shape(struct ps *ps, const struct ydoc_node *at, const char *section,
    const char *what)
{
	return complain(ps, at, M_SHAPE, section, what, section);
}

static int
expect(struct ps *ps, const struct ydoc_node *n, enum ydoc_type want,
    const char *section, const char *what)
{
	char msg[200];

	if (ydoc_type(n) == want)
		return 0;
	snprintf(msg, sizeof(msg), "%s is %s, expected %s", what,
	    ydoc_type_name(ydoc_type(n)), ydoc_type_name(want));
	return bad_shape(ps, n, section, msg);
}

/*
 * Copy a scalar's text into *out (NULL for null). A list or mapping where
 * a single value belongs is a shape error. Returns 1 when it reported a
 * problem but parsing may continue, <0 to stop, 0 on success.
 */
static int
scalar_dup(struct ps *ps, const struct ydoc_node *n, const char *section,
    const char *what, int strip, char **out)
{
	char msg[200];
	int r;

	*out = NULL;
	if (ydoc_is_null(n))
		return 0;
	if (n->kind != YDOC_SCALAR) {
		snprintf(msg, sizeof(msg), "%s is %s, expected a single value",
		    what, ydoc_type_name(ydoc_type(n)));
		if ((r = bad_shape(ps, n, section, msg)) != 0)
			return r;
		return 1;
	}
	*out = strip ? strip_dup(n->text) : strdup(n->text);
	if (*out == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	return 0;
}

/* ---- top level ---------------------------------------------------------- */

static int
parse_version(struct ps *ps, const struct ydoc_node *root)
{
	const struct ydoc_node *v = ydoc_map_get(root, "version");
	char tmp[VALUE_MAX];
	long long i;
	double f;

	switch (ydoc_type(v)) {
	case YDOC_T_INT:
		if (ydoc_int(v, &i) == 0 && i == 0)
			return 0;
		break;
	case YDOC_T_FLOAT:
		if (ydoc_float(v, &f) == 0 && f == 0.0)
			return 0;
		break;
	case YDOC_T_STR:
		/* Ruby refuses "0.0" (a String); the docs ask for it. */
		if (strcmp(v->text, "0.0") == 0)
			return 0;
		break;
	default:
		break;
	}
	return complain(ps, v != NULL ? v : root, M_VERSION, show(v, tmp));
}

static int
parse_os(struct ps *ps, struct appspec *as, const struct ydoc_node *root)
{
	const struct ydoc_node *v = ydoc_map_get(root, "os");
	char tmp[VALUE_MAX];

	if (ydoc_type(v) == YDOC_T_STR && strcmp(v->text, ps->want_os) == 0) {
		if ((as->os = strdup(v->text)) == NULL)
			return err_set(ps->e, AG_ENOMEM, "out of memory");
		return 0;
	}
	return complain(ps, v != NULL ? v : root, M_OS, show(v, tmp));
}

static int
parse_feb(struct ps *ps, struct appspec *as, const struct ydoc_node *root)
{
	const struct ydoc_node *v = ydoc_map_get(root, "file_exists_behavior");
	char tmp[VALUE_MAX];

	if (ydoc_is_null(v))
		return 0;
	if (ydoc_type(v) == YDOC_T_STR &&
	    (as->feb = appspec_feb_parse(v->text)) != FEB_UNSET)
		return 0;
	return complain(ps, v, M_FEB, show(v, tmp));
}

/* ---- files -------------------------------------------------------------- */

static int
parse_files(struct ps *ps, struct appspec *as, const struct ydoc_node *root)
{
	const struct ydoc_node *seq = ydoc_map_get(root, "files");
	const struct ydoc_node *m, *src, *dst;
	struct appspec_file *f;
	char tmp[VALUE_MAX];
	size_t i;
	int r;

	if (ydoc_is_null(seq))
		return 0;
	if (seq->kind != YDOC_SEQ)
		return expect(ps, seq, YDOC_T_SEQ, "files", "the files value");
	if (seq->n > 0 &&
	    (as->files = calloc(seq->n, sizeof(*as->files))) == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	for (i = 0; i < seq->n; i++) {
		m = seq->items[i];
		if (m->kind != YDOC_MAP) {
			if ((r = expect(ps, m, YDOC_T_MAP, "files",
			    "an entry")) != 0)
				return r;
			continue;
		}
		src = ydoc_map_get(m, "source");
		dst = ydoc_map_get(m, "destination");
		if (ydoc_is_null(src)) {
			if ((r = complain(ps, m, M_NOSOURCE)) != 0)
				return r;
			continue;
		}
		if (ydoc_is_null(dst)) {
			if ((r = complain(ps, m, M_NODEST,
			    show(src, tmp))) != 0)
				return r;
			continue;
		}
		f = &as->files[as->n_files++];
		f->line = m->line;
		if ((r = scalar_dup(ps, src, "files", "source", 0,
		    &f->source)) < 0 ||
		    (r = scalar_dup(ps, dst, "files", "destination", 0,
		    &f->destination)) < 0)
			return r;
	}
	return 0;
}

/* ---- hooks -------------------------------------------------------------- */

/* Ruby: `timeout || 3600`, then #to_i; <= 0 is refused. */
static int
script_timeout(const struct ydoc_node *v, long *out)
{
	long long i;
	double f;
	int b = 0;

	switch (ydoc_type(v)) {
	case YDOC_T_NULL:
		*out = 3600;
		return 0;
	case YDOC_T_BOOL:
		ydoc_bool(v, &b);
		if (b)
			return AG_EINVAL;	/* true.to_i raises in Ruby */
		*out = 3600;
		return 0;
	case YDOC_T_INT:
		if (ydoc_int(v, &i) != 0 || i > LONG_MAX)
			return AG_EINVAL;
		*out = (long)i;
		break;
	case YDOC_T_FLOAT:
		if (ydoc_float(v, &f) != 0 || isnan(f) ||
		    f >= (double)LONG_MAX || f <= (double)LONG_MIN)
			return AG_EINVAL;
		*out = (long)f;		/* truncates: 300.7 is 300 */
		break;
	case YDOC_T_STR:
		*out = ruby_to_i(v->text);
		break;
	default:
		return AG_EINVAL;
	}
	return *out > 0 ? 0 : AG_EINVAL;
}

static int
parse_script(struct ps *ps, struct appspec_script *s,
    const struct ydoc_node *m)
{
	const struct ydoc_node *loc, *runas, *sudo;
	int r, b;

	if (m->kind != YDOC_MAP)
		return expect(ps, m, YDOC_T_MAP, "hooks", "a script entry");
	s->line = m->line;
	loc = ydoc_map_get(m, "location");
	if (ydoc_is_null(loc))
		return complain(ps, m, M_NOLOCATION);
	if ((r = scalar_dup(ps, loc, "hooks", "location", 1,
	    &s->location)) != 0)
		return r < 0 ? r : 0;
	if (s->location[0] == '\0')
		return complain(ps, loc, M_NOLOCATION);
	/*
	 * Ours: a script lives in the revision ("/x" is revision-relative,
	 * as Ruby's File.join makes it). ".." would have the root agent
	 * chmod +x and run any file on the host.
	 */
	if (strcmp(s->location, "..") == 0 ||
	    strncmp(s->location, "../", 3) == 0 ||
	    strstr(s->location, "/../") != NULL ||
	    util_endswith(s->location, "/.."))
		return complain(ps, loc, M_LOCOUTSIDE, s->location);
	runas = ydoc_map_get(m, "runas");
	if ((r = scalar_dup(ps, runas, "hooks", "runas", 1, &s->runas)) != 0)
		return r < 0 ? r : 0;
	if (s->runas != NULL && s->runas[0] == '\0') {
		/* "" would name no user; treat it as unset. */
		free(s->runas);
		s->runas = NULL;
	}
	/* Anything but null or false counts, so the string "false" is true. */
	sudo = ydoc_map_get(m, "sudo");
	s->sudo = !(ydoc_is_null(sudo) || (ydoc_bool(sudo, &b) == 0 && !b));
	if (script_timeout(ydoc_map_get(m, "timeout"), &s->timeout) != 0)
		return complain(ps, ydoc_map_get(m, "timeout"), M_TIMEOUT);
	return 0;
}

static void
hook_release(struct appspec_hook *h)
{
	size_t i;

	for (i = 0; i < h->n_scripts; i++) {
		free(h->scripts[i].location);
		free(h->scripts[i].runas);
	}
	free(h->scripts);
	free(h->event);
	memset(h, 0, sizeof(*h));
}

struct hkey {
	const char *name;
	size_t pair;		/* index of the pair in the mapping */
};

static int
hkey_cmp(const void *a, const void *b)
{
	const struct hkey *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

/*
 * A Ruby Hash keeps a repeated key at its first position with its last
 * value, and a null last value drops the event. Sorting the keys finds
 * each one's last value in O(n log n), so a hostile file with thousands
 * of events costs nothing much. last[i] is the pair whose value counts
 * for pair i, or SIZE_MAX when pair i is a repeat (already emitted).
 */
static int
hook_last_values(const struct ydoc_node *map, size_t *last)
{
	size_t np = map->n / 2, i, j, k;
	struct hkey *hk;

	if ((hk = calloc(np, sizeof(*hk))) == NULL)
		return AG_ENOMEM;
	for (i = 0; i < np; i++) {
		hk[i].name = map->items[2 * i]->kind == YDOC_SCALAR ?
		    map->items[2 * i]->text : "";
		hk[i].pair = i;
	}
	qsort(hk, np, sizeof(*hk), hkey_cmp);
	for (i = 0; i < np; i = j) {
		for (j = i + 1; j < np && strcmp(hk[j].name, hk[i].name) == 0;
		    j++)
			;
		for (k = i; k < j; k++)
			last[hk[k].pair] = SIZE_MAX;
		last[hk[i].pair] = hk[j - 1].pair;
	}
	free(hk);
	return 0;
}

static int
parse_hooks(struct ps *ps, struct appspec *as, const struct ydoc_node *root)
{
	const struct ydoc_node *map = ydoc_map_get(root, "hooks");
	const struct ydoc_node *k, *list;
	struct appspec_hook h;
	size_t *last = NULL, i, j;
	int r = 0;

	memset(&h, 0, sizeof(h));
	if (ydoc_is_null(map))
		return 0;
	if (map->kind != YDOC_MAP)
		return expect(ps, map, YDOC_T_MAP, "hooks", "the hooks value");
	if (map->n == 0)
		return 0;
	if ((as->hooks = calloc(map->n / 2, sizeof(*as->hooks))) == NULL ||
	    (last = calloc(map->n / 2, sizeof(*last))) == NULL ||
	    hook_last_values(map, last) != 0) {
		r = err_set(ps->e, AG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < map->n / 2; i++) {
		k = map->items[2 * i];
		if (k->kind != YDOC_SCALAR) {
			if ((r = bad_shape(ps, k, "hooks",
			    "an event name is not a single value")) != 0)
				goto out;
			continue;
		}
		if (last[i] == SIZE_MAX)
			continue;	/* a repeat, already taken */
		list = map->items[2 * last[i] + 1];
		/* "BeforeInstall:" with nothing after it is ignored. */
		if (ydoc_is_null(list))
			continue;
		if (list->kind != YDOC_SEQ) {
			if ((r = expect(ps, list, YDOC_T_SEQ, "hooks",
			    "the script list of an event")) != 0)
				goto out;
			continue;
		}
		if ((h.event = strdup(k->text)) == NULL ||
		    (list->n > 0 && (h.scripts = calloc(list->n,
		    sizeof(*h.scripts))) == NULL)) {
			r = err_set(ps->e, AG_ENOMEM, "out of memory");
			goto out;
		}
		for (j = 0; j < list->n; j++) {
			h.n_scripts++;
			if ((r = parse_script(ps, &h.scripts[j],
			    list->items[j])) != 0)
				goto out;
		}
		as->hooks[as->n_hooks++] = h;
		memset(&h, 0, sizeof(h));	/* transferred */
	}
 out:
	hook_release(&h);
	free(last);
	return r;
}

/* ---- permissions: mode, ACL, SELinux range ------------------------------ */

/* Ruby: mode.to_s, left-padded with '0' to 3 characters, 1-4 octal. */
static int
parse_mode(struct ps *ps, struct appspec_perm *p, const struct ydoc_node *v)
{
	char txt[VALUE_MAX], mode[VALUE_MAX + 4];
	const char *s;
	long long i;
	size_t n;
	int b = 0, r;

	switch (ydoc_type(v)) {
	case YDOC_T_NULL:
		return 0;
	case YDOC_T_INT:
		/* 0644 unquoted is 420 and becomes "420", as in Ruby. */
		if (ydoc_int(v, &i) == 0) {
			snprintf(txt, sizeof(txt), "%lld", i);
			s = txt;
		} else
			s = v->text;
		break;
	case YDOC_T_BOOL:
		ydoc_bool(v, &b);
		s = b ? "true" : "false";
		break;
	case YDOC_T_SEQ:
	case YDOC_T_MAP:
		if ((r = expect(ps, v, YDOC_T_STR, "permissions",
		    "a mode")) != 0)
			return r;
		return 1;
	default:
		s = show(v, txt);
		break;
	}
	n = strlen(s);
	snprintf(mode, sizeof(mode), "%s%s", n >= 3 ? "" : n == 2 ? "0" :
	    n == 1 ? "00" : "000", s);
	if (strlen(mode) > 4)
		return complain(ps, v, M_MODELEN, mode);
	for (n = 0; mode[n] != '\0'; n++)
		if (mode[n] < '0' || mode[n] > '7')
			return complain(ps, v, M_MODECHAR, mode, mode[n]);
	p->mode = (int)strtol(mode, NULL, 8);
	return 0;
}

enum ace_res { ACE_OK, ACE_BAD, ACE_BASE, ACE_CHAR, ACE_NOMEM };

static int
ace_word(const char *s, size_t n, const char *a, const char *b)
{
	return (n == strlen(a) && memcmp(s, a, n) == 0) ||
	    (n == strlen(b) && memcmp(s, b, n) == 0);
}

/*
 * One ACE, `[d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]:]name:perms`, into
 * "[default:]type:name:rwx". The fields are read from the right as in
 * ace_info.rb: perms, then name (or a bare mask/other), then type, then
 * the default flag. *bad gets the offending character for ACE_CHAR.
 */
static enum ace_res
ace_parse(const char *ace, struct buf *norm, int *is_default, char *bad)
{
	const char *f[5], *type = NULL, *name = "";
	size_t len[5], nf = 0, namelen = 0, i;
	const char *p = ace, *c;
	int dflt = 0, rd = 0, wr = 0, ex = 0;

	for (;;) {
		c = strchr(p, ':');
		if (nf == 5)
			return ACE_BAD;
		f[nf] = p;
		len[nf++] = c != NULL ? (size_t)(c - p) : strlen(p);
		if (c == NULL)
			break;
		p = c + 1;
	}
	if (nf < 2 || nf > 4)
		return ACE_BAD;
	if (nf == 4) {
		if (!ace_word(f[0], len[0], "d", "default"))
			return ACE_BAD;
		dflt = 1;
	}
	if (nf >= 3) {
		const char *t = f[nf - 3];
		size_t tl = len[nf - 3];

		if (ace_word(t, tl, "d", "default")) {
			if (dflt)
				return ACE_BAD;
			dflt = 1;
		} else if (ace_word(t, tl, "m", "mask"))
			type = "mask";
		else if (ace_word(t, tl, "o", "other"))
			type = "other";
		else if (ace_word(t, tl, "g", "group"))
			type = "group";
		else if (ace_word(t, tl, "u", "user"))
			type = "user";
		else
			return ACE_BAD;
	}
	p = f[nf - 2];
	i = len[nf - 2];
	if (ace_word(p, i, "m", "mask") || ace_word(p, i, "o", "other")) {
		const char *word = p[0] == 'm' ? "mask" : "other";

		if (type == NULL)
			type = word;
		else {
			name = word;
			namelen = strlen(word);
		}
	} else {
		if (type == NULL)
			type = "user";
		name = p;
		namelen = i;
	}
	if ((strcmp(type, "mask") == 0 || strcmp(type, "other") == 0) &&
	    namelen > 0)
		return ACE_BAD;
	if (!dflt && strcmp(type, "mask") != 0 && namelen == 0)
		return ACE_BASE;
	p = f[nf - 1];
	i = len[nf - 1];
	if (i == 1 && p[0] >= '0' && p[0] <= '7') {
		rd = (p[0] - '0') & 4;
		wr = (p[0] - '0') & 2;
		ex = (p[0] - '0') & 1;
	} else {
		for (c = p; c < p + i; c++) {
			if (*c == 'r')
				rd = 1;
			else if (*c == 'w')
				wr = 1;
			else if (*c == 'x')
				ex = 1;
			else if (*c != '-') {
				*bad = *c;
				return ACE_CHAR;
			}
		}
	}
	*is_default = dflt;
	if (buf_addf(norm, "%s%s:%.*s:%c%c%c", dflt ? "default:" : "", type,
	    (int)namelen, name, rd ? 'r' : '-', wr ? 'w' : '-',
	    ex ? 'x' : '-') != 0)
		return ACE_NOMEM;
	return ACE_OK;
}

static int
parse_acls(struct ps *ps, struct appspec_perm *p, const struct ydoc_node *v)
{
	struct strv acls = STRV_INIT;
	const struct ydoc_node *it;
	char tmp[VALUE_MAX], badc = '?';
	size_t i;
	int r = 0, dflt;

	if (ydoc_is_null(v))
		return 0;
	if (v->kind != YDOC_SEQ)
		return expect(ps, v, YDOC_T_SEQ, "permissions", "acls");
	for (i = 0; i < v->n; i++) {
		struct buf norm = BUF_INIT(4096);

		it = v->items[i];
		if (it->kind != YDOC_SCALAR) {
			if ((r = expect(ps, it, YDOC_T_STR, "permissions",
			    "an acls entry")) != 0)
				goto out;
			continue;
		}
		dflt = 0;
		switch (ace_parse(it->text, &norm, &dflt, &badc)) {
		case ACE_NOMEM:
			r = err_set(ps->e, AG_ENOMEM, "out of memory");
			break;
		case ACE_OK:
			if ((r = strv_push_owned(&acls,
			    buf_detach(&norm))) != 0)
				r = err_set(ps->e, AG_ENOMEM, "out of memory");
			if (dflt)
				p->acl_has_default = 1;
			break;
		case ACE_BAD:
			r = complain(ps, it, M_ACL, show(it, tmp));
			break;
		case ACE_BASE:
			r = complain(ps, it, M_ACLBASE, show(it, tmp));
			break;
		case ACE_CHAR:
			r = complain(ps, it, M_ACLCHAR, show(it, tmp), badc);
			break;
		}
		buf_release(&norm);
		if (r != 0)
			goto out;
	}
	p->acls = acls.v;
	p->n_acls = acls.n;
	acls.v = NULL;	/* transferred */
	acls.n = 0;
 out:
	strv_release(&acls);
	return r;
}

/* "<c><digits>" with value <= max; -1 when malformed. */
static long
level(const char *s, size_t n, char c, long max)
{
	long v = 0;
	size_t i;

	if (n < 2 || s[0] != c)
		return -1;
	for (i = 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return -1;
	}
	return v;
}

#define SENS_MAX 999999L
#define CAT_MAX 1023

/*
 * An SELinux MLS range `s<n>[-s<m>][:<cats>]`, normalised as
 * range_info.rb does: `-s<m>` dropped when equal, categories sorted and
 * contiguous runs written `cA.cB`. why gets the reason on failure.
 */
static int
range_norm(const char *in, struct buf *out, char *why, size_t whysz)
{
	unsigned char seen[CAT_MAX + 1];
	const char *colon, *dash, *sens, *p, *end, *dot;
	long lo, hi, a, b, k;
	size_t slen;
	int any = 0;

	memset(seen, 0, sizeof(seen));
	colon = strchr(in, ':');
	sens = in;
	slen = colon != NULL ? (size_t)(colon - in) : strlen(in);
	if (slen == 0 || (colon != NULL && colon[1] == '\0')) {
		snprintf(why, whysz, "invalid range part %.64s", in);
		return AG_EINVAL;
	}
	dash = memchr(sens, '-', slen);
	if (dash != NULL && (dash == sens || dash == sens + slen - 1)) {
		snprintf(why, whysz, "invalid range part %.*s",
		    (int)(slen > 64 ? 64 : slen), sens);
		return AG_EINVAL;
	}
	lo = level(sens, dash != NULL ? (size_t)(dash - sens) : slen, 's',
	    SENS_MAX);
	hi = dash != NULL ? level(dash + 1, slen - (size_t)(dash + 1 - sens),
	    's', SENS_MAX) : lo;
	if (lo < 0 || hi < 0) {
		snprintf(why, whysz, "invalid sensitivity %.*s",
		    (int)(slen > 64 ? 64 : slen), sens);
		return AG_EINVAL;
	}
	if (hi < lo) {
		snprintf(why, whysz, "the high sensitivity is below the low "
		    "one");
		return AG_EINVAL;
	}
	for (p = colon != NULL ? colon + 1 : NULL; p != NULL; p = end) {
		size_t n;

		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		dot = memchr(p, '.', n);
		if (dot != NULL) {
			a = level(p, (size_t)(dot - p), 'c', CAT_MAX);
			b = level(dot + 1, n - (size_t)(dot + 1 - p), 'c',
			    CAT_MAX);
		} else
			a = b = level(p, n, 'c', CAT_MAX);
		if (a < 0 || b < 0) {
			snprintf(why, whysz, "invalid category %.*s",
			    (int)(n > 64 ? 64 : n), p);
			return AG_EINVAL;
		}
		if (b < a) {
			snprintf(why, whysz, "invalid category range %.*s",
			    (int)(n > 64 ? 64 : n), p);
			return AG_EINVAL;
		}
		for (k = a; k <= b; k++) {
			if (seen[k]) {
				snprintf(why, whysz, "duplicate categories");
				return AG_EINVAL;
			}
			seen[k] = 1;
		}
		if (end != NULL)
			end++;
	}
	if (buf_addf(out, "s%ld", lo) != 0 ||
	    (hi != lo && buf_addf(out, "-s%ld", hi) != 0))
		goto oom;
	if (colon != NULL && buf_addch(out, ':') != 0)
		goto oom;
	for (k = 0; k <= CAT_MAX; k++) {
		if (!seen[k])
			continue;
		for (a = k; k + 1 <= CAT_MAX && seen[k + 1]; k++)
			;
		if (buf_addf(out, a == k ? "%sc%ld" : "%sc%ld.c%ld",
		    any ? "," : "", a, k) != 0)
			goto oom;
		any = 1;
	}
	return 0;
 oom:
	snprintf(why, whysz, "out of memory");
	return AG_ENOMEM;
}

static int
parse_context(struct ps *ps, struct appspec_perm *p,
    const struct ydoc_node *v)
{
	const struct ydoc_node *type, *user, *range;
	struct appspec_context *c;
	struct buf norm = BUF_INIT(8192);
	char tmp[VALUE_MAX], why[128];
	int r;

	if (ydoc_is_null(v))
		return 0;
	type = ydoc_map_get(v, "type");
	if (v->kind != YDOC_MAP || ydoc_is_null(type))
		return complain(ps, v, M_CONTEXT, show(v, tmp));
	if ((c = p->context = calloc(1, sizeof(*c))) == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	/* Ruby reads the user from `name`; the docs say `user`. */
	user = ydoc_map_get(v, "name");
	if (ydoc_is_null(user))
		user = ydoc_map_get(v, "user");
	if ((r = scalar_dup(ps, type, "permissions", "the context type", 0,
	    &c->type)) != 0 ||
	    (r = scalar_dup(ps, user, "permissions", "the context user", 0,
	    &c->user)) != 0)
		return r < 0 ? r : 0;
	range = ydoc_map_get(v, "range");
	if (ydoc_is_null(range))
		return 0;	/* Ruby crashes later; the docs say s0 */
	if (range->kind != YDOC_SCALAR)
		return expect(ps, range, YDOC_T_STR, "permissions",
		    "the context range");
	if ((r = range_norm(range->text, &norm, why, sizeof(why))) != 0) {
		buf_release(&norm);
		if (r == AG_ENOMEM)
			return err_set(ps->e, r, "out of memory");
		return complain(ps, range, M_RANGE, show(range, tmp), why);
	}
	if ((c->range = buf_detach(&norm)) == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	return 0;
}

static int
parse_types(struct ps *ps, struct appspec_perm *p, const struct ydoc_node *v)
{
	const struct ydoc_node *it;
	char tmp[VALUE_MAX];
	size_t i;
	int r;

	if (ydoc_is_null(v)) {
		p->types = APPSPEC_T_FILE | APPSPEC_T_DIR;
		return 0;
	}
	if (v->kind != YDOC_SEQ)
		return expect(ps, v, YDOC_T_SEQ, "permissions", "type");
	for (i = 0; i < v->n; i++) {
		it = v->items[i];
		if (ydoc_type(it) == YDOC_T_STR &&
		    strcmp(it->text, "file") == 0)
			p->types |= APPSPEC_T_FILE;
		else if (ydoc_type(it) == YDOC_T_STR &&
		    strcmp(it->text, "directory") == 0)
			p->types |= APPSPEC_T_DIR;
		else if ((r = complain(ps, it, M_TYPE, show(it, tmp))) != 0)
			return r;
	}
	return 0;
}

static int
parse_except(struct ps *ps, struct appspec_perm *p, const struct ydoc_node *v)
{
	struct strv sv = STRV_INIT;
	size_t i;
	int r = 0;

	if (ydoc_is_null(v))
		return 0;
	if (v->kind != YDOC_SEQ)
		return expect(ps, v, YDOC_T_SEQ, "permissions", "except");
	for (i = 0; i < v->n; i++) {
		if (v->items[i]->kind != YDOC_SCALAR) {
			if ((r = expect(ps, v->items[i], YDOC_T_STR,
			    "permissions", "an except entry")) != 0)
				goto out;
			continue;
		}
		if (strv_push(&sv, v->items[i]->text) != 0) {
			r = err_set(ps->e, AG_ENOMEM, "out of memory");
			goto out;
		}
	}
	p->except = sv.v;
	p->n_except = sv.n;
	sv.v = NULL;	/* transferred */
	sv.n = 0;
 out:
	strv_release(&sv);
	return r;
}

static int
parse_perm(struct ps *ps, struct appspec *as, struct appspec_perm *p,
    const struct ydoc_node *m)
{
	const struct ydoc_node *obj, *pat;
	int r;

	p->mode = -1;
	if (m->kind != YDOC_MAP)
		return expect(ps, m, YDOC_T_MAP, "permissions", "an entry");
	p->line = m->line;
	obj = ydoc_map_get(m, "object");
	if (ydoc_is_null(obj))
		return complain(ps, m, M_NOOBJECT);
	if (as->os != NULL && strcmp(as->os, "linux") != 0)
		return complain(ps, m, M_WINPERM);
	if ((r = scalar_dup(ps, obj, "permissions", "object", 1,
	    &p->object)) != 0)
		return r < 0 ? r : 0;
	if (p->object[0] == '\0')
		return complain(ps, obj, M_NOOBJECT);
	pat = ydoc_map_get(m, "pattern");
	if (ydoc_is_null(pat))
		p->pattern = strdup("**");
	else if ((r = scalar_dup(ps, pat, "permissions", "pattern", 0,
	    &p->pattern)) != 0)
		return r < 0 ? r : 0;
	if (p->pattern == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	if ((r = parse_except(ps, p, ydoc_map_get(m, "except"))) != 0 ||
	    (r = parse_types(ps, p, ydoc_map_get(m, "type"))) != 0)
		return r;
	if ((r = scalar_dup(ps, ydoc_map_get(m, "owner"), "permissions",
	    "owner", 0, &p->owner)) < 0 ||
	    (r = scalar_dup(ps, ydoc_map_get(m, "group"), "permissions",
	    "group", 0, &p->group)) < 0)
		return r;
	if ((r = parse_mode(ps, p, ydoc_map_get(m, "mode"))) < 0 ||
	    (r = parse_acls(ps, p, ydoc_map_get(m, "acls"))) < 0 ||
	    (r = parse_context(ps, p, ydoc_map_get(m, "context"))) < 0)
		return r;
	return 0;
}

static int
parse_perms(struct ps *ps, struct appspec *as, const struct ydoc_node *root)
{
	const struct ydoc_node *seq = ydoc_map_get(root, "permissions");
	size_t i;
	int r;

	if (ydoc_is_null(seq))
		return 0;
	if (seq->kind != YDOC_SEQ)
		return expect(ps, seq, YDOC_T_SEQ, "permissions",
		    "the permissions value");
	if (seq->n > 0 &&
	    (as->perms = calloc(seq->n, sizeof(*as->perms))) == NULL)
		return err_set(ps->e, AG_ENOMEM, "out of memory");
	for (i = 0; i < seq->n; i++) {
		as->n_perms++;
		if ((r = parse_perm(ps, as, &as->perms[i], seq->items[i])) < 0)
			return r;
		if (r > 0 && ps->problems == NULL)
			return AG_EINVAL;
	}
	return 0;
}

/* ---- entry points ------------------------------------------------------- */

int
appspec_parse(struct appspec **out, const char *text, size_t len,
    const char *filename, const char *want_os, struct strv *problems,
    struct err *e)
{
	struct ps ps = { filename, want_os, problems, e, 0 };
	struct appspec *as = NULL;
	struct ydoc *d = NULL;
	const struct ydoc_node *root;
	struct err ye = ERR_INIT;
	int r;

	*out = NULL;
	if (ps.file == NULL)
		ps.file = "appspec.yml";
	if (ps.want_os == NULL)
		ps.want_os = "linux";
	if ((r = ydoc_parse(&d, text, len, ps.file, &ye)) != 0) {
		if (r == AG_ENOMEM)
			return err_set(e, r, "out of memory");
		ps.nerr++;
		err_set(e, AG_EINVAL, M_YAML, ye.msg);
		if (problems != NULL && strv_push(problems, e->msg) != 0)
			return err_set(e, AG_ENOMEM, "out of memory");
		return AG_EINVAL;
	}
	root = ydoc_root(d);
	if (ydoc_is_null(root)) {
		complain(&ps, root, M_EMPTY);
		r = e->code;
		goto out;
	}
	if (root->kind != YDOC_MAP) {
		complain(&ps, root, M_NOTMAP, ydoc_type_name(ydoc_type(root)));
		r = e->code;
		goto out;
	}
	if ((as = calloc(1, sizeof(*as))) == NULL ||
	    (as->path = strdup(ps.file)) == NULL) {
		r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	/* Ruby's order: version, os, hooks, files, permissions. */
	if ((r = parse_version(&ps, root)) != 0 ||
	    (r = parse_os(&ps, as, root)) != 0 ||
	    (r = parse_feb(&ps, as, root)) != 0 ||
	    (r = parse_hooks(&ps, as, root)) != 0 ||
	    (r = parse_files(&ps, as, root)) != 0 ||
	    (r = parse_perms(&ps, as, root)) != 0)
		goto out;
	if (ps.nerr > 0) {
		/* with a problems list, the rest is still worth checking */
		if (problems != NULL) {
			*out = as;
			as = NULL;	/* transferred */
		}
		r = AG_EINVAL;
		goto out;
	}
	*out = as;
	as = NULL;	/* transferred */
 out:
	if (r != 0 && r != AG_ENOMEM && ps.nerr > 0)
		r = AG_EINVAL;
	appspec_free(as);
	ydoc_free(d);
	return r;
}

/* The relative name appspec_find() settles on, or NULL. */
static const char *
find_name(const char *dir, const char *name, char **path)
{
	const char *cand[3];
	struct stat st;
	size_t i;
	char *p;

	*path = NULL;
	cand[0] = name != NULL ? name : "appspec.yml";
	cand[1] = "appspec.yaml";
	cand[2] = "appspec.yml";
	for (i = 0; i < 3; i++) {
		/* Never look outside the revision. */
		if (strcmp(cand[i], "..") == 0 ||
		    strncmp(cand[i], "../", 3) == 0 ||
		    strstr(cand[i], "/../") != NULL ||
		    util_endswith(cand[i], "/.."))
			continue;
		if ((p = util_path_join(dir, cand[i])) == NULL)
			return NULL;
		/*
		 * lstat: a symbolic link planted as appspec.yml could make a
		 * root agent quote parts of any host file in its messages.
		 */
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			*path = p;
			return cand[i];
		}
		free(p);
	}
	return NULL;
}

char *
appspec_find(const char *archive_dir, const char *name)
{
	char *path;

	find_name(archive_dir, name, &path);
	return path;
}

int
appspec_load(struct appspec **out, const char *archive_dir,
    const char *name, const char *want_os, struct strv *problems,
    struct err *e)
{
	struct buf text = BUF_INIT(APPSPEC_MAX_BYTES);
	struct appspec *as = NULL;
	const char *rel;
	char *path = NULL, *want = NULL;
	int r;

	*out = NULL;
	if (name == NULL)
		name = "appspec.yml";
	if ((rel = find_name(archive_dir, name, &path)) == NULL) {
		want = util_path_join(archive_dir, name);
		r = err_set(e, AG_EINVAL, M_NOTFOUND, name, archive_dir,
		    want != NULL ? want : name);
		if (problems != NULL && strv_push(problems, e->msg) != 0)
			r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = buf_read_file(&text, path, e)) != 0) {
		if (problems != NULL && strv_push(problems, e->msg) != 0)
			r = err_set(e, AG_ENOMEM, "out of memory");
		goto out;
	}
	r = appspec_parse(&as, text.ptr != NULL ? text.ptr : "", text.len,
	    rel, want_os, problems, e);
	if (as == NULL)
		goto out;
	free(as->path);
	as->path = path;
	path = NULL;	/* transferred */
	*out = as;	/* with r != 0 only when problems is non-NULL */
 out:
	free(path);
	free(want);
	buf_release(&text);
	return r;
}

const struct appspec_hook *
appspec_hook(const struct appspec *as, const char *event)
{
	size_t i;

	for (i = 0; i < as->n_hooks; i++)
		if (strcmp(as->hooks[i].event, event) == 0)
			return &as->hooks[i];
	return NULL;
}

enum appspec_feb
appspec_feb_parse(const char *s)
{
	if (strcmp(s, "DISALLOW") == 0)
		return FEB_DISALLOW;
	if (strcmp(s, "OVERWRITE") == 0)
		return FEB_OVERWRITE;
	if (strcmp(s, "RETAIN") == 0)
		return FEB_RETAIN;
	return FEB_UNSET;
}

const char *
appspec_feb_name(enum appspec_feb f)
{
	switch (f) {
	case FEB_DISALLOW:
		return "DISALLOW";
	case FEB_OVERWRITE:
		return "OVERWRITE";
	case FEB_RETAIN:
		return "RETAIN";
	default:
		return "UNSET";
	}
}

static void
free_vec(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
appspec_free(struct appspec *as)
{
	struct appspec_perm *p;
	size_t i;

	if (as == NULL)
		return;
	for (i = 0; i < as->n_files; i++) {
		free(as->files[i].source);
		free(as->files[i].destination);
	}
	free(as->files);
	for (i = 0; i < as->n_perms; i++) {
		p = &as->perms[i];
		free(p->object);
		free(p->pattern);
		free_vec(p->except, p->n_except);
		free(p->owner);
		free(p->group);
		free_vec(p->acls, p->n_acls);
		if (p->context != NULL) {
			free(p->context->user);
			free(p->context->type);
			free(p->context->range);
			free(p->context);
		}
	}
	free(as->perms);
	for (i = 0; i < as->n_hooks; i++)
		hook_release(&as->hooks[i]);
	free(as->hooks);
	free(as->path);
	free(as->os);
	free(as);
}

int
appspec_glob_match(const char *glob, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Ruby's matcher never matches across a directory separator. */
	if (strchr(s, '/') != NULL)
		return 0;
	while (*s != '\0') {
		if (*glob == '*') {
			star = glob++;
			resume = s;
		} else if (*glob == *s) {
			glob++;
			s++;
		} else if (star != NULL) {
			glob = star + 1;
			s = ++resume;
		} else
			return 0;
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}
