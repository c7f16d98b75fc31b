/*
 * runs.h - the runs kept under state_dir/runs/: listing them, summarising a journal, and
 * driving a run from lock to last journal line (shared by execute and resume).
 */
#ifndef ROLLBACKCTL_RUNS_H
#define ROLLBACKCTL_RUNS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "rollbackctl/journal.h"
#include "rollbackctl/lock.h"
#include "rollbackctl/run.h"

/* Run ids under state_dir/runs, oldest first (ids sort by time). Arena-owned. */
int rb_runs_list(struct rb_arena *a, const char *state_dir, const char ***ids, size_t *n,
                 struct rb_err *err);

/*
 * A summary of a journal: {run_id, runbook, reason, severity, initiated_by, started, finished,
 * outcome, error, phases:[{name, state, started, finished}], actions:[{phase, name, summary, state,
 * started, finished, duration_ms, message, error, hint}], facts:{...}, torn_tail}. Caller deletes.
 */
cJSON *rb_runs_summarize(const struct rb_journal_log *log);

/* True when a summarised run may be resumed (not finished, or finished failed/interrupted/partial). */
int rb_runs_resumable(const cJSON *summary);

/*
 * Apply the run (journal open, lock held), then journal run_finished, release the lock and print
 * the outcome (text or JSON). Returns 0 when the run succeeded.
 */
int rb_runs_drive(struct rb_run *run, struct rb_lock *lock, struct rb_err *err);

/* Run folder of an id: state_dir/runs/<id>. Arena-owned. */
const char *rb_runs_dir_of(struct rb_arena *a, const char *state_dir, const char *run_id);

/* "user@host" of whoever runs this process. Arena-owned. */
const char *rb_initiated_by(struct rb_arena *a);
/* Journal that the lock of a dead holder was taken over (and warn). */
int rb_journal_takeover(struct rb_run *run, const struct rb_lock_holder *stale, struct rb_err *err);

#endif
