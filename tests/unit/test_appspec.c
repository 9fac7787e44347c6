/* Unit tests for appspec.c and ydoc.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "appspec.h"
#include "buf.h"
#include "err.h"
#include "util.h"
#include "ydoc.h"

#define HDR "version: 0.0\nos: linux\n"

static struct appspec *
ok(const char *yaml)
{
	struct appspec *as = NULL;
	struct err e = ERR_INIT;
	int r;

	r = appspec_parse(&as, yaml, strlen(yaml), "appspec.yml", "linux",
	    NULL, &e);
	if (r != 0)
		fail_msg("unexpected error %d for:\n%s\n-> %s", r, yaml, e.msg);
	assert_non_null(as);
	return as;
}

/* Parse must fail with a message containing every given substring. */
static void
bad(const char *yaml, ...)
{
	struct appspec *as = NULL;
	struct err e = ERR_INIT;
	const char *want;
	va_list ap;
	int r;

	r = appspec_parse(&as, yaml, strlen(yaml), "appspec.yml", "linux",
	    NULL, &e);
	if (r == 0)
		fail_msg("parse succeeded for:\n%s", yaml);
	assert_int_equal(r, AG_EINVAL);
	assert_null(as);
	assert_true(strlen(e.msg) < 1000);
	va_start(ap, yaml);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (strstr(e.msg, want) == NULL)
			fail_msg("for:\n%s\nwanted \"%s\" in: %s", yaml, want,
			    e.msg);
	}
	va_end(ap);
}

/* ---- ydoc -------------------------------------------------------------- */

static void
test_ydoc_resolution(void **state)
{
	const char *y = "a: 0755\nb: '0755'\nc: 0o17\nd: 0x1f\ne: 1_000\n"
	    "f: 0.0\ng: yes\nh: Off\ni: ~\nj:\nk: NULL\nl: -12\n"
	    "m: !!str 12\nn: 08\no: 1.5e3\np: \"true\"\nq: 0b101\n"
	    "r: 99999999999999999999\ns: [1, 2]\nt: {x: 1}\n";
	const struct ydoc_node *root;
	struct ydoc *d = NULL;
	struct err e = ERR_INIT;
	long long i = 0;
	double f = 1;
	int b = 0;

	(void)state;
	assert_int_equal(ydoc_parse(&d, y, strlen(y), "t.yml", &e), 0);
	root = ydoc_root(d);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "a"), &i), 0);
	assert_int_equal(i, 493);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "b")), YDOC_T_STR);
	assert_int_equal(ydoc_map_get(root, "b")->style, YDOC_QUOTED);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "c"), &i), 0);
	assert_int_equal(i, 15);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "d"), &i), 0);
	assert_int_equal(i, 31);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "e"), &i), 0);
	assert_int_equal(i, 1000);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "f")), YDOC_T_FLOAT);
	assert_int_equal(ydoc_float(ydoc_map_get(root, "f"), &f), 0);
	assert_true(f == 0.0);
	assert_int_equal(ydoc_bool(ydoc_map_get(root, "g"), &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(ydoc_bool(ydoc_map_get(root, "h"), &b), 0);
	assert_int_equal(b, 0);
	assert_true(ydoc_is_null(ydoc_map_get(root, "i")));
	assert_true(ydoc_is_null(ydoc_map_get(root, "j")));
	assert_non_null(ydoc_map_get(root, "j"));	/* present, null */
	assert_true(ydoc_is_null(ydoc_map_get(root, "k")));
	assert_null(ydoc_map_get(root, "nope"));
	assert_int_equal(ydoc_int(ydoc_map_get(root, "l"), &i), 0);
	assert_int_equal(i, -12);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "m")), YDOC_T_STR);
	assert_string_equal(ydoc_map_get(root, "m")->tag,
	    "tag:yaml.org,2002:str");
	assert_int_equal(ydoc_type(ydoc_map_get(root, "n")), YDOC_T_STR);
	assert_int_equal(ydoc_float(ydoc_map_get(root, "o"), &f), 0);
	assert_true(f == 1500.0);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "p")), YDOC_T_STR);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "q"), &i), 0);
	assert_int_equal(i, 5);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "r")), YDOC_T_INT);
	assert_int_equal(ydoc_int(ydoc_map_get(root, "r"), &i), AG_EINVAL);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "s")), YDOC_T_SEQ);
	assert_int_equal(ydoc_map_get(root, "s")->n, 2);
	assert_int_equal(ydoc_type(ydoc_map_get(root, "t")), YDOC_T_MAP);
	/* positions are 1-based */
	assert_int_equal(ydoc_map_get(root, "b")->line, 2);
	assert_int_equal(ydoc_map_get(root, "b")->col, 4);
	assert_int_equal(ydoc_map_key(root, "c")->line, 3);
	assert_int_equal(ydoc_map_key(root, "c")->col, 1);
	ydoc_free(d);
}

static void
test_ydoc_limits(void **state)
{
	struct buf y = BUF_INIT(1 << 20);
	struct ydoc *d = NULL;
	struct err e = ERR_INIT;
	int i;

	(void)state;
	for (i = 0; i < 70; i++)
		buf_addch(&y, '[');
	for (i = 0; i < 70; i++)
		buf_addch(&y, ']');
	assert_int_equal(ydoc_parse(&d, y.ptr, y.len, "t.yml", &e),
	    AG_EPROTO);
	assert_null(d);
	assert_non_null(strstr(e.msg, "deeper than 64"));
	buf_reset(&y);
	buf_addstr(&y, "[");
	for (i = 0; i < YDOC_MAX_NODES + 1; i++)
		buf_addstr(&y, "1,");
	buf_addstr(&y, "1]");
	assert_int_equal(ydoc_parse(&d, y.ptr, y.len, "t.yml", &e),
	    AG_EPROTO);
	assert_non_null(strstr(e.msg, "more than 100000 nodes"));
	buf_release(&y);

	/* Only the first document counts; the rest is not even parsed. */
	assert_int_equal(ydoc_parse(&d, "a: 1\n---\nb: [\n", 14, "t.yml", &e),
	    0);
	assert_non_null(ydoc_map_get(ydoc_root(d), "a"));
	ydoc_free(d);

	assert_int_equal(ydoc_parse(&d, "a: !ruby/object:Foo 1\n", 22,
	    "t.yml", &e), AG_EPROTO);
	assert_non_null(strstr(e.msg, "t.yml:1:4: tag"));
	assert_int_equal(ydoc_parse(&d, "a: \"x\\0y\"\n", 10, "t.yml", &e),
	    AG_EPROTO);
	assert_non_null(strstr(e.msg, "NUL"));
}

/* ---- top level ---------------------------------------------------------- */

static void
test_appspec_minimal(void **state)
{
	struct appspec *as;

	(void)state;
	as = ok(HDR);
	assert_string_equal(as->os, "linux");
	assert_string_equal(as->path, "appspec.yml");
	assert_int_equal(as->feb, FEB_UNSET);
	assert_int_equal(as->n_files, 0);
	assert_int_equal(as->n_perms, 0);
	assert_int_equal(as->n_hooks, 0);
	appspec_free(as);
	appspec_free(ok("version: 0\nos: linux\n"));
	appspec_free(ok("version: 0.00\nos: linux\n"));
	/* Ruby refuses a quoted "0.0"; we accept it (reference §15 row 5). */
	appspec_free(ok("version: \"0.0\"\nos: linux\n"));
	appspec_free(ok("version: '0.0'\nos: linux\nresources: [x]\n"));
	appspec_free(NULL);
}

static void
test_appspec_version(void **state)
{
	(void)state;
	bad("version: 1.0\nos: linux\n", "The deployment failed because an "
	    "invalid version value (1.0) was entered in the application "
	    "specification file. Make sure your AppSpec file specifies "
	    "\"0.0\" as the version, and then try again. (appspec.yml:1:10)",
	    NULL);
	bad("os: linux\n", "invalid version value () was entered", NULL);
	bad("version:\nos: linux\n", "invalid version value ()", NULL);
	bad("version: '0'\nos: linux\n", "invalid version value (0)", NULL);
	bad("version: abc\nos: linux\n", "invalid version value (abc)", NULL);
	bad("version: [0.0]\nos: linux\n", "invalid version value ([0.0])",
	    NULL);
}

static void
test_appspec_os(void **state)
{
	(void)state;
	bad("version: 0.0\nos: windows\n", "The deployment failed because "
	    "the application specification file specifies an unsupported "
	    "operating system (windows). Specify either \"linux\" or "
	    "\"windows\" in the os section of the AppSpec file, and then try "
	    "again. (appspec.yml:2:5)", NULL);
	bad("version: 0.0\nos: Linux\n", "operating system (Linux)", NULL);
	bad("version: 0.0\n", "operating system ()", NULL);
}

static void
test_appspec_empty(void **state)
{
	static const char *const empties[] = { "", "# only a comment\n",
	    "---\n", "\n\n", "~\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++)
		bad(empties[i], "The deployment failed because the "
		    "application specification file was empty. Make sure "
		    "your AppSpec file defines at minimum the 'version' and "
		    "'os' properties.", NULL);
	bad("- a\n- b\n", "is a list, not a mapping", NULL);
	bad("just text\n", "is a string, not a mapping", NULL);
}

static void
test_appspec_yaml_errors(void **state)
{
	(void)state;
	bad("version: 0.0\nos: linux\nhooks: [\n", "not valid YAML",
	    "appspec.yml:4:1", NULL);
	bad("version: &v 0.0\nos: linux\n", "anchors and aliases are not "
	    "supported", "appspec.yml:1:10", NULL);
	bad("x: &a linux\nversion: 0.0\nos: *a\n", "anchors and aliases",
	    NULL);
}

static void
test_appspec_feb(void **state)
{
	struct appspec *as;

	(void)state;
	as = ok(HDR "file_exists_behavior: OVERWRITE\n");
	assert_int_equal(as->feb, FEB_OVERWRITE);
	assert_string_equal(appspec_feb_name(as->feb), "OVERWRITE");
	appspec_free(as);
	as = ok(HDR "file_exists_behavior: RETAIN\n");
	assert_int_equal(as->feb, FEB_RETAIN);
	appspec_free(as);
	as = ok(HDR "file_exists_behavior: DISALLOW\n");
	assert_int_equal(as->feb, FEB_DISALLOW);
	appspec_free(as);
	as = ok(HDR "file_exists_behavior:\n");
	assert_int_equal(as->feb, FEB_UNSET);
	appspec_free(as);
	bad(HDR "file_exists_behavior: overwrite\n", "The deployment failed "
	    "because an invalid file_exists_behavior value (overwrite) was "
	    "entered in the application specification file. Make sure your "
	    "AppSpec file specifies one of DISALLOW,OVERWRITE,RETAIN as the "
	    "file_exists_behavior, and then try again. (appspec.yml:3:23)",
	    NULL);
	assert_int_equal(appspec_feb_parse("RETAIN"), FEB_RETAIN);
	assert_int_equal(appspec_feb_parse("retain"), FEB_UNSET);
}

/* ---- files -------------------------------------------------------------- */

static void
test_appspec_files(void **state)
{
	struct appspec *as;

	(void)state;
	as = ok(HDR "files:\n  - source: /\n    destination: /var/www\n"
	    "  - source: config/a.conf\n    destination: /etc/a\n");
	assert_int_equal(as->n_files, 2);
	assert_string_equal(as->files[0].source, "/");
	assert_string_equal(as->files[0].destination, "/var/www");
	assert_int_equal(as->files[0].line, 4);
	assert_string_equal(as->files[1].source, "config/a.conf");
	appspec_free(as);
	bad(HDR "files:\n  - destination: /var/www\n", "The deployment "
	    "failed because the application specification file specifies a "
	    "destination file, but no source file. Update the files section "
	    "of the AppSpec file, and then try again. (appspec.yml:4:5)",
	    NULL);
	bad(HDR "files:\n  - source:\n    destination: /x\n",
	    "no source file", NULL);
	bad(HDR "files:\n  - source: app/\n", "The deployment failed because "
	    "the application specification file specifies only a source "
	    "file (app/). Add the name of the destination file to the files "
	    "section of the AppSpec file, and then try again.", NULL);
	bad(HDR "files: /x\n", "files section", "is a string, expected a "
	    "list", NULL);
	bad(HDR "files:\n  - /x\n", "an entry is a string, expected a "
	    "mapping", NULL);
}

/* ---- hooks -------------------------------------------------------------- */

static void
test_appspec_hooks(void **state)
{
	const struct appspec_hook *h;
	struct appspec *as;

	(void)state;
	as = ok(HDR "hooks:\n"
	    "  BeforeInstall:\n"
	    "  AfterInstall:\n"
	    "    - location: scripts/a.sh\n"
	    "    - location: '  scripts/b.sh  '\n"
	    "      runas: '  deploy '\n"
	    "      sudo: \"false\"\n"
	    "      timeout: 300.7\n"
	    "    - location: c.sh\n"
	    "      sudo: false\n"
	    "      timeout: '120abc'\n"
	    "    - location: d.sh\n"
	    "      sudo: yes\n"
	    "      timeout: \"300.7\"\n"
	    "    - location: e.sh\n"
	    "      sudo:\n"
	    "      timeout:\n"
	    "  ApplicationStart: []\n");
	assert_int_equal(as->n_hooks, 2);	/* null BeforeInstall dropped */
	assert_null(appspec_hook(as, "BeforeInstall"));
	assert_null(appspec_hook(as, "ValidateService"));
	h = appspec_hook(as, "AfterInstall");
	assert_non_null(h);
	assert_string_equal(as->hooks[0].event, "AfterInstall");
	assert_int_equal(h->n_scripts, 5);
	assert_string_equal(h->scripts[0].location, "scripts/a.sh");
	assert_null(h->scripts[0].runas);
	assert_int_equal(h->scripts[0].sudo, 0);
	assert_int_equal(h->scripts[0].timeout, 3600);
	assert_int_equal(h->scripts[0].line, 6);
	assert_string_equal(h->scripts[1].location, "scripts/b.sh");
	assert_string_equal(h->scripts[1].runas, "deploy");
	assert_int_equal(h->scripts[1].sudo, 1);	/* "false" is true */
	assert_int_equal(h->scripts[1].timeout, 300);
	assert_int_equal(h->scripts[2].sudo, 0);
	assert_int_equal(h->scripts[2].timeout, 120);
	assert_int_equal(h->scripts[3].sudo, 1);
	assert_int_equal(h->scripts[3].timeout, 300);
	assert_int_equal(h->scripts[4].sudo, 0);
	assert_int_equal(h->scripts[4].timeout, 3600);
	h = appspec_hook(as, "ApplicationStart");
	assert_non_null(h);			/* empty list kept: a no-op */
	assert_int_equal(h->n_scripts, 0);
	appspec_free(as);

	/* A later duplicate event replaces the earlier one, as a Hash. */
	as = ok(HDR "hooks:\n  A:\n    - location: 1.sh\n  B: []\n"
	    "  A:\n    - location: 2.sh\n");
	assert_int_equal(as->n_hooks, 2);
	assert_string_equal(appspec_hook(as, "A")->scripts[0].location,
	    "2.sh");
	appspec_free(as);
	as = ok(HDR "hooks:\n  A:\n    - location: 1.sh\n  A:\n");
	assert_int_equal(as->n_hooks, 0);
	appspec_free(as);
}

static void
test_appspec_hook_errors(void **state)
{
	static const char *const bad_timeouts[] = { "0", "-5", "abc",
	    "'abc'", "0.5", "true", "[1]", ".nan" };
	char y[256];
	size_t i;

	(void)state;
	bad(HDR "hooks:\n  AfterInstall:\n    - timeout: 10\n",
	    "The deployment failed because the application specification "
	    "file specifies a script with no location value. Specify the "
	    "location in the hooks section of the AppSpec file, and then try "
	    "again. (appspec.yml:5:7)", NULL);
	bad(HDR "hooks:\n  AfterInstall:\n    - location:\n",
	    "no location value", NULL);
	bad(HDR "hooks:\n  AfterInstall:\n    - location: '   '\n",
	    "no location value", "(appspec.yml:5:17)", NULL);
	for (i = 0; i < sizeof(bad_timeouts) / sizeof(bad_timeouts[0]); i++) {
		snprintf(y, sizeof(y), HDR "hooks:\n  AfterInstall:\n"
		    "    - location: a.sh\n      timeout: %s\n",
		    bad_timeouts[i]);
		bad(y, "The deployment failed because an invalid timeout value "
		    "was provided for a script in the application "
		    "specification file. Make corrections in the hooks "
		    "section of the AppSpec file, and then try again. "
		    "(appspec.yml:6:16)", NULL);
	}
	bad(HDR "hooks:\n  - AfterInstall\n", "hooks section", "expected a "
	    "mapping", NULL);
	bad(HDR "hooks:\n  AfterInstall: a.sh\n", "hooks section",
	    "expected a list", NULL);
}

/* ---- permissions -------------------------------------------------------- */

static void
test_appspec_perm_basic(void **state)
{
	const struct appspec_perm *p;
	struct appspec *as;

	(void)state;
	as = ok(HDR "permissions:\n"
	    "  - object: /var/www\n"
	    "  - object: ' /opt/app '\n"
	    "    pattern: '*.sh'\n"
	    "    except: ['x.sh', 'y*']\n"
	    "    type: [file]\n"
	    "    owner: deploy\n"
	    "    group: www\n"
	    "    mode: 0644\n"
	    "  - object: /a\n"
	    "    type:\n      - directory\n"
	    "    mode: '0755'\n"
	    "  - object: /b\n"
	    "    mode: 4755\n"
	    "  - object: /c\n"
	    "    mode: 7\n");
	assert_int_equal(as->n_perms, 5);
	p = &as->perms[0];
	assert_string_equal(p->object, "/var/www");
	assert_string_equal(p->pattern, "**");
	assert_int_equal(p->n_except, 0);
	assert_int_equal(p->types, APPSPEC_T_FILE | APPSPEC_T_DIR);
	assert_null(p->owner);
	assert_null(p->group);
	assert_int_equal(p->mode, -1);
	assert_int_equal(p->n_acls, 0);
	assert_null(p->context);
	assert_int_equal(p->line, 4);
	p = &as->perms[1];
	assert_string_equal(p->object, "/opt/app");
	assert_string_equal(p->pattern, "*.sh");
	assert_int_equal(p->n_except, 2);
	assert_string_equal(p->except[1], "y*");
	assert_int_equal(p->types, APPSPEC_T_FILE);
	assert_string_equal(p->owner, "deploy");
	assert_string_equal(p->group, "www");
	/* unquoted 0644 is the integer 420, which becomes mode "420" */
	assert_int_equal(p->mode, 0420);
	assert_int_equal(as->perms[2].types, APPSPEC_T_DIR);
	assert_int_equal(as->perms[2].mode, 0755);	/* quoted: as written */
	assert_int_equal(as->perms[3].mode, 04755);	/* setuid digit */
	assert_int_equal(as->perms[4].mode, 07);	/* "7" is "007" */
	appspec_free(as);
}

static void
test_appspec_perm_errors(void **state)
{
	struct appspec *as = NULL;
	struct err e = ERR_INIT;
	const char *y;

	(void)state;
	bad(HDR "permissions:\n  - mode: 644\n", "The deployment failed "
	    "because a permission listed in the application specification "
	    "file has no object value. Update the permissions section of "
	    "the AppSpec file, and then try again. (appspec.yml:4:5)", NULL);
	bad(HDR "permissions:\n  - object: ''\n", "has no object value",
	    NULL);
	bad(HDR "permissions:\n  - object: /x\n    type: [file, link]\n",
	    "The deployment failed because the application specification "
	    "file specifies a permission for an object type not supported "
	    "for permissions (link). Update the permissions section of the "
	    "AppSpec file, and then try again. (appspec.yml:5:18)", NULL);
	bad(HDR "permissions:\n  - object: /x\n    type: file\n",
	    "permissions section", "expected a list", NULL);
	bad(HDR "permissions:\n  - object: /x\n    mode: 12345\n",
	    "The deployment failed because the length of a permissions mode "
	    "(12345) in the application specification file is invalid. "
	    "Permissions modes must be between one and four characters "
	    "long. Update the permissions section of the AppSpec file, and "
	    "then try again.", NULL);
	bad(HDR "permissions:\n  - object: /x\n    mode: 08\n",
	    "The deployment failed because the permissions mode (008) in the "
	    "application specification file contains an invalid character "
	    "(8). Update the permissions section of the AppSpec file, and "
	    "then try again. (appspec.yml:5:11)", NULL);
	/* unquoted 0755 is 493, refused for its 9 (why the docs say quote) */
	bad(HDR "permissions:\n  - object: /x\n    mode: 0755\n",
	    "permissions mode (493)", "invalid character (9)", NULL);
	bad(HDR "permissions:\n  - object: /x\n    mode: 'rwx'\n",
	    "permissions mode (rwx)", "invalid character (r)", NULL);

	/* a Windows AppSpec with permissions, on the Windows agent */
	y = "version: 0.0\nos: windows\npermissions:\n  - object: C:\\x\n";
	assert_int_equal(appspec_parse(&as, y, strlen(y), "appspec.yml",
	    "windows", NULL, &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "specifies file permissions, but the "
	    "deployment is targeting one or more Windows Server instances"));
	assert_null(as);
	y = "version: 0.0\nos: windows\n";
	assert_int_equal(appspec_parse(&as, y, strlen(y), "appspec.yml",
	    "windows", NULL, &e), 0);
	assert_string_equal(as->os, "windows");
	appspec_free(as);
}

/* One ACL entry: normalised result, or NULL plus the message wanted. */
static void
acl_case(const char *ace, const char *want, const char *msg)
{
	char y[512];
	struct appspec *as;

	snprintf(y, sizeof(y), HDR "permissions:\n  - object: /x\n"
	    "    acls:\n      - '%s'\n", ace);
	if (want == NULL) {
		bad(y, msg, "(appspec.yml:6:9)", NULL);
		return;
	}
	as = ok(y);
	assert_int_equal(as->perms[0].n_acls, 1);
	if (strcmp(as->perms[0].acls[0], want) != 0)
		fail_msg("acl %s -> %s, wanted %s", ace, as->perms[0].acls[0],
		    want);
	assert_int_equal(as->perms[0].acl_has_default,
	    strncmp(want, "default:", 8) == 0);
	appspec_free(as);
}

static void
test_appspec_acls(void **state)
{
	static const char inv[] = "The deployment failed because of a "
	    "problem with the acls permission settings in the application "
	    "specification file. Invalid acl entry";

	(void)state;
	acl_case("u:bob:rwx", "user:bob:rwx", NULL);
	acl_case("user:bob:r", "user:bob:r--", NULL);
	acl_case("bob:6", "user:bob:rw-", NULL);
	acl_case("g:staff:5", "group:staff:r-x", NULL);
	acl_case("group:staff:-w-", "group:staff:-w-", NULL);
	acl_case("m::rx", "mask::r-x", NULL);
	acl_case("mask:rw", "mask::rw-", NULL);
	acl_case("u:m:r", "user:mask:r--", NULL);
	acl_case("d:u:bob:rw", "default:user:bob:rw-", NULL);
	acl_case("default:g:adm:7", "default:group:adm:rwx", NULL);
	acl_case("d:bob:r", "default:user:bob:r--", NULL);
	acl_case("d::rw", "default:user::rw-", NULL);
	acl_case("d:o::r", "default:other::r--", NULL);
	acl_case("u:bob:", "user:bob:---", NULL);
	/* mask and other never carry a name */
	acl_case("m:bob:rw", NULL, inv);
	acl_case("o:bob:r", NULL, inv);
	acl_case("d:m:mask:r", NULL, inv);
	/* field count and type words */
	acl_case("bob", NULL, inv);
	acl_case("a:b:c:d:e", NULL, inv);
	acl_case("x:u:bob:r", NULL, inv);
	acl_case("d:d:bob:r", NULL, inv);
	acl_case("z:bob:r", NULL, inv);
	/* base entries need a name outside default and mask */
	acl_case("u::rwx", NULL, "Use mode to set the base acl entry "
	    "(u::rwx). Update the permissions section of the AppSpec file");
	acl_case("o::r", NULL, "Use mode to set the base acl entry (o::r)");
	acl_case("g::r", NULL, "Use mode to set the base acl entry");
	/* permissions */
	acl_case("u:bob:rwz", NULL, "The deployment failed because the "
	    "access control list (ACL) named u:bob:rwz in the application "
	    "specification file contains an invalid character (z).");
	acl_case("u:bob:8", NULL, "invalid character (8)");
	acl_case("u:bob:77", NULL, "invalid character (7)");
}

static void
test_appspec_context(void **state)
{
	const struct appspec_context *c;
	struct appspec *as;

	(void)state;
	as = ok(HDR "permissions:\n"
	    "  - object: /a\n    context:\n      name: system_u\n"
	    "      type: httpd_sys_content_t\n      range: s0-s0:c0,c1,c2,c5\n"
	    "  - object: /b\n    context:\n      user: staff_u\n"
	    "      type: t\n"
	    "  - object: /c\n    context: {type: t, range: 's0-s3:c3.c5,c0'}\n"
	    "  - object: /d\n    context: {type: t, range: 's1-s2'}\n");
	c = as->perms[0].context;
	assert_non_null(c);
	assert_string_equal(c->user, "system_u");
	assert_string_equal(c->type, "httpd_sys_content_t");
	assert_string_equal(c->range, "s0:c0.c2,c5");
	c = as->perms[1].context;
	assert_string_equal(c->user, "staff_u");	/* docs spelling */
	assert_null(c->range);			/* no range: accepted */
	assert_string_equal(as->perms[2].context->range, "s0-s3:c0,c3.c5");
	assert_null(as->perms[2].context->user);
	assert_string_equal(as->perms[3].context->range, "s1-s2");
	appspec_free(as);

	bad(HDR "permissions:\n  - object: /a\n    context:\n"
	    "      name: u\n", "The deployment failed because the "
	    "application specification file specifies an invalid context "
	    "type ({name: u}). Update the permissions section of the AppSpec "
	    "file, and then try again. (appspec.yml:6:7)", NULL);
	bad(HDR "permissions:\n  - object: /a\n    context: t\n",
	    "invalid context type (t)", NULL);
}

static void
range_bad(const char *range, const char *why)
{
	char y[512], want[256];

	snprintf(y, sizeof(y), HDR "permissions:\n  - object: /x\n"
	    "    context: {type: t, range: '%s'}\n", range);
	snprintf(want, sizeof(want), "SELinux range specified (%s) for the "
	    "context parameter in the permissions section of the application "
	    "specification file: %s. Make corrections", range, why);
	bad(y, "The deployment failed because of a problem with the SELinux "
	    "range", want, "(appspec.yml:5:31)", NULL);
}

static void
test_appspec_range_errors(void **state)
{
	(void)state;
	range_bad("s0:c1,c0.c2", "duplicate categories");
	range_bad("s0:c3,c3", "duplicate categories");
	range_bad("s2-s1", "the high sensitivity is below the low one");
	range_bad("x0", "invalid sensitivity x0");
	range_bad("s", "invalid sensitivity s");
	range_bad("s0-", "invalid range part s0-");
	range_bad("s0:", "invalid range part s0:");
	range_bad("s0:c1024", "invalid category c1024");
	range_bad("s0:c1,,c2", "invalid category ");
	range_bad("s0:c5.c2", "invalid category range c5.c2");
	range_bad("s0:c1:c2", "invalid category c1:c2");
}

/* ---- collecting problems, locating the file ----------------------------- */

static void
test_appspec_problems(void **state)
{
	const char *y = "version: 2\nos: linux\n"
	    "files:\n  - source: a\n"
	    "hooks:\n  AfterInstall:\n    - location: x\n      timeout: 0\n"
	    "permissions:\n  - object: /x\n    mode: 9\n"
	    "    acls: ['u::r']\n";
	struct strv probs = STRV_INIT;
	struct appspec *as = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(appspec_parse(&as, y, strlen(y), "appspec.yml",
	    "linux", &probs, &e), AG_EINVAL);
	/* with a problems list, what did parse is handed back for checks */
	assert_non_null(as);
	assert_string_equal(as->os, "linux");
	appspec_free(as);
	as = NULL;
	assert_int_equal(probs.n, 5);
	/* the return value is the first problem */
	assert_string_equal(e.msg, probs.v[0]);
	assert_non_null(strstr(probs.v[0], "invalid version value (2)"));
	assert_non_null(strstr(probs.v[0], "(appspec.yml:1:10)"));
	assert_non_null(strstr(probs.v[1], "invalid timeout value"));
	assert_non_null(strstr(probs.v[1], "(appspec.yml:8:16)"));
	assert_non_null(strstr(probs.v[2], "only a source file (a)"));
	assert_non_null(strstr(probs.v[3], "permissions mode (009)"));
	assert_non_null(strstr(probs.v[4], "Use mode to set the base acl"));
	strv_release(&probs);

	/* a clean file leaves the list empty */
	y = HDR;
	assert_int_equal(appspec_parse(&as, y, strlen(y), "appspec.yml",
	    "linux", &probs, &e), 0);
	assert_int_equal(probs.n, 0);
	appspec_free(as);
}

static char *
mkdir_tmp(void)
{
	char tmpl[] = "/tmp/test_appspec.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *p = util_path_join(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void
rm_file(const char *dir, const char *name)
{
	char *p = util_path_join(dir, name);

	unlink(p);
	free(p);
}

static void
test_appspec_load(void **state)
{
	struct appspec *as = NULL;
	struct err e = ERR_INIT;
	char *dir = mkdir_tmp(), *p;

	(void)state;
	/* nothing there: the Ruby "did not find" text */
	assert_int_equal(appspec_load(&as, dir, NULL, "linux", NULL, &e),
	    AG_EINVAL);
	assert_non_null(strstr(e.msg, "The CodeDeploy agent did not find an "
	    "AppSpec file within the unpacked revision directory at "
	    "revision-relative path \"appspec.yml\""));
	assert_non_null(strstr(e.msg, "reference-appspec-file.html"));
	assert_null(appspec_find(dir, NULL));

	/* only appspec.yaml: found for the default name */
	write_file(dir, "appspec.yaml", HDR "hooks:\n  A: []\n");
	assert_int_equal(appspec_load(&as, dir, NULL, "linux", NULL, &e), 0);
	assert_true(util_endswith(as->path, "/appspec.yaml"));
	assert_non_null(appspec_hook(as, "A"));
	appspec_free(as);

	/* appspec.yml next to it is not preferred over .yaml... */
	write_file(dir, "appspec.yml", HDR "hooks:\n  B: []\n");
	assert_int_equal(appspec_load(&as, dir, "custom.yml", "linux", NULL,
	    &e), 0);
	assert_true(util_endswith(as->path, "/appspec.yaml"));
	appspec_free(as);
	/* ...but the named file comes first */
	assert_int_equal(appspec_load(&as, dir, "appspec.yml", "linux", NULL,
	    &e), 0);
	assert_non_null(appspec_hook(as, "B"));
	appspec_free(as);
	write_file(dir, "custom.yml", HDR "hooks:\n  C: []\n");
	p = appspec_find(dir, "custom.yml");
	assert_true(util_endswith(p, "/custom.yml"));
	free(p);
	assert_int_equal(appspec_load(&as, dir, "custom.yml", "linux", NULL,
	    &e), 0);
	assert_non_null(appspec_hook(as, "C"));
	appspec_free(as);

	/* messages name the file that was read */
	write_file(dir, "custom.yml", "version: 3\nos: linux\n");
	assert_int_equal(appspec_load(&as, dir, "custom.yml", "linux", NULL,
	    &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "(custom.yml:1:10)"));
	write_file(dir, "custom.yml", "");
	assert_int_equal(appspec_load(&as, dir, "custom.yml", "linux", NULL,
	    &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "application specification file was "
	    "empty"));
	/* never outside the revision */
	assert_null(as);
	rm_file(dir, "appspec.yml");
	rm_file(dir, "appspec.yaml");
	assert_int_equal(appspec_load(&as, dir, "../x.yml", "linux", NULL,
	    &e), AG_EINVAL);
	assert_non_null(strstr(e.msg, "did not find an AppSpec file"));
	/* a symbolic link is not an AppSpec, even to a valid one */
	write_file(dir, "real.yml", HDR);
	p = util_path_join(dir, "appspec.yml");
	assert_int_equal(symlink("real.yml", p), 0);
	free(p);
	assert_null(appspec_find(dir, NULL));
	assert_int_equal(appspec_load(&as, dir, NULL, "linux", NULL, &e),
	    AG_EINVAL);
	assert_non_null(strstr(e.msg, "did not find an AppSpec file"));
	rm_file(dir, "appspec.yml");
	rm_file(dir, "real.yml");
	rm_file(dir, "custom.yml");
	rmdir(dir);
	free(dir);
}

static void
test_appspec_glob(void **state)
{
	(void)state;
	assert_true(appspec_glob_match("*", "a"));
	assert_true(appspec_glob_match("*", ""));
	assert_true(appspec_glob_match("*.sh", "run.sh"));
	assert_false(appspec_glob_match("*.sh", "run.sh.bak"));
	assert_true(appspec_glob_match("a*b*c", "aXXbYYc"));
	assert_true(appspec_glob_match("a*b*c", "abc"));
	assert_false(appspec_glob_match("a*b*c", "acb"));
	assert_true(appspec_glob_match("x?", "x?"));	/* '?' is literal */
	assert_false(appspec_glob_match("x?", "xy"));
	assert_false(appspec_glob_match("*", "a/b"));	/* never across '/' */
	assert_true(appspec_glob_match("", ""));
	assert_false(appspec_glob_match("", "a"));
}

static void
test_appspec_location_outside(void **state)
{
	static const char *const bad[] = { "../x.sh", "a/../../x.sh", "..",
	    "s/.." };
	struct appspec *as = NULL;
	struct err e = ERR_INIT;
	char y[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(y, sizeof(y), "version: 0.0\nos: linux\nhooks:\n"
		    "  AfterInstall:\n    - location: %s\n", bad[i]);
		assert_int_equal(appspec_parse(&as, y, strlen(y),
		    "appspec.yml", "linux", NULL, &e), AG_EINVAL);
		assert_null(as);
		assert_non_null(strstr(e.msg, "outside the revision"));
		assert_non_null(strstr(e.msg, "(appspec.yml:5:"));
	}
	/* revision-relative forms stay accepted */
	snprintf(y, sizeof(y), "version: 0.0\nos: linux\nhooks:\n"
	    "  AfterInstall:\n    - location: /scripts/x..y.sh\n");
	assert_int_equal(appspec_parse(&as, y, strlen(y), "appspec.yml",
	    "linux", NULL, &e), 0);
	appspec_free(as);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ydoc_resolution),
		cmocka_unit_test(test_ydoc_limits),
		cmocka_unit_test(test_appspec_minimal),
		cmocka_unit_test(test_appspec_version),
		cmocka_unit_test(test_appspec_os),
		cmocka_unit_test(test_appspec_empty),
		cmocka_unit_test(test_appspec_yaml_errors),
		cmocka_unit_test(test_appspec_feb),
		cmocka_unit_test(test_appspec_files),
		cmocka_unit_test(test_appspec_hooks),
		cmocka_unit_test(test_appspec_hook_errors),
		cmocka_unit_test(test_appspec_perm_basic),
		cmocka_unit_test(test_appspec_perm_errors),
		cmocka_unit_test(test_appspec_acls),
		cmocka_unit_test(test_appspec_context),
		cmocka_unit_test(test_appspec_range_errors),
		cmocka_unit_test(test_appspec_problems),
		cmocka_unit_test(test_appspec_location_outside),
		cmocka_unit_test(test_appspec_load),
		cmocka_unit_test(test_appspec_glob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
