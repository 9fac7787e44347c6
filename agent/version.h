/* version.h: cdagent's own version and the versions of what it links. */
#ifndef CDAGENT_VERSION_H
#define CDAGENT_VERSION_H

#define CDAGENT_VERSION "0.1.0"

/* Git revision baked in at build time ("unknown" outside a checkout). */
const char *version_gitrev(void);

/* "cdagent/<version>", the x-amz-codedeploy-agent-version value. */
const char *version_agent_string(void);

#endif
