/*
 * version.h - which rollbackctl this is: the project version and the commit of the tree it was
 * built from (git describe --always --dirty, taken at build time by cmake/version.cmake).
 */
#ifndef ROLLBACKCTL_VERSION_H
#define ROLLBACKCTL_VERSION_H

/* "0.1.0" */
const char *rb_version(void);
/* "v0.1.0-3-g03705df-dirty", "03705df"...; NULL when built outside a git checkout (a tarball) */
const char *rb_build_commit(void);

#endif
