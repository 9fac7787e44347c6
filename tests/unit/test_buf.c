/* Unit tests for buf.c and util.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>

#include "buf.h"
#include "util.h"

static void
test_buf_bounded(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_addstr(&b, "abcd"), 0);
	assert_int_equal(buf_addf(&b, "%d", 123), 0);
	assert_string_equal(buf_cstr(&b), "abcd123");
	/* one past max: refused, contents unchanged */
	assert_int_equal(buf_addstr(&b, "xy"), AG_EINVAL);
	assert_string_equal(buf_cstr(&b), "abcd123");
	assert_int_equal(buf_addch(&b, 'z'), 0);
	assert_int_equal(b.len, 8);
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "d123z");
	buf_release(&b);
}

static void
test_buf_detach_empty(void **state)
{
	struct buf b = BUF_INIT(8);
	char *p;

	(void)state;
	p = buf_detach(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
}

static void
test_util_parse_ll(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(util_parse_ll("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_ll("101", 0, 100, &v), AG_EINVAL);
	assert_int_equal(util_parse_ll("4x", 0, 100, &v), AG_EINVAL);
	assert_int_equal(util_parse_ll("", 0, 100, &v), AG_EINVAL);
	assert_int_equal(util_parse_ll(" 4", 0, 100, &v), AG_EINVAL);
	assert_int_equal(util_parse_ll("99999999999999999999", 0, 100, &v),
	    AG_EINVAL);
}

static void
test_util_path_join(void **state)
{
	char *p;

	(void)state;
	p = util_path_join("/a/", "/b/c");
	assert_string_equal(p, "/a/b/c");
	free(p);
	p = util_path_join("/", "x");
	assert_string_equal(p, "/x");
	free(p);
	p = util_path_join("/a", "");
	assert_string_equal(p, "/a");
	free(p);
}

static void
test_strv_setenv(void **state)
{
	struct strv v = STRV_INIT;

	(void)state;
	assert_int_equal(strv_push(&v, "A=1"), 0);
	assert_int_equal(strv_push(&v, "B=2"), 0);
	assert_int_equal(strv_setenv(&v, "A", "3"), 0);
	assert_string_equal(v.v[0], "A=3");
	assert_int_equal(strv_setenv(&v, "A", NULL), 0);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.v[0], "B=2");
	assert_null(v.v[1]);
	assert_int_equal(strv_setenv(&v, "C", "x"), 0);
	assert_true(strv_contains(&v, "C=x"));
	strv_release(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_bounded),
		cmocka_unit_test(test_buf_detach_empty),
		cmocka_unit_test(test_util_parse_ll),
		cmocka_unit_test(test_util_path_join),
		cmocka_unit_test(test_strv_setenv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
