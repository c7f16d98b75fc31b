/*
 * engine.h - the phase table and the one loop that walks it.
 *
 * Phases run in one fixed order (assess, approve, presync, freeze, sync, restore, verify,
 * communicate; presync plans nothing without sync.presync).
 * For each phase the engine asks it to plan, then applies its actions one by one, journaling
 * "started" before and "done"/"failed" after each. Phase code never writes the journal itself
 * except through rb_run_progress()/rb_run_fact_set(). The run-level lines around these (who
 * started the run, resumed it, how it finished) are lifecycle.h's.
 */
#ifndef ROLLBACKCTL_ENGINE_H
#define ROLLBACKCTL_ENGINE_H

#include <stddef.h>

#include "rollbackctl/run.h"

struct rb_phase {
    const char *name;
    /* Appends the phase's actions to run; may read (read-only in PLAN mode), never write. */
    int (*plan)(struct rb_run *run, struct rb_err *err);
};

/*
 * Plan every phase and print the actions (plan / execute --dry-run), then the plan hash
 * (run->plan_sha256, plan_file.h): in text the last line, with -o json the document's
 * plan_sha256.
 */
int rb_engine_plan(struct rb_run *run, struct rb_err *err);
/* The same, printing nothing: the plan execute hashes before its run begins. */
int rb_engine_plan_quiet(struct rb_run *run, struct rb_err *err);
/* "idempotent", "checks-first", "once": an action's rb_idem as plan and the journal name it. */
const char *rb_engine_idem_name(enum rb_idem idem);

/*
 * Execute (or resume) the run: journal must be open. On resume run->replay holds what the
 * journal says was done; done actions are skipped, an in-flight one is re-applied only when
 * its idem allows. Sets run->outcome.
 */
int rb_engine_execute(struct rb_run *run, struct rb_err *err);

/*
 * Plan and apply one phase of a check run (RB_MODE_CHECK, rb_run_new_check: `rollbackctl
 * verify`) through the same loop, journaling nothing and printing no per-action result lines: the
 * command shows its own report. A failing non-critical action (a check) lets the others run and
 * sets run->partial; a critical one or an interruption stops it (-1 with err).
 */
int rb_engine_check(struct rb_run *run, const char *phase, struct rb_err *err);

/*
 * Build run->replay from a journal: for each action name, {"state": "done"|"failed"|"started",
 * "result": {...}} and its merged progress data; restores run->facts. Used by resume and status.
 */
int rb_engine_replay(struct rb_run *run, const struct rb_journal_log *log, struct rb_err *err);

#endif
