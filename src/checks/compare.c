/*
 * compare.c - the `compare` check: a sync table's mapping, new against legacy, row by row.
 *
 * Three steps, each run on both databases at once (two connections, the driver's pair runner):
 *   1. the source rows' key bounds and estimated count (new only: index probes and statistics,
 *      no scan; the planner's estimate of the rows changed since cutover, from EXPLAIN) and the
 *      legacy column types (legacy only);
 *   2. per key bucket, count(*) and sum of a 64-bit hash of the canonical row text, on both
 *      sides (the source's bucket counts add up to its exact row count); equal buckets are done;
 *   3. the rows of the buckets that differ, streamed from both sides in key order (single-row
 *      mode, so memory stays flat however many differ) and merged here: a source key absent in
 *      legacy is missing, a key present on both with other column texts differs, a legacy key
 *      absent in the source is pre-cutover history and ignored.
 * Key order is the same on both sides, or the merge would pair the wrong rows: a single integer
 * key in numeric order (999999 before 1000000, as people read them in `gaps`), ordered and merged
 * as numbers; any other key in the byte order of its text (COLLATE "C", strcmp here).
 * Buckets stand in for data-diff's key-range segments: a bucket is a function of the key only
 * (for a single integer key with known bounds, a range of equal width, whose rows the key's index
 * finds in the drill-down; key mod N for other integer keys, an md5 piece of the key text
 * otherwise), so it means the same on both sides whatever the collation, and each step is one
 * scan per side however scattered the differences are. Legacy rows are limited to the source's key bounds when the key is a single
 * column, which keeps pre-cutover history out of the buckets when its keys lie apart.
 */
#include "rollbackctl/compare.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/sync.h"
#include "rollbackctl/run.h"

#include "compare_priv.h"

/* --- both connections at once (the driver's pair runner) ---------------------------------- */

/* The driver says "timed out"; here the deadline is the whole comparison's. */
int rb_cmp_err(struct rb_err *err)
{
    if (err != NULL && rb_err_is(err, RB_K_TIMEOUT)) {
        rb_errf(err, RB_E_FAILED, "comparison timed out");
        rb_err_kind(err, RB_K_TIMEOUT);
    }
    return -1;
}

/*
 * Run sql[SRC] and sql[DST] (either may be NULL) at the same time and hand back both results
 * (in arena a: the caller's scratch for results it reads once).
 */
int rb_cmp_run_pair(struct cmp *st, struct rb_arena *a, const char *const sql[2],
                    struct rb_db_result *out[2], struct rb_err *err)
{
    if (rb_db_pair(st->c, a, sql, st->deadline, out, err) < 0)
        return rb_cmp_err(err);
    return 0;
}

int rb_cmp_exec_pair(struct cmp *st, const char *sql, struct rb_err *err)
{
    const char *q[2] = { sql, sql };
    struct rb_db_result *r[2];
    struct rb_arena *scratch = rb_arena_new();
    int rc = rb_cmp_run_pair(st, scratch, q, r, err);

    rb_arena_free(scratch);
    return rc;
}

int rb_cmp_tx_pair(struct cmp *st, const char *sql, struct rb_err *err)
{
    const char *q[2] = { st->o->src_in_tx ? NULL : sql, st->o->dst_in_tx ? NULL : sql };
    struct rb_db_result *r[2];
    struct rb_arena *scratch = rb_arena_new();
    int rc = rb_cmp_run_pair(st, scratch, q, r, err);

    rb_arena_free(scratch);
    return rc;
}

/* Leave both connections idle and outside any transaction, whatever state an error left. */
void rb_cmp_reset_conns(struct cmp *st)
{
    /* with a deadline, like every statement: a hung server must not hang the cleanup */
    for (int s = 0; s < 2; s++)
        if (s == SRC ? !st->o->src_in_tx : !st->o->dst_in_tx)
            rb_db_rollback(st->c[s], 10000, NULL);
}

/* --- a streamed, ordered row source -------------------------------------------------------- */

int rb_cmp_cursor_next(struct cursor *cu, uint64_t *fetched, struct rb_err *err)
{
    if (rb_db_stream_next(cu->st->c[cu->s], cu->stream, &cu->row, err) < 0)
        return rb_cmp_err(err);
    if (cu->row != NULL && (++*fetched % 10000) == 0)
        rb_progress_note(cu->st->o->progress, "%s: %" PRIu64 " rows of differing buckets read",
                         cu->st->t->name, *fetched);
    return 0;
}

/* The merge's order, the one both sides' ORDER BY gives (see the top of this file). */
int rb_cmp_key_cmp(const struct cmp *st, const char *a, const char *b)
{
    if (st->int_order) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);

        return x < y ? -1 : x > y;
    }
    return strcmp(a, b);
}

/* --- building the SQL ---------------------------------------------------------------------- */

static const char *src_filter(struct rb_arena *a, const struct rb_sync_table *t,
                              const char *cutover)
{
    return rb_sprintf(a, "FROM %s WHERE %s", rb_pg_quote_qualified(a, t->source_table),
                      rb_sync_changed_filter(a, t, cutover));
}

/* The canonical row text on side s: ROW(typed columns)::text. */
static const char *row_text(struct cmp *st, enum side s)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    rb_buf_adds(&b, "ROW(");
    for (size_t i = 0; i < st->ncols; i++)
        rb_buf_addf(&b, "%s%s", i > 0 ? ", " : "", st->cols[i].canon[s]);
    rb_buf_adds(&b, ")::text");
    out = rb_strdup(st->a, b.data);
    rb_buf_release(&b);
    return out;
}

const char *rb_cmp_key_text(struct cmp *st, enum side s)
{
    const char **parts = rb_new_array(st->a, const char *, st->nkeys);

    for (size_t i = 0; i < st->nkeys; i++)
        parts[i] = st->cols[st->keyidx[i]].typed[s];
    return rb_cmp_key_text_of(st, parts);
}

const char *rb_cmp_key_text_of(struct cmp *st, const char *const *parts)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    if (st->nkeys == 1)
        return rb_sprintf(st->a, "(%s)::text", parts[0]);
    rb_buf_adds(&b, "ROW(");
    for (size_t i = 0; i < st->nkeys; i++)
        rb_buf_addf(&b, "%s%s", i > 0 ? ", " : "", parts[i]);
    rb_buf_adds(&b, ")");
    /*
     * A key with any NULL part is no key (a unique index never matches it, so the sync refuses
     * such rows): NULL here, so the row counts among null_keys instead of matching a legacy row
     * whose key text happens to be the same "(1,)".
     */
    out = rb_sprintf(st->a, "CASE WHEN %s IS NOT NULL THEN %s::text END", b.data, b.data);
    rb_buf_release(&b);
    return out;
}

/* The column list of the drill-down: key text, then each mapped column as text. */
static const char *row_select(struct cmp *st, enum side s)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    /* aliases of our own: a mapped column may well be called "k" */
    rb_buf_addf(&b, "%s AS rb_key", st->keytext[s]);
    for (size_t i = 0; i < st->ncols; i++)
        rb_buf_addf(&b, ", (%s)::text AS rb_c%zu", st->cols[i].canon[s], i);
    out = rb_strdup(st->a, b.data);
    rb_buf_release(&b);
    return out;
}

const char *rb_cmp_bucket_expr(struct cmp *st, enum side s)
{
    if (st->by_range)
        return rb_sprintf(st->a, "(((%s)::int8 - (%" PRId64 ")) / %" PRId64 ")::int",
                          st->cols[st->keyidx[0]].typed[s], st->range_lo, st->range_width);
    if (st->nkeys == 1 && st->cols[st->keyidx[0]].is_int)
        return rb_sprintf(st->a, "abs((%s) %% %" PRIu64 ")::int", st->cols[st->keyidx[0]].typed[s],
                          st->nbuckets);
    return rb_sprintf(
        st->a, "((('x' || substr(md5(%s), 1, 8))::bit(32)::int & 2147483647) %% %" PRIu64 ")",
        st->keytext[s], st->nbuckets);
}

/* About bucket_rows rows per bucket (at most MAX_BUCKETS), and each side's bucket expression. */
void rb_cmp_set_key_range(struct cmp *st, const char *lo, const char *hi)
{
    char *end1, *end2;
    long long l, h;

    st->by_range = false;
    if (!(st->nkeys == 1 && st->cols[st->keyidx[0]].is_int) || lo == NULL || hi == NULL)
        return;
    l = strtoll(lo, &end1, 10);
    h = strtoll(hi, &end2, 10);
    /* k - lo must fit an int8 for every key in range: the span does */
    if (*end1 != '\0' || *end2 != '\0' || h < l || (l < 0 && h > INT64_MAX + l))
        return;
    st->by_range = true;
    st->range_lo = l;
    st->range_hi = h;
}

void rb_cmp_set_buckets(struct cmp *st, uint64_t rows)
{
    st->nbuckets = rows / st->o->bucket_rows;
    if (st->nbuckets < 1)
        st->nbuckets = 1;
    if (st->nbuckets > MAX_BUCKETS)
        st->nbuckets = MAX_BUCKETS;
    if (st->by_range) {
        /* ranges of equal width over [lo, hi]; the last one may be shorter */
        uint64_t span = (uint64_t)(st->range_hi - st->range_lo) + 1;

        st->range_width = (int64_t)((span + st->nbuckets - 1) / st->nbuckets);
        if (st->range_width < 1)
            st->range_width = 1;
        st->nbuckets = (span + (uint64_t)st->range_width - 1) / (uint64_t)st->range_width;
    }
    st->bucket[SRC] = rb_cmp_bucket_expr(st, SRC);
    st->bucket[DST] = rb_cmp_bucket_expr(st, DST);
}

/*
 * The planner's idea of a table's row count, as a scalar subquery: its statistics (reltuples per
 * page) scaled to its size now, NULL without statistics (a view, a table never analyzed). Enough
 * to choose the buckets; the exact counts come with the bucket sums.
 */
const char *rb_cmp_estimate_sql(struct cmp *st, const char *table)
{
    return rb_sprintf(st->a,
                      "(SELECT CASE WHEN c.reltuples > 0 AND c.relpages > 0 THEN (c.reltuples / "
                      "c.relpages * (pg_relation_size(c.oid) / "
                      "current_setting('block_size')::int8))::int8 END "
                      "FROM pg_class c WHERE c.oid = %s::regclass)",
                      rb_pg_quote_literal(st->a, rb_pg_quote_qualified(st->a, table)));
}

/* --- step 1: types, count, bounds ---------------------------------------------------------- */

/*
 * A domain column is compared as its base type (a legacy `amount` domain over numeric(12,2)
 * holds 10.00 where new says 10): the domain's checks do not change a value's text.
 */
const char rb_cmp_types_sql[] =
    "SELECT a.attname, format_type(b.typid, b.typmod), "
    "t.typnamespace = 'pg_catalog'::regnamespace, "
    "b.typid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype), t.typcollation <> 0, "
    "CASE WHEN b.typmod >= 0 AND t.typname NOT IN ('bit') "
    "THEN format('pg_catalog.%%I', t.typname) END "
    "FROM pg_attribute a JOIN pg_type d ON d.oid = a.atttypid "
    "CROSS JOIN LATERAL (SELECT CASE WHEN d.typtype = 'd' THEN d.typbasetype ELSE a.atttypid END "
    "AS typid, "
    "CASE WHEN d.typtype = 'd' THEN d.typtypmod ELSE a.atttypmod END AS typmod) b "
    "JOIN pg_type t ON t.oid = b.typid "
    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped";

int rb_cmp_resolve_columns(struct cmp *st, const struct rb_db_result *types, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;

    st->ncols = t->n_columns;
    st->cols = rb_new_array(st->a, struct ccol, st->ncols);
    for (size_t i = 0; i < t->n_columns; i++) {
        struct ccol *c = &st->cols[i];
        int row = -1;

        c->name = t->columns[i].target_column;
        for (size_t r = 0; r < types->nrows; r++)
            if (strcmp(rb_db_text(types, r, 0), c->name) == 0)
                row = (int)r;
        if (row < 0)
            return rb_errf(err, RB_E_FAILED, "column '%s' not found in legacy table '%s'", c->name,
                           t->target_table);
        c->type = rb_strdup(st->a, rb_db_text(types, (size_t)row, 1));
        c->is_int = rb_db_text(types, (size_t)row, 3)[0] == 't';
        c->collatable = rb_db_text(types, (size_t)row, 4)[0] == 't';
        if (rb_db_text(types, (size_t)row, 2)[0] == 't') {
            /* the source value in the legacy column's type: numeric scale, precision agree */
            c->typed[SRC] = rb_sprintf(st->a, "(%s)::%s", t->columns[i].source_expr, c->type);
            c->typed[DST] = rb_pg_quote_ident(st->a, c->name);
            c->canon[SRC] = c->typed[SRC];
            c->canon[DST] = c->typed[DST];
            if (!rb_db_isnull(types, (size_t)row, 5)) {
                /*
                 * The column has a length, scale or precision: the cast rounds (10.005 to 10.01,
                 * .4s away) or cuts ('abcdef' to 'abc') without an error, so a value legacy
                 * cannot hold would match what legacy holds. Such a value keeps its own text,
                 * which no value of the legacy column can equal (more digits, more characters).
                 */
                const char *base = rb_sprintf(st->a, "(%s)::%s", t->columns[i].source_expr,
                                              rb_db_value(types, (size_t)row, 5));

                c->canon[SRC] = rb_sprintf(st->a,
                                           "CASE WHEN %s IS NOT DISTINCT FROM %s THEN (%s)::text "
                                           "ELSE (%s)::text END",
                                           base, c->typed[SRC], c->typed[SRC], base);
                c->canon[DST] = rb_sprintf(st->a, "%s::text", c->typed[DST]);
            }
        } else {
            /* enums and domains of legacy may not exist in new: compare their text */
            c->typed[SRC] = rb_sprintf(st->a, "(%s)::text", t->columns[i].source_expr);
            c->typed[DST] = rb_sprintf(st->a, "%s::text", rb_pg_quote_ident(st->a, c->name));
            c->canon[SRC] = c->typed[SRC];
            c->canon[DST] = c->typed[DST];
            c->is_int = false;
            c->collatable = true;
            c->as_text = true;
        }
    }
    st->nkeys = t->key.n;
    st->keyidx = rb_new_array(st->a, size_t, st->nkeys > 0 ? st->nkeys : 1);
    if (st->nkeys == 0)
        return rb_errf(err, RB_E_FAILED, "sync table '%s' has no key", t->name);
    for (size_t k = 0; k < st->nkeys; k++) {
        size_t i;

        for (i = 0; i < st->ncols; i++)
            if (strcmp(st->cols[i].name, t->key.items[k]) == 0)
                break;
        if (i == st->ncols)
            return rb_errf(err, RB_E_FAILED, "key column '%s' of sync table '%s' is not mapped",
                           t->key.items[k], t->name);
        st->keyidx[k] = i;
    }
    return 0;
}

/* The key value on side s for range comparisons, in "C" order when it is text-like. */
const char *rb_cmp_range_key(struct cmp *st, enum side s)
{
    const struct ccol *k = &st->cols[st->keyidx[0]];

    if (k->collatable)
        return rb_sprintf(st->a, "(%s) COLLATE \"C\"", k->typed[s]);
    return k->typed[s];
}

const char *rb_cmp_key_bound(struct cmp *st, enum side s, const char *op, const char *value)
{
    const struct ccol *k = &st->cols[st->keyidx[0]];

    return rb_sprintf(st->a, "%s %s %s::%s", rb_cmp_range_key(st, s), op,
                      rb_pg_quote_literal(st->a, value), k->as_text ? "text" : k->type);
}

/*
 * Open both snapshots and learn the legacy column types (they decide the canonical form on both
 * sides): the first step of every comparison.
 */
int rb_cmp_begin(struct cmp *st, struct rb_arena *scratch, struct rb_err *err)
{
    const char *q[2];
    struct rb_db_result *r[2];

    if (rb_cmp_tx_pair(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) < 0)
        return -1;
    /*
     * For this transaction only: the planner cannot know that the bucket expression has at most
     * MAX_BUCKETS values (it assumes one group per row), so without help it plans a spilling,
     * single-process hash aggregate. Cheap parallel tuples and room for the hash table let it
     * aggregate in parallel workers, as a plain count(*) does; JIT compilation costs more than
     * it saves on these scans. Memoize is off: compare_check.c's shared scan computes each
     * row's conditions in a LATERAL subquery, which the planner would otherwise cache by the
     * columns it reads and so evaluate a volatile `where` once for many rows (3-4% slower
     * without it at 1M rows).
     */
    if (rb_cmp_exec_pair(
            st,
            "SELECT set_config('work_mem', '256MB', true), set_config('jit', 'off', true), "
            "set_config('parallel_tuple_cost', '0.00001', true), "
            "set_config('enable_memoize', 'off', true)",
            err) < 0)
        return -1;

    /* step 1a: legacy column types (they decide the canonical form on both sides) */
    q[SRC] = NULL;
    q[DST] =
        rb_sprintf(st->a, rb_cmp_types_sql,
                   rb_pg_quote_literal(st->a, rb_pg_quote_qualified(st->a, st->t->target_table)));
    if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
        return -1;
    return rb_cmp_resolve_columns(st, r[DST], err);
}

/*
 * The buckets to drill into, from both sides' (bucket, count, sum) results: those where side
 * `drives` has rows and the other side has another count or sum. Returns how many; *list gets
 * their comma list (arena), or NULL when every bucket differs (the drill-down needs no filter).
 */
uint64_t rb_cmp_differing_buckets(struct cmp *st, struct rb_db_result *const r[2], enum side drives,
                                  int col, const char **list)
{
    enum side other = drives == SRC ? DST : SRC;
    int *idx[2];
    struct rb_buf b = RB_BUF_INIT;
    uint64_t n = 0;

    idx[SRC] = malloc(sizeof(int) * st->nbuckets);
    idx[DST] = malloc(sizeof(int) * st->nbuckets);
    if (idx[SRC] == NULL || idx[DST] == NULL)
        abort();
    rb_cmp_index_buckets(r[SRC], idx[SRC], st->nbuckets);
    rb_cmp_index_buckets(r[DST], idx[DST], st->nbuckets);
    for (uint64_t k = 0; k < st->nbuckets; k++) {
        int id = idx[drives][k], io = idx[other][k];
        bool same;

        /* a bucket the driving side has no row of: nothing to find there (a count of 0: the
           other scan's rows, in a shared bucket result) */
        if (id < 0 || strcmp(rb_db_text(r[drives], (size_t)id, col), "0") == 0)
            continue;
        same = io >= 0 &&
               strcmp(rb_db_text(r[drives], (size_t)id, col),
                      rb_db_text(r[other], (size_t)io, col)) == 0 &&
               strcmp(rb_db_text(r[drives], (size_t)id, col + 1),
                      rb_db_text(r[other], (size_t)io, col + 1)) == 0;
        if (!same) {
            rb_buf_addf(&b, "%s%" PRIu64, b.len > 0 ? "," : "", k);
            n++;
        }
    }
    free(idx[SRC]);
    free(idx[DST]);
    *list = n > 0 && n < st->nbuckets ? rb_strdup(st->a, b.data) : NULL;
    rb_buf_release(&b);
    return n;
}

/* Before the drill-down: it sorts what it streams, so back to the server's own memory limit. */
int rb_cmp_drill_begin(struct cmp *st, const char *what, uint64_t nbuckets, struct rb_err *err)
{
    if (rb_cmp_exec_pair(st, "RESET work_mem", err) < 0)
        return -1;
    rb_progress_note(st->o->progress, "%s: reading the %s of %" PRIu64 " differing bucket%s",
                     st->t->name, what, nbuckets, nbuckets == 1 ? "" : "s");
    return 0;
}

/*
 * The drill-down on side s: `select` (rb_key first) of the listed buckets (NULL: all), in key order.
 * A single integer key is ordered by its typed value, not by its text cast back (rb_key::int8):
 * the same numeric order, but one the key's btree index gives, so a drill-down of every bucket
 * (deletions with legacy history, a sync that wrote nothing) reads the index in order instead of
 * sorting every key on disk.
 */
/*
 * Range buckets as key ranges, neighbours merged: "AND (k BETWEEN a AND b OR ...)", which the
 * key's index answers (a bitmap of index ranges) where `bucket IN (...)` scans the table.
 */
static const char *bucket_ranges(struct cmp *st, enum side s, const char *bucket_list)
{
    const char *k = st->cols[st->keyidx[0]].typed[s];
    struct rb_buf b = RB_BUF_INIT;
    const char *p = bucket_list, *out;
    int64_t from = -1, to = -1;

    rb_buf_adds(&b, " AND (");
    for (;;) {
        char *end;
        int64_t n = *p != '\0' ? (int64_t)strtoll(p, &end, 10) : -1;

        if (n >= 0 && from >= 0 && n == to + 1) {
            to = n;
        } else {
            if (from >= 0)
                rb_buf_addf(&b, "%s(%s)::int8 BETWEEN %" PRId64 " AND %" PRId64,
                            b.len > 6 ? " OR " : "", k, st->range_lo + from * st->range_width,
                            st->range_lo + (to + 1) * st->range_width - 1);
            from = to = n;
        }
        if (n < 0)
            break;
        p = *end == ',' ? end + 1 : end;
    }
    rb_buf_adds(&b, ")");
    out = rb_strdup(st->a, b.data);
    rb_buf_release(&b);
    return out;
}

const char *rb_cmp_drill_sql(struct cmp *st, enum side s, const char *select,
                             const char *bucket_list)
{
    const char *in =
        bucket_list == NULL ? ""
        : st->by_range      ? bucket_ranges(st, s, bucket_list)
                            : rb_sprintf(st->a, " AND %s IN (%s)", st->bucket[s], bucket_list);

    if (st->int_order) {
        const char *k = st->cols[st->keyidx[0]].typed[s];

        return rb_sprintf(st->a, "SELECT %s %s%s AND (%s) IS NOT NULL ORDER BY %s", select,
                          st->from[s], in, k, k);
    }
    return rb_sprintf(st->a,
                      "SELECT * FROM (SELECT %s %s%s) q WHERE rb_key IS NOT NULL "
                      "ORDER BY rb_key COLLATE \"C\"",
                      select, st->from[s], in);
}

/*
 * The per-row hash the bucket sums add up: a 64-bit hash the server computes on the text (or,
 * for an integer key alone, on the number) without md5's hex text and bit casts, about a third
 * of a full-table check's time. A server of another byte order hashes otherwise: its sums differ
 * in every bucket and the drill-down reads every row, slower but still exact, since buckets are
 * chosen by rb_cmp_bucket_expr (md5 or mod, the same everywhere) and rows are compared as text.
 */
const char *rb_cmp_hash_expr(struct cmp *st, const char *text)
{
    /* in "C": under a nondeterministic collation, texts that differ would hash alike */
    return rb_sprintf(st->a, "hashtextextended((%s) COLLATE \"C\", 0)", text);
}

/* Start both sides' streams and read the first row of each. */
int rb_cmp_streams_open(struct cmp *st, const char *const sql[2], struct cursor cu[2],
                        uint64_t *fetched, struct rb_err *err)
{
    for (int s = 0; s < 2; s++) {
        struct rb_db_stmt q = { 0 };

        q.sql = sql[s];
        if (rb_db_stream(st->c[s], &q, st->deadline, &cu[s].stream, err) < 0)
            return -1;
    }
    if (rb_cmp_cursor_next(&cu[SRC], fetched, err) < 0 ||
        rb_cmp_cursor_next(&cu[DST], fetched, err) < 0)
        return -1;
    return 0;
}

/* End both streams (a stream not read to its end is cancelled); rc: the caller's status so far. */
int rb_cmp_streams_end(struct cmp *st, struct cursor cu[2], int rc, struct rb_err *err)
{
    for (int s = 0; s < 2; s++)
        if (rb_db_stream_end(st->c[s], cu[s].stream, rc == 0 ? err : NULL) < 0 && rc == 0)
            rc = -1;
    return rc;
}

/* --- step 2 and 3 -------------------------------------------------------------------------- */

static const char *bucket_sql(struct cmp *st, enum side s)
{
    return rb_sprintf(st->a,
                      "SELECT rb_b, count(*), sum(rb_h) FROM (SELECT %s AS rb_b, "
                      "%s AS rb_h %s) q GROUP BY rb_b",
                      st->bucket[s], rb_cmp_hash_expr(st, row_text(st, s)), st->from[s]);
}

/* Index rows of a bucket result by bucket number: idx[b] = row or -1. */
void rb_cmp_index_buckets(const struct rb_db_result *r, int *idx, uint64_t n)
{
    for (uint64_t b = 0; b < n; b++)
        idx[b] = -1;
    for (size_t i = 0; i < r->nrows; i++) {
        uint64_t b = strtoull(rb_db_text(r, i, 0), NULL, 10);
        if (!rb_db_isnull(r, i, 0) && b < n)
            idx[b] = (int)i;
    }
}

/* A streamed row: its values as text (NULL = SQL NULL), key text first. */
typedef const char *const *row_t;

static const char *dup_value(struct rb_arena *a, row_t r, size_t col)
{
    return r[col] == NULL ? NULL : rb_strdup(a, r[col]);
}

static const char **row_key(struct cmp *st, struct rb_arena *a, row_t r)
{
    const char **key = rb_new_array(a, const char *, st->nkeys);

    for (size_t k = 0; k < st->nkeys; k++)
        key[k] = dup_value(a, r, 1 + st->keyidx[k]);
    return key;
}

/* Room for one more listed row (lists grow only when listing is unbounded, as for gaps). */
static struct rb_compare_row *list_slot(struct cmp *st, struct rb_compare_row **rows, size_t *n,
                                        size_t *cap)
{
    rb_arena_push(st->a, *rows, *n, *cap, 1024);
    return &(*rows)[(*n)++];
}

static void fill_missing(struct cmp *st, struct rb_arena *a, struct rb_compare_row *row, row_t s)
{
    row->key = row_key(st, a, s);
    row->n_cols = st->ncols;
    row->cols = rb_new_array(a, struct rb_compare_col, st->ncols);
    for (size_t i = 0; i < st->ncols; i++) {
        row->cols[i].column = st->cols[i].name;
        row->cols[i].new_value = dup_value(a, s, 1 + i);
    }
}

static bool same_value(row_t s, row_t d, size_t col)
{
    bool sn = s[col] == NULL, dn = d[col] == NULL;

    if (sn || dn)
        return sn && dn;
    return strcmp(s[col], d[col]) == 0;
}

static void fill_differing(struct cmp *st, struct rb_arena *a, struct rb_compare_row *row, row_t s,
                           row_t d, size_t n)
{
    row->key = row_key(st, a, s);
    row->n_cols = 0;
    row->cols = rb_new_array(a, struct rb_compare_col, n);
    for (size_t i = 0; i < st->ncols; i++) {
        if (same_value(s, d, 1 + i))
            continue;
        row->cols[row->n_cols].column = st->cols[i].name;
        row->cols[row->n_cols].new_value = dup_value(a, s, 1 + i);
        row->cols[row->n_cols].legacy_value = dup_value(a, d, 1 + i);
        row->n_cols++;
    }
}

/*
 * A found row: handed to on_row (built in a scratch arena freed right after, so memory stays
 * flat however many rows are found), or kept in the result's list while there is room.
 */
static void found(struct cmp *st, struct rb_compare_result *res, bool missing, row_t s, row_t d,
                  size_t n)
{
    struct rb_compare_row *row, tmp;

    if (st->o->on_row != NULL) {
        struct rb_arena *scratch = rb_arena_new();

        memset(&tmp, 0, sizeof(tmp));
        if (missing)
            fill_missing(st, scratch, &tmp, s);
        else
            fill_differing(st, scratch, &tmp, s, d, n);
        st->o->on_row(st->o->on_row_ctx, res, missing, &tmp);
        rb_arena_free(scratch);
        return;
    }
    if (missing) {
        if (res->n_missing_rows >= st->list_max)
            return;
        row = list_slot(st, &res->missing_rows, &res->n_missing_rows, &st->cap_missing);
        fill_missing(st, st->a, row, s);
    } else {
        if (res->n_differing_rows >= st->list_max)
            return;
        row = list_slot(st, &res->differing_rows, &res->n_differing_rows, &st->cap_differing);
        fill_differing(st, st->a, row, s, d, n);
    }
}

static void note_missing(struct cmp *st, struct rb_compare_result *res, row_t s)
{
    res->missing++;
    found(st, res, true, s, NULL, st->ncols);
}

static void compare_rows(struct cmp *st, struct rb_compare_result *res, row_t s, row_t d)
{
    size_t n = 0;

    for (size_t i = 0; i < st->ncols; i++)
        if (!same_value(s, d, 1 + i))
            n++;
    if (n == 0)
        return;
    res->differing++;
    found(st, res, false, s, d, n);
}

/* Stream the rows of the differing buckets from both sides and merge them by key text. */
static int drill_down(struct cmp *st, const char *bucket_list, struct rb_compare_result *res,
                      struct rb_err *err)
{
    struct cursor cu[2] = { { st, SRC, NULL, NULL }, { st, DST, NULL, NULL } };
    int rc = -1;

    const char *sql[2] = { rb_cmp_drill_sql(st, SRC, row_select(st, SRC), bucket_list),
                           rb_cmp_drill_sql(st, DST, row_select(st, DST), bucket_list) };

    if (rb_cmp_streams_open(st, sql, cu, &res->rows_fetched, err) < 0)
        goto out;
    while (cu[SRC].row != NULL) {
        int cmp = cu[DST].row == NULL
                      ? -1
                      : rb_cmp_key_cmp(st, cu[SRC].row[0] != NULL ? cu[SRC].row[0] : "",
                                       cu[DST].row[0] != NULL ? cu[DST].row[0] : "");

        if (cmp < 0) {
            note_missing(st, res, cu[SRC].row);
            if (rb_cmp_cursor_next(&cu[SRC], &res->rows_fetched, err) < 0)
                goto out;
        } else if (cmp > 0) {
            /* a legacy key the source does not have: history from before cutover */
            if (rb_cmp_cursor_next(&cu[DST], &res->rows_fetched, err) < 0)
                goto out;
        } else {
            compare_rows(st, res, cu[SRC].row, cu[DST].row);
            if (rb_cmp_cursor_next(&cu[SRC], &res->rows_fetched, err) < 0 ||
                rb_cmp_cursor_next(&cu[DST], &res->rows_fetched, err) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    /* the rest of legacy's stream is not needed: the driver cancels it rather than read it */
    return rb_cmp_streams_end(st, cu, rc, err);
}

/*
 * *rows (the table's estimate) lowered to the planner's estimate of the source rows compare
 * reads (st->from[SRC]: changed since cutover, the table's `where`): EXPLAIN's "Plan Rows" of
 * the top node. A plan it cannot read leaves *rows as it was.
 */
static int estimate_filtered(struct cmp *st, struct rb_arena *scratch, uint64_t *rows,
                             struct rb_err *err)
{
    const char *q[2] = { rb_sprintf(st->a, "EXPLAIN (FORMAT JSON) SELECT 1 %s", st->from[SRC]),
                         NULL };
    struct rb_db_result *r[2];
    cJSON *plan;
    const cJSON *n;

    if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
        return -1;
    if (r[SRC]->nrows < 1 || (plan = cJSON_Parse(rb_db_text(r[SRC], 0, 0))) == NULL)
        return 0;
    n = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(plan, 0), "Plan"), "Plan Rows");
    if (cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < (double)*rows)
        *rows = (uint64_t)n->valuedouble;
    cJSON_Delete(plan);
    return 0;
}

/*
 * Step 1 of the comparison, in the snapshot rb_cmp_begin opened: st->from[] of both sides, and
 * whether the source has rows changed since cutover (*empty false) with about how many.
 */
int rb_cmp_compare_prepare(struct cmp *st, struct rb_arena *scratch, bool *empty,
                           uint64_t *estimate, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *q[2];
    struct rb_db_result *r[2];
    const char *lo = NULL, *hi = NULL;

    st->from[SRC] = src_filter(st->a, t, st->o->cutover);
    st->int_order = st->nkeys == 1 && st->cols[st->keyidx[0]].is_int;
    st->keytext[SRC] = rb_cmp_key_text(st, SRC);
    st->keytext[DST] = rb_cmp_key_text(st, DST);

    /*
     * step 1b: whether there are source rows, their key bounds, and about how many there are.
     * Only the bucket count needs the number, and an estimate will do (the planner's, from the
     * table's statistics scaled to its size now): the exact count comes from step 2's bucket
     * counts. So this step reads no row it need not: min and max of an indexed key are one
     * index probe each, EXISTS stops at the first row; before, a count(*) here scanned the whole
     * source while legacy sat idle. Without statistics (a view, a table never analyzed) it
     * counts as before.
     */
    rb_progress_note(st->o->progress, "%s: the key bounds of the rows changed since cutover",
                     t->name);
    q[SRC] = rb_sprintf(
        st->a,
        "SELECT %s, EXISTS (SELECT 1 %s), %s%s",
        st->nkeys == 1 ? "m.lo, m.hi" : "NULL::text, NULL::text", st->from[SRC],
        rb_cmp_estimate_sql(st, t->source_table),
        st->nkeys == 1
            ? rb_sprintf(st->a, " FROM (SELECT min(%s)::text AS lo, max(%s)::text AS hi %s) m",
                         rb_cmp_range_key(st, SRC), rb_cmp_range_key(st, SRC), st->from[SRC])
            : "");
    q[DST] = NULL;
    if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
        return -1;
    if (!rb_db_isnull(r[SRC], 0, 0)) {
        lo = rb_strdup(st->a, rb_db_value(r[SRC], 0, 0));
        hi = rb_strdup(st->a, rb_db_text(r[SRC], 0, 1));
    }
    *empty = rb_db_text(r[SRC], 0, 2)[0] != 't';
    if (*empty)
        return 0;
    if (!rb_db_isnull(r[SRC], 0, 3)) {
        *estimate = strtoull(rb_db_text(r[SRC], 0, 3), NULL, 10);
        /*
         * That is the whole table's; the buckets are for the rows changed since cutover, often
         * a fraction of it (3.5x fewer in the rehearsal's payments). The planner's estimate of
         * the filtered rows (its histogram of changed_since, no scan) chooses them instead.
         */
        if (estimate_filtered(st, scratch, estimate, err) < 0)
            return -1;
    } else {
        q[SRC] = rb_sprintf(st->a, "SELECT count(*) %s", st->from[SRC]);
        if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
            return -1;
        *estimate = strtoull(rb_db_text(r[SRC], 0, 0), NULL, 10);
    }

    /* always a WHERE: the drill-down adds its bucket list with AND */
    st->from[DST] =
        rb_sprintf(st->a, "FROM %s WHERE true", rb_pg_quote_qualified(st->a, t->target_table));
    if (lo != NULL)
        st->from[DST] = rb_sprintf(st->a, "%s AND %s AND %s", st->from[DST],
                                   rb_cmp_key_bound(st, DST, ">=", lo),
                                   rb_cmp_key_bound(st, DST, "<=", hi));
    /* both sides' keys now lie in [lo, hi] */
    rb_cmp_set_key_range(st, lo, hi);
    return 0;
}

const char *rb_cmp_row_hash(struct cmp *st, enum side s)
{
    return rb_cmp_hash_expr(st, row_text(st, s));
}

/*
 * Steps 2 (read) and 3 of the comparison, from both sides' bucket results whose columns col and
 * col + 1 are this comparison's count and hash sum (column 0 the bucket).
 */
int rb_cmp_compare_finish(struct cmp *st, struct rb_compare_result *res,
                          struct rb_db_result *const r[2], int col, struct rb_err *err)
{
    const char *bl = NULL;

    /* the exact source row count; rows with a NULL key cannot be matched by key: each is missing
     * (and is not listed) */
    for (size_t i = 0; i < r[SRC]->nrows; i++) {
        uint64_t n = strtoull(rb_db_text(r[SRC], i, col), NULL, 10);

        res->source_rows += n;
        if (rb_db_isnull(r[SRC], i, 0))
            res->null_keys += n;
    }
    res->missing += res->null_keys;
    /* a bucket without source rows: whatever legacy holds there is outside the check */
    res->buckets_differing = rb_cmp_differing_buckets(st, r, SRC, col, &bl);

    /* step 3: rows of the differing buckets only */
    if (res->buckets_differing > 0 &&
        (rb_cmp_drill_begin(st, "rows", res->buckets_differing, err) < 0 ||
         drill_down(st, bl, res, err) < 0))
        return -1;
    return 0;
}

static int compare(struct cmp *st, struct rb_compare_result *res, struct rb_err *err)
{
    const char *q[2];
    struct rb_db_result *r[2];
    uint64_t estimate = 0;
    bool empty;
    /* results are read once: their memory goes when they are read, not with the run */
    struct rb_arena *scratch = rb_arena_new();
    int rc = -1;

    if (rb_cmp_begin(st, scratch, err) < 0 ||
        rb_cmp_compare_prepare(st, scratch, &empty, &estimate, err) < 0)
        goto out;
    if (!empty) {
        /* step 2: bucket aggregates on both sides */
        rb_cmp_set_buckets(st, estimate);
        res->buckets = st->nbuckets;
        q[SRC] = bucket_sql(st, SRC);
        q[DST] = bucket_sql(st, DST);
        rb_progress_note(st->o->progress,
                         "%s: hashing about %" PRIu64 " rows in %" PRIu64
                         " buckets on both sides",
                         st->t->name, estimate, st->nbuckets);
        if (rb_cmp_run_pair(st, scratch, q, r, err) < 0 ||
            rb_cmp_compare_finish(st, res, r, 1, err) < 0)
            goto out;
    }
    rc = rb_cmp_tx_pair(st, "COMMIT", err);
out:
    rb_arena_free(scratch);
    return rc;
}

/* st for comparing t between src and dst; *opts (the caller's copy) gets its defaults. */
void rb_cmp_init(struct cmp *st, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                 const struct rb_sync_table *t, struct rb_compare_opts *opts, int64_t start)
{
    if (opts->list_max == 0)
        opts->list_max = RB_COMPARE_LIST_MAX;
    if (opts->bucket_rows == 0)
        opts->bucket_rows = RB_COMPARE_BUCKET_ROWS;
    memset(st, 0, sizeof(*st));
    st->a = a;
    st->c[SRC] = src;
    st->c[DST] = dst;
    st->label[SRC] = opts->src_label != NULL ? opts->src_label : "new";
    st->label[DST] = opts->dst_label != NULL ? opts->dst_label : "legacy";
    st->t = t;
    st->o = opts;
    st->list_max = opts->list_max;
    st->deadline = start + (opts->timeout_ms > 0 ? opts->timeout_ms : RB_COMPARE_TIMEOUT_MS);
}

/* After a failure: both connections idle again, and err says what was being done. */
int rb_cmp_fail(struct cmp *st, const char *doing, const char *verb, struct rb_err *err)
{
    rb_cmp_reset_conns(st);
    if (err != NULL && err->cls == RB_E_INTERRUPTED)
        rb_errf(err, RB_E_INTERRUPTED, "interrupted while %s '%s'", doing, st->t->name);
    else
        rb_err_wrap(err, "unable to %s '%s'", verb, st->t->name);
    return -1;
}

void rb_cmp_compare_init(struct cmp *st, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                         const struct rb_sync_table *t, struct rb_compare_opts *opts,
                         struct rb_compare_result *res, int64_t start)
{
    rb_cmp_init(st, a, src, dst, t, opts, start);
    memset(res, 0, sizeof(*res));
    res->table = t->name;
    res->source_table = t->source_table;
    res->target_table = t->target_table;
    res->key_columns = &t->key;
    /* listed rows: up to list_max of each kind; with "all" (gaps) the lists grow as found */
    st->cap_missing = st->cap_differing = opts->list_max < 1024 ? opts->list_max : 1024;
    res->missing_rows = rb_new_array(a, struct rb_compare_row, st->cap_missing);
    res->differing_rows = rb_new_array(a, struct rb_compare_row, st->cap_differing);
}

int rb_compare_table(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                     const struct rb_sync_table *t, const struct rb_compare_opts *o,
                     struct rb_compare_result *res, struct rb_err *err)
{
    struct rb_compare_opts opts = *o;
    struct cmp st;
    int64_t start = rb_now_ms();
    int rc;

    rb_cmp_compare_init(&st, a, src, dst, t, &opts, res, start);
    rc = compare(&st, res, err);
    if (rc < 0)
        rb_cmp_fail(&st, "comparing", "compare", err);
    res->duration_ms = rb_now_ms() - start;
    return rc;
}

const char *rb_compare_describe(struct rb_arena *a, const struct rb_sync_table *t,
                                const char *cutover)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    rb_buf_adds(&b, "new rows: SELECT ");
    for (size_t i = 0; i < t->n_columns; i++)
        rb_buf_addf(&b, "%s(%s)::<legacy type of %s>", i > 0 ? ", " : "", t->columns[i].source_expr,
                    t->columns[i].target_column);
    rb_buf_addf(&b, " %s\n", src_filter(a, t, cutover));
    rb_buf_addf(&b, "legacy rows: SELECT ");
    for (size_t i = 0; i < t->n_columns; i++)
        rb_buf_addf(&b, "%s%s", i > 0 ? ", " : "",
                    rb_pg_quote_ident(a, t->columns[i].target_column));
    rb_buf_addf(&b, " FROM %s WHERE (", rb_pg_quote_qualified(a, t->target_table));
    for (size_t i = 0; i < t->key.n; i++)
        rb_buf_addf(&b, "%s%s", i > 0 ? ", " : "", rb_pg_quote_ident(a, t->key.items[i]));
    rb_buf_adds(&b, ") among the new rows' keys\n"
                    "both sides in parallel: count(*) and sum of "
                    "hashtextextended(ROW(...)::text COLLATE \"C\", 0) per key bucket, "
                    "then the rows of differing buckets only");
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}
