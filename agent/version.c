/*
 * version.c: `cdagent version` and the version strings; see version.h.
 */
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <mbedtls/version.h>
#include <yaml.h>

#include "cli.h"
#include "version.h"
#include "banned.h"

#ifndef CDAGENT_GITREV
#define CDAGENT_GITREV "unknown"
#endif

const char *
version_gitrev(void)
{
	return CDAGENT_GITREV;
}

const char *
version_agent_string(void)
{
	return "cdagent/" CDAGENT_VERSION;
}

int
cmd_version(int argc, char **argv)
{
	char mbed[64];
	curl_version_info_data *cv;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: cdagent version [-c CONFIG]\n\n"
		    "Print the version of cdagent, its git revision and the "
		    "versions of\nthe libraries linked into it.\n");
		return CLI_EXIT_OK;
	}
	mbedtls_version_get_string_full(mbed);
	cv = curl_version_info(CURLVERSION_NOW);
	printf("cdagent %s (git %s)\n", CDAGENT_VERSION, version_gitrev());
	printf("  %s\n", mbed);
	printf("  libyaml %s\n", yaml_get_version_string());
	printf("  %s\n", archive_version_details());
	printf("  libcurl %s (%s)\n", cv->version,
	    cv->ssl_version ? cv->ssl_version : "no TLS");
	printf("  jansson %s\n", jansson_version_str());
	return CLI_EXIT_OK;
}
