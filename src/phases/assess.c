/*
 * assess.c - the assess phase: one action, assess/verdict, when the runbook has a decision
 * section. Its apply reads the signals, makes the assessment, journals it as its result and sets
 * the facts later phases read (severity, scenario, verdict, assessment, point_of_no_return,
 * budget). Not warranted or undetermined: the action fails as declined (exit 3) before anything
 * was changed, unless --force. Without a decision section there is no assessment gate: nothing is
 * planned, and only --severity becomes the fact `severity`.
 *
 * In plan mode (plan, execute --dry-run) the assessment is made at planning time, read-only, and
 * shown in the action's detail; the facts are set in memory so later phases plan with them.
 */
#include "rollbackctl/assess.h"

#include <string.h>

#include "rollbackctl/output.h"
#include "rollbackctl/phases.h"

#define VERDICT_ACTION "assess/verdict"

/* The facts of an assessment (rb_run_fact_set journals them in execute, not in plan). */
static int set_facts(struct rb_run *run, const struct rb_assessment *as, const cJSON *obj,
                     struct rb_err *err)
{
    const struct rb_decision *d = &run->rb->decision;
    cJSON *ponr = cJSON_CreateArray();
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(obj, "scenario");

    for (size_t i = 0; i < d->n_ponr; i++)
        if (as->ponr[i] == RB_TRI_TRUE)
            cJSON_AddItemToArray(ponr, cJSON_CreateString(d->ponr[i].message));
    if (rb_run_fact_set(run, "severity",
                        as->severity != RB_SEV_NONE
                            ? cJSON_CreateString(rb_severity_name(as->severity))
                            : cJSON_CreateNull(),
                        err) < 0 ||
        rb_run_fact_set(run, "scenario", cJSON_Duplicate(sc, 1), err) < 0 ||
        rb_run_fact_set(run, "verdict", cJSON_CreateString(as->verdict), err) < 0 ||
        rb_run_fact_set(run, "assessment", cJSON_Duplicate(obj, 1), err) < 0 ||
        rb_run_fact_set(run, "point_of_no_return", ponr, err) < 0)
        return -1;
    if (as->budget_ms >= 0) {
        cJSON *b = cJSON_CreateObject();
        char when[40];

        cJSON_AddNumberToObject(b, "budget_ms", (double)as->budget_ms);
        cJSON_AddStringToObject(b, "deadline",
                                rb_time_format_rfc3339(as->deadline, when, sizeof(when)));
        if (rb_run_fact_set(run, "budget", b, err) < 0)
            return -1;
    }
    return 0;
}

static struct rb_assessment *assess_now(struct rb_run *run, struct rb_err *err)
{
    struct rb_signal_value *sig;
    size_t n;

    if (rb_signals_read(run, &sig, &n, err) < 0)
        return NULL;
    return rb_assessment_make(run, sig, n);
}

static int apply_verdict(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct rb_assessment *as = assess_now(run, err);
    bool go = false;
    cJSON *obj;

    if (as == NULL)
        return -1;
    go = strcmp(as->verdict, "warranted") == 0;
    obj = rb_assessment_json(run, as);
    cJSON_AddBoolToObject(obj, "forced", !go && run->force);
    if (!go && run->force) {
        cJSON_AddStringToObject(obj, "forced_by",
                                run->initiated_by != NULL ? run->initiated_by : "unknown");
        cJSON_AddItemToObject(obj, "reason",
                              run->reason != NULL ? cJSON_CreateString(run->reason)
                                                  : cJSON_CreateNull());
    }
    if (set_facts(run, as, obj, err) < 0) {
        cJSON_Delete(obj);
        return -1;
    }
    cJSON_AddStringToObject(obj, "message", as->why);
    act->result = obj;
    if (go)
        return 0;
    if (run->force) {
        rb_warn(run->ctx, "%s; going on because of --force (forced by %s)", as->why,
                run->initiated_by != NULL ? run->initiated_by : "unknown");
        cJSON_ReplaceItemInObjectCaseSensitive(
            obj, "message", cJSON_CreateString(rb_sprintf(run->arena, "forced: %s", as->why)));
        return 0;
    }
    rb_errf(err, RB_E_DECLINED, "%s", as->why);
    return rb_err_hint(err, "%s",
                       strcmp(as->verdict, "undetermined") == 0
                           ? "make the unknown signals readable (or give them with --signals), "
                             "or use --force to roll back anyway"
                           : "use --force to roll back anyway");
}

int rb_assess_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_decision *d = &run->rb->decision;
    struct rb_action *act;

    if (!d->present) {
        /* no assessment gate; --severity still tells later phases (approvals, messages) */
        if (run->severity_opt != NULL && rb_run_fact(run, "severity") == NULL)
            return rb_run_fact_set(run, "severity", cJSON_CreateString(run->severity_opt), err);
        return 0;
    }
    act = rb_run_add_action(run, "assess", VERDICT_ACTION,
                            "read the signals and decide whether a rollback is warranted",
                            RB_IDEMPOTENT, apply_verdict, NULL);
    act->pos = d->pos;
    {
        /* what is read and which rules decide; what they say is the plan's observation */
        cJSON *f = rb_action_fields(act, "assess");
        cJSON *sig = cJSON_AddArrayToObject(f, "signals");
        cJSON *rules = cJSON_AddArrayToObject(f, "rollback_if");

        for (size_t i = 0; i < run->rb->n_signals; i++)
            cJSON_AddItemToArray(sig, cJSON_CreateString(run->rb->signals[i].name));
        for (size_t i = 0; i < d->n_rollback_if; i++)
            cJSON_AddItemToArray(rules, cJSON_CreateString(d->rollback_if[i].src));
    }
    if (run->mode == RB_MODE_PLAN) {
        struct rb_assessment *as = assess_now(run, err);
        struct rb_buf txt = RB_BUF_INIT;
        cJSON *obj, *obs;

        if (as == NULL)
            return -1;
        obj = rb_assessment_json(run, as);
        cJSON_AddBoolToObject(obj, "forced", false);
        if ((obs = rb_action_observed(run, act)) != NULL)
            cJSON_AddItemToObject(obs, "assessment", cJSON_Duplicate(obj, 1));
        if (set_facts(run, as, obj, err) < 0) {
            cJSON_Delete(obj);
            return -1;
        }
        cJSON_Delete(obj);
        /* the detail is also a JSON string (plan -o json): no escape codes there */
        if (run->ctx->output == RB_OUTPUT_JSON)
            rb_assessment_text(&txt, run, as, "", "");
        else
            rb_assessment_text(&txt, run, as, rb_c_red(run->ctx), rb_c_reset(run->ctx));
        rb_action_detailf(act, "%s", txt.data);
        if (strcmp(as->verdict, "warranted") != 0)
            rb_action_detailf(act, "%s",
                              run->force ? "execute --force would go on anyway\n"
                                         : "execute would stop here (exit 3) unless --force\n");
        rb_buf_release(&txt);
    }
    return 0;
}
