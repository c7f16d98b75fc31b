/*
 * compare_check.c - the compare check's two questions of one sync table, asked in one pass:
 * which rows changed since cutover are missing or differ in legacy (compare.c), and which legacy
 * keys new no longer has (deletions.c).
 *
 * Asked one after the other, each question read both tables once for its bucket sums, so a
 * check read every row of both tables twice. Here both ask inside one REPEATABLE READ snapshot
 * per side, and their bucket sums come from one scan per side: the same bucket expression (a key
 * range, key mod N, or an md5 piece of the key text), each question's rows picked by its own
 * condition with FILTER, each question's hash computed only for its rows. The drill-downs stay
 * each question's own. The answers are those of rb_compare_table and rb_deletions_find, to the row.
 */
#include "rollbackctl/compare.h"

#include <inttypes.h>
#include <string.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/progress.h"

#include "compare_priv.h"

/* The condition of st->from[s] ("FROM <table> WHERE <condition>"), or NULL if it is not so. */
static const char *condition_of(struct cmp *st, enum side s, const char *table)
{
    const char *prefix = rb_sprintf(st->a, "FROM %s WHERE ", rb_pg_quote_qualified(st->a, table));
    size_t n = strlen(prefix);

    return strncmp(st->from[s], prefix, n) == 0 ? st->from[s] + n : NULL;
}

/*
 * Side s's shared bucket sums: bucket, the comparison's row count and row hash sum, then the
 * deletions' key count and key hash sum. A question with nothing to ask contributes "false".
 */
static const char *shared_bucket_sql(struct cmp *c, struct del *d, enum side s, bool c_asks,
                                     bool d_asks)
{
    const char *table = s == SRC ? c->t->source_table : c->t->target_table;
    const char *cc = c_asks ? condition_of(c, s, table) : "false";
    const char *dc = d_asks ? condition_of(&d->st, s, table) : "false";

    if (cc == NULL || dc == NULL)
        return NULL;
    /* each condition once per row, in the LATERAL (not memoized: rb_cmp_begin turns it off) */
    return rb_sprintf(c->a,
                      "SELECT rb_b, count(*) FILTER (WHERE rb_c), sum(rb_rh) FILTER (WHERE rb_c), "
                      "count(*) FILTER (WHERE rb_d), sum(rb_kh) FILTER (WHERE rb_d) "
                      "FROM (SELECT %s AS rb_b, rb_c, rb_d, "
                      "CASE WHEN rb_c THEN %s END AS rb_rh, CASE WHEN rb_d THEN %s END AS rb_kh "
                      "FROM %s, LATERAL (SELECT (%s) IS TRUE AS rb_c, (%s) IS TRUE AS rb_d) w "
                      "WHERE rb_c OR rb_d) q GROUP BY rb_b",
                      c->bucket[s], rb_cmp_row_hash(c, s), rb_del_key_hash(d, s),
                      rb_pg_quote_qualified(c->a, table), cc, dc);
}

/* *deleting: the failure, if any, was the deletions' own step (for the error's wording). */
static int both(struct cmp *c, struct del *d, struct rb_compare_result *res, bool *deleting,
                struct rb_err *err)
{
    struct rb_arena *scratch = rb_arena_new();
    const char *q[2];
    struct rb_db_result *r[2];
    uint64_t c_est = 0, d_est = 0;
    bool c_empty = true, d_empty = true;
    int rc = -1;

    if (rb_cmp_begin(c, scratch, err) < 0)
        goto out;
    /* one table, one set of legacy column types: the deletions read what the comparison read */
    d->st.cols = c->cols;
    d->st.ncols = c->ncols;
    d->st.keyidx = c->keyidx;
    d->st.nkeys = c->nkeys;
    if (rb_cmp_compare_prepare(c, scratch, &c_empty, &c_est, err) < 0)
        goto out;
    *deleting = true;
    if (rb_del_prepare(d, scratch, &d_empty, &d_est, err) < 0)
        goto out;
    *deleting = false;
    if (!c_empty || !d_empty) {
        uint64_t rows = !c_empty && c_est > d_est ? c_est : d_est;

        /* one bucket expression for both: the deletions' key range holds the comparison's */
        if (!d_empty) {
            c->by_range = d->st.by_range;
            c->range_lo = d->st.range_lo;
            c->range_hi = d->st.range_hi;
        }
        rb_cmp_set_buckets(c, rows);
        rb_cmp_set_buckets(&d->st, rows);
        if (!c_empty)
            res->buckets = c->nbuckets;
        if (!d_empty)
            d->res->buckets = d->st.nbuckets;
        q[SRC] = shared_bucket_sql(c, d, SRC, !c_empty, !d_empty);
        q[DST] = shared_bucket_sql(c, d, DST, !c_empty, !d_empty);
        if (q[SRC] == NULL || q[DST] == NULL) {
            rb_errf(err, RB_E_FAILED, "compare: a row selection without its table (a bug)");
            goto out;
        }
        rb_progress_note(c->o->progress,
                         "%s: hashing the rows and keys in %" PRIu64 " buckets on both sides",
                         c->t->name, c->nbuckets);
        if (rb_cmp_run_pair(c, scratch, q, r, err) < 0)
            goto out;
        if (!c_empty && rb_cmp_compare_finish(c, res, r, 1, err) < 0)
            goto out;
        *deleting = true;
        if (!d_empty && rb_del_finish(d, r, 3, err) < 0)
            goto out;
        *deleting = false;
    }
    rc = rb_cmp_tx_pair(c, "COMMIT", err);
out:
    rb_arena_free(scratch);
    return rc;
}

int rb_compare_with_deletions(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                              const struct rb_sync_table *t, const struct rb_compare_opts *o,
                              rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                              struct rb_compare_result *res, struct rb_deletions_result *del,
                              struct rb_err *err)
{
    struct rb_compare_opts opts = *o;
    struct cmp c;
    struct del d;
    int64_t start = rb_now_ms();
    bool deleting = false;
    int rc;

    rb_cmp_compare_init(&c, a, src, dst, t, &opts, res, start);
    rb_del_init(&d, a, src, dst, t, &opts, on_deleted, on_deleted_ctx, del, start);
    rc = both(&c, &d, res, &deleting, err);
    if (rc < 0 && deleting)
        rb_cmp_fail(&c, "finding the deletions of", "find the deletions of", err);
    else if (rc < 0)
        rb_cmp_fail(&c, "comparing", "compare", err);
    rb_del_release(&d);
    /* one pass: the comparison's time is the whole, and so is the deletions' */
    res->duration_ms = del->duration_ms = rb_now_ms() - start;
    return rc;
}
