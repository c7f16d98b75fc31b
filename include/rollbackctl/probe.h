/*
 * probe.h - evaluate a `verify:` probe of the runbook (struct rb_probe in runbook.h).
 *
 *   sql:  { target, sql }               passes when the query returns true
 *   http: URL, method, body, headers,   passes when the answer has expect_status (default 200)
 *         expect_status
 *   run:  [argv...]                     passes when the command exits 0
 *
 * with `retry: {attempts, interval}`. Used by restore steps (check before acting, then verify
 * after) and by the verify phase. A probe that cannot even be made (database down, connection
 * refused) counts as not passing: that is what a retry waits out.
 */
#ifndef ROLLBACKCTL_PROBE_H
#define ROLLBACKCTL_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

#define RB_PROBE_RUN_TIMEOUT_MS (5 * 60 * 1000) /* a `run` probe without timeout */

struct rb_probe_result {
    bool passed;
    int attempts;            /* made, 1..retry.attempts */
    const char *description; /* last attempt: "returned true", "http://x/health answered 503,
                              * expected 200", "'check-gl' exited with status 2"; arena-owned */
    int64_t duration_ms;
};

/*
 * One attempt: 1 passed, 0 failed (*why says how), -1 could not be made (err says why).
 * sql probes use the run's connection to the target (rb_db_target).
 */
int rb_probe_once(struct rb_run *run, const struct rb_probe *p, const char **why,
                  struct rb_err *err);

/*
 * Up to retry.attempts attempts, retry.interval apart, stopping at the first pass or when the run
 * is interrupted. attempts_override > 0 replaces the runbook's count (1 = a single look, as for
 * "is it already done?"). Always fills res; returns 0.
 */
int rb_probe_eval(struct rb_run *run, const struct rb_probe *p, int attempts_override,
                  struct rb_probe_result *res);

/* One line for plan output: "sql on 'legacy': select true (retry 20 x 3s)". Arena-owned. */
const char *rb_probe_describe(struct rb_arena *a, const struct rb_probe *p);

#endif
