/*
 * verify.h - the verification report the verify phase builds, shared with `rollbackctl verify`.
 *
 * rb_verify_plan() (phases.h) plans one action per check ("verify/<slug of its name>",
 * rb_name_slug) and a last action "verify/report". Once every check has a result, the report is
 * rebuilt (after each check, so a check re-run by resume updates it): verification.json and
 * verification.txt in the run folder (when the run has one) and the run fact "verification" =
 * "passed" or "failed". A failing check is a non-critical failed action, so the other checks still
 * run; the engine turns the "failed" fact into a failed run (exit 1).
 */
#ifndef ROLLBACKCTL_VERIFY_H
#define ROLLBACKCTL_VERIFY_H

#include <cjson/cJSON.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/run.h"

/*
 * The report built by the last "verify/report" action of run, or NULL when it has not run.
 * Borrowed: it lives as long as the run's arena.
 * { "verification": "passed"|"failed", "passed": N, "failed": N, "duration_ms": N,
 *   "checks": [ { "name", "kind", "passed", "summary", "duration_ms", "line", ...kind details } ] }
 */
const cJSON *rb_verify_report(const struct rb_run *run);

/* The report as text for people (what verification.txt holds). */
void rb_verify_report_text(struct rb_buf *out, const cJSON *report);

#endif
