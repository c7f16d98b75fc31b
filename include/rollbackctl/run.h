/*
 * run.h - a run: the runbook, the options it was started with, its plan and its journal.
 *
 * Phases plan actions into the run; the engine (engine.h) applies them and alone writes the
 * journal. An action says how it behaves if re-applied after a crash (enum rb_idem), so resume
 * knows whether the action that was in flight may run again.
 */
#ifndef ROLLBACKCTL_RUN_H
#define ROLLBACKCTL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"
#include "rollbackctl/journal.h"
#include "rollbackctl/lock.h"
#include "rollbackctl/runbook.h"

struct rb_run;
struct rb_action;
struct rb_phase;

enum rb_idem {
    RB_IDEMPOTENT = 1, /* applying twice has the effect of applying once */
    RB_CHECKS_FIRST,   /* looks at the world first and does nothing if already done */
    RB_ONCE,           /* neither: if in flight at a crash, resume refuses and asks a human */
};

typedef int (*rb_apply_fn)(struct rb_run *run, struct rb_action *act, struct rb_err *err);

/*
 * What the engine lends the runner of an action group, for each action the runner applies:
 * begin() before it (the engine's checks of an earlier attempt, the "started" line), end() after
 * it with apply's outcome (the "done"/"failed" line, the line people read, a non-critical failure
 * noted for the phase). Both only from the engine's thread, so the engine alone writes the
 * journal and it says exactly which actions were in flight together.
 *   begin: 0 apply it now; 1 done in an earlier attempt, not to apply; -1 the run stops (err)
 *   end:   0 go on; 1 the run stops (a critical action failed): start no other, let those in
 *          flight end; -1 the journal could not be written (err): the same, and the run fails
 */
struct rb_group_hooks {
    int (*begin)(const struct rb_group_hooks *h, struct rb_action *act, struct rb_err *err);
    int (*end)(const struct rb_group_hooks *h, struct rb_action *act, int rc,
               const struct rb_err *aerr, struct rb_err *err);
    void *engine;
};

/*
 * Consecutive actions of a phase applied by the phase's own runner, several in flight at once
 * (sync.jobs): the engine hands run() all of them, in plan order, instead of applying them one
 * by one. run() decides when each starts (never after rb_interrupted() or a stop from a hook),
 * brackets each it applies with h->begin and h->end, and returns once none is in flight: 0, or
 * -1 with err when it could not go on (a hook's -1; its own failure to start one).
 */
struct rb_action_group {
    int (*run)(struct rb_run *run, struct rb_action *const *acts, size_t n,
               const struct rb_group_hooks *h, struct rb_err *err);
    void *arg;
};

struct rb_action {
    const char *phase;
    const char
        *name; /* unique within the run, stable across re-planning: "sync/processed_payments" */
    const char *summary;  /* one line for plan and status */
    struct rb_buf detail; /* plan text: exact SQL, HTTP requests, DNS changes, argv (no secrets) */
    /*
     * The same as data, set by the phase's plan next to detail (plan -o json, the plan file):
     * {"kind": "sql" | "sync" | "http" | "dns" | "exec" | ..., ...} in the vocabulary of
     * docs/json.md, no secrets. Everything but the member "observed" is the action's definition,
     * what the runbook and the plan options make of it, hashed into the plan hash (plan_file.h);
     * "observed" is what the plan read from servers (counts, current values), shown, kept, never
     * compared: it changes while the new system runs. The engine frees it; NULL: none.
     */
    cJSON *fields;
    enum rb_idem idem;
    bool critical;     /* failure stops the run (default); else the run goes on as partial */
    struct rb_pos pos; /* the runbook line this action comes from */
    rb_apply_fn apply;
    void *arg;     /* phase-private */
    cJSON *result; /* set by apply; journaled with "done"; engine frees it. A string
                             * member "message" is shown to people after the action's name. */
    cJSON *prior;  /* what earlier attempts journaled for this action ("progress" data, merged) */
    /*
     * What the action does, without its name (a hash of its runbook entry), or NULL. Journaled
     * with "started"; resume recognises a step renamed between attempts by it, so a done step
     * whose only change is its name is not applied again.
     */
    const char *fingerprint;
    /* Applied with the other actions of its group by the group's runner, or NULL: on its own. */
    const struct rb_action_group *group;
};

enum rb_mode {
    RB_MODE_PLAN = 1, /* plan / execute --dry-run: read-only handles, nothing applied */
    RB_MODE_EXECUTE,  /* execute / resume */
    RB_MODE_CHECK,    /* verify (rb_engine_check), gaps, assess: read-only, nothing journaled */
};

struct rb_run {
    struct rb_ctx *ctx;
    struct rb_arena *arena;
    const struct rb_runbook *rb;
    enum rb_mode mode;
    bool read_only; /* true in PLAN and CHECK modes: adapters hand out read-only handles */
    bool offline;   /* plan --offline: contact no target; plan from the runbook alone */

    /* options the run was started with (journaled in run_started, restored by resume) */
    char run_id[RB_RUN_ID_MAX];
    const char *reason;
    const char *severity_opt; /* --severity or NULL */
    const char *signals_file; /* --signals or NULL */
    bool yes;                 /* --yes: no interactive confirmation */
    bool force;               /* --force: go on although the assessment declines */
    const char *initiated_by; /* user@host */
    /*
     * The plan hash (plan_file.h): of this plan (RB_MODE_PLAN), or, for execute and resume, of
     * the plan made before the run began, journaled in run_started (kept by resume); approvals
     * given for another hash do not count. NULL when it could not be made.
     */
    const char *plan_sha256;
    time_t started_at;

    const char *state_dir;
    const char *run_dir;       /* state_dir/runs/<run_id> */
    const char *assets_dir;    /* run_dir/assets (0700), created on first use */
    struct rb_journal journal; /* fd -1 in PLAN/CHECK modes */
    struct rb_lock lock;       /* the state_dir lock, held from rb_run_begin/resume to finish */

    struct rb_action **actions;
    size_t n_actions, cap_actions;

    cJSON *facts; /* run-wide values phases share (records_at_risk, severity...), journaled */
    bool partial; /* a non-critical action failed */
    /*
     * The run stopped to ask a person (an RB_ONCE action was in flight at a crash): nothing
     * failed, so communicate_after_failure tells nobody that the rollback failed.
     */
    bool asks_person;
    const char *outcome; /* "succeeded", "partial", "failed", "declined", "interrupted" */

    struct rb_handle *handles; /* open adapter handles, by target name */
    cJSON *replay;             /* resume: actions done before, by name -> done data */

    /*
     * The initiator's confirmation at a terminal, set by the command that owns the terminal
     * (execute): shows what (the rollback, its severity, the approvals it needs, any point of no
     * return) and asks for the runbook's name. 0 when confirmed; -1 with RB_E_DECLINED when not.
     * The approve action calls it unless run->yes (--yes, and every resume); NULL: confirmed.
     */
    int (*confirm)(struct rb_run *run, const char *what, struct rb_err *err);

    /* The phases the engine walks; NULL: the canonical eight. Unit tests set fake ones. */
    const struct rb_phase *phases;
    size_t n_phases;

    /* A worker's view of a run (rb_run_worker): no journal, facts of its own, handles apart. */
    bool worker;
};

/*
 * Append an action to the plan. name must be unique in the run (it is what resume matches on).
 * Returns the action (arena-owned) for the phase to fill detail/arg.
 */
struct rb_action *rb_run_add_action(struct rb_run *run, const char *phase, const char *name,
                                    const char *summary, enum rb_idem idem, rb_apply_fn apply,
                                    void *arg);
/* True when an action of that name is in the run's plan so far. */
bool rb_run_planned(const struct rb_run *run, const char *name);
void rb_action_detailf(struct rb_action *act, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The action's fields, created as {"kind": kind} on the first call (kind ignored after). */
cJSON *rb_action_fields(struct rb_action *act, const char *kind);
/*
 * The "observed" member of the action's fields, created on the first call; NULL when the run
 * reads nothing from servers for people to see (an offline plan, execute, a check run), so a
 * phase writes there only what it read.
 */
cJSON *rb_action_observed(const struct rb_run *run, struct rb_action *act);

/*
 * Journal intermediate state of an action in flight ("progress" event) so that a re-apply after a
 * crash can see it in act->prior (e.g. the replica count read before scaling to 0). data is not
 * consumed. No-op (returns 0) in PLAN mode.
 */
int rb_run_progress(struct rb_run *run, struct rb_action *act, const cJSON *data,
                    struct rb_err *err);

/* Set a run-wide fact (journaled as a "fact" event; restored on resume). value is consumed. */
int rb_run_fact_set(struct rb_run *run, const char *key, cJSON *value, struct rb_err *err);
const cJSON *rb_run_fact(const struct rb_run *run, const char *key);

/* The run's assets folder (created 0700 on first call). */
const char *rb_run_assets_dir(struct rb_run *run, struct rb_err *err);

/* Generic handle cache so adapters open one connection per target per run. */
void *rb_run_handle_get(struct rb_run *run, const char *kind, const char *target);
void rb_run_handle_put(struct rb_run *run, const char *kind, const char *target, void *handle);

/*
 * A view of run for work that needs connections of its own, possibly on another thread (sync's
 * parallel streams, its snapshot session): the same runbook, mode, options and run id, a copy of
 * the facts as they are now, arena a and an empty handle cache, so every connection it opens is
 * its own and closes with a (or with rb_db_target_close on the view). It writes no journal:
 * rb_run_progress and rb_run_fact_set refuse it, and what it learns goes back to the engine's
 * thread, which journals it. Made on the engine's thread; a is the caller's (freed after the
 * view's last use).
 */
struct rb_run *rb_run_worker(const struct rb_run *run, struct rb_arena *a);

/*
 * A run for commands that only read (verify, gaps, assess): RB_MODE_CHECK, read-only handles,
 * no journal. Owned by ctx->arena; adapter handles close with it.
 */
struct rb_run *rb_run_new_check(struct rb_ctx *ctx, const struct rb_runbook *rb);
/* A run in PLAN or EXECUTE mode (no journal opened yet). */
struct rb_run *rb_run_new(struct rb_ctx *ctx, const struct rb_runbook *rb, enum rb_mode mode);

/* Set when SIGINT/SIGTERM/SIGHUP arrived; the engine stops after the current action. */
bool rb_interrupted(void);
/*
 * SIGINT, SIGTERM and SIGHUP set the flag, and the handler says at once on stderr what happens
 * now: by default that the run stops after the current action and that another Ctrl-C changes
 * nothing (with the kill -KILL that would). A command that stops differently (verify and gaps
 * cancel their queries) gives its own words with rb_signals_announce() after installing.
 */
void rb_signals_install(void);
void rb_signals_announce(const char *first, const char *again);

#endif
