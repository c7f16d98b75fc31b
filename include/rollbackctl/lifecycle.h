/*
 * lifecycle.h - a run from its first journal line to its last: begin or resume, drive, finish.
 *
 * These functions alone take and release the state_dir lock and write the run-level journal
 * lines: run_started, lock_takeover, torn_tail_ignored, runbook_changed, resumed, preflight,
 * run_finished.
 * The engine writes the phase and action lines in between. A command parses its options, asks
 * for confirmation, calls these, and renders the run they leave behind.
 */
#ifndef ROLLBACKCTL_LIFECYCLE_H
#define ROLLBACKCTL_LIFECYCLE_H

#include <stdbool.h>

#include "rollbackctl/run.h"

/* What a run is started with (execute's options); journaled in run_started, restored by resume. */
struct rb_run_opts {
    const char *reason;       /* required */
    const char *severity;     /* --severity or NULL */
    const char *signals_file; /* --signals or NULL */
    bool yes;
    bool force;
    /*
     * The plan hash of what this run will do (rb_plan_prepass), NULL when it could not be made;
     * plan_file: execute --plan's file, found equal to it, or NULL.
     */
    const char *plan_sha256;
    const char *plan_file;
};

/*
 * Begin a new run of rb: take the lock, create the run folder and its journal, journal
 * run_started (with rb->sha256, the runbook as loaded, and the plan hash) and, when the holder
 * before died, lock_takeover. On success *out is the run, its journal open and the lock held; on failure
 * nothing is held and no run folder without a run_started line is left behind.
 */
int rb_run_begin(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_run_opts *o,
                 struct rb_run **out, struct rb_err *err);

/*
 * Continue run_id, or when it is NULL the latest run (only the latest: an older unfinished run
 * behind a newer finished one must be named). Takes the lock, re-opens the journal, restores the
 * options of run_started and what was done (rb_engine_replay), then journals torn_tail_ignored,
 * lock_takeover and runbook_changed when they apply, and resumed (with the plan hash of this
 * attempt's plan, planned again from the runbook as it is now, warned about when it changed;
 * the run keeps run_started's hash, the one its approvers approved). *out as for
 * rb_run_begin.
 * Returns 1 when the run already succeeded (its run_finished journaled, the process perhaps
 * killed before it exited): nothing journaled, nothing held, *out the run with outcome set.
 */
int rb_run_resume(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *run_id,
                  struct rb_run **out, struct rb_err *err);

/*
 * Check first (rb_preflight: every target the actions not yet done need, journaled as
 * `preflight`; a failure finishes the run as failed before any action started), then apply the
 * run (rb_engine_execute, signals installed so that a stop waits for the action in flight), then
 * rb_run_finish. Returns 0 when the run succeeded.
 */
int rb_run_drive(struct rb_run *run, struct rb_err *err);

/*
 * End an attempt whose engine returned rc (err filled when rc < 0): a partial run becomes an
 * error, a failed one gets the hint to resume, run_finished is journaled with the outcome, the
 * journal closed and the lock released. Returns 0 when the run succeeded, else -1 with err.
 */
int rb_run_finish(struct rb_run *run, int rc, struct rb_err *err);

/* "user@host" of whoever runs this process. Arena-owned. */
const char *rb_initiated_by(struct rb_arena *a);

#endif
