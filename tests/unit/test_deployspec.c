/* Unit tests for deployspec.c: §4.2 fields, defaults and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "deployspec.h"
#include "err.h"

static int
parse(const char *json, struct deployspec **out, struct err *e)
{
	return deployspec_parse(out, json, strlen(json), e);
}

static void
test_deployspec_s3_full(void **state)
{
	const char *j = "{\"DeploymentId\":\"arn:aws:codedeploy:us-east-1:"
	    "123412341234:deployment/d-EXAMPLE11\",\"DeploymentGroupId\":\"g-1\","
	    "\"DeploymentGroupName\":\"Prod\",\"ApplicationName\":\"MyApp\","
	    "\"AgentActionOverrides\":{\"AgentOverrides\":{\"FileExistsBehavior\":"
	    "\"overwrite\"}},\"AllPossibleLifecycleEvents\":[\"A\",\"B\"],"
	    "\"Revision\":{\"RevisionType\":\"S3\",\"S3Revision\":{\"Bucket\":"
	    "\"b\",\"Key\":\"k.zip\",\"BundleType\":\"zip\",\"Version\":\"v1\","
	    "\"ETag\":\"e1\"}}}";
	struct deployspec *s = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(parse(j, &s, &e), 0);
	assert_string_equal(s->deployment_id, "d-EXAMPLE11");
	assert_string_equal(s->group_id, "g-1");
	assert_string_equal(s->creator, "user");
	assert_string_equal(s->type, "IN_PLACE");
	assert_string_equal(s->appspec_filename, "appspec.yml");
	assert_string_equal(s->feb, "OVERWRITE");
	assert_int_equal(s->rev, REV_S3);
	assert_string_equal(s->s3_bucket, "b");
	assert_string_equal(s->s3_version, "v1");
	assert_string_equal(s->s3_etag, "e1");
	assert_int_equal(s->all_events.n, 2);
	assert_false(deployspec_is_bg_rollback(s));
	deployspec_free(s);
}

static void
test_deployspec_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "[1]", "not a JSON object" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\"}",
		  "Must specify a revison" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
		  "\"Revision\":{\"RevisionType\":\"FTP\"}}",
		  "Exactly one of S3Revision, GitHubRevision, or LocalRevision "
		  "must be specified" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
		  "\"Revision\":{\"RevisionType\":\"S3\",\"S3Revision\":"
		  "{\"Bucket\":\"b\",\"Key\":\"\"}}}",
		  "S3Revision in Deployment Spec must specify Bucket, Key and "
		  "BundleType" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
		  "\"Revision\":{\"RevisionType\":\"S3\",\"S3Revision\":"
		  "{\"Bucket\":\"b\",\"Key\":\"k\",\"BundleType\":\"rar\"}}}",
		  "BundleType in S3Revision must be tar, tgz or zip" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"../x\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
		  "\"Revision\":{\"RevisionType\":\"Local Directory\","
		  "\"LocalRevision\":{\"Location\":\"/x\",\"BundleType\":"
		  "\"directory\"}}}", "cannot name a directory" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
		  "\"Revision\":{\"RevisionType\":\"GitHub\",\"GitHubRevision\":"
		  "{\"Account\":\"o\",\"Repository\":\"r\",\"CommitId\":\"c\","
		  "\"BundleType\":\"tgz\"}}}",
		  "GitHub revision specified with bundle_type other than zip or "
		  "tar" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentId\":\"d-2\"}",
		  "not a JSON object" },
		{ "{\"DeploymentId\":\"arn:aws:codedeploy:us-east-1:1:"
		  "deployment/\",\"DeploymentGroupId\":\"g\","
		  "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\"}",
		  "cannot name a directory" },
		{ "{\"DeploymentId\":\"d-1\",\"DeploymentGroupId\":"
		  "\"deployment-instructions\",\"DeploymentGroupName\":\"n\","
		  "\"ApplicationName\":\"a\"}", "cannot name a directory" },
	};
	struct deployspec *s;
	struct err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = NULL;
		err_clear(&e);
		assert_int_not_equal(parse(cases[i].json, &s, &e), 0);
		assert_null(s);
		if (strstr(e.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			    cases[i].msg);
	}
}

static void
test_deployspec_github_defaults(void **state)
{
	const char *j = "{\"DeploymentId\":\"d-2\",\"DeploymentGroupId\":\"g\","
	    "\"DeploymentGroupName\":\"n\",\"ApplicationName\":\"a\","
	    "\"DeploymentCreator\":\"codeDeployRollback\",\"DeploymentType\":"
	    "\"BLUE_GREEN\",\"GitHubAccessToken\":\"tok\",\"Revision\":"
	    "{\"RevisionType\":\"GitHub\",\"GitHubRevision\":{\"Account\":\"o\","
	    "\"Repository\":\"r\",\"CommitId\":\"abc\"}}}";
	struct deployspec *s = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(parse(j, &s, &e), 0);
	assert_int_equal(s->rev, REV_GITHUB);
	assert_string_equal(s->bundle_type, "tar");
	assert_string_equal(s->gh_token, "tok");
	assert_true(deployspec_is_bg_rollback(s));
	deployspec_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deployspec_s3_full),
		cmocka_unit_test(test_deployspec_errors),
		cmocka_unit_test(test_deployspec_github_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
