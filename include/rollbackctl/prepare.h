/*
 * prepare.h - `rollbackctl prepare`: the nightly proof that a rollback would work today.
 *
 * Every check has a fixed name (CI dashboards track them) and ends READY or NOT_READY with one
 * line saying why; all of them run, one failing hides none of the others. The groups, each in a
 * file of its own under src/phases/ (policy: what the runbook needs), asking the targets through
 * their drivers' ops:
 *
 *   backup.exists backup.intact backup.recent backup.restore_test     prepare_backup.c
 *   permissions.<target> (each database target, each cluster target)   prepare_access.c
 *   channel.<target> (every target the runbook uses; nothing sent)      prepare_channels.c
 *   sync.dry contacts                                                   prepare.c
 *   assets (state_dir/prepare/<timestamp>/, break-glass.sh in it)       prepare_assets.c
 *
 * The command (src/cmd/prepare.c) renders the report as text, JSON or JUnit XML, publishes the
 * prepare metrics, and exits 0 only when every check is READY.
 */
#ifndef ROLLBACKCTL_PREPARE_H
#define ROLLBACKCTL_PREPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/err.h"
#include "rollbackctl/run.h"

struct rb_prepare_check {
    const char *name;   /* "backup.recent", "permissions.legacy", "channel.mail", ... */
    bool ready;
    const char *reason; /* one line: why READY (what was seen) or why NOT_READY (what to fix) */
    int64_t duration_ms;
};

struct rb_prepare_report {
    struct rb_prepare_check *checks; /* in the order they ran */
    size_t n, cap;
    const char *assets_dir; /* the complete set written tonight; NULL when none was */
    int64_t backup_age_s;   /* age of the backup file; -1 when unknown (no backup, unreadable) */
    int64_t rows_at_risk;   /* sync.dry's count over every table; -1 when unknown */
};

/*
 * Record one check's outcome (reason printf-style, one line), its duration since t0_ms (from
 * rb_now_ms() when the check started). Strings are copied into run's arena.
 */
void rb_prepare_record(struct rb_run *run, struct rb_prepare_report *r, const char *name,
                       bool ready, int64_t t0_ms, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* True when every check recorded so far is READY (and there is at least one). */
bool rb_prepare_ready(const struct rb_prepare_report *r);

/*
 * The whole of prepare on run (a check run: read-only sessions): every group below in order.
 * Returns 0 when the checks ran (whatever they found); -1 with err only when prepare itself
 * cannot work (e.g. the runbook has no `prepare` section: RB_E_RUNBOOK).
 */
int rb_prepare(struct rb_run *run, struct rb_prepare_report *r, struct rb_err *err);

/* The groups (each records its own checks; none fails the others). */
void rb_prepare_backup(struct rb_run *run, struct rb_prepare_report *r);
void rb_prepare_permissions(struct rb_run *run, struct rb_prepare_report *r);
void rb_prepare_channels(struct rb_run *run, struct rb_prepare_report *r);
void rb_prepare_assets(struct rb_run *run, struct rb_prepare_report *r);

/*
 * break-glass.sh: the runbook's rollback (freeze, sync, restore, the verify queries) as a bash
 * script of psql, kubectl and nsupdate/curl commands with comments, for the day rollbackctl
 * cannot run. No secret in it: passwords and tokens are read from the same environment variables
 * the runbook names. Arena-owned text; NULL with err when the runbook cannot be rendered.
 */
const char *rb_break_glass_script(struct rb_run *run, struct rb_err *err);

#endif
