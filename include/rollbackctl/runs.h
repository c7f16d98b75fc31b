/*
 * runs.h - the runs kept under state_dir/runs/: listing them and summarising a journal.
 * Beginning, resuming and finishing a run are lifecycle.h's.
 */
#ifndef ROLLBACKCTL_RUNS_H
#define ROLLBACKCTL_RUNS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/journal.h"

/* Run ids under state_dir/runs, oldest first (ids sort by time). Arena-owned. */
int rb_runs_list(struct rb_arena *a, const char *state_dir, const char ***ids, size_t *n,
                 struct rb_err *err);

/*
 * A summary of a journal: {run_id, runbook, reason, severity, initiated_by, started, finished,
 * outcome, error, phases:[{name, state, started, finished}], actions:[{phase, name, summary, state,
 * started, finished, duration_ms, message, error, hint}], facts:{...}, torn_tail, journal_head:
 * "ok" | "behind" (a crash between an append and its head write) | "none" (no head: a journal
 * from before heads)}. Caller deletes.
 */
cJSON *rb_runs_summarize(const struct rb_journal_log *log);

/*
 * What a summarised run is now, as status and runs both name it: "not started" (and a hint) when
 * its journal has no run_started line (killed while being created, nothing applied); a "running"
 * run whose id the state_dir lock's holder does not name (held: rb_lock_peek's answer) is
 * "stopped", with the resume hint; one that holds it gets the holder's "pid".
 */
struct rb_lock_holder;
void rb_runs_settle_outcome(struct rb_arena *a, cJSON *summary, const char *run_id, int held,
                            const struct rb_lock_holder *holder);

/* True when a summarised run may be resumed (not finished, or finished failed/interrupted/partial). */
int rb_runs_resumable(const cJSON *summary);

/* Run folder of an id: state_dir/runs/<id>. Arena-owned. */
const char *rb_runs_dir_of(struct rb_arena *a, const char *state_dir, const char *run_id);

#endif
