/*
 * verify_checks.c - the four kinds of verify check, each run once and described as a result:
 * compare (a sync table's full population, compare.h), equal (two scalars, by value), totals
 * (per-key sums in exact decimals, inclusive tolerance) and the sql/http/run probes (probe.h).
 *
 * A check only reads. It fills a JSON result (the report's entry), says whether it passed, and
 * gives a one-line summary; it returns -1 only when it could not run at all. The verify phase
 * (src/phases/verify.c) turns that into actions and the report. A compare whose connection is lost
 * (a server restarting, a backend terminated) is run again on new connections, as sync retries a
 * table: a lost connection says nothing about the data, and must not read as a mismatch.
 */
#include "rollbackctl/checks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/db.h"
#include "rollbackctl/money.h"
#include "rollbackctl/output.h"
#include "rollbackctl/probe.h"

/* As sync's table retry (sync_priv.h): 3 attempts, 1 s then 2 s apart. */
#define COMPARE_ATTEMPTS   3
#define COMPARE_BACKOFF_MS 1000

static void json_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull());
}

const char *rb_check_kind_name(const struct rb_check *c)
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

/* --- compare ------------------------------------------------------------------------------ */

/* "; 3 legacy rows deleted in new" (or, exact, "; 2 deleted in new since cutover, 1 never
   migrated"), or "" when there are none, so that the summary without deletions stays as it was. */
static const char *deletions_summary(struct rb_arena *a, const struct rb_deletions_result *d)
{
    if (d->deleted_in_new == 0 && d->never_migrated == 0)
        return "";
    if (!d->exact)
        return rb_sprintf(a, "; %llu legacy %s deleted in new",
                          (unsigned long long)d->deleted_in_new,
                          d->deleted_in_new == 1 ? "row" : "rows");
    return rb_sprintf(a, "; %llu deleted in new since cutover, %llu never migrated",
                      (unsigned long long)d->deleted_in_new, (unsigned long long)d->never_migrated);
}

/* The comparison and the deletions query, once, on the run's connections (opened if closed). */
static int compare_once(struct rb_run *run, const struct rb_sync_table *t,
                        const struct rb_compare_opts *o, struct rb_compare_result *res,
                        struct rb_deletions_result *del, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_db *src, *dst;

    if ((src = rb_db_target(run, rb->sync.from, err)) == NULL ||
        (dst = rb_db_target(run, rb->sync.to, err)) == NULL)
        return -1;
    if (src == dst)
        return rb_errf(err, RB_E_FAILED, "sync 'from' and 'to' are the same connection");
    if (rb_compare_table(run->arena, src, dst, t, o, res, err) < 0)
        return -1;
    /* a deletions query that fails fails the check, as a failing comparison does */
    if (rb_deletions_find(run->arena, src, dst, t, o, NULL, NULL, del, err) < 0)
        return rb_err_wrap(err, "finding the rows of '%s' deleted in %s",
                           t->target_table != NULL ? t->target_table : t->name, rb->sync.from);
    return 0;
}

static int check_compare(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                         const char **summary, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    const struct rb_sync_table *t = rb_runbook_sync_table(rb, chk->compare_table);
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .list_max = RB_CHECK_LIST_MAX,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to,
                                 .progress = run->ctx };
    struct rb_compare_result res;
    struct rb_deletions_result del;
    int attempt;

    if (t == NULL)
        return rb_errf(err, RB_E_FAILED, "no sync table named '%s'", chk->compare_table);
    /*
     * Only a lost connection is worth another go (sync.c's retryable()): a statement the server
     * refused, a deadline that passed or a login refused would fail the same way again.
     */
    for (attempt = 1;; attempt++) {
        memset(&res, 0, sizeof(res));
        memset(&del, 0, sizeof(del));
        rb_err_clear(err);
        if (compare_once(run, t, &o, &res, &del, err) == 0)
            break;
        if (err->cls != RB_E_FAILED || !rb_err_is(err, RB_K_CONN_LOST))
            return -1;
        if (attempt == COMPARE_ATTEMPTS) {
            size_t used = strlen(err->msg);

            snprintf(err->msg + used, sizeof(err->msg) - used, " (gave up after %d attempts)",
                     attempt);
            return -1;
        }
        rb_warn(run->ctx, "check '%s': %s (attempt %d of %d); comparing again in %ds", chk->name,
                err->msg, attempt, COMPARE_ATTEMPTS, (COMPARE_BACKOFF_MS << (attempt - 1)) / 1000);
        rb_db_target_close(run, rb->sync.to);
        rb_db_target_close(run, rb->sync.from);
        rb_sleep_ms((int64_t)COMPARE_BACKOFF_MS << (attempt - 1));
    }
    cJSON_AddNumberToObject(r, "attempts", attempt);
    cJSON_AddItemToObject(r, "compare", rb_compare_result_json(&res));
    cJSON_AddItemToObject(r, "deletions", rb_deletions_result_json(&del));
    cJSON_AddBoolToObject(r, "fail_on_deleted", chk->fail_on_deleted);
    /* rows never migrated are legacy's own history: they never fail the check */
    *passed =
        res.missing == 0 && res.differing == 0 && !(chk->fail_on_deleted && del.deleted_in_new > 0);
    if (res.missing == 0 && res.differing == 0)
        *summary =
            rb_sprintf(run->arena, "%llu %s changed since cutover, all match in legacy",
                       (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows");
    else
        *summary = rb_sprintf(
            run->arena, "%llu %s changed since cutover: %llu missing in legacy, %llu differ",
            (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows",
            (unsigned long long)res.missing, (unsigned long long)res.differing);
    *summary = rb_sprintf(run->arena, "%s%s", *summary, deletions_summary(run->arena, &del));
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
            if (cJSON_GetArraySize(list) < RB_CHECK_LIST_MAX) {
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
            if (cJSON_GetArraySize(list) < RB_CHECK_LIST_MAX) {
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

int rb_check_run(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                 const char **summary, struct rb_err *err)
{
    switch (chk->kind) {
    case RB_CHECK_COMPARE:
        return check_compare(run, chk, r, passed, summary, err);
    case RB_CHECK_EQUAL:
        return check_equal(run, chk, r, passed, summary, err);
    case RB_CHECK_TOTALS:
        return check_totals(run, chk, r, passed, summary, err);
    default:
        return check_probe(run, chk, r, passed, summary, err);
    }
}
