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
 * Kinds: compare (compare.h), equal (two scalars), totals (per-key sums, exact decimals,
 * inclusive tolerance), and the sql/http/run probes.
 */
#include "rollbackctl/verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/compare.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/money.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/probe.h"

#define LIST_MAX 100

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

static const char *kind_name(const struct rb_check *c)
{
    switch (c->kind) {
    case RB_CHECK_COMPARE:
        return "compare";
    case RB_CHECK_EQUAL:
        return "equal";
    case RB_CHECK_TOTALS:
        return "totals";
    case RB_CHECK_PROBE:
        switch (c->probe.kind) {
        case RB_PROBE_SQL:
            return "sql";
        case RB_PROBE_HTTP:
            return "http";
        case RB_PROBE_RUN:
            return "run";
        default:
            break;
        }
        break;
    }
    return "unknown";
}

static void json_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/* --- compare ------------------------------------------------------------------------------ */

static int check_compare(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                         const char **summary, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    const struct rb_sync_table *t = rb_runbook_sync_table(rb, chk->compare_table);
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .list_max = LIST_MAX,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to };
    struct rb_compare_result res;
    struct rb_db *src, *dst;

    if (t == NULL)
        return rb_errf(err, RB_E_FAILED, "no sync table named '%s'", chk->compare_table);
    if ((src = rb_db_target(run, rb->sync.from, err)) == NULL ||
        (dst = rb_db_target(run, rb->sync.to, err)) == NULL)
        return -1;
    if (src == dst)
        return rb_errf(err, RB_E_FAILED, "sync 'from' and 'to' are the same connection");
    if (rb_compare_table(run->arena, src, dst, t, &o, &res, err) < 0)
        return -1;
    cJSON_AddItemToObject(r, "compare", rb_compare_result_json(&res));
    *passed = res.missing == 0 && res.differing == 0;
    if (*passed)
        *summary =
            rb_sprintf(run->arena, "%llu %s changed since cutover, all match in legacy",
                       (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows");
    else
        *summary = rb_sprintf(
            run->arena, "%llu %s changed since cutover: %llu missing in legacy, %llu differ",
            (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows",
            (unsigned long long)res.missing, (unsigned long long)res.differing);
    return 0;
}

/* --- equal -------------------------------------------------------------------------------- */

static int scalar(struct rb_run *run, const struct rb_query_ref *q, const char **v, bool *is_null,
                  struct rb_err *err)
{
    struct rb_db *c = rb_db_target(run, q->target, err);

    if (c == NULL)
        return -1;
    if (rb_db_scalar(c, run->arena, 0, q->sql, v, is_null, err) < 0)
        return rb_err_wrap(err, "query on '%s'", q->target);
    return 0;
}

/*
 * A number as PostgreSQL prints one (integer, numeric, float without exponent): optional '-',
 * no '+', no blanks, no leading zero. Text such as '0042' or ' 42' is a code, not an amount.
 */
static bool pg_number_text(const char *s)
{
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static bool same_scalar(const char *a, bool an, const char *b, bool bn)
{
    struct rb_money x, y;

    if (an || bn)
        return an && bn;
    /* 120 and 120.00 are the same amount; anything else (codes such as '0042') compares as text */
    if (pg_number_text(a) && pg_number_text(b) && rb_money_parse(a, &x, NULL) == 0 &&
        rb_money_parse(b, &y, NULL) == 0)
        return rb_money_cmp(&x, &y) == 0;
    return strcmp(a, b) == 0;
}

static int check_equal(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                       const char **summary, struct rb_err *err)
{
    const char *nv = NULL, *lv = NULL;
    bool nn = false, ln = false;

    if (scalar(run, &chk->new_q, &nv, &nn, err) < 0 ||
        scalar(run, &chk->legacy_q, &lv, &ln, err) < 0)
        return -1;
    json_str(r, "new", nn ? NULL : nv);
    json_str(r, "legacy", ln ? NULL : lv);
    *passed = same_scalar(nv, nn, lv, ln);
    if (*passed)
        *summary = rb_sprintf(run->arena, "both %s", nn ? "NULL" : nv);
    else
        *summary = rb_sprintf(run->arena, "new %s, legacy %s", nn ? "NULL" : nv, ln ? "NULL" : lv);
    return 0;
}

/* --- totals ------------------------------------------------------------------------------- */

struct trow {
    const char *key; /* NULL key is shown as NULL and sorts first */
    struct rb_money *v;
    bool *null;
};

struct tside {
    struct trow *rows;
    size_t n;
    int ncols; /* amount columns (result columns after the key) */
    const char **names;
};

static int trow_cmp(const void *a, const void *b)
{
    const struct trow *x = a, *y = b;

    if (x->key == NULL || y->key == NULL)
        return (x->key != NULL) - (y->key != NULL);
    return strcmp(x->key, y->key);
}

static int load_totals(struct rb_run *run, const struct rb_query_ref *q, struct tside *ts,
                       struct rb_err *err)
{
    struct rb_db *c = rb_db_target(run, q->target, err);
    struct rb_arena *scratch;
    struct rb_db_result *res;
    size_t out = 0;

    if (c == NULL)
        return -1;
    scratch = rb_arena_new();
    if ((res = rb_db_query(c, scratch, 0, q->sql, 0, NULL, err)) == NULL) {
        rb_arena_free(scratch);
        return rb_err_wrap(err, "query on '%s'", q->target);
    }
    ts->ncols = (int)res->ncols - 1;
    if (ts->ncols < 1) {
        rb_arena_free(scratch);
        return rb_errf(err, RB_E_FAILED,
                       "query on '%s' must return a key column and at least one amount", q->target);
    }
    ts->names = rb_new_array(run->arena, const char *, (size_t)ts->ncols);
    for (int i = 0; i < ts->ncols; i++)
        ts->names[i] = rb_strdup(run->arena, res->names[i + 1]);
    ts->rows = rb_new_array(run->arena, struct trow, res->nrows + 1);
    for (size_t row = 0; row < res->nrows; row++) {
        struct trow *t = &ts->rows[row];

        t->key = rb_db_isnull(res, row, 0) ? NULL : rb_strdup(run->arena, rb_db_value(res, row, 0));
        t->v = rb_new_array(run->arena, struct rb_money, (size_t)ts->ncols);
        t->null = rb_new_array(run->arena, bool, (size_t)ts->ncols);
        for (int i = 0; i < ts->ncols; i++) {
            t->null[i] = rb_db_isnull(res, row, (size_t)i + 1);
            if (!t->null[i] &&
                rb_money_parse(rb_db_value(res, row, (size_t)i + 1), &t->v[i], err) < 0) {
                rb_arena_free(scratch);
                return rb_err_wrap(err, "column '%s' on '%s'", ts->names[i], q->target);
            }
        }
    }
    ts->n = res->nrows;
    rb_arena_free(scratch);
    qsort(ts->rows, ts->n, sizeof(*ts->rows), trow_cmp);
    /* a key listed twice is summed, so the check compares per-key totals whatever the grouping */
    for (size_t i = 0; i < ts->n; i++) {
        if (out > 0 && trow_cmp(&ts->rows[out - 1], &ts->rows[i]) == 0) {
            struct trow *d = &ts->rows[out - 1];

            for (int k = 0; k < ts->ncols; k++) {
                if (ts->rows[i].null[k])
                    continue;
                if (d->null[k]) {
                    d->v[k] = ts->rows[i].v[k];
                    d->null[k] = false;
                } else if (rb_money_add(&d->v[k], &ts->rows[i].v[k], &d->v[k], err) < 0) {
                    return -1;
                }
            }
            continue;
        }
        ts->rows[out++] = ts->rows[i];
    }
    ts->n = out;
    return 0;
}

static const char *money_str(struct rb_arena *a, const struct rb_money *m)
{
    char buf[RB_MONEY_STR_MAX];

    return rb_strdup(a, rb_money_format(m, buf, sizeof(buf)));
}

static cJSON *amounts_json(struct rb_arena *a, const struct tside *ts, const struct trow *t)
{
    cJSON *o = cJSON_CreateObject();

    for (int i = 0; i < ts->ncols; i++)
        json_str(o, ts->names[i], t->null[i] ? NULL : money_str(a, &t->v[i]));
    return o;
}

static int check_totals(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                        const char **summary, struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    struct tside side[2];
    struct rb_money tol;
    size_t i = 0, j = 0, keys = 0, bad = 0, missing = 0, keys_off = 0;
    cJSON *list;
    const char *tol_src = chk->tolerance != NULL ? chk->tolerance : "0.00";

    memset(side, 0, sizeof(side));
    if (rb_money_parse(tol_src, &tol, err) < 0)
        return rb_err_wrap(err, "tolerance");
    tol = rb_money_abs(&tol);
    if (load_totals(run, &chk->new_q, &side[0], err) < 0 ||
        load_totals(run, &chk->legacy_q, &side[1], err) < 0)
        return -1;
    if (side[0].ncols != side[1].ncols)
        return rb_errf(err, RB_E_FAILED, "new returns %d amount columns, legacy %d", side[0].ncols,
                       side[1].ncols);
    json_str(r, "tolerance", tol_src);
    list = cJSON_AddArrayToObject(r, "differences");
    while (i < side[0].n || j < side[1].n) {
        const struct trow *n = i < side[0].n ? &side[0].rows[i] : NULL;
        const struct trow *l = j < side[1].n ? &side[1].rows[j] : NULL;
        int c = n == NULL ? 1 : l == NULL ? -1 : trow_cmp(n, l);

        keys++;
        if (c != 0) {
            /* a key on one side only fails, whatever its amounts */
            const struct trow *t = c < 0 ? n : l;
            bad++;
            missing++;
            keys_off++;
            if (cJSON_GetArraySize(list) < LIST_MAX) {
                cJSON *d = cJSON_CreateObject();

                json_str(d, "key", t->key);
                cJSON_AddStringToObject(d, "problem",
                                        c < 0 ? "missing in legacy" : "missing in new");
                cJSON_AddItemToObject(d, c < 0 ? "new" : "legacy",
                                      amounts_json(a, &side[c < 0 ? 0 : 1], t));
                cJSON_AddItemToArray(list, d);
            }
            if (c < 0)
                i++;
            else
                j++;
            continue;
        }
        size_t bad_before = bad;

        for (int k = 0; k < side[0].ncols; k++) {
            struct rb_money diff, ad;
            bool over;

            if (n->null[k] || l->null[k]) {
                over = n->null[k] != l->null[k];
            } else {
                if (rb_money_sub(&n->v[k], &l->v[k], &diff, err) < 0)
                    return -1;
                ad = rb_money_abs(&diff);
                over = rb_money_cmp(&ad, &tol) > 0; /* the boundary itself passes */
            }
            if (!over)
                continue;
            bad++;
            if (cJSON_GetArraySize(list) < LIST_MAX) {
                cJSON *d = cJSON_CreateObject();

                json_str(d, "key", n->key);
                cJSON_AddStringToObject(d, "column", side[0].names[k]);
                json_str(d, "new", n->null[k] ? NULL : money_str(a, &n->v[k]));
                json_str(d, "legacy", l->null[k] ? NULL : money_str(a, &l->v[k]));
                json_str(d, "variance", n->null[k] || l->null[k] ? NULL : money_str(a, &diff));
                cJSON_AddItemToArray(list, d);
            }
        }
        keys_off += bad > bad_before;
        i++;
        j++;
    }
    cJSON_AddNumberToObject(r, "keys", (double)keys);
    cJSON_AddNumberToObject(r, "failures", (double)bad);
    cJSON_AddNumberToObject(r, "keys_missing", (double)missing);
    *passed = bad == 0;
    if (*passed)
        *summary = rb_sprintf(a, "%zu keys, every total within %s", keys, tol_src);
    else
        *summary =
            rb_sprintf(a, "%zu of %zu keys off: %zu totals beyond %s, %zu keys on one side only",
                       keys_off, keys, bad - missing, tol_src, missing);
    return 0;
}

/* --- probes ------------------------------------------------------------------------------- */

static int check_probe(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                       const char **summary, struct rb_err *err)
{
    struct rb_probe_result pr;

    (void)err;
    rb_probe_eval(run, &chk->probe, 0, &pr);
    cJSON_AddNumberToObject(r, "attempts", pr.attempts);
    *passed = pr.passed;
    *summary = pr.description;
    return 0;
}

/* --- actions ------------------------------------------------------------------------------ */

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
    cJSON_AddStringToObject(r, "kind", kind_name(chk));
    cJSON_AddNumberToObject(r, "line", chk->pos.line);
    switch (chk->kind) {
    case RB_CHECK_COMPARE:
        rc = check_compare(run, chk, r, &passed, &summary, &cerr);
        break;
    case RB_CHECK_EQUAL:
        rc = check_equal(run, chk, r, &passed, &summary, &cerr);
        break;
    case RB_CHECK_TOTALS:
        rc = check_totals(run, chk, r, &passed, &summary, &cerr);
        break;
    default:
        rc = check_probe(run, chk, r, &passed, &summary, &cerr);
        break;
    }
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
    double total_ms = 0;
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
                cJSON_AddStringToObject(c, "kind", kind_name(chk));
                cJSON_AddBoolToObject(c, "passed", false);
                cJSON_AddStringToObject(c, "summary", "did not run");
                pending++;
            }
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed")))
            passed++;
        else
            failed++;
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

static void plan_detail(struct rb_run *run, struct rb_action *act, const struct rb_check *chk)
{
    const struct rb_probe *p = &chk->probe;

    switch (chk->kind) {
    case RB_CHECK_COMPARE: {
        const struct rb_sync_table *t = rb_runbook_sync_table(run->rb, chk->compare_table);

        if (t != NULL)
            rb_action_detailf(act, "%s", rb_compare_describe(run->arena, t, run->rb->cutover_src));
        break;
    }
    case RB_CHECK_EQUAL:
    case RB_CHECK_TOTALS:
        rb_action_detailf(act, "%s: %s\n%s: %s", chk->new_q.target, chk->new_q.sql,
                          chk->legacy_q.target, chk->legacy_q.sql);
        if (chk->kind == RB_CHECK_TOTALS)
            rb_action_detailf(act, "\nper key, |new - legacy| <= %s for every amount column",
                              chk->tolerance != NULL ? chk->tolerance : "0.00");
        break;
    case RB_CHECK_PROBE:
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
        return rb_sprintf(run->arena, "'%s': %s probe", chk->name, kind_name(chk));
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
    rb_action_detailf(act, "verification.json and verification.txt in the run folder");
    return 0;
}

/* --- text --------------------------------------------------------------------------------- */

static void add_value(struct rb_buf *b, const cJSON *v)
{
    if (!cJSON_IsString(v)) {
        rb_buf_adds(b, "NULL");
        return;
    }
    /* quoted so that '' and 'x ' are visible as such */
    rb_buf_addc(b, '\'');
    for (const char *p = v->valuestring; *p != '\0'; p++) {
        if (*p == '\'')
            rb_buf_addc(b, '\'');
        rb_buf_addc(b, *p);
    }
    rb_buf_addc(b, '\'');
}

static void add_key(struct rb_buf *b, const cJSON *key)
{
    const cJSON *k;
    bool first = true;

    if (!cJSON_IsObject(key)) {
        add_value(b, key);
        return;
    }
    cJSON_ArrayForEach(k, key) {
        rb_buf_addf(b, "%s%s=", first ? "" : " ", k->string);
        add_value(b, k);
        first = false;
    }
}

static void text_compare(struct rb_buf *b, const cJSON *cmp)
{
    const cJSON *list, *row, *c;
    double n;

    list = cJSON_GetObjectItemCaseSensitive(cmp, "missing");
    n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cmp, "missing_in_legacy"));
    if (cJSON_GetArraySize(list) > 0)
        rb_buf_addf(b, "      missing in legacy (%d listed of %.0f):\n", cJSON_GetArraySize(list),
                    n);
    cJSON_ArrayForEach(row, list) {
        rb_buf_adds(b, "        ");
        add_key(b, cJSON_GetObjectItemCaseSensitive(row, "key"));
        rb_buf_adds(b, ":");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(row, "new")) {
            rb_buf_addf(b, " %s=", c->string);
            add_value(b, c);
        }
        rb_buf_addc(b, '\n');
    }
    list = cJSON_GetObjectItemCaseSensitive(cmp, "differences");
    n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cmp, "differing"));
    if (cJSON_GetArraySize(list) > 0)
        rb_buf_addf(b, "      differing (%d listed of %.0f):\n", cJSON_GetArraySize(list), n);
    cJSON_ArrayForEach(row, list) {
        rb_buf_adds(b, "        ");
        add_key(b, cJSON_GetObjectItemCaseSensitive(row, "key"));
        rb_buf_adds(b, ":");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(row, "columns")) {
            rb_buf_addf(b, " %s new ",
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "column")));
            add_value(b, cJSON_GetObjectItemCaseSensitive(c, "new"));
            rb_buf_adds(b, " legacy ");
            add_value(b, cJSON_GetObjectItemCaseSensitive(c, "legacy"));
            rb_buf_adds(b, ";");
        }
        b->len--; /* drop the last ';' */
        b->data[b->len] = '\0';
        rb_buf_addc(b, '\n');
    }
}

static void text_totals(struct rb_buf *b, const cJSON *chk)
{
    const cJSON *d, *c;

    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(chk, "differences")) {
        const cJSON *problem = cJSON_GetObjectItemCaseSensitive(d, "problem");

        rb_buf_adds(b, "        ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "key"));
        if (cJSON_IsString(problem)) {
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(d, "new");

            if (vals == NULL)
                vals = cJSON_GetObjectItemCaseSensitive(d, "legacy");
            rb_buf_addf(b, ": %s (", problem->valuestring);
            cJSON_ArrayForEach(c, vals) {
                rb_buf_addf(b, "%s%s ", c == vals->child ? "" : ", ", c->string);
                add_value(b, c);
            }
            rb_buf_adds(b, ")\n");
            continue;
        }
        rb_buf_addf(b, " %s: new ",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "column")));
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "new"));
        rb_buf_adds(b, " legacy ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "legacy"));
        rb_buf_adds(b, " variance ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "variance"));
        rb_buf_addc(b, '\n');
    }
}

void rb_verify_report_text(struct rb_buf *b, const cJSON *rep)
{
    const cJSON *c;

    rb_buf_addf(b, "verification %s: %.0f of %d checks passed\n",
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rep, "verification")),
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rep, "passed")),
                cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "checks")));
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rep, "checks")) {
        bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed"));
        const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(c, "compare");
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "kind"));

        rb_buf_addf(b, "  %s  %s [%s, %.2fs]: %s\n", ok ? "PASS" : "FAIL",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")),
                    kind != NULL ? kind : "?",
                    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "duration_ms")) /
                        1000.0,
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "summary")));
        if (cmp != NULL)
            text_compare(b, cmp);
        else if (kind != NULL && strcmp(kind, "totals") == 0)
            text_totals(b, c);
    }
}
