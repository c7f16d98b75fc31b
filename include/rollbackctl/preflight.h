/*
 * preflight.h - before the first change, does every target the remaining actions need answer?
 *
 * `execute`, and `resume` for the actions not yet done, check each target first: databases
 * connect and log in and sync's catalog checks pass for every table still to sync; cluster
 * targets answer with their credentials and grant what freeze and restore need; DNS targets
 * answer a signed read of the record a step changes; each `run` program (steps and probes) is
 * found the way posix_spawnp finds it. All of them are checked, so one run names every problem.
 * The policy (which actions need what) lives in src/phases/preflight.c; the lifecycle calls it and
 * journals its report (event `preflight`): the phase itself writes no journal line.
 *
 * Also here: plan's record of targets it could not read, so that each is warned about once and
 * plan ends with an error naming them.
 */
#ifndef ROLLBACKCTL_PREFLIGHT_H
#define ROLLBACKCTL_PREFLIGHT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "rollbackctl/err.h"
#include "rollbackctl/run.h"

/*
 * Check every target the actions of run that are not done yet (run->replay) will need, through
 * read-only sessions of a check run of its own (nothing is written anywhere). Prints one line per
 * failing check on stderr (then its hint), a warning per target that cannot be checked (a DNS
 * driver that cannot read). Returns 0 when nothing failed; else -1 with err (RB_E_FAILED)
 * naming every failing target. *report (may be NULL) gets {"ok", "failed", "warnings", "checks": [{"kind", "target",
 * "needed_by", "ok", "error" + "hint" | "warning", ...}]}, to journal; the caller deletes it.
 */
int rb_preflight(struct rb_run *run, cJSON **report, struct rb_err *err);

/*
 * Where a program named by a `run` argv would be found: as posix_spawnp looks (a name with a '/'
 * as it is, else each folder of $PATH, or the system's default path when PATH is unset). Returns
 * the path (arena-owned), or NULL with err saying what is missing or not executable.
 */
const char *rb_preflight_find_program(struct rb_arena *a, const char *prog, struct rb_err *err);

/*
 * Plan mode: target `target` could not be read (why says how). Warned about once per target;
 * rb_plan_unreachable_check() then fails the plan naming them. No-op outside plan mode.
 */
void rb_plan_unreachable(struct rb_run *run, const char *target, const struct rb_err *why);
/* True when plan already found `target` unreachable (do not try it again). */
bool rb_plan_is_unreachable(struct rb_run *run, const char *target);
/* 0, or -1 with err (RB_E_FAILED) naming every target the plan could not read. */
int rb_plan_unreachable_check(struct rb_run *run, struct rb_err *err);

#endif
