/*
 * deletions.c - deletions since cutover (compare.h, rb_deletions_find): the keys legacy holds
 * that new no longer has, found the way the comparison finds missing rows, the other way round.
 *
 * Steps, each on both databases at once in one REPEATABLE READ READ ONLY snapshot per side:
 *   1. the legacy column types (compare.c's canonical key text: the key mapping's source
 *      expressions cast to the legacy key columns' types, so both sides write a key alike), then
 *      whether legacy has rows within `deletions.scope` and each side's estimated row count
 *      (statistics, no scan; a count(*) only without them) to choose the buckets: new's rows
 *      matching the table's `where` (every one, whenever it changed: a row changed long ago still
 *      exists) and legacy's rows in scope, whose exact count step 2's bucket counts give;
 *      With a single-column key, new's key bounds too: legacy's keys below or above all of new's
 *      are deletions without a look at new (counted on legacy, or streamed from it alone when
 *      each is needed), and only legacy's keys between the bounds go through steps 2 and 3;
 *   2. per key bucket, count(*) and sum of a 64-bit hash of the key (number or text) on both sides; a
 *      bucket legacy has and new has alike is done, so unchanged keys never cross the client;
 *   3. the keys of the buckets that differ, streamed from both sides in key order and merged: a
 *      legacy key new lacks is a deletion (a key only new has is sync's and compare's business);
 *   4. with `tombstones:`, the deletions' keys go back to new in batches (a JSON array, one query
 *      per batch, never one per key): a tombstone deleted at or after cutover makes the key
 *      deleted_in_new with its deleted_at, none makes it never_migrated.
 * Memory: without tombstones each key goes out as the merge finds it; with them the deletions'
 * keys are held until step 4 (a few bytes each: deletions are few, or the mapping is wrong).
 */
#include "rollbackctl/compare.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/progress.h"

#include "compare_priv.h"

/* Keys per tombstone query: a bounded parameter, few round trips. */
#define TOMB_BATCH 5000


static bool has_tombstones(const struct rb_sync_table *t)
{
    return t->deletions.tomb_table != NULL && t->deletions.tomb_table[0] != '\0';
}

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* A deletion, decided: counted, then handed to on_deleted or kept in the result's list. */
static void emit(struct del *d, const struct rb_deleted_row *row)
{
    struct rb_deletions_result *res = d->res;

    if (row->never_migrated)
        res->never_migrated++;
    else
        res->deleted_in_new++;
    if (d->on_deleted != NULL) {
        d->on_deleted(d->on_deleted_ctx, res, row);
        return;
    }
    if (res->n_rows >= d->st.list_max)
        return;
    if (res->n_rows == d->cap_rows) {
        size_t ncap = d->cap_rows * 2;
        struct rb_deleted_row *grown = rb_new_array(d->st.a, struct rb_deleted_row, ncap);

        memcpy(grown, res->rows, sizeof(*grown) * res->n_rows);
        res->rows = grown;
        d->cap_rows = ncap;
    }
    res->rows[res->n_rows] = *row;
    res->rows[res->n_rows].key = rb_new_array(d->st.a, const char *, d->st.nkeys);
    for (size_t k = 0; k < d->st.nkeys; k++)
        res->rows[res->n_rows].key[k] =
            row->key[k] != NULL ? rb_strdup(d->st.a, row->key[k]) : NULL;
    res->rows[res->n_rows].deleted_at =
        row->deleted_at != NULL ? rb_strdup(d->st.a, row->deleted_at) : NULL;
    res->n_rows++;
}

/* A legacy key new lacks; r is the legacy stream's row (key text, then each key column). */
static void found(struct del *d, const char *const *r)
{
    struct rb_arena *a = has_tombstones(d->st.t) ? d->held_arena : rb_arena_new();
    struct rb_deleted_row row = { 0 };

    row.key = rb_new_array(a, const char *, d->st.nkeys);
    for (size_t k = 0; k < d->st.nkeys; k++)
        row.key[k] = r[1 + k] != NULL ? rb_strdup(a, r[1 + k]) : NULL;
    if (!has_tombstones(d->st.t)) {
        emit(d, &row);
        rb_arena_free(a);
        return;
    }
    if (d->n_held == d->cap_held) {
        size_t ncap = d->cap_held > 0 ? d->cap_held * 2 : 256;
        struct rb_deleted_row *rows = calloc(ncap, sizeof(*rows));
        const char **texts = calloc(ncap, sizeof(*texts));

        if (rows == NULL || texts == NULL)
            abort();
        if (d->n_held > 0) {
            memcpy(rows, d->held, sizeof(*rows) * d->n_held);
            memcpy(texts, d->held_text, sizeof(*texts) * d->n_held);
        }
        free(d->held);
        free(d->held_text);
        d->held = rows;
        d->held_text = texts;
        d->cap_held = ncap;
    }
    d->held[d->n_held] = row;
    d->held_text[d->n_held] = rb_strdup(a, r[0]);
    d->n_held++;
}

/* --- the SQL ------------------------------------------------------------------------------- */

/*
 * "FROM ... WHERE ...": always a WHERE, so the drill-down can add its bucket list. Legacy's side
 * is the rows in scope that are still live: under policy soft_delete a row already marked void
 * agrees with new having deleted it, so it is no deletion to find (and a second run marks none).
 */
static void set_from(struct cmp *st)
{
    const struct rb_sync_table *t = st->t;
    const struct rb_sync_deletions *d = &t->deletions;
    const char *live = "";

    if (d->policy == RB_DELETIONS_SOFT_DELETE && has_text(d->soft_column) && d->soft_value != NULL)
        live = rb_sprintf(st->a, " AND %s IS DISTINCT FROM %s",
                          rb_pg_quote_ident(st->a, d->soft_column),
                          rb_pg_quote_literal(st->a, d->soft_value));
    st->from[SRC] =
        rb_sprintf(st->a, "FROM %s WHERE %s%s%s", rb_pg_quote_qualified(st->a, t->source_table),
                   has_text(t->where) ? "(" : "", has_text(t->where) ? t->where : "true",
                   has_text(t->where) ? ")" : "");
    st->from[DST] =
        rb_sprintf(st->a, "FROM %s WHERE %s%s%s%s", rb_pg_quote_qualified(st->a, t->target_table),
                   has_text(d->scope) ? "(" : "", has_text(d->scope) ? d->scope : "true",
                   has_text(d->scope) ? ")" : "", live);
}

/* A single integer key is hashed as the number it is (no text), any other key as its text. */
static const char *key_hash(struct cmp *st, enum side s)
{
    if (st->int_order)
        return rb_sprintf(st->a, "hashint8extended((%s)::int8, 0)",
                          st->cols[st->keyidx[0]].typed[s]);
    return rb_cmp_hash_expr(st, st->keytext[s]);
}

static const char *bucket_sql(struct cmp *st, enum side s)
{
    return rb_sprintf(st->a,
                      "SELECT rb_b, count(*), sum(rb_h) FROM (SELECT %s AS rb_b, "
                      "%s AS rb_h %s) q "
                      "GROUP BY rb_b",
                      st->bucket[s], key_hash(st, s), st->from[s]);
}

/* The keys the drill-down streams: legacy's with each key column too (they are listed). */
static const char *keys_select(struct cmp *st, enum side s)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    rb_buf_addf(&b, "%s AS rb_key", st->keytext[s]);
    if (s == DST)
        for (size_t k = 0; k < st->nkeys; k++)
            rb_buf_addf(&b, ", (%s)::text AS rb_k%zu", st->cols[st->keyidx[k]].typed[DST], k);
    out = rb_strdup(st->a, b.data);
    rb_buf_release(&b);
    return out;
}

/*
 * The tombstones of a batch of keys ($1: a JSON array of key texts): the position in the batch
 * of each key with a tombstone deleted at or after cutover, and the latest such deleted_at.
 */
static const char *tomb_sql(struct del *d, struct rb_err *err)
{
    struct cmp *st = &d->st;
    const struct rb_sync_deletions *del = &st->t->deletions;
    const char **parts = rb_new_array(st->a, const char *, st->nkeys);

    for (size_t k = 0; k < st->nkeys; k++) {
        const struct ccol *c = &st->cols[st->keyidx[k]];
        const char *expr = NULL;

        for (size_t i = 0; i < del->n_tomb_key; i++)
            if (strcmp(del->tomb_key[i].target_column, c->name) == 0)
                expr = del->tomb_key[i].source_expr;
        if (expr == NULL) {
            rb_errf(err, RB_E_FAILED,
                    "tombstones of sync table '%s' give no value for key column '%s'", st->t->name,
                    c->name);
            rb_err_hint(err, "add '%s' under deletions.tombstones.key", c->name);
            return NULL;
        }
        parts[k] = rb_sprintf(st->a, "(%s)::%s", expr, c->as_text ? "text" : c->type);
    }
    return rb_sprintf(
        st->a,
        "SELECT k.rb_i - 1, max(tb.rb_at)::text FROM jsonb_array_elements_text("
        "$1::jsonb) WITH ORDINALITY AS k(rb_key, rb_i) JOIN (SELECT %s AS rb_key, %s "
        "AS rb_at FROM %s WHERE %s >= %s::timestamptz%s%s%s) tb USING (rb_key) "
        "GROUP BY k.rb_i",
        rb_cmp_key_text_of(st, parts), rb_pg_quote_ident(st->a, del->tomb_deleted_at),
        rb_pg_quote_qualified(st->a, del->tomb_table),
        rb_pg_quote_ident(st->a, del->tomb_deleted_at), rb_pg_quote_literal(st->a, st->o->cutover),
        has_text(del->tomb_where) ? " AND (" : "", has_text(del->tomb_where) ? del->tomb_where : "",
        has_text(del->tomb_where) ? ")" : "");
}

/* Step 4: tell the held deletions apart, a batch per query, and emit them in key order. */
static int read_tombstones(struct del *d, struct rb_err *err)
{
    struct cmp *st = &d->st;
    const char *sql = d->n_held > 0 ? tomb_sql(d, err) : NULL;

    if (d->n_held > 0 && sql == NULL)
        return -1;
    rb_progress_note(st->o->progress, "%s: reading the tombstones of %zu key%s", st->t->name,
                     d->n_held, d->n_held == 1 ? "" : "s");
    for (size_t at = 0; at < d->n_held; at += TOMB_BATCH) {
        size_t n = d->n_held - at < TOMB_BATCH ? d->n_held - at : TOMB_BATCH;
        cJSON *keys = cJSON_CreateArray();
        char *param;
        const char *params[1];
        struct rb_arena *scratch = rb_arena_new();
        struct rb_db_result *r;
        int64_t left = st->deadline - rb_now_ms();

        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(keys, cJSON_CreateString(d->held_text[at + i]));
        param = cJSON_PrintUnformatted(keys);
        cJSON_Delete(keys);
        if (param == NULL)
            abort();
        params[0] = param;
        r = left > 0 ? rb_db_query(st->c[SRC], scratch, left, sql, 1, params, err) : NULL;
        free(param);
        if (r == NULL) {
            if (left <= 0)
                rb_errf(err, RB_E_FAILED, "comparison timed out");
            rb_arena_free(scratch);
            return rb_cmp_err(err);
        }
        for (size_t i = 0; i < n; i++)
            d->held[at + i].never_migrated = true;
        for (size_t j = 0; j < r->nrows; j++) {
            size_t i = (size_t)strtoull(rb_db_text(r, j, 0), NULL, 10);

            if (i < n) {
                d->held[at + i].never_migrated = false;
                d->held[at + i].deleted_at = rb_db_isnull(r, j, 1) ? NULL : rb_db_text(r, j, 1);
            }
        }
        for (size_t i = 0; i < n; i++)
            emit(d, &d->held[at + i]);
        rb_arena_free(scratch);
    }
    return 0;
}

/* --- the steps ----------------------------------------------------------------------------- */

/* Step 3: stream the keys of the differing buckets from both sides, merge, keep legacy-only. */
static int drill_down(struct del *d, const char *bucket_list, struct rb_err *err)
{
    struct cmp *st = &d->st;
    struct cursor cu[2] = { { st, SRC, NULL, NULL }, { st, DST, NULL, NULL } };
    uint64_t *fetched = &d->res->keys_fetched;
    int rc = -1;

    const char *sql[2] = { rb_cmp_drill_sql(st, SRC, keys_select(st, SRC), bucket_list),
                           rb_cmp_drill_sql(st, DST, keys_select(st, DST), bucket_list) };

    if (rb_cmp_streams_open(st, sql, cu, fetched, err) < 0)
        goto out;
    while (cu[DST].row != NULL) {
        int cmp = cu[SRC].row == NULL ? 1 : rb_cmp_key_cmp(st, cu[SRC].row[0], cu[DST].row[0]);

        if (cmp > 0) {
            found(d, cu[DST].row);
            if (rb_cmp_cursor_next(&cu[DST], fetched, err) < 0)
                goto out;
        } else if (cmp < 0) {
            /* a key only new has: not a deletion */
            if (rb_cmp_cursor_next(&cu[SRC], fetched, err) < 0)
                goto out;
        } else if (rb_cmp_cursor_next(&cu[DST], fetched, err) < 0) {
            /* new still has it; new's cursor stays, in case its key comes twice */
            goto out;
        }
    }
    /*
     * Inside the caller's transaction on new (sync reads its snapshot there, src_in_tx) a cancel
     * would abort that transaction, and the table's COPY after it would fail ("current
     * transaction is aborted", whenever the cancel arrives before the server has sent the rest):
     * the rest is read instead, bounded by the differing buckets' keys.
     */
    while (st->o->src_in_tx && cu[SRC].row != NULL)
        if (rb_cmp_cursor_next(&cu[SRC], fetched, err) < 0)
            goto out;
    rc = 0;
out:
    /* else the rest of new's stream is not needed: the driver cancels it rather than read it */
    return rb_cmp_streams_end(st, cu, rc, err);
}

/*
 * Legacy's keys in `from` (its scope, below or above every key new has): each one new lacks by
 * definition, so nothing of new's is read for them. Counted on the server when the caller only
 * counts and lists (verify: the first list_max are streamed for the list), streamed one by one
 * when each is needed (sync applies them, tombstones tell them apart).
 */
static int outside_keys(struct del *d, const char *from, struct rb_err *err)
{
    struct cmp *st = &d->st;
    struct rb_deletions_result *res = d->res;
    bool each = d->on_deleted != NULL || has_tombstones(st->t);
    const char *saved = st->from[DST], *sql;
    struct cursor cu = { st, DST, NULL, NULL };
    struct rb_db_stmt q = { 0 };
    uint64_t n = 0, streamed = 0, room = 0;
    int rc = -1;

    if (!each) {
        const char *cq[2] = { NULL, rb_sprintf(st->a, "SELECT count(*) %s", from) };
        struct rb_db_result *r[2];
        struct rb_arena *scratch = rb_arena_new();

        if (rb_cmp_run_pair(st, scratch, cq, r, err) < 0) {
            rb_arena_free(scratch);
            return -1;
        }
        n = strtoull(rb_db_text(r[DST], 0, 0), NULL, 10);
        rb_arena_free(scratch);
        res->legacy_rows += n;
        room = res->n_rows < st->list_max ? st->list_max - res->n_rows : 0;
        if (n == 0 || room == 0) {
            res->deleted_in_new += n;
            return 0;
        }
    }
    st->from[DST] = from;
    sql = rb_cmp_drill_sql(st, DST, keys_select(st, DST), NULL);
    st->from[DST] = saved;
    /* gaps lists every one (list_max SIZE_MAX): no LIMIT, which would not fit a bigint */
    q.sql = each || room > (uint64_t)INT64_MAX ? sql
                                               : rb_sprintf(st->a, "%s LIMIT %" PRIu64, sql, room);
    if (rb_db_stream(st->c[DST], &q, st->deadline, &cu.stream, err) < 0)
        return rb_cmp_err(err);
    for (;;) {
        if (rb_cmp_cursor_next(&cu, &res->keys_fetched, err) < 0)
            goto out;
        if (cu.row == NULL)
            break;
        found(d, cu.row);
        streamed++;
    }
    rc = 0;
out:
    if (rb_db_stream_end(st->c[DST], cu.stream, rc == 0 ? err : NULL) < 0 && rc == 0)
        rc = -1;
    if (rc == 0) {
        if (each)
            res->legacy_rows += streamed;
        else
            res->deleted_in_new += n - streamed;
    }
    return rc;
}

/*
 * Step 1, in the snapshot rb_cmp_begin opened (st's columns resolved): st->from[] of both sides,
 * and whether legacy has rows in scope (*empty false) with about how many rows the larger side has.
 */
int rb_del_prepare(struct del *d, struct rb_arena *scratch, bool *empty, uint64_t *estimate,
                   struct rb_err *err)
{
    struct cmp *st = &d->st;
    const char *q[2];
    struct rb_db_result *r[2];
    uint64_t est[2];

    set_from(st);
    st->int_order = st->nkeys == 1 && st->cols[st->keyidx[0]].is_int;
    st->keytext[SRC] = rb_cmp_key_text(st, SRC);
    st->keytext[DST] = rb_cmp_key_text(st, DST);

    /*
     * Whether legacy has rows in scope, and about how many rows each side has: the estimate
     * (statistics, no scan) chooses the buckets, the exact legacy count is the sum of step 2's
     * bucket counts. A full count(*) here scanned both tables once more, inside the downtime
     * window; it is run only for a side without statistics.
     *
     * With a single-column key, also new's key bounds (index probes): legacy's keys outside them
     * are deletions by definition (legacy's own history from before the migration, typically),
     * counted or streamed from legacy alone instead of making every bucket differ and streaming
     * both sides' keys through the merge.
     */
    rb_progress_note(st->o->progress, "%s: estimating the rows on both sides", st->t->name);
    q[SRC] = rb_sprintf(
        st->a, "SELECT true, %s%s", rb_cmp_estimate_sql(st, st->t->source_table),
        st->nkeys == 1
            ? rb_sprintf(st->a, ", m.lo, m.hi FROM (SELECT min(%s)::text AS lo, max(%s)::text "
                                "AS hi %s) m",
                         rb_cmp_range_key(st, SRC), rb_cmp_range_key(st, SRC), st->from[SRC])
            : "");
    q[DST] = rb_sprintf(st->a, "SELECT EXISTS (SELECT 1 %s), %s", st->from[DST],
                        rb_cmp_estimate_sql(st, st->t->target_table));
    if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
        return -1;
    *empty = rb_db_text(r[DST], 0, 0)[0] != 't';
    if (*empty)
        return 0;
    for (int s = 0; s < 2; s++)
        est[s] = rb_db_isnull(r[s], 0, 1) ? UINT64_MAX : strtoull(rb_db_text(r[s], 0, 1), NULL, 10);
    if (st->nkeys == 1 && !rb_db_isnull(r[SRC], 0, 2)) {
        const char *k = rb_cmp_range_key(st, DST), *all = st->from[DST];
        const char *lo = rb_strdup(st->a, rb_db_text(r[SRC], 0, 2));
        const char *hi = rb_strdup(st->a, rb_db_text(r[SRC], 0, 3));

        d->below = rb_sprintf(st->a, "%s AND %s", all, rb_cmp_key_bound(st, DST, "<", lo));
        d->above = rb_sprintf(st->a, "%s AND %s", all, rb_cmp_key_bound(st, DST, ">", hi));
        /* a NULL key stays with the buckets, which count it among legacy's rows as before */
        st->from[DST] = rb_sprintf(st->a, "%s AND (%s AND %s OR %s IS NULL)", all,
                                   rb_cmp_key_bound(st, DST, ">=", lo),
                                   rb_cmp_key_bound(st, DST, "<=", hi), k);
        /* both sides' bucketed keys now lie in [lo, hi] */
        rb_cmp_set_key_range(st, lo, hi);
    }
    if (est[SRC] == UINT64_MAX || est[DST] == UINT64_MAX) {
        for (int s = 0; s < 2; s++)
            q[s] = est[s] == UINT64_MAX ? rb_sprintf(st->a, "SELECT count(*) %s", st->from[s])
                                        : NULL;
        if (rb_cmp_run_pair(st, scratch, q, r, err) < 0)
            return -1;
        for (int s = 0; s < 2; s++)
            if (q[s] != NULL)
                est[s] = strtoull(rb_db_text(r[s], 0, 0), NULL, 10);
    }
    *estimate = est[SRC] > est[DST] ? est[SRC] : est[DST];
    return 0;
}

const char *rb_del_key_hash(struct del *d, enum side s)
{
    return key_hash(&d->st, s);
}

/*
 * Steps 2 (read), 3 and 4, from both sides' bucket results whose columns col and col + 1 are
 * the key counts and hash sums (column 0 the bucket).
 */
int rb_del_finish(struct del *d, struct rb_db_result *const r[2], int col, struct rb_err *err)
{
    struct cmp *st = &d->st;
    struct rb_deletions_result *res = d->res;
    const char *bl = NULL;

    /* legacy's exact row count in scope: its bucket counts (the NULL bucket: keys with a NULL) */
    for (size_t i = 0; i < r[DST]->nrows; i++)
        res->legacy_rows += strtoull(rb_db_text(r[DST], i, col), NULL, 10);
    /* a bucket without legacy keys: nothing legacy holds there can be gone from new */
    res->buckets_differing = rb_cmp_differing_buckets(st, r, DST, col, &bl);
    /* in key order: legacy's keys below new's, those among them, those above */
    if (d->below != NULL && outside_keys(d, d->below, err) < 0)
        return -1;
    if (res->buckets_differing > 0 &&
        (rb_cmp_drill_begin(st, "keys", res->buckets_differing, err) < 0 ||
         drill_down(d, bl, err) < 0))
        return -1;
    if (d->above != NULL && outside_keys(d, d->above, err) < 0)
        return -1;
    /* in the same snapshot of new as the keys: a row deleted meanwhile has its tombstone too */
    if (has_tombstones(st->t) && read_tombstones(d, err) < 0)
        return -1;
    return 0;
}

static int find(struct del *d, struct rb_err *err)
{
    struct cmp *st = &d->st;
    const char *q[2];
    struct rb_db_result *r[2];
    uint64_t estimate = 0;
    bool empty;
    struct rb_arena *scratch = rb_arena_new();
    int rc = -1;

    if (rb_cmp_begin(st, scratch, err) < 0 || rb_del_prepare(d, scratch, &empty, &estimate, err) < 0)
        goto out;
    if (!empty) {
        rb_cmp_set_buckets(st, estimate);
        d->res->buckets = st->nbuckets;
        q[SRC] = bucket_sql(st, SRC);
        q[DST] = bucket_sql(st, DST);
        rb_progress_note(st->o->progress,
                         "%s: hashing the keys in %" PRIu64 " buckets on both sides", st->t->name,
                         st->nbuckets);
        if (rb_cmp_run_pair(st, scratch, q, r, err) < 0 || rb_del_finish(d, r, 1, err) < 0)
            goto out;
    }
    rc = rb_cmp_tx_pair(st, "COMMIT", err);
out:
    rb_arena_free(scratch);
    return rc;
}

void rb_del_init(struct del *d, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                 const struct rb_sync_table *t, struct rb_compare_opts *opts,
                 rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                 struct rb_deletions_result *res, int64_t start)
{
    memset(d, 0, sizeof(*d));
    rb_cmp_init(&d->st, a, src, dst, t, opts, start);
    d->res = res;
    d->on_deleted = on_deleted;
    d->on_deleted_ctx = on_deleted_ctx;
    memset(res, 0, sizeof(*res));
    res->table = t->name;
    res->target_table = t->target_table;
    res->key_columns = &t->key;
    res->exact = has_tombstones(t);
    d->cap_rows = opts->list_max < 1024 ? opts->list_max : 1024;
    res->rows = rb_new_array(a, struct rb_deleted_row, d->cap_rows > 0 ? d->cap_rows : 1);
    d->held_arena = rb_arena_new();
}

void rb_del_release(struct del *d)
{
    free(d->held);
    free(d->held_text);
    rb_arena_free(d->held_arena);
    d->held = NULL;
    d->held_text = NULL;
    d->held_arena = NULL;
}

int rb_deletions_find(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                      const struct rb_sync_table *t, const struct rb_compare_opts *o,
                      rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                      struct rb_deletions_result *res, struct rb_err *err)
{
    struct rb_compare_opts opts = *o;
    struct del d;
    int64_t start = rb_now_ms();
    int rc;

    rb_del_init(&d, a, src, dst, t, &opts, on_deleted, on_deleted_ctx, res, start);
    rc = find(&d, err);
    if (rc < 0)
        rb_cmp_fail(&d.st, "finding the deletions of", "find the deletions of", err);
    rb_del_release(&d);
    res->duration_ms = rb_now_ms() - start;
    return rc;
}

static cJSON *deleted_row_json(const struct rb_deletions_result *res,
                               const struct rb_deleted_row *row)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddItemToObject(r, "key", rb_cmp_key_json(res->key_columns, row->key));
    cJSON_AddStringToObject(
        r, "action", res->exact && row->never_migrated ? "never_migrated" : "deleted_in_new");
    if (row->deleted_at != NULL)
        cJSON_AddStringToObject(r, "deleted_at", row->deleted_at);
    else
        cJSON_AddNullToObject(r, "deleted_at");
    return r;
}

cJSON *rb_deletions_result_json(const struct rb_deletions_result *res)
{
    cJSON *o = cJSON_CreateObject(), *list;

    cJSON_AddStringToObject(o, "table", res->table);
    cJSON_AddStringToObject(o, "target_table", res->target_table);
    cJSON_AddBoolToObject(o, "exact", res->exact);
    cJSON_AddNumberToObject(o, "legacy_rows", (double)res->legacy_rows);
    cJSON_AddNumberToObject(o, "deleted_in_new", (double)res->deleted_in_new);
    cJSON_AddNumberToObject(o, "never_migrated", (double)res->never_migrated);
    list = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; i < res->n_rows; i++)
        cJSON_AddItemToArray(list, deleted_row_json(res, &res->rows[i]));
    cJSON_AddNumberToObject(o, "buckets", (double)res->buckets);
    cJSON_AddNumberToObject(o, "buckets_differing", (double)res->buckets_differing);
    cJSON_AddNumberToObject(o, "keys_fetched", (double)res->keys_fetched);
    cJSON_AddNumberToObject(o, "duration_ms", (double)res->duration_ms);
    return o;
}
