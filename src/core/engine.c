/*
 * engine.c - the phase table and the one loop that plans and applies actions, journaling each
 * step.
 *
 * The engine alone moves the cursor: "started" is journaled before an action is applied and
 * "done"/"failed" after, so after a crash the journal says exactly which action was in flight.
 * Resume re-plans (planning is deterministic for the same runbook and options), skips what the
 * journal says is done, and re-applies the in-flight action only if it declared itself safe to.
 * A check run (`rollbackctl verify`) goes through the same loop and journals nothing. An action
 * group (run.h: sync.jobs) is handed to its runner whole, which keeps several of its actions in
 * flight and brackets each with the hooks here (action_begin, action_end), on this thread.
 */
#include "rollbackctl/engine.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/output.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/plan_file.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/run_figures.h"

/* One phase a line, in canonical order. */
/* clang-format off */
static const struct rb_phase canonical_phases[] = {
    { "assess", rb_assess_plan },
    { "approve", rb_approve_plan },
    { "presync", rb_presync_plan }, /* sync.presync: before the freeze, no actions otherwise */
    { "freeze", rb_freeze_plan },
    { "sync", rb_sync_plan },
    { "restore", rb_restore_plan },
    { "verify", rb_verify_plan },
    { "communicate", rb_communicate_plan },
};
/* clang-format on */

/* The phases a run walks: its own table when it has one (unit tests), else the canonical one. */
static const struct rb_phase *phases_of(const struct rb_run *run, size_t *n)
{
    if (run->phases != NULL) {
        *n = run->n_phases;
        return run->phases;
    }
    *n = sizeof(canonical_phases) / sizeof(canonical_phases[0]);
    return canonical_phases;
}

/* A check run records nothing: only execute and resume have a journal to write. */
static int journal(struct rb_run *run, const char *phase, const char *action, const char *event,
                   const cJSON *data, struct rb_err *err)
{
    if (run->mode != RB_MODE_EXECUTE)
        return 0;
    return rb_journal_append(&run->journal, phase, action, event, data, err);
}

const char *rb_engine_idem_name(enum rb_idem idem)
{
    switch (idem) {
    case RB_IDEMPOTENT:
        return "idempotent";
    case RB_CHECKS_FIRST:
        return "checks-first";
    case RB_ONCE:
        return "once";
    }
    return "?";
}

static void print_detail(FILE *out, const char *detail, const char *indent)
{
    const char *p = detail;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

        fprintf(out, "%s%.*s\n", indent, (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
}

/*
 * The journal, the ledger and resume know an action by its id alone, so two with one id would
 * share a record: the second would be skipped as done, or re-applied as the first. The loader
 * keeps the ids it can see unique (runbook_phases.c); this refuses any it could not.
 */
static int refuse_duplicate_ids(const struct rb_run *run, size_t first, struct rb_err *err)
{
    for (size_t k = first; k < run->n_actions; k++)
        for (size_t j = 0; j < k; j++)
            if (strcmp(run->actions[j]->name, run->actions[k]->name) == 0)
                return rb_errf(err, RB_E_RUNBOOK,
                               "two actions would have the id '%s' (in phase '%s' and phase "
                               "'%s'): rename the step, check or sync table whose name makes the "
                               "second",
                               run->actions[k]->name, run->actions[j]->phase,
                               run->actions[k]->phase);
    return 0;
}

/* A phase's plan, its actions appended to the run's; every plan, the walk's too, comes here. */
static int plan_phase(struct rb_run *run, const struct rb_phase *phase, struct rb_err *err)
{
    size_t first = run->n_actions;

    if (phase->plan(run, err) < 0)
        return -1;
    return refuse_duplicate_ids(run, first, err);
}

/*
 * Plan every phase of the table; with show, print each phase's actions as it is planned (text)
 * or, once all are, the plan document with its plan hash (-o json).
 */
static int plan_all(struct rb_run *run, bool show, struct rb_err *err)
{
    struct rb_ctx *ctx = run->ctx;
    size_t i, k, first, n, shown = 0;
    const struct rb_phase *phases = phases_of(run, &n);
    bool text = show && ctx->output != RB_OUTPUT_JSON;
    char sha[65];

    if (text)
        fprintf(ctx->out, "%sPlan for runbook '%s'%s (cutover %s)%s\n", rb_c_bold(ctx),
                run->rb->name, run->offline ? " offline" : "", run->rb->cutover_src,
                rb_c_reset(ctx));
    for (i = 0; i < n; i++) {
        first = run->n_actions;
        if (plan_phase(run, &phases[i], err) < 0)
            return rb_err_wrap(err, "unable to plan phase '%s'", phases[i].name);
        if (run->n_actions == first || !text)
            continue;
        fprintf(ctx->out, "\n%s%s%s\n", rb_c_bold(ctx), phases[i].name, rb_c_reset(ctx));
        for (k = first; k < run->n_actions; k++) {
            struct rb_action *act = run->actions[k];

            fprintf(ctx->out, "  %zu. %s: %s\n", ++shown, act->name, act->summary);
            print_detail(ctx->out, act->detail.data, "       ");
        }
    }
    /* the hash reviewers compare: of the definitions, not of what the plan read (plan_file.h) */
    if (rb_plan_sha256(run, sha, err) < 0)
        return -1;
    if (!show)
        return 0;
    if (!text) {
        cJSON *doc = cJSON_CreateObject();

        cJSON_AddStringToObject(doc, "runbook", run->rb->name);
        cJSON_AddStringToObject(doc, "runbook_sha256", run->rb->sha256);
        cJSON_AddStringToObject(doc, "cutover", run->rb->cutover_src);
        cJSON_AddBoolToObject(doc, "offline", run->offline);
        cJSON_AddItemToObject(doc, "actions", rb_plan_actions_json(run));
        cJSON_AddStringToObject(doc, "plan_sha256", sha);
        rb_out_json(ctx, doc);
        cJSON_Delete(doc);
        return 0;
    }
    fprintf(ctx->out, "\n%zu action%s planned; nothing was changed.\nplan sha256: %s\n", shown,
            shown == 1 ? "" : "s", sha);
    return 0;
}

int rb_engine_plan(struct rb_run *run, struct rb_err *err)
{
    return plan_all(run, true, err);
}

int rb_engine_plan_quiet(struct rb_run *run, struct rb_err *err)
{
    return plan_all(run, false, err);
}

int rb_engine_replay(struct rb_run *run, const struct rb_journal_log *log, struct rb_err *err)
{
    size_t i;

    (void)err;
    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];
        cJSON *st;

        /* the run's start, for a deadline counted from it (the assessment's budget) */
        if (strcmp(e->event, "run_started") == 0 && run->started_at == 0 && e->ts != NULL) {
            time_t t;

            if (rb_time_parse_rfc3339(e->ts, &t) == 0)
                run->started_at = t;
            continue;
        }
        if (strcmp(e->event, "fact") == 0) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(e->data, "key");
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->data, "value");

            if (cJSON_IsString(k) && v != NULL) {
                cJSON_DeleteItemFromObjectCaseSensitive(run->facts, k->valuestring);
                cJSON_AddItemToObject(run->facts, k->valuestring, cJSON_Duplicate(v, 1));
            }
            continue;
        }
        if (e->action[0] == '\0')
            continue;
        st = cJSON_GetObjectItemCaseSensitive(run->replay, e->action);
        if (st == NULL) {
            st = cJSON_CreateObject();
            cJSON_AddStringToObject(st, "state", "planned");
            cJSON_AddItemToObject(st, "prior", cJSON_CreateObject());
            cJSON_AddItemToObject(run->replay, e->action, st);
        }
        if (strcmp(e->event, "started") == 0 || strcmp(e->event, "done") == 0 ||
            strcmp(e->event, "failed") == 0) {
            /* a failure whose outcome is unknown is still in flight for resume (see apply) */
            bool unknown =
                strcmp(e->event, "failed") == 0 &&
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e->data, "outcome_unknown"));

            cJSON_ReplaceItemInObjectCaseSensitive(
                st, "state", cJSON_CreateString(unknown ? "started" : e->event));
            if (strcmp(e->event, "started") == 0) {
                const cJSON *fp = cJSON_GetObjectItemCaseSensitive(e->data, "fingerprint");

                cJSON_DeleteItemFromObjectCaseSensitive(st, "phase");
                cJSON_AddStringToObject(st, "phase", e->phase);
                cJSON_DeleteItemFromObjectCaseSensitive(st, "fingerprint");
                if (cJSON_IsString(fp))
                    cJSON_AddStringToObject(st, "fingerprint", fp->valuestring);
            }
            if (strcmp(e->event, "done") == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(st, "result");
                cJSON_AddItemToObject(st, "result", cJSON_Duplicate(e->data, 1));
            }
        } else if (strcmp(e->event, "progress") == 0) {
            cJSON *prior = cJSON_GetObjectItemCaseSensitive(st, "prior");
            const cJSON *it;

            cJSON_ArrayForEach(it, e->data) {
                cJSON_DeleteItemFromObjectCaseSensitive(prior, it->string);
                cJSON_AddItemToObject(prior, it->string, cJSON_Duplicate(it, 1));
            }
        }
    }
    return 0;
}

static const char *replay_state(const struct rb_run *run, const char *action)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(run->replay, action);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "state");

    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/*
 * An action the journal does not know by its id may be a step that was renamed in the runbook
 * between attempts: the same phase, the same fingerprint (what it does, without its name), an id
 * no longer planned, and not matched to another action already. Its journal record then stands
 * for this action. Returns the old id, or NULL.
 */
static const char *renamed_from(struct rb_run *run, const struct rb_action *act, cJSON **rec)
{
    cJSON *st;

    *rec = NULL;
    if (act->fingerprint == NULL || run->replay == NULL)
        return NULL;
    cJSON_ArrayForEach(st, run->replay) {
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(st, "fingerprint");
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(st, "phase");

        if (!cJSON_IsString(fp) || strcmp(fp->valuestring, act->fingerprint) != 0 ||
            !cJSON_IsString(ph) || strcmp(ph->valuestring, act->phase) != 0 ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "matched")) ||
            rb_run_planned(run, st->string))
            continue;
        cJSON_AddTrueToObject(st, "matched");
        *rec = st;
        return st->string;
    }
    return NULL;
}

static double elapsed_s(int64_t t0_us)
{
    return (double)(rb_now_us() - t0_us) / 1e6;
}

/*
 * Where the per-action "done"/"FAILED" lines go: stdout in text mode (they are the result people
 * read), stderr with -o json, where stdout carries exactly one JSON document (NULL with -q). A
 * check run has none: its command shows a report of its own.
 */
static FILE *action_line_stream(const struct rb_run *run)
{
    const struct rb_ctx *ctx = run->ctx;

    if (run->mode != RB_MODE_EXECUTE)
        return NULL;
    if (ctx->output != RB_OUTPUT_JSON)
        return ctx->out;
    return ctx->verbosity < 0 ? NULL : ctx->diag;
}

static const char *result_message(const struct rb_action *act)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(act->result, "message");

    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/*
 * The first half of applying an action: what an earlier attempt left of it (done: not applied
 * again; in flight: re-applied unless RB_ONCE), then its "started" line. Returns 0 to apply it
 * now, 1 when it is done already, -1 with err when it must not be applied (RB_ONCE in flight),
 * -2 with err when the journal could not be written.
 */
static int action_begin(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct rb_ctx *ctx = run->ctx;
    const char *state = replay_state(run, act->name);
    const char *was = NULL;
    cJSON *d, *rec = NULL;
    int rc;

    if (state == NULL && (was = renamed_from(run, act, &rec)) != NULL) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "state");

        state = cJSON_IsString(s) ? s->valuestring : NULL;
        if (state != NULL && strcmp(state, "done") == 0) {
            /* journaled under the new id, so that status and a later resume know it as done */
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(rec, "result");

            d = res != NULL ? cJSON_Duplicate(res, 1) : cJSON_CreateObject();
            cJSON_DeleteItemFromObjectCaseSensitive(d, "renamed_from");
            cJSON_AddStringToObject(d, "renamed_from", was);
            rc = journal(run, act->phase, act->name, "done", d, err);
            cJSON_Delete(d);
            if (rc < 0)
                return -2;
            rb_info(ctx,
                    "  %s: already done as '%s' in an earlier attempt (renamed since), "
                    "not applied again",
                    act->name, was);
            return 1;
        }
        if (state != NULL && strcmp(state, "started") == 0)
            rb_info(ctx, "  %s: was in flight as '%s' when the run stopped (renamed since)",
                    act->name, was);
        else
            state = NULL; /* it failed under its old name: simply apply it */
    }
    if (state != NULL && strcmp(state, "done") == 0) {
        rb_info(ctx, "  %s: already done in an earlier attempt, not applied again", act->name);
        return 1;
    }
    if (state != NULL && strcmp(state, "started") == 0) {
        if (act->idem == RB_ONCE) {
            run->asks_person = true;
            rb_errf(err, RB_E_FAILED,
                    "action '%s' was in flight when the run stopped and is not safe to apply twice",
                    act->name);
            return rb_err_hint(
                err, "check by hand whether it took effect, then fix the world or the runbook "
                     "and resume");
        }
        rb_info(ctx, "  %s: was in flight when the run stopped; re-applying (%s)", act->name,
                rb_engine_idem_name(act->idem));
    }
    {
        const cJSON *st =
            rec != NULL ? rec : cJSON_GetObjectItemCaseSensitive(run->replay, act->name);
        const cJSON *prior = cJSON_GetObjectItemCaseSensitive(st, "prior");

        if (prior != NULL && cJSON_GetArraySize(prior) > 0 && act->prior == NULL)
            act->prior = cJSON_Duplicate(prior, 1);
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "summary", act->summary);
    cJSON_AddStringToObject(d, "idempotency", rb_engine_idem_name(act->idem));
    if (act->fingerprint != NULL)
        cJSON_AddStringToObject(d, "fingerprint", act->fingerprint);
    if (was != NULL)
        cJSON_AddStringToObject(d, "renamed_from", was);
    rc = journal(run, act->phase, act->name, "started", d, err);
    cJSON_Delete(d);
    if (rc < 0)
        return -2;
    /* indented under its phase's heading; a check run has no headings */
    rb_info(ctx, "%s%s: %s", run->mode == RB_MODE_EXECUTE ? "  " : "", act->name, act->summary);
    return 0;
}

/*
 * The second half: apply's outcome (rc, aerr; t0_us when it began) journaled as "done" or
 * "failed", and its line. Returns 0; -1 with err (the action's error) when it failed; -2 with
 * err when its journal record could not be written (the run must stop, whether or not the
 * action is critical: nothing may go on that the journal cannot prove).
 */
static int action_end(struct rb_run *run, struct rb_action *act, int rc, const struct rb_err *aerr,
                      int64_t t0, struct rb_err *err)
{
    struct rb_ctx *ctx = run->ctx;
    FILE *line = action_line_stream(run);
    cJSON *d;

    if (rc == 0) {
        double s = elapsed_s(t0);
        cJSON *res = act->result != NULL ? cJSON_Duplicate(act->result, 1) : cJSON_CreateObject();

        /* The engine's clock is the one journaled: it covers the whole apply. */
        cJSON_DeleteItemFromObjectCaseSensitive(res, "duration_ms");
        cJSON_AddNumberToObject(res, "duration_ms", (double)(long long)(s * 1000.0));
        rc = journal(run, act->phase, act->name, "done", res, err);
        cJSON_Delete(res);
        if (rc < 0)
            return -2;
        if (line != NULL) {
            /* actions of a group end while its progress line is up */
            rb_progress_hold(ctx);
            fprintf(line, "%sdone%s    %-40s %6.2fs%s%s\n", rb_c_green(ctx), rb_c_reset(ctx),
                    act->name, s, result_message(act) != NULL ? "  " : "",
                    result_message(act) != NULL ? result_message(act) : "");
            rb_progress_release(ctx);
        }
        return 0;
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "error", aerr->msg);
    if (aerr->hint[0] != '\0')
        cJSON_AddStringToObject(d, "hint", aerr->hint);
    if (act->pos.line > 0)
        cJSON_AddNumberToObject(d, "line", act->pos.line);
    /*
     * The action may have taken effect (its COMMIT's answer was lost): journaled as failed, for
     * status and the report, with outcome_unknown, so that resume treats it as in flight (an
     * RB_ONCE action is then not applied again without a person looking).
     */
    if (rb_err_is(aerr, RB_K_UNKNOWN))
        cJSON_AddTrueToObject(d, "outcome_unknown");
    cJSON_AddNumberToObject(d, "duration_ms", (double)(long long)(elapsed_s(t0) * 1000.0));
    if (act->result != NULL)
        cJSON_AddItemToObject(d, "result", cJSON_Duplicate(act->result, 1));
    rc = journal(run, act->phase, act->name, "failed", d, err);
    cJSON_Delete(d);
    if (rc < 0)
        return -2;
    if (line != NULL) {
        rb_progress_hold(ctx);
        fprintf(line, "%sFAILED%s  %-40s %s\n", rb_c_red(ctx), rb_c_reset(ctx), act->name,
                aerr->msg);
        rb_progress_release(ctx);
    }
    *err = *aerr;
    if (err->cls == RB_E_NONE)
        err->cls = RB_E_FAILED;
    return -1;
}

/* Apply one action with its journal records around it: 0, or action_end's -1 and -2. */
static int apply_action(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct rb_err aerr = RB_ERR_INIT;
    int64_t t0;
    int rc = action_begin(run, act, err);

    if (rc != 0)
        return rc == 1 ? 0 : rc;
    t0 = rb_now_us();
    /* on a terminal, the action's name and elapsed time while it runs; gone before its result */
    rb_progress_begin(run->ctx, act->name);
    rc = act->apply != NULL ? act->apply(run, act, &aerr) : 0;
    rb_progress_end(run->ctx);
    return action_end(run, act, rc, &aerr, t0, err);
}

/* --- action groups: several actions in flight at once, journaled here ---------------------- */

/* The engine's side of one group's run (the hooks' h->engine). */
struct group_run {
    struct rb_run *run;
    cJSON *failed; /* the phase's non-critical failures, walk's list */
    struct rb_action *const *acts;
    size_t n;
    int64_t *t0_us;               /* when each began */
    char *state;                  /* each: 0 not begun, 1 in flight, 2 ended (or done before) */
    struct rb_action *stopped_by; /* the action whose failure or refusal stops the run */
    struct rb_err stop_err;
    bool journal_failed;
};

static size_t group_index(const struct group_run *g, const struct rb_action *act)
{
    size_t i;

    for (i = 0; i < g->n && g->acts[i] != act; i++)
        ;
    return i;
}

/* A non-critical action's failure, as walk counts it: the phase ends partial, the run goes on. */
static bool noted_partial(struct group_run *g, struct rb_action *act, const struct rb_err *e)
{
    if (e->cls != RB_E_FAILED || act->critical)
        return false;
    g->run->partial = true;
    cJSON_AddItemToArray(g->failed, cJSON_CreateString(act->name));
    return true;
}

static int group_begin(const struct rb_group_hooks *h, struct rb_action *act, struct rb_err *err)
{
    struct group_run *g = h->engine;
    size_t i = group_index(g, act);
    int rc;

    if (i == g->n || g->state[i] != 0)
        return rb_errf(err, RB_E_FAILED, "action '%s' is not one of its group's to begin",
                       act->name);
    rc = action_begin(g->run, act, err);
    if (rc == 0) {
        g->state[i] = 1;
        g->t0_us[i] = rb_now_us();
        return 0;
    }
    g->state[i] = 2;
    if (rc == 1)
        return 1;
    if (rc == -1 && noted_partial(g, act, err)) {
        rb_err_clear(err);
        return 1;
    }
    g->journal_failed = rc == -2;
    if (g->stopped_by == NULL) {
        g->stopped_by = act;
        g->stop_err = *err;
    }
    return -1;
}

static int group_end(const struct rb_group_hooks *h, struct rb_action *act, int rc,
                     const struct rb_err *aerr, struct rb_err *err)
{
    struct group_run *g = h->engine;
    size_t i = group_index(g, act);
    struct rb_err e = RB_ERR_INIT;
    int erc;

    if (i == g->n || g->state[i] != 1)
        return rb_errf(err, RB_E_FAILED, "action '%s' of a group ended without beginning",
                       act->name);
    g->state[i] = 2;
    erc = action_end(g->run, act, rc, aerr, g->t0_us[i], &e);
    if (erc == 0 || (erc == -1 && noted_partial(g, act, &e)))
        return 0;
    if (erc == -2) {
        g->journal_failed = true;
        g->stopped_by = act;
        g->stop_err = e;
        *err = e;
        return -1;
    }
    if (g->stopped_by == NULL) {
        g->stopped_by = act;
        g->stop_err = e;
    }
    return 1;
}

/*
 * Hand the n actions from run->actions[k] on (one group) to their runner. Returns 0 when it
 * handled them all, or stopped before some because of a signal (*next: the first not begun, else
 * k + n); -1 with err and *stop when an action's failure stops the run (walk's failure path
 * takes it from there); -2 with err when the journal could not be written.
 */
static int apply_group(struct rb_run *run, size_t k, size_t n, cJSON *failed,
                       struct rb_action **stop, size_t *next, struct rb_err *err)
{
    struct rb_action *const *acts = &run->actions[k];
    struct group_run g = { .run = run, .failed = failed, .acts = acts, .n = n };
    struct rb_group_hooks h = { .begin = group_begin, .end = group_end, .engine = &g };
    struct rb_err rerr = RB_ERR_INIT;
    int rc;
    size_t i;

    g.t0_us = rb_new_array(run->arena, int64_t, n);
    g.state = rb_new_array(run->arena, char, n);
    rc = acts[0]->group->run(run, acts, n, &h, &rerr);
    for (i = 0; i < n && g.state[i] != 1; i++)
        ;
    if (i < n && g.stopped_by == NULL) {
        /* a runner that returned with an action in flight broke its contract: say so */
        g.stopped_by = acts[i];
        rb_errf(&g.stop_err, RB_E_FAILED, "action '%s' was left in flight by its group",
                acts[i]->name);
    }
    if (g.stopped_by == NULL && rc < 0) {
        g.stopped_by = acts[0];
        g.stop_err = rerr;
    }
    if (g.stopped_by != NULL) {
        *err = g.stop_err;
        if (err->cls == RB_E_NONE)
            err->cls = RB_E_FAILED;
        *stop = g.stopped_by;
        return g.journal_failed ? -2 : -1;
    }
    for (i = 0; i < n && g.state[i] != 0; i++)
        ;
    *next = k + i;
    return 0;
}

/*
 * A phase in which non-critical actions failed ends "partial" instead of "done": journaled as
 * phase_partial with the failed actions' names (status shows the phase so), and a line among
 * the action lines, where people read results.
 */
static int phase_partial(struct rb_run *run, const char *phase, const cJSON *failed,
                         size_t n_actions, struct rb_err *err)
{
    FILE *out = action_line_stream(run);
    cJSON *d = cJSON_CreateObject();
    const cJSON *it;
    int rc;

    cJSON_AddItemToObject(d, "failed", cJSON_Duplicate(failed, 1));
    rc = journal(run, phase, "", "phase_partial", d, err);
    cJSON_Delete(d);
    if (rc < 0 || out == NULL)
        return rc;
    fprintf(out, "%sPARTIAL%s %-40s %d of %zu action%s failed:", rb_c_red(run->ctx),
            rb_c_reset(run->ctx), phase, cJSON_GetArraySize(failed), n_actions,
            n_actions == 1 ? "" : "s");
    cJSON_ArrayForEach(it, failed)
        fprintf(out, " %s", it->valuestring);
    fputc('\n', out);
    return 0;
}

static int walk(struct rb_run *run, const struct rb_phase *phases, size_t n, struct rb_err *err);

/* A signal came: the run stops before act (journaled, resumable). Returns -1 with err. */
static int interrupted_before(struct rb_run *run, const char *phase, const struct rb_action *act,
                              struct rb_err *err)
{
    run->outcome = "interrupted";
    if (run->mode != RB_MODE_EXECUTE) /* nothing to continue: a check run is simply run again */
        return rb_errf(err, RB_E_INTERRUPTED, "interrupted before '%s'", act->name);
    journal(run, phase, "", "interrupted", NULL, err);
    rb_errf(err, RB_E_INTERRUPTED, "interrupted before '%s'; the run can be continued", act->name);
    return rb_err_hint(err, "rollbackctl resume %s", run->run_id);
}

/*
 * A run that failed after approval still tells people (issue 12): when phase failed_at failed
 * (not declined, not interrupted), lies after the approve phase (or the table has none) and
 * before communicate, the communicate phase is planned and applied now, as a table of its own,
 * with run->outcome "failed" for it to read. What it does cannot change the run's error or
 * outcome: the run stays failed (a message that could not be sent only adds its failed record).
 * A run that stopped to ask a person (an RB_ONCE action in flight at a crash) has not failed:
 * it tells nobody, and the messages go out once the person's answer lets it finish.
 */
static void communicate_after_failure(struct rb_run *run, const struct rb_phase *phases, size_t n,
                                      size_t failed_at)
{
    struct rb_err cerr = RB_ERR_INIT;
    size_t k, approve = n, communicate = n;

    if (run->mode != RB_MODE_EXECUTE || run->outcome == NULL ||
        strcmp(run->outcome, "failed") != 0 || rb_interrupted() || run->asks_person)
        return;
    for (k = 0; k < n; k++) {
        if (strcmp(phases[k].name, "approve") == 0)
            approve = k;
        else if (strcmp(phases[k].name, "communicate") == 0)
            communicate = k;
    }
    if (communicate == n || failed_at >= communicate || (approve < n && failed_at <= approve))
        return;
    walk(run, &phases[communicate], 1, &cerr);
    run->outcome = "failed";
}

/*
 * A phase that took longer than its share of the run's budget (the fact `budget`, set by the
 * assessment) is journaled as phase_over_budget {phase, duration_ms, share_ms} and warned about;
 * the run goes on (stopping half-way through a rollback would be worse than a late one). Each
 * phase is measured on its own, this attempt's time: a slow sync does not make verify late.
 */
static int check_budget(struct rb_run *run, const char *phase, int64_t t0_ms, struct rb_err *err)
{
    const cJSON *b = rb_run_fact(run, "budget");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "budget_ms");
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(b, "deadline");
    int pct = rb_phase_budget_share_pct(phase);
    int64_t dur = rb_now_ms() - t0_ms, share;
    char d1[32], d2[32];
    cJSON *d;
    int rc;

    if (run->mode != RB_MODE_EXECUTE || !cJSON_IsNumber(ms) || pct == 0)
        return 0;
    share = (int64_t)ms->valuedouble / 100 * pct;
    if (dur <= share)
        return 0;
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "phase", phase);
    cJSON_AddNumberToObject(d, "duration_ms", (double)dur);
    cJSON_AddNumberToObject(d, "share_ms", (double)share);
    cJSON_AddNumberToObject(d, "share_percent", pct);
    if (cJSON_IsString(dl))
        cJSON_AddStringToObject(d, "deadline", dl->valuestring);
    rc = journal(run, phase, "", "phase_over_budget", d, err);
    cJSON_Delete(d);
    rb_warn(run->ctx, "phase '%s' took %s, past its share of the time budget (%d%%: %s)%s%s", phase,
            rb_duration_format(dur, d1, sizeof(d1)), pct, rb_duration_format(share, d2, sizeof(d2)),
            cJSON_IsString(dl) ? "; deadline " : "", cJSON_IsString(dl) ? dl->valuestring : "");
    return rc;
}

/*
 * Plan and apply each phase of the table in turn. A non-critical action that fails (RB_E_FAILED)
 * makes the run partial and the next action goes on; any other failure stops the run with
 * run->outcome set (and, past approval, still runs communicate: communicate_after_failure).
 */
static int walk(struct rb_run *run, const struct rb_phase *phases, size_t n, struct rb_err *err)
{
    bool execute = run->mode == RB_MODE_EXECUTE;
    int64_t phase_t0;
    size_t i, k, first;
    cJSON *d, *failed = NULL;
    int rc = -1;

    for (i = 0; i < n; i++) {
        first = run->n_actions;
        if (plan_phase(run, &phases[i], err) < 0) {
            struct rb_err jerr = RB_ERR_INIT;

            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "error", err->msg);
            journal(run, phases[i].name, "", "phase_failed", d, &jerr);
            cJSON_Delete(d);
            run->outcome = err->cls == RB_E_DECLINED ? "declined" : "failed";
            rb_err_wrap(err, "unable to plan phase '%s'", phases[i].name);
            goto out;
        }
        if (run->n_actions == first)
            continue;
        if (execute)
            rb_info(run->ctx, "%s%s%s", rb_c_bold(run->ctx), phases[i].name, rb_c_reset(run->ctx));
        if (journal(run, phases[i].name, "", "phase_started", NULL, err) < 0) {
            run->outcome = "failed";
            goto out;
        }
        phase_t0 = rb_now_ms();
        cJSON_Delete(failed);
        failed = cJSON_CreateArray();
        for (k = first; k < run->n_actions; k++) {
            struct rb_action *act = run->actions[k];
            int arc;

            if (rb_interrupted()) {
                interrupted_before(run, phases[i].name, act, err);
                goto out;
            }
            if (act->group != NULL) {
                size_t m = 1, next;

                while (k + m < run->n_actions && run->actions[k + m]->group == act->group)
                    m++;
                arc = apply_group(run, k, m, failed, &act, &next, err);
                if (arc == 0 && next < k + m) {
                    /* the runner started no more of them: only a signal makes it stop so */
                    interrupted_before(run, phases[i].name, run->actions[next], err);
                    goto out;
                }
                if (arc == 0) {
                    k += m - 1;
                    continue;
                }
            } else {
                arc = apply_action(run, act, err);
            }
            if (arc == -2) {
                run->outcome = "failed";
                goto out;
            }
            if (arc < 0) {
                if (err->cls == RB_E_FAILED && !act->critical) {
                    run->partial = true;
                    cJSON_AddItemToArray(failed, cJSON_CreateString(act->name));
                    if (!execute) /* execute printed its FAILED line already */
                        rb_verbose(run->ctx, "  %s", err->msg);
                    rb_err_clear(err);
                    continue;
                }
                /* The runbook line the action came from; `verify` reports its checks by name. */
                if (execute && act->pos.line > 0 && strstr(err->msg, run->rb->path) == NULL)
                    rb_err_wrap(err, "%s:%d: %s", run->rb->path, act->pos.line, act->name);
                run->outcome = err->cls == RB_E_DECLINED      ? "declined"
                               : err->cls == RB_E_INTERRUPTED ? "interrupted"
                                                              : "failed";
                goto out;
            }
        }
        if (cJSON_GetArraySize(failed) > 0) {
            /* Not "done": a non-critical action of it failed, and status and the log say so. */
            if (phase_partial(run, phases[i].name, failed, run->n_actions - first, err) < 0) {
                run->outcome = "failed";
                goto out;
            }
        } else if (journal(run, phases[i].name, "", "phase_done", NULL, err) < 0) {
            run->outcome = "failed";
            goto out;
        }
        if (check_budget(run, phases[i].name, phase_t0, err) < 0) {
            run->outcome = "failed";
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(failed);
    if (rc < 0)
        communicate_after_failure(run, phases, n, i);
    return rc;
}

int rb_engine_execute(struct rb_run *run, struct rb_err *err)
{
    size_t n;
    const struct rb_phase *phases = phases_of(run, &n);

    if (walk(run, phases, n, err) < 0)
        return -1;
    if (rb_interrupted()) {
        /* The signal came during the last action: it finished, and so did the run. */
        rb_info(run->ctx, "signal received after the last action; the run is complete");
    }
    {
        const cJSON *v = rb_run_fact(run, "verification");

        if (cJSON_IsString(v) && strcmp(v->valuestring, "failed") == 0) {
            run->outcome = "failed";
            return rb_errf(err, RB_E_FAILED,
                           "verification failed; see the verification report of run '%s'",
                           run->run_id);
        }
    }
    run->outcome = run->partial ? "partial" : "succeeded";
    return 0;
}

int rb_engine_check(struct rb_run *run, const char *phase, struct rb_err *err)
{
    size_t i, n;
    const struct rb_phase *phases = phases_of(run, &n);

    if (run->mode != RB_MODE_CHECK)
        return rb_errf(err, RB_E_FAILED, "a check of phase '%s' needs a check run", phase);
    for (i = 0; i < n && strcmp(phases[i].name, phase) != 0; i++)
        ;
    if (i == n)
        return rb_errf(err, RB_E_FAILED, "no phase named '%s'", phase);
    if (walk(run, &phases[i], 1, err) < 0)
        return -1;
    run->outcome = run->partial ? "partial" : "succeeded";
    return 0;
}
