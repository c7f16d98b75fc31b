/*
 * checks.h - one verify check, run and described (src/checks/verify_checks.c).
 *
 * The checks layer sits between the phases and the adapters: it knows how to compare, sum and
 * probe (compare.h, probe.h, money.h) through the db ops and the probes, and knows nothing of
 * actions, the journal or the report's files. The verify phase and `rollbackctl verify` call it.
 */
#ifndef ROLLBACKCTL_CHECKS_H
#define ROLLBACKCTL_CHECKS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "rollbackctl/err.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

/* At most this many missing rows, differences or off totals are listed in a check's result. */
#define RB_CHECK_LIST_MAX 100

/* "compare", "equal", "totals", "sql", "http" or "run". */
const char *rb_check_kind_name(const struct rb_check *c);

/*
 * Run one check: fill r with its details, *passed with the verdict and *summary (arena-owned)
 * with one line for people. Returns -1 with err only when the check could not run (a database
 * unreachable, an interruption); a check that ran and found differences returns 0, *passed false.
 */
int rb_check_run(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                 const char **summary, struct rb_err *err);

#endif
