/*
 * run_fixture.h - what the unit tests of the engine, the approve phase and the plan file set up
 * alike: a throwaway state_dir under /tmp, output and diagnostics to /dev/null, an arena, and a
 * runbook loaded from a buffer naming that state_dir (with no targets, plus what the test adds).
 */
#ifndef RB_TEST_RUN_FIXTURE_H
#define RB_TEST_RUN_FIXTURE_H

#include <stdio.h>

#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

struct rb_test_run {
    char dir[64];
    FILE *devnull;
    struct rb_ctx ctx;
    const struct rb_runbook *rb;
};

/* TAG names the folder (/tmp/rb-test-TAG-XXXXXX); EXTRA_YAML (or NULL) follows `targets: {}`. */
int rb_test_run_open(struct rb_test_run *f, const char *tag, const char *extra_yaml);
/* Removes the folder and frees what open made; 0, or -1 when the folder could not be removed. */
int rb_test_run_close(struct rb_test_run *f);

#endif
