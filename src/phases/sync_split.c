/*
 * sync_split.c - `split: N` (issue 17): where a split table's key ranges begin and end. The
 * bounds are read once per run and pass (min and max of the integer key among the rows the pass
 * reads, cut in N ranges of equal width), journaled through the engine as the fact sync_split
 * before any range starts, and read back from it on resume, so a range redone after a crash
 * covers the very rows it covered before. The ranges themselves are sync tables of their own
 * (sync.c plans them, sync_sql.c adds each one's predicate, sync_jobs.c runs them).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/output.h"
#include "rollbackctl/preflight.h"
#include "sync_priv.h"

/* The fact naming each split table's bounds (by pass: "t", "presync/t"), journaled once. */
#define SPLIT_FACT "sync_split"

/*
 * The bounds an earlier process of this run journaled for base, or NULL. A runbook whose split
 * changed since then cannot reuse them, nor make new ones: ranges of the old ones may have
 * committed (*why says so).
 */
static const char **journaled_bounds(struct rb_run *run, const char *base, int n, const char **why)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(rb_run_fact(run, SPLIT_FACT), base);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(f, "bounds"), *b;
    const char **out;
    int k = 0;

    if (!cJSON_IsArray(arr))
        return NULL;
    if (cJSON_GetArraySize(arr) != n - 1) {
        *why =
            rb_sprintf(run->arena,
                       "split changed from %d to %d since this run began; its ranges of then may "
                       "have committed: finish the run with the runbook's split as it was, or "
                       "start a new run",
                       cJSON_GetArraySize(arr) + 1, n);
        return NULL;
    }
    out = rb_new_array(run->arena, const char *, (size_t)n);
    cJSON_ArrayForEach(b, arr) {
        if (!cJSON_IsString(b))
            return NULL;
        out[k++] = rb_strdup(run->arena, b->valuestring);
    }
    return out;
}

/*
 * The bounds of st's table (st is any of its ranges) on src: min and max of the key among the
 * rows the pass reads, cut in n ranges of equal width (one pass over the changed rows, no sort;
 * a skewed key gives ranges of unequal rows, never wrong ones). The key must read as an integer.
 */
static int compute_bounds(struct rb_run *run, const struct sync_table *st, struct rb_db *src,
                          const char ***out, struct rb_err *err)
{
    struct sync_table whole = *st;
    const struct rb_column_map *cm = rb_sync_column_of(st->t, st->t->key.items[0]);
    const char **b;
    struct rb_db_result *r;
    const char *type, *sql;
    int64_t lo = 0, hi = 0;
    uint64_t w, q, rem;
    int n = st->n_ranges;

    whole.range = 0; /* the table's filter, without a range */
    whole.bounds = NULL;
    rb_sync_build_sql(run, &whole);
    sql = rb_sprintf(run->arena,
                     "SELECT pg_typeof(min(k))::text, min(k)::text, max(k)::text FROM (SELECT %s "
                     "AS k FROM %s WHERE %s) rb_keys",
                     rb_sync_expr_sql(run->arena, cm->source_expr), whole.src_q, whole.filter);
    if ((r = rb_db_query(src, run->arena, SYNC_STATEMENT_TIMEOUT_MS, sql, 0, NULL, err)) == NULL)
        return rb_err_wrap(err, "unable to read the bounds of the key '%s' (split: %d) on '%s'",
                           st->t->key.items[0], n, st->ph->from);
    if (r->nrows != 1 || r->ncols < 3)
        return rb_errf(err, RB_E_FAILED, "the bounds of the key '%s' on '%s' came back empty",
                       st->t->key.items[0], st->ph->from);
    type = rb_db_text(r, 0, 0);
    if (strcmp(type, "smallint") != 0 && strcmp(type, "integer") != 0 &&
        strcmp(type, "bigint") != 0)
        return rb_errf(err, RB_E_FAILED,
                       "split: %d needs a key of an integer type (smallint, integer, bigint); "
                       "key '%s' reads '%s' on '%s' as %s: drop 'split' for this table",
                       n, st->t->key.items[0], cm->source_expr, st->ph->from, type);
    if (!rb_db_isnull(r, 0, 1)) {
        lo = strtoll(rb_db_value(r, 0, 1), NULL, 10);
        hi = strtoll(rb_db_value(r, 0, 2), NULL, 10);
    }
    /* b_i = lo + floor(w * i / n) + 1, in unsigned arithmetic: no overflow at int8's ends */
    w = (uint64_t)hi - (uint64_t)lo;
    q = w / (uint64_t)n;
    rem = w % (uint64_t)n;
    b = rb_new_array(run->arena, const char *, (size_t)n);
    for (int i = 1; i < n; i++) {
        uint64_t off = q * (uint64_t)i + rem * (uint64_t)i / (uint64_t)n + 1;

        b[i - 1] = rb_sprintf(run->arena, "%" PRId64, (int64_t)((uint64_t)lo + off));
    }
    *out = b;
    return 0;
}

/* Journal the bounds of base (the engine's thread; a worker's view journals nothing). */
static int journal_bounds(struct rb_run *run, const struct sync_table *st, struct rb_err *err)
{
    const cJSON *prev = rb_run_fact(run, SPLIT_FACT);
    cJSON *f = prev != NULL ? cJSON_Duplicate(prev, 1) : cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject(), *arr;

    cJSON_AddStringToObject(e, "key", st->t->key.items[0]);
    arr = cJSON_AddArrayToObject(e, "bounds");
    for (int i = 0; i < st->n_ranges - 1; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(st->bounds[i]));
    cJSON_DeleteItemFromObjectCaseSensitive(f, st->split_base);
    cJSON_AddItemToObject(f, st->split_base, e);
    return rb_run_fact_set(run, SPLIT_FACT, f, err);
}

void rb_sync_split_ready(struct rb_run *run, struct sync_phase *ph)
{
    for (size_t i = 0; i < ph->n_tables; i++) {
        struct sync_table *st = ph->tables[i];
        struct rb_err e = RB_ERR_INIT;
        const char **bounds = st->bounds;
        bool rebuild = false;
        struct rb_db *src;

        if (st->range != 1 || st->split_err != NULL)
            continue;
        if (bounds == NULL) {
            if ((src = rb_db_target(run, ph->from, &e)) == NULL ||
                compute_bounds(run, st, src, &bounds, &e) < 0) {
                bounds = NULL;
            } else {
                rebuild = true;
            }
        }
        if (bounds != NULL && !st->bounds_journaled) {
            st->bounds = bounds;
            if (journal_bounds(run, st, &e) < 0) {
                rb_err_wrap(&e, "unable to journal the bounds of its ranges");
                bounds = NULL;
            }
        }
        /* the table's ranges follow it in ph->tables */
        for (size_t k = i; k < ph->n_tables && ph->tables[k]->range > 0 &&
                           strcmp(ph->tables[k]->split_base, st->split_base) == 0;
             k++) {
            struct sync_table *r = ph->tables[k];

            if (bounds == NULL) {
                r->split_err = rb_strdup(run->arena, e.msg);
                continue;
            }
            r->bounds = bounds;
            r->bounds_journaled = true;
            if (rebuild)
                rb_sync_build_sql(run, r);
        }
    }
}

/*
 * A split table's bounds at plan time: journaled by an earlier process of this run (resume), or
 * read now when the source can be and something needs them (plan shows them and each range's
 * rows; execute's progress line counts each range; it journals them before the first range
 * starts), else left to the runner (rb_sync_split_ready).
 */
const char **rb_sync_split_plan_bounds(struct rb_run *run, struct sync_phase *ph,
                                       const struct rb_sync_table *t, bool *journaled,
                                       const char **why)
{
    const char *base =
        ph->pass == SYNC_PASS_PRE ? rb_sprintf(run->arena, "presync/%s", t->name) : t->name;
    const char **b = journaled_bounds(run, base, t->split, why);
    struct sync_table probe;
    struct rb_err e = RB_ERR_INIT;
    struct rb_db *src;
    bool known = true;

    *journaled = b != NULL;
    if (b != NULL || *why != NULL || run->offline || rb_plan_is_unreachable(run, ph->from))
        return b;
    /* execute reads them here only for the progress line's counts; else once, when the phase
     * starts (rb_sync_split_ready): no scan of the changed rows twice */
    if (run->mode != RB_MODE_PLAN && (run->ctx == NULL || !run->ctx->progress))
        return NULL;
    memset(&probe, 0, sizeof(probe));
    probe.ph = ph;
    probe.t = t;
    probe.n_ranges = t->split;
    if (ph->pass == SYNC_PASS_FINAL)
        probe.since = rb_presync_since(run, t->name, &known);
    if (!known)
        return NULL; /* the pre-sync has not run: its instant is not known */
    if ((src = rb_db_target(run, ph->from, &e)) == NULL)
        return NULL; /* the counts say why */
    if (compute_bounds(run, &probe, src, &b, &e) < 0) {
        if (run->mode == RB_MODE_PLAN)
            rb_warn(run->ctx, "sync/%s: %s", t->name, e.msg);
        *why = rb_strdup(run->arena, e.msg);
        return NULL;
    }
    return b;
}
