/*
 * version.c - the version and build commit, from the header the build writes (build dir,
 * cmake/version.cmake). The only file that includes it, so a new commit recompiles one file.
 */
#include "rollbackctl/version.h"

#include <stddef.h>

#include "rb_build_version.h"

const char *rb_version(void)
{
    return RB_BUILD_VERSION;
}

const char *rb_build_commit(void)
{
    return RB_BUILD_COMMIT[0] != '\0' ? RB_BUILD_COMMIT : NULL;
}
