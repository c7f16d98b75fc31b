/*
 * plan_file.h - a reviewed plan: the plan hash, the plan file (`plan --out FILE`) and what
 * `execute --plan FILE` checks against it before anything changes.
 *
 * The plan hash is the SHA-256 of one canonical serialisation (compact JSON, object keys sorted
 * at every level) of what must not change between review and execution:
 *   {"format_version", "runbook_sha256", "options": {"severity", "signals_sha256"},
 *    "actions": [{"phase", "name", "idempotency", "critical", "fields"}]}
 * where each action's fields go without their "observed" member: the action's definition, what
 * the runbook and the plan options make of it (its SQL, requests, DNS name and new value, argv,
 * recipients, template hash). What the plan read from servers (rows to sync, the DNS value now,
 * replica counts, matching CronJobs, the assessment) is observed: kept in the file and shown,
 * never hashed or compared, since it changes while the new system runs until freeze. Summaries,
 * details and runbook lines are text for people and not hashed either (the runbook's own hash
 * covers every byte of it).
 */
#ifndef ROLLBACKCTL_PLAN_FILE_H
#define ROLLBACKCTL_PLAN_FILE_H

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/run.h"

#define RB_PLAN_FORMAT_VERSION 1

/*
 * The actions planned in run as plan -o json and the plan file show them: [{phase, name,
 * summary, detail, idempotency, critical, line, fields}], each fields object with its
 * "observed" last (null when the plan read nothing for it). The caller deletes the result.
 */
cJSON *rb_plan_actions_json(const struct rb_run *run);

/*
 * The plan hash of run, every phase planned (RB_MODE_PLAN): the runbook's SHA-256, the plan
 * options (the signals file's bytes hashed) and the definitions of its actions. Stored in
 * run->plan_sha256 too. -1 with err when the signals file cannot be read.
 */
int rb_plan_sha256(struct rb_run *run, char out[65], struct rb_err *err);

/*
 * Plan every phase of rb as execute would (RB_MODE_PLAN, offline: nothing contacted, nothing
 * printed) with these options, and hash it: what every execute journals in run_started, and
 * what execute --plan compares with the file. *out: the planned run (ctx->arena), may be NULL.
 */
int rb_plan_prepass(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *severity,
                    const char *signals_file, struct rb_run **out, struct rb_err *err);

/*
 * Write the plan file of run (planned, hashed) to path: format_version, created, created_by,
 * rollbackctl version and commit, the runbook (name, path, sha256), cutover, offline, the
 * options (severity, signals_file, signals_sha256, reason), the actions, plan_sha256. Written
 * whole and durably (temp file, fsync, rename, fsync of the folder), mode 0600: it may show SQL.
 */
int rb_plan_file_write(const char *path, struct rb_run *run, struct rb_err *err);

/* A plan file read back and found whole (its plan_sha256 is the hash of its contents). */
struct rb_plan_file {
    const char *path;
    cJSON *doc;              /* freed with the arena */
    const char *plan_sha256; /* as recomputed: equal to the file's */
    const char *runbook_sha256;
    const char *severity;       /* NULL: none given */
    const char *signals_file;   /* NULL: none given */
    const char *signals_sha256; /* NULL: none given */
    const char *version;        /* the rollbackctl that wrote it */
};

/*
 * Read path as a plan file. A file that cannot be read or is not a plan file of a known
 * format_version is RB_E_USAGE (exit 2: the option names no plan file); a plan file whose
 * contents do not hash to its plan_sha256 (edited or damaged since written) is RB_E_FAILED
 * (exit 1: refused). Arena-owned.
 */
int rb_plan_file_read(struct rb_arena *a, const char *path, struct rb_plan_file *pf,
                      struct rb_err *err);

/*
 * Compare a plan file with now, the same runbook and options planned again (rb_plan_prepass):
 * the runbook's hash, the options, and every action's presence, order and definition. 0 when
 * they agree; else RB_E_FAILED naming the first difference ("the runbook changed since the plan
 * (sha256 ab12… then, cd34… now)", "action 'sync/x' is new since the plan", "action
 * 'restore/dns' differs: new is \"10.0.0.9\" in the plan, \"10.0.0.7\" now"), every difference
 * also warned on stderr, with the hint to plan again and review.
 */
int rb_plan_file_compare(struct rb_ctx *ctx, const struct rb_plan_file *pf,
                         const struct rb_run *now, struct rb_err *err);

#endif
