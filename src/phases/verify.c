/*
 * verify.c - the verify phase: every check of the runbook's `verify:` section, and the report.
 *
 * One action per check ("verify/<slug of its name>", rb_name_slug), each only reading, so
 * idempotent; a failing check is a non-critical failure, so the others still run. Whenever every check has a result (from
 * this process or, after a resume, from the journal), the report is rebuilt: verification.json
 * and verification.txt in the run folder, and the run fact verification=passed|failed, which
 * the engine turns into a failed run (exit 1). The last action, "verify/report", does the same
 * once more for a run where some check never produced a result.
 *
 * The checks themselves are in src/checks/verify_checks.c (checks.h); the text form of the report
 * is in verify_text.c.
 */
#include "rollbackctl/verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/checks.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/probe.h"
#include "plan_fields.h"

struct vstate {
    cJSON **results; /* per check, NULL until it ran in this process */
    size_t n;
    cJSON *report;
};

struct vcheck {
    struct vstate *vs;
    size_t i;
    const struct rb_check *chk;
};

static void free_state(void *p)
{
    struct vstate *vs = p;

    for (size_t i = 0; i < vs->n; i++)
        cJSON_Delete(vs->results[i]);
    cJSON_Delete(vs->report);
}

/* --- actions ------------------------------------------------------------------------------ */

static double non_negative(const cJSON *n)
{
    return cJSON_IsNumber(n) && n->valuedouble > 0 ? n->valuedouble : 0;
}

static int publish(struct rb_run *run, struct vstate *vs, bool final, struct rb_err *err);

static int apply_check(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct vcheck *vc = act->arg;
    const struct rb_check *chk = vc->chk;
    cJSON *r = cJSON_CreateObject();
    struct rb_err cerr = RB_ERR_INIT;
    int64_t t0 = rb_now_ms();
    bool passed = false;
    const char *summary = NULL;
    int rc;

    cJSON_AddStringToObject(r, "name", chk->name);
    cJSON_AddStringToObject(r, "kind", rb_check_kind_name(chk));
    cJSON_AddNumberToObject(r, "line", chk->pos.line);
    rc = rb_check_run(run, chk, r, &passed, &summary, &cerr);
    if (rc < 0 && cerr.cls == RB_E_INTERRUPTED) {
        /* not a verdict: the run stops here and resume runs this check again */
        cJSON_Delete(r);
        *err = cerr;
        return -1;
    }
    if (rc < 0) {
        passed = false;
        summary = rb_sprintf(run->arena, "could not run: %s", cerr.msg);
        cJSON_AddStringToObject(r, "error", cerr.msg);
    }
    cJSON_AddBoolToObject(r, "passed", passed);
    cJSON_AddStringToObject(r, "summary", summary != NULL ? summary : "");
    cJSON_AddNumberToObject(r, "duration_ms", (double)(rb_now_ms() - t0));
    cJSON_Delete(vc->vs->results[vc->i]);
    vc->vs->results[vc->i] = r;

    cJSON_Delete(act->result);
    act->result = cJSON_Duplicate(r, 1);
    cJSON_AddStringToObject(act->result, "message", summary != NULL ? summary : "");
    if (publish(run, vc->vs, false, err) < 0)
        return -1;
    if (passed)
        return 0;
    return rb_errf(err, RB_E_FAILED, "check '%s' failed: %s", chk->name, summary);
}

/* From the name alone, so that an edit of the runbook between attempts renames no other check. */
static const char *check_action_name(struct rb_arena *a, const char *name)
{
    return rb_sprintf(a, "verify/%s", rb_name_slug(a, name));
}

/*
 * Build the report from every check's latest result (this process, or the journal for checks done
 * in an earlier attempt), and once every check has a result, save it in the run folder and set the
 * run fact "verification". Called after each check and by "verify/report": on resume the report
 * action may be done already while a check that failed before runs again, and the verdict must
 * follow that check. final: a check without a result counts as failed ("did not run").
 */
static int publish(struct rb_run *run, struct vstate *vs, bool final, struct rb_err *err)
{
    cJSON *rep = cJSON_CreateObject(), *checks;
    size_t passed = 0, failed = 0, pending = 0;
    double total_ms = 0, gaps = 0;
    bool gaps_counted = false;
    const char *verdict;
    const cJSON *fact;

    checks = cJSON_AddArrayToObject(rep, "checks");
    for (size_t i = 0; i < vs->n; i++) {
        const struct rb_check *chk = &run->rb->checks[i];
        cJSON *c = NULL;

        if (vs->results[i] != NULL) {
            c = cJSON_Duplicate(vs->results[i], 1);
        } else {
            /* done in an earlier attempt of this run: its result is in the journal */
            const char *name = check_action_name(run->arena, chk->name);
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(run->replay, name);
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(st, "state");
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(st, "result");

            if (cJSON_IsString(state) && strcmp(state->valuestring, "done") == 0 &&
                cJSON_IsObject(res)) {
                c = cJSON_Duplicate(res, 1);
                cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
            } else {
                c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "name", chk->name);
                cJSON_AddStringToObject(c, "kind", rb_check_kind_name(chk));
                cJSON_AddBoolToObject(c, "passed", false);
                cJSON_AddStringToObject(c, "summary", "did not run");
                pending++;
            }
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed")))
            passed++;
        else
            failed++;
        {
            /* the rows a compare found missing in legacy or different: the gaps left */
            const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(c, "compare");

            if (cJSON_IsObject(cmp)) {
                gaps_counted = true;
                gaps += cJSON_GetNumberValue(
                            cJSON_GetObjectItemCaseSensitive(cmp, "missing_in_legacy")) > 0
                            ? cJSON_GetNumberValue(
                                  cJSON_GetObjectItemCaseSensitive(cmp, "missing_in_legacy"))
                            : 0;
                gaps += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cmp, "differing")) > 0
                            ? cJSON_GetNumberValue(
                                  cJSON_GetObjectItemCaseSensitive(cmp, "differing"))
                            : 0;
                /* legacy rows deleted in new are left for people too (detection applies nothing);
                   rows never migrated are legacy's own history, not gaps */
                gaps += non_negative(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(c, "deletions"), "deleted_in_new"));
            }
        }
        total_ms += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "duration_ms")) > 0
                        ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "duration_ms"))
                        : 0;
        cJSON_AddItemToArray(checks, c);
    }
    if (pending > 0 && !final) {
        cJSON_Delete(rep);
        return 0; /* later checks of this attempt will publish */
    }
    verdict = failed == 0 ? "passed" : "failed";
    if (run->run_id[0] != '\0')
        cJSON_AddStringToObject(rep, "run_id", run->run_id);
    cJSON_AddStringToObject(rep, "runbook", run->rb->name);
    cJSON_AddStringToObject(rep, "verification", verdict);
    cJSON_AddNumberToObject(rep, "passed", (double)passed);
    cJSON_AddNumberToObject(rep, "failed", (double)failed);
    cJSON_AddNumberToObject(rep, "duration_ms", total_ms);
    cJSON_Delete(vs->report);
    vs->report = rep;

    if (run->run_dir != NULL) {
        char *json = cJSON_Print(rep);
        struct rb_buf txt = RB_BUF_INIT;
        int rc;

        rb_verify_report_text(&txt, rep);
        rc = rb_write_file_atomic(rb_sprintf(run->arena, "%s/verification.json", run->run_dir),
                                  json, strlen(json), 0600, err);
        if (rc == 0)
            rc = rb_write_file_atomic(rb_sprintf(run->arena, "%s/verification.txt", run->run_dir),
                                      txt.data, txt.len, 0600, err);
        free(json);
        rb_buf_release(&txt);
        if (rc < 0)
            return rb_err_wrap(err, "unable to save the verification report");
    }
    /* {{gaps}} in messages: rows the compare checks left for people (manual_entry + review +
       deleted_in_new) */
    fact = rb_run_fact(run, "gaps");
    if (gaps_counted && !(cJSON_IsNumber(fact) && fact->valuedouble == gaps) &&
        rb_run_fact_set(run, "gaps", cJSON_CreateNumber(gaps), err) < 0)
        return -1;
    fact = rb_run_fact(run, "verification");
    if (cJSON_IsString(fact) && strcmp(fact->valuestring, verdict) == 0)
        return 0;
    return rb_run_fact_set(run, "verification", cJSON_CreateString(verdict), err);
}

static int apply_report(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct vstate *vs = act->arg;
    const char *verdict;

    if (publish(run, vs, true, err) < 0)
        return -1;
    verdict = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vs->report, "verification"));
    cJSON_Delete(act->result);
    act->result = cJSON_CreateObject();
    cJSON_AddStringToObject(act->result, "verification", verdict);
    cJSON_AddStringToObject(
        act->result, "message",
        rb_sprintf(run->arena, "verification %s: %.0f of %zu checks passed", verdict,
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(vs->report, "passed")),
                   vs->n));
    return 0;
}

const cJSON *rb_verify_report(const struct rb_run *run)
{
    struct vstate *vs = rb_run_handle_get((struct rb_run *)run, "verify", "state");

    return vs != NULL ? vs->report : NULL;
}

/* --- planning ----------------------------------------------------------------------------- */

/* A query of an equal or totals check as fields. */
static cJSON *query_fields(const struct rb_query_ref *q)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "target", q->target);
    cJSON_AddStringToObject(o, "sql", q->sql);
    return o;
}

static void plan_detail(struct rb_run *run, struct rb_action *act, const struct rb_check *chk)
{
    const struct rb_probe *p = &chk->probe;

    switch (chk->kind) {
    case RB_CHECK_COMPARE: {
        const struct rb_sync_table *t = rb_runbook_sync_table(run->rb, chk->compare_table);
        cJSON *f = rb_action_fields(act, "compare");

        cJSON_AddStringToObject(f, "table", chk->compare_table);
        cJSON_AddStringToObject(f, "source", run->rb->sync.from);
        cJSON_AddStringToObject(f, "target", run->rb->sync.to);
        cJSON_AddBoolToObject(f, "fail_on_deleted", chk->fail_on_deleted);
        if (t != NULL) {
            cJSON *key = cJSON_AddArrayToObject(f, "key");

            for (size_t i = 0; i < t->key.n; i++)
                cJSON_AddItemToArray(key, cJSON_CreateString(t->key.items[i]));
            cJSON_AddStringToObject(f, "source_table", t->source_table);
            cJSON_AddStringToObject(f, "target_table", t->target_table);
            if (t->deletions.scope != NULL)
                cJSON_AddStringToObject(f, "deletions_scope", t->deletions.scope);
            else
                cJSON_AddNullToObject(f, "deletions_scope");
            if (t->deletions.tomb_table != NULL)
                cJSON_AddStringToObject(f, "tombstones", t->deletions.tomb_table);
            else
                cJSON_AddNullToObject(f, "tombstones");
        }
        if (t != NULL) {
            rb_action_detailf(act, "%s", rb_compare_describe(run->arena, t, run->rb->cutover_src));
            rb_action_detailf(act,
                              "\nand the legacy rows%s%s that %s no longer has (deletions since "
                              "cutover%s): %s",
                              t->deletions.scope != NULL ? " where " : "",
                              t->deletions.scope != NULL ? t->deletions.scope : "",
                              run->rb->sync.from,
                              t->deletions.tomb_table != NULL
                                  ? rb_sprintf(run->arena, ", told apart by tombstones in '%s'",
                                               t->deletions.tomb_table)
                                  : "",
                              chk->fail_on_deleted ? "any deleted in new fails the check"
                                                   : "listed, they do not fail the check");
        }
        break;
    }
    case RB_CHECK_EQUAL:
    case RB_CHECK_TOTALS: {
        cJSON *f = rb_action_fields(act, chk->kind == RB_CHECK_TOTALS ? "totals" : "equal");

        cJSON_AddItemToObject(f, "new", query_fields(&chk->new_q));
        cJSON_AddItemToObject(f, "legacy", query_fields(&chk->legacy_q));
        if (chk->kind == RB_CHECK_TOTALS)
            cJSON_AddStringToObject(f, "tolerance",
                                    chk->tolerance != NULL ? chk->tolerance : "0.00");
        rb_action_detailf(act, "%s: %s\n%s: %s", chk->new_q.target, chk->new_q.sql,
                          chk->legacy_q.target, chk->legacy_q.sql);
        if (chk->kind == RB_CHECK_TOTALS)
            rb_action_detailf(act, "\nper key, |new - legacy| <= %s for every amount column",
                              chk->tolerance != NULL ? chk->tolerance : "0.00");
        break;
    }
    case RB_CHECK_PROBE:
        /* the probe's own fields: {"kind": "sql" | "http" | "exec", ...} */
        act->fields = rb_probe_fields(run->arena, p);
        rb_action_detailf(act, "%s", rb_probe_describe(run->arena, p));
        break;
    }
}

static const char *check_summary(struct rb_run *run, const struct rb_check *chk)
{
    switch (chk->kind) {
    case RB_CHECK_COMPARE:
        return rb_sprintf(run->arena, "compare sync table '%s' row by row (%s vs %s)",
                          chk->compare_table, run->rb->sync.from, run->rb->sync.to);
    case RB_CHECK_EQUAL:
        return rb_sprintf(run->arena, "'%s': %s and %s return the same value", chk->name,
                          chk->new_q.target, chk->legacy_q.target);
    case RB_CHECK_TOTALS:
        return rb_sprintf(run->arena, "'%s': per-key totals of %s and %s within %s", chk->name,
                          chk->new_q.target, chk->legacy_q.target,
                          chk->tolerance != NULL ? chk->tolerance : "0.00");
    default:
        return rb_sprintf(run->arena, "'%s': %s probe", chk->name, rb_check_kind_name(chk));
    }
}

int rb_verify_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct vstate *vs;
    struct rb_action *act;

    (void)err;
    if (rb == NULL || rb->n_checks == 0)
        return 0;
    vs = rb_new(run->arena, struct vstate);
    vs->n = rb->n_checks;
    vs->results = rb_new_array(run->arena, cJSON *, vs->n);
    rb_arena_on_free(run->arena, free_state, vs);
    rb_run_handle_put(run, "verify", "state", vs);
    for (size_t i = 0; i < rb->n_checks; i++) {
        struct vcheck *vc = rb_new(run->arena, struct vcheck);

        vc->vs = vs;
        vc->i = i;
        vc->chk = &rb->checks[i];
        act = rb_run_add_action(run, "verify", check_action_name(run->arena, vc->chk->name),
                                check_summary(run, vc->chk), RB_IDEMPOTENT, apply_check, vc);
        act->critical = false; /* a failing check must not stop the others */
        act->pos = vc->chk->pos;
        act->fingerprint = vc->chk->fingerprint;
        plan_detail(run, act, vc->chk);
    }
    act = rb_run_add_action(run, "verify", "verify/report",
                            "write the verification report and set the verification outcome",
                            RB_IDEMPOTENT, apply_report, vs);
    act->pos = rb->checks[0].pos;
    {
        cJSON *files = cJSON_AddArrayToObject(rb_action_fields(act, "report"), "files");

        cJSON_AddItemToArray(files, cJSON_CreateString("verification.json"));
        cJSON_AddItemToArray(files, cJSON_CreateString("verification.txt"));
    }
    rb_action_detailf(act, "verification.json and verification.txt in the run folder");
    return 0;
}
