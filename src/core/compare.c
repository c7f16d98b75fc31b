/*
 * compare.c - the `compare` check: a sync table's mapping, new against legacy, row by row.
 *
 * Three steps, each run on both databases at once (two connections, asynchronous libpq):
 *   1. the source rows' count and key bounds (new only) and the legacy column types (legacy only);
 *   2. per key bucket, count(*) and sum of a 60-bit md5 piece of the canonical row text, on both
 *      sides; equal buckets are done;
 *   3. the rows of the buckets that differ, streamed from both sides in key-text order (single-row
 *      mode, so memory stays flat however many differ) and merged here: a source key absent in
 *      legacy is missing, a key present on both with other column texts differs, a legacy key
 *      absent in the source is pre-cutover history and ignored.
 * Buckets stand in for data-diff's key-range segments: a bucket is a function of the key only
 * (key mod N for integer keys, an md5 piece of the key text otherwise), so it means the same on
 * both sides whatever the collation, and each step is one scan per side however scattered the
 * differences are. Legacy rows are limited to the source's key bounds when the key is a single
 * column, which keeps pre-cutover history out of the buckets when its keys lie apart.
 */
#include "rollbackctl/compare.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/sync.h"
#include "rollbackctl/run.h"

#define MAX_BUCKETS 65536

enum side { SRC = 0, DST = 1 };

/* One mapped column, with the expressions that give its canonical form on each side. */
struct ccol {
    const char *name;     /* target column */
    const char *typed[2]; /* value of the target column's type (or text for non-catalog types) */
    const char *canon[2]; /* what is hashed and compared: typed, or text when the cast may lose */
    const char *type;     /* format_type() of the legacy column */
    bool is_int;          /* int2/int4/int8: bucket by key mod N */
    bool collatable;      /* ranges on it compare with COLLATE "C" */
    bool as_text;         /* a legacy type new may not know (enum, domain): compared as text */
};

struct cmp {
    struct rb_arena *a;
    PGconn *c[2];
    const char *label[2];
    const struct rb_sync_table *t;
    const struct rb_compare_opts *o;
    int64_t deadline;
    size_t list_max;

    struct ccol *cols;
    size_t ncols;
    size_t *keyidx; /* cols index of each key column */
    size_t nkeys;

    const char *from[2];    /* "FROM ... WHERE ..." selecting the rows to compare on each side */
    const char *keytext[2]; /* the key's text form (merge order) */
    const char *bucket[2];  /* bucket number, given nbuckets */
    uint64_t nbuckets;
    size_t cap_missing, cap_differing; /* allocated room in the result's row lists */
};

/* --- both connections at once ------------------------------------------------------------- */

static int side_err(struct cmp *st, enum side s, const PGresult *r, struct rb_err *err)
{
    rb_pg_result_err(err, r, st->c[s]);
    return rb_err_wrap(err, "on '%s'", st->label[s]);
}

static int send_query(struct cmp *st, enum side s, const char *sql, bool single_row,
                      struct rb_err *err)
{
    if (!PQsendQueryParams(st->c[s], sql, 0, NULL, NULL, NULL, NULL, 0))
        return side_err(st, s, NULL, err);
    /* a connection someone left nonblocking may hold part of a long query (a bucket list) */
    if (rb_pg_flush(st->c[s], st->deadline, err) < 0)
        return rb_err_wrap(err, "on '%s'", st->label[s]);
    if (single_row && !PQsetSingleRowMode(st->c[s]))
        return side_err(st, s, NULL, err);
    return 0;
}

/* Wait until no connection in want[] is busy, or the deadline passes. */
static int wait_idle(struct cmp *st, const bool want[2], struct rb_err *err)
{
    for (;;) {
        struct pollfd p[2];
        int n = 0, rc;
        int64_t left;

        for (int s = 0; s < 2; s++) {
            if (!want[s])
                continue;
            if (!PQconsumeInput(st->c[s]))
                return side_err(st, (enum side)s, NULL, err);
            if (PQisBusy(st->c[s])) {
                p[n].fd = PQsocket(st->c[s]);
                p[n].events = POLLIN;
                p[n].revents = 0;
                n++;
            }
        }
        if (n == 0)
            return 0;
        if (rb_interrupted())
            return rb_errf(err, RB_E_INTERRUPTED, "interrupted");
        left = st->deadline - rb_now_ms();
        if (left <= 0)
            return rb_errf(err, RB_E_FAILED, "comparison timed out");
        rc = poll(p, (nfds_t)n, left > 60000 ? 60000 : (int)left);
        if (rc < 0 && errno != EINTR)
            return rb_errf(err, RB_E_FAILED, "poll failed: %s", strerror(errno));
    }
}

/* Collect the one result of a finished statement on side s (NULL with err on failure). */
static PGresult *take_result(struct cmp *st, enum side s, struct rb_err *err)
{
    PGresult *r, *keep = NULL;

    while ((r = PQgetResult(st->c[s])) != NULL) {
        if (keep == NULL)
            keep = r;
        else
            PQclear(r);
    }
    if (keep == NULL) {
        side_err(st, s, NULL, err);
        return NULL;
    }
    if (PQresultStatus(keep) != PGRES_TUPLES_OK && PQresultStatus(keep) != PGRES_COMMAND_OK) {
        side_err(st, s, keep, err);
        PQclear(keep);
        return NULL;
    }
    return keep;
}

/*
 * Run sql[SRC] and sql[DST] (either may be NULL) at the same time and hand back both results
 * (caller PQclear()s them).
 */
static int run_pair(struct cmp *st, const char *const sql[2], PGresult *out[2], struct rb_err *err)
{
    bool want[2] = { sql[SRC] != NULL, sql[DST] != NULL };
    int rc = 0;

    out[SRC] = out[DST] = NULL;
    for (int s = 0; s < 2; s++)
        if (want[s] && send_query(st, (enum side)s, sql[s], false, err) < 0)
            return -1;
    if (wait_idle(st, want, err) < 0)
        return -1;
    for (int s = 0; s < 2; s++) {
        if (!want[s])
            continue;
        out[s] = take_result(st, (enum side)s, rc < 0 ? NULL : err);
        if (out[s] == NULL)
            rc = -1;
    }
    if (rc < 0) {
        PQclear(out[SRC]);
        PQclear(out[DST]);
        out[SRC] = out[DST] = NULL;
    }
    return rc;
}

static int exec_pair(struct cmp *st, const char *sql, struct rb_err *err)
{
    const char *q[2] = { sql, sql };
    PGresult *r[2];

    if (run_pair(st, q, r, err) < 0)
        return -1;
    PQclear(r[SRC]);
    PQclear(r[DST]);
    return 0;
}

/* Leave both connections idle and outside any transaction, whatever state an error left. */
static void reset_conns(struct cmp *st)
{
    for (int s = 0; s < 2; s++) {
        PGconn *c = st->c[s];

        if (c == NULL || PQstatus(c) != CONNECTION_OK)
            continue;
        if (PQtransactionStatus(c) == PQTRANS_ACTIVE && rb_pg_cancel(c) < 0)
            continue;
        /* with a deadline, like every statement: a hung server must not hang the cleanup */
        if (PQtransactionStatus(c) != PQTRANS_IDLE)
            rb_pg_exec(c, 10000, "ROLLBACK", 0, NULL, NULL);
    }
}

/* --- a streamed, ordered row source -------------------------------------------------------- */

struct cursor {
    struct cmp *st;
    enum side s;
    PGresult *row; /* current row (single-row result), NULL when done */
    bool done;
};

static int cursor_next(struct cursor *cu, uint64_t *fetched, struct rb_err *err)
{
    PGconn *c = cu->st->c[cu->s];
    bool want[2] = { cu->s == SRC, cu->s == DST };

    PQclear(cu->row);
    cu->row = NULL;
    while (!cu->done) {
        PGresult *r;

        if (PQisBusy(c) && wait_idle(cu->st, want, err) < 0)
            return -1;
        r = PQgetResult(c);
        if (r == NULL) {
            cu->done = true;
            break;
        }
        switch (PQresultStatus(r)) {
        case PGRES_SINGLE_TUPLE:
            cu->row = r;
            (*fetched)++;
            return 0;
        case PGRES_TUPLES_OK:
            PQclear(r);
            break;
        default:
            side_err(cu->st, cu->s, r, err);
            PQclear(r);
            return -1;
        }
    }
    return 0;
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

static const char *key_text(struct cmp *st, enum side s)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    if (st->nkeys == 1)
        return rb_sprintf(st->a, "(%s)::text", st->cols[st->keyidx[0]].typed[s]);
    rb_buf_adds(&b, "ROW(");
    for (size_t i = 0; i < st->nkeys; i++)
        rb_buf_addf(&b, "%s%s", i > 0 ? ", " : "", st->cols[st->keyidx[i]].typed[s]);
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

static const char *bucket_expr(struct cmp *st, enum side s)
{
    if (st->nkeys == 1 && st->cols[st->keyidx[0]].is_int)
        return rb_sprintf(st->a, "abs((%s) %% %" PRIu64 ")::int", st->cols[st->keyidx[0]].typed[s],
                          st->nbuckets);
    return rb_sprintf(
        st->a, "((('x' || substr(md5(%s), 1, 8))::bit(32)::int & 2147483647) %% %" PRIu64 ")",
        st->keytext[s], st->nbuckets);
}

/* --- step 1: types, count, bounds ---------------------------------------------------------- */

/*
 * A domain column is compared as its base type (a legacy `amount` domain over numeric(12,2)
 * holds 10.00 where new says 10): the domain's checks do not change a value's text.
 */
static const char types_sql[] =
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

static int resolve_columns(struct cmp *st, PGresult *types, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;

    st->ncols = t->n_columns;
    st->cols = rb_new_array(st->a, struct ccol, st->ncols);
    for (size_t i = 0; i < t->n_columns; i++) {
        struct ccol *c = &st->cols[i];
        int row = -1;

        c->name = t->columns[i].target_column;
        for (int r = 0; r < PQntuples(types); r++)
            if (strcmp(PQgetvalue(types, r, 0), c->name) == 0)
                row = r;
        if (row < 0)
            return rb_errf(err, RB_E_FAILED, "column '%s' not found in legacy table '%s'", c->name,
                           t->target_table);
        c->type = rb_strdup(st->a, PQgetvalue(types, row, 1));
        c->is_int = PQgetvalue(types, row, 3)[0] == 't';
        c->collatable = PQgetvalue(types, row, 4)[0] == 't';
        if (PQgetvalue(types, row, 2)[0] == 't') {
            /* the source value in the legacy column's type: numeric scale, precision agree */
            c->typed[SRC] = rb_sprintf(st->a, "(%s)::%s", t->columns[i].source_expr, c->type);
            c->typed[DST] = rb_pg_quote_ident(st->a, c->name);
            c->canon[SRC] = c->typed[SRC];
            c->canon[DST] = c->typed[DST];
            if (!PQgetisnull(types, row, 5)) {
                /*
                 * The column has a length, scale or precision: the cast rounds (10.005 to 10.01,
                 * .4s away) or cuts ('abcdef' to 'abc') without an error, so a value legacy
                 * cannot hold would match what legacy holds. Such a value keeps its own text,
                 * which no value of the legacy column can equal (more digits, more characters).
                 */
                const char *base = rb_sprintf(st->a, "(%s)::%s", t->columns[i].source_expr,
                                              PQgetvalue(types, row, 5));

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
static const char *range_key(struct cmp *st, enum side s)
{
    const struct ccol *k = &st->cols[st->keyidx[0]];

    if (k->collatable)
        return rb_sprintf(st->a, "(%s) COLLATE \"C\"", k->typed[s]);
    return k->typed[s];
}

/* --- step 2 and 3 -------------------------------------------------------------------------- */

static const char *bucket_sql(struct cmp *st, enum side s)
{
    return rb_sprintf(st->a,
                      "SELECT rb_b, count(*), sum(rb_h) FROM (SELECT %s AS rb_b, "
                      "('x' || substr(md5(%s), 18))::bit(60)::bigint AS rb_h %s) q GROUP BY rb_b",
                      st->bucket[s], row_text(st, s), st->from[s]);
}

/* Index rows of a bucket result by bucket number: idx[b] = row or -1. */
static void index_buckets(PGresult *r, int *idx, uint64_t n)
{
    for (uint64_t b = 0; b < n; b++)
        idx[b] = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        uint64_t b = strtoull(PQgetvalue(r, i, 0), NULL, 10);
        if (!PQgetisnull(r, i, 0) && b < n)
            idx[b] = i;
    }
}

static const char *dup_value(struct rb_arena *a, const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? NULL : rb_strdup(a, PQgetvalue(r, 0, col));
}

static const char **row_key(struct cmp *st, struct rb_arena *a, const PGresult *r)
{
    const char **key = rb_new_array(a, const char *, st->nkeys);

    for (size_t k = 0; k < st->nkeys; k++)
        key[k] = dup_value(a, r, 1 + (int)st->keyidx[k]);
    return key;
}

/* Room for one more listed row (lists grow only when listing is unbounded, as for gaps). */
static struct rb_compare_row *list_slot(struct cmp *st, struct rb_compare_row **rows, size_t *n,
                                        size_t *cap)
{
    if (*n == *cap) {
        size_t ncap = *cap * 2;
        struct rb_compare_row *grown = rb_new_array(st->a, struct rb_compare_row, ncap);

        memcpy(grown, *rows, sizeof(**rows) * *n);
        *rows = grown;
        *cap = ncap;
    }
    return &(*rows)[(*n)++];
}

static void fill_missing(struct cmp *st, struct rb_arena *a, struct rb_compare_row *row,
                         const PGresult *s)
{
    row->key = row_key(st, a, s);
    row->n_cols = st->ncols;
    row->cols = rb_new_array(a, struct rb_compare_col, st->ncols);
    for (size_t i = 0; i < st->ncols; i++) {
        row->cols[i].column = st->cols[i].name;
        row->cols[i].new_value = dup_value(a, s, 1 + (int)i);
    }
}

static bool same_value(const PGresult *s, const PGresult *d, int col)
{
    bool sn = PQgetisnull(s, 0, col), dn = PQgetisnull(d, 0, col);

    if (sn || dn)
        return sn && dn;
    return strcmp(PQgetvalue(s, 0, col), PQgetvalue(d, 0, col)) == 0;
}

static void fill_differing(struct cmp *st, struct rb_arena *a, struct rb_compare_row *row,
                           const PGresult *s, const PGresult *d, size_t n)
{
    row->key = row_key(st, a, s);
    row->n_cols = 0;
    row->cols = rb_new_array(a, struct rb_compare_col, n);
    for (size_t i = 0; i < st->ncols; i++) {
        if (same_value(s, d, 1 + (int)i))
            continue;
        row->cols[row->n_cols].column = st->cols[i].name;
        row->cols[row->n_cols].new_value = dup_value(a, s, 1 + (int)i);
        row->cols[row->n_cols].legacy_value = dup_value(a, d, 1 + (int)i);
        row->n_cols++;
    }
}

/*
 * A found row: handed to on_row (built in a scratch arena freed right after, so memory stays
 * flat however many rows are found), or kept in the result's list while there is room.
 */
static void found(struct cmp *st, struct rb_compare_result *res, bool missing, const PGresult *s,
                  const PGresult *d, size_t n)
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

static void note_missing(struct cmp *st, struct rb_compare_result *res, const PGresult *s)
{
    res->missing++;
    found(st, res, true, s, NULL, st->ncols);
}

static void compare_rows(struct cmp *st, struct rb_compare_result *res, const PGresult *s,
                         const PGresult *d)
{
    size_t n = 0;

    for (size_t i = 0; i < st->ncols; i++)
        if (!same_value(s, d, 1 + (int)i))
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
    struct cursor cu[2] = { { st, SRC, NULL, false }, { st, DST, NULL, false } };
    int rc = -1;

    for (int s = 0; s < 2; s++) {
        const char *sql = rb_sprintf(
            st->a,
            "SELECT * FROM (SELECT %s %s%s%s) q WHERE rb_key IS NOT NULL "
            "ORDER BY rb_key COLLATE \"C\"",
            row_select(st, (enum side)s), st->from[s], bucket_list != NULL ? " AND " : "",
            bucket_list != NULL ? rb_sprintf(st->a, "%s IN (%s)", st->bucket[s], bucket_list) : "");
        if (send_query(st, (enum side)s, sql, true, err) < 0)
            return -1;
    }
    if (cursor_next(&cu[SRC], &res->rows_fetched, err) < 0 ||
        cursor_next(&cu[DST], &res->rows_fetched, err) < 0)
        goto out;
    while (cu[SRC].row != NULL) {
        int cmp = cu[DST].row == NULL
                      ? -1
                      : strcmp(PQgetvalue(cu[SRC].row, 0, 0), PQgetvalue(cu[DST].row, 0, 0));

        if (cmp < 0) {
            note_missing(st, res, cu[SRC].row);
            if (cursor_next(&cu[SRC], &res->rows_fetched, err) < 0)
                goto out;
        } else if (cmp > 0) {
            /* a legacy key the source does not have: history from before cutover */
            if (cursor_next(&cu[DST], &res->rows_fetched, err) < 0)
                goto out;
        } else {
            compare_rows(st, res, cu[SRC].row, cu[DST].row);
            if (cursor_next(&cu[SRC], &res->rows_fetched, err) < 0 ||
                cursor_next(&cu[DST], &res->rows_fetched, err) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    PQclear(cu[SRC].row);
    PQclear(cu[DST].row);
    /* the rest of legacy's stream is not needed: cancel it rather than read it */
    for (int s = 0; s < 2; s++)
        if (!cu[s].done && PQtransactionStatus(st->c[s]) == PQTRANS_ACTIVE &&
            rb_pg_cancel(st->c[s]) < 0 && rc == 0)
            rc = side_err(st, (enum side)s, NULL, err);
    return rc;
}

static int compare(struct cmp *st, struct rb_compare_result *res, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *q[2];
    PGresult *r[2];
    const char *lo = NULL, *hi = NULL;
    int *idx[2];
    struct rb_buf list = RB_BUF_INIT;

    if (exec_pair(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) < 0)
        return -1;
    /*
     * For this transaction only: the planner cannot know that the bucket expression has at most
     * MAX_BUCKETS values (it assumes one group per row), so without help it plans a spilling,
     * single-process hash aggregate. Cheap parallel tuples and room for the hash table let it
     * aggregate in parallel workers, as a plain count(*) does; JIT compilation costs more than
     * it saves on these scans.
     */
    if (exec_pair(st,
                  "SELECT set_config('work_mem', '256MB', true), set_config('jit', 'off', true), "
                  "set_config('parallel_tuple_cost', '0.00001', true)",
                  err) < 0)
        return -1;

    /* step 1a: legacy column types (they decide the canonical form on both sides) */
    q[SRC] = NULL;
    q[DST] = rb_sprintf(st->a, types_sql,
                        rb_pg_quote_literal(st->a, rb_pg_quote_qualified(st->a, t->target_table)));
    if (run_pair(st, q, r, err) < 0)
        return -1;
    if (resolve_columns(st, r[DST], err) < 0) {
        PQclear(r[DST]);
        return -1;
    }
    PQclear(r[DST]);
    st->from[SRC] = src_filter(st->a, t, st->o->cutover);
    st->keytext[SRC] = key_text(st, SRC);
    st->keytext[DST] = key_text(st, DST);

    /* step 1b: how many source rows, and their key bounds */
    q[SRC] = st->nkeys == 1 ? rb_sprintf(st->a, "SELECT count(*), min(%s)::text, max(%s)::text %s",
                                         range_key(st, SRC), range_key(st, SRC), st->from[SRC])
                            : rb_sprintf(st->a, "SELECT count(*) %s", st->from[SRC]);
    q[DST] = NULL;
    if (run_pair(st, q, r, err) < 0)
        return -1;
    res->source_rows = strtoull(PQgetvalue(r[SRC], 0, 0), NULL, 10);
    if (st->nkeys == 1 && !PQgetisnull(r[SRC], 0, 1)) {
        lo = rb_strdup(st->a, PQgetvalue(r[SRC], 0, 1));
        hi = rb_strdup(st->a, PQgetvalue(r[SRC], 0, 2));
    }
    PQclear(r[SRC]);
    if (res->source_rows == 0)
        return exec_pair(st, "COMMIT", err);

    st->from[DST] = rb_sprintf(st->a, "FROM %s", rb_pg_quote_qualified(st->a, t->target_table));
    if (lo != NULL) {
        const struct ccol *k = &st->cols[st->keyidx[0]];
        const char *ty = k->as_text ? "text" : k->type;

        st->from[DST] = rb_sprintf(st->a, "%s WHERE %s BETWEEN %s::%s AND %s::%s", st->from[DST],
                                   range_key(st, DST), rb_pg_quote_literal(st->a, lo), ty,
                                   rb_pg_quote_literal(st->a, hi), ty);
    }

    /* step 2: bucket aggregates on both sides */
    st->nbuckets = res->source_rows / st->o->bucket_rows;
    if (st->nbuckets < 1)
        st->nbuckets = 1;
    if (st->nbuckets > MAX_BUCKETS)
        st->nbuckets = MAX_BUCKETS;
    res->buckets = st->nbuckets;
    st->bucket[SRC] = bucket_expr(st, SRC);
    st->bucket[DST] = bucket_expr(st, DST);
    q[SRC] = bucket_sql(st, SRC);
    q[DST] = bucket_sql(st, DST);
    if (run_pair(st, q, r, err) < 0)
        return -1;
    idx[SRC] = malloc(sizeof(int) * st->nbuckets);
    idx[DST] = malloc(sizeof(int) * st->nbuckets);
    if (idx[SRC] == NULL || idx[DST] == NULL)
        abort();
    index_buckets(r[SRC], idx[SRC], st->nbuckets);
    /* rows with a NULL key cannot be matched by key: each is missing (and is not listed) */
    for (int i = 0; i < PQntuples(r[SRC]); i++)
        if (PQgetisnull(r[SRC], i, 0))
            res->null_keys += strtoull(PQgetvalue(r[SRC], i, 1), NULL, 10);
    res->missing += res->null_keys;
    index_buckets(r[DST], idx[DST], st->nbuckets);
    for (uint64_t b = 0; b < st->nbuckets; b++) {
        int is = idx[SRC][b], id = idx[DST][b];
        bool same;

        if (is < 0)
            continue; /* no source row here: whatever legacy holds is outside the check */
        same = id >= 0 && strcmp(PQgetvalue(r[SRC], is, 1), PQgetvalue(r[DST], id, 1)) == 0 &&
               strcmp(PQgetvalue(r[SRC], is, 2), PQgetvalue(r[DST], id, 2)) == 0;
        if (!same) {
            rb_buf_addf(&list, "%s%" PRIu64, list.len > 0 ? "," : "", b);
            res->buckets_differing++;
        }
    }
    free(idx[SRC]);
    free(idx[DST]);
    PQclear(r[SRC]);
    PQclear(r[DST]);

    /* step 3: rows of the differing buckets only */
    if (res->buckets_differing > 0) {
        const char *bl =
            res->buckets_differing == st->nbuckets ? NULL : rb_strdup(st->a, list.data);

        rb_buf_release(&list);
        /* the drill-down sorts rows: back to the server's own memory limit for that */
        if (exec_pair(st, "RESET work_mem", err) < 0)
            return -1;
        if (drill_down(st, bl, res, err) < 0)
            return -1;
    }
    rb_buf_release(&list);
    return exec_pair(st, "COMMIT", err);
}

int rb_compare_table(struct rb_arena *a, PGconn *src, PGconn *dst, const struct rb_sync_table *t,
                     const struct rb_compare_opts *o, struct rb_compare_result *res,
                     struct rb_err *err)
{
    struct rb_compare_opts opts = *o;
    struct cmp st;
    int64_t start = rb_now_ms();
    int rc;

    if (opts.list_max == 0)
        opts.list_max = RB_COMPARE_LIST_MAX;
    if (opts.bucket_rows == 0)
        opts.bucket_rows = RB_COMPARE_BUCKET_ROWS;
    memset(&st, 0, sizeof(st));
    st.a = a;
    st.c[SRC] = src;
    st.c[DST] = dst;
    st.label[SRC] = opts.src_label != NULL ? opts.src_label : "new";
    st.label[DST] = opts.dst_label != NULL ? opts.dst_label : "legacy";
    st.t = t;
    st.o = &opts;
    st.list_max = opts.list_max;
    st.deadline = start + (opts.timeout_ms > 0 ? opts.timeout_ms : RB_COMPARE_TIMEOUT_MS);

    memset(res, 0, sizeof(*res));
    res->table = t->name;
    res->source_table = t->source_table;
    res->target_table = t->target_table;
    res->key_columns = &t->key;
    /* listed rows: up to list_max of each kind; with "all" (gaps) the lists grow as found */
    st.cap_missing = st.cap_differing = opts.list_max < 1024 ? opts.list_max : 1024;
    res->missing_rows = rb_new_array(a, struct rb_compare_row, st.cap_missing);
    res->differing_rows = rb_new_array(a, struct rb_compare_row, st.cap_differing);
    rc = compare(&st, res, err);
    if (rc < 0) {
        reset_conns(&st);
        if (err != NULL && err->cls == RB_E_INTERRUPTED)
            rb_errf(err, RB_E_INTERRUPTED, "interrupted while comparing '%s'", t->name);
        else
            rb_err_wrap(err, "unable to compare '%s'", t->name);
    }
    res->duration_ms = rb_now_ms() - start;
    return rc;
}

/* --- reporting ------------------------------------------------------------------------------ */

static cJSON *value_json(const char *v)
{
    return v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull();
}

static cJSON *key_json(const struct rb_compare_result *res, const struct rb_compare_row *row)
{
    cJSON *k = cJSON_CreateObject();

    for (size_t i = 0; i < res->key_columns->n; i++)
        cJSON_AddItemToObject(k, res->key_columns->items[i], value_json(row->key[i]));
    return k;
}

cJSON *rb_compare_result_json(const struct rb_compare_result *res)
{
    cJSON *o = cJSON_CreateObject(), *list;

    cJSON_AddStringToObject(o, "table", res->table);
    cJSON_AddStringToObject(o, "source_table", res->source_table);
    cJSON_AddStringToObject(o, "target_table", res->target_table);
    cJSON_AddNumberToObject(o, "source_rows", (double)res->source_rows);
    cJSON_AddNumberToObject(o, "matching",
                            (double)(res->source_rows - res->missing - res->differing));
    cJSON_AddNumberToObject(o, "missing_in_legacy", (double)res->missing);
    cJSON_AddNumberToObject(o, "differing", (double)res->differing);
    if (res->null_keys > 0)
        cJSON_AddNumberToObject(o, "null_keys", (double)res->null_keys);
    list = cJSON_AddArrayToObject(o, "missing");
    for (size_t i = 0; i < res->n_missing_rows; i++) {
        const struct rb_compare_row *row = &res->missing_rows[i];
        cJSON *r = cJSON_CreateObject(), *vals;

        cJSON_AddItemToObject(r, "key", key_json(res, row));
        vals = cJSON_AddObjectToObject(r, "new");
        for (size_t c = 0; c < row->n_cols; c++)
            cJSON_AddItemToObject(vals, row->cols[c].column, value_json(row->cols[c].new_value));
        cJSON_AddItemToArray(list, r);
    }
    list = cJSON_AddArrayToObject(o, "differences");
    for (size_t i = 0; i < res->n_differing_rows; i++) {
        const struct rb_compare_row *row = &res->differing_rows[i];
        cJSON *r = cJSON_CreateObject(), *cols;

        cJSON_AddItemToObject(r, "key", key_json(res, row));
        cols = cJSON_AddArrayToObject(r, "columns");
        for (size_t c = 0; c < row->n_cols; c++) {
            cJSON *col = cJSON_CreateObject();

            cJSON_AddStringToObject(col, "column", row->cols[c].column);
            cJSON_AddItemToObject(col, "new", value_json(row->cols[c].new_value));
            cJSON_AddItemToObject(col, "legacy", value_json(row->cols[c].legacy_value));
            cJSON_AddItemToArray(cols, col);
        }
        cJSON_AddItemToArray(list, r);
    }
    cJSON_AddNumberToObject(o, "buckets", (double)res->buckets);
    cJSON_AddNumberToObject(o, "buckets_differing", (double)res->buckets_differing);
    cJSON_AddNumberToObject(o, "rows_fetched", (double)res->rows_fetched);
    cJSON_AddNumberToObject(o, "duration_ms", (double)res->duration_ms);
    return o;
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
    rb_buf_adds(
        &b,
        ") among the new rows' keys\n"
        "both sides in parallel: count(*) and sum of md5(ROW(...)::text) pieces per key bucket, "
        "then the rows of differing buckets only");
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}
