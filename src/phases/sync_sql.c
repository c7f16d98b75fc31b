/*
 * sync_sql.c - every statement of a sync table, built once from the runbook at plan time.
 *
 * Names (tables, target columns, key, changed_since) are always quoted; source expressions and
 * `where:` are SQL by contract and pass as written, an expression in parentheses unless it is a
 * bare lower-case name. COPY takes no parameters, so the cutover is a quoted literal.
 *
 * The cutover instant itself belongs to the rows at risk (changed_since >= cutover): legacy was
 * frozen by then, so a row stamped exactly at cutover was written in new, and sending one that
 * legacy already holds costs nothing (the upsert leaves equal rows alone), whereas leaving it out
 * loses it without a trace.
 */
#include "sync_priv.h"

#include <string.h>

#include "rollbackctl/pg.h"

/* "FILE:LINE:COL: " for messages that name the runbook line. */
static const char *where_in_runbook(struct rb_run *run, struct rb_pos pos)
{
    return rb_sprintf(run->arena, "%s:%d:%d: ", run->rb->path != NULL ? run->rb->path : "runbook",
                      pos.line, pos.col);
}

/* Prefix err with the runbook position and the sync table's name. */
int rb_sync_table_err(struct rb_run *run, const struct sync_table *st, struct rb_pos pos,
                      struct rb_err *err)
{
    if (pos.line == 0)
        pos = st->t->pos;
    return rb_err_wrap(err, "%ssync table '%s'", where_in_runbook(run, pos), st->t->name);
}

/* A bare lower-case identifier needs no parentheses around it in the SELECT list. */
static bool simple_name(const char *s)
{
    if (*s == '\0' || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool is_key(const struct rb_sync_table *t, const char *col)
{
    size_t i;

    for (i = 0; i < t->key.n; i++)
        if (strcmp(t->key.items[i], col) == 0)
            return true;
    return false;
}

const struct rb_column_map *rb_sync_column_of(const struct rb_sync_table *t, const char *col)
{
    size_t i;

    for (i = 0; i < t->n_columns; i++)
        if (strcmp(t->columns[i].target_column, col) == 0)
            return &t->columns[i];
    return NULL;
}

const char *rb_sync_expr_sql(struct rb_arena *a, const char *expr)
{
    return simple_name(expr) ? expr : rb_sprintf(a, "(%s)", expr);
}

const char *rb_sync_changed_filter(struct rb_arena *a, const struct rb_sync_table *t,
                                   const char *cutover)
{
    bool where = t->where != NULL && t->where[0] != '\0';

    return rb_sprintf(a, "%s >= %s::timestamptz%s%s%s", rb_pg_quote_ident(a, t->changed_since),
                      rb_pg_quote_literal(a, cutover), where ? " AND (" : "", where ? t->where : "",
                      where ? ")" : "");
}

/*
 * Apply one batch of deletions: the rows of the target whose key is in $1 (JSON objects of key
 * texts, typed by the target's own row type, so every key type parses as the target reads it),
 * within deletions.scope. Soft delete marks only rows not marked already: a second run changes
 * nothing. Returns how many rows it changed.
 */
static const char *delete_sql(struct rb_arena *a, const struct sync_table *st, const char *keys)
{
    const struct rb_sync_deletions *d = &st->t->deletions;
    bool scope = d->scope != NULL && d->scope[0] != '\0';
    const char *in = rb_sprintf(a, "(%s) IN (SELECT %s FROM jsonb_populate_recordset(NULL::%s, "
                                   "$1::jsonb))%s%s%s",
                                keys, keys, st->tgt_q, scope ? " AND (" : "",
                                scope ? d->scope : "", scope ? ")" : "");

    if (d->policy == RB_DELETIONS_SOFT_DELETE) {
        const char *col = rb_pg_quote_ident(a, d->soft_column);
        const char *val = rb_pg_quote_literal(a, d->soft_value);

        return rb_sprintf(a,
                          "WITH rb_deleted AS (UPDATE %s SET %s = %s WHERE %s AND %s IS DISTINCT "
                          "FROM %s RETURNING 1) SELECT count(*) FROM rb_deleted",
                          st->tgt_q, col, val, in, col, val);
    }
    return rb_sprintf(a,
                      "WITH rb_deleted AS (DELETE FROM %s WHERE %s RETURNING 1) SELECT count(*) "
                      "FROM rb_deleted",
                      st->tgt_q, in);
}

/*
 * `split:`: range st->range of n_ranges on the key's source expression, bounds b1..b(N-1):
 * (k < b1 OR k IS NULL), k >= b(i-1) AND k < b(i), ..., k >= b(N-1). Every row of the filter is
 * in exactly one of them, whatever the bounds; a NULL key is range 1's, so that the stage's NOT
 * NULL refuses it as it would unsplit rather than no range taking it. Bounds are integers written
 * by sync.c (never runbook text); before they are known, placeholders say where they go.
 */
const char *rb_sync_range_sql(struct rb_arena *a, const struct sync_table *st)
{
    const struct rb_column_map *cm;
    const char *k, *lo, *hi;

    if (st->range < 1 || st->n_ranges < 2 || st->t->key.n != 1 ||
        (cm = rb_sync_column_of(st->t, st->t->key.items[0])) == NULL)
        return "";
    k = rb_sync_expr_sql(a, cm->source_expr);
    lo = st->range == 1 ? NULL
                        : (st->bounds != NULL ? st->bounds[st->range - 2]
                                              : rb_sprintf(a, "<split bound %d>", st->range - 1));
    hi = st->range == st->n_ranges
             ? NULL
             : (st->bounds != NULL ? st->bounds[st->range - 1]
                                   : rb_sprintf(a, "<split bound %d>", st->range));
    if (lo == NULL)
        return rb_sprintf(a, "(%s < %s OR %s IS NULL)", k, hi, k);
    if (hi == NULL)
        return rb_sprintf(a, "%s >= %s", k, lo);
    return rb_sprintf(a, "%s >= %s AND %s < %s", k, lo, k, hi);
}

/* Build every statement of the table once; plan prints them, apply runs them. */
void rb_sync_build_sql(struct rb_run *run, struct sync_table *st)
{
    const struct rb_sync_table *t = st->t;
    struct rb_arena *a = run->arena;
    struct rb_buf sel = RB_BUF_INIT, cols = RB_BUF_INIT, keys = RB_BUF_INIT, set = RB_BUF_INIT;
    struct rb_buf old = RB_BUF_INIT, newv = RB_BUF_INIT, keytext = RB_BUF_INIT,
                  notnull = RB_BUF_INIT, keyjoin = RB_BUF_INIT;
    char cutover[40];
    const char *range;
    size_t i, nset = 0;

    st->src_q = rb_pg_quote_qualified(a, t->source_table);
    st->tgt_q = rb_pg_quote_qualified(a, t->target_table);
    rb_time_format_rfc3339(run->rb->cutover, cutover, sizeof(cutover));
    /* after a pre-sync, from its instant (presync.c); the probe reads as before either way */
    st->filter = rb_sync_changed_filter(a, t, st->since != NULL ? st->since : cutover);
    range = rb_sync_range_sql(a, st);
    if (range[0] != '\0')
        st->filter = rb_sprintf(a, "%s AND %s", st->filter, range);
    for (i = 0; i < t->n_columns; i++) {
        const char *col = rb_pg_quote_ident(a, t->columns[i].target_column);

        rb_buf_addf(&sel, "%s%s AS %s", i > 0 ? ", " : "",
                    rb_sync_expr_sql(a, t->columns[i].source_expr), col);
        rb_buf_addf(&cols, "%s%s", i > 0 ? ", " : "", col);
        if (!is_key(t, t->columns[i].target_column)) {
            rb_buf_addf(&set, "%s%s = EXCLUDED.%s", nset > 0 ? ", " : "", col, col);
            rb_buf_addf(&old, "%st.%s", nset > 0 ? ", " : "", col);
            rb_buf_addf(&newv, "%sEXCLUDED.%s", nset > 0 ? ", " : "", col);
            nset++;
        }
    }
    for (i = 0; i < t->key.n; i++) {
        rb_buf_addf(&keys, "%s%s", i > 0 ? ", " : "", rb_pg_quote_ident(a, t->key.items[i]));
        rb_buf_addf(&keytext, "%s%s::text", i > 0 ? ", " : "",
                    rb_pg_quote_ident(a, t->key.items[i]));
        rb_buf_addf(&notnull, "%sALTER COLUMN %s SET NOT NULL", i > 0 ? ", " : "",
                    rb_pg_quote_ident(a, t->key.items[i]));
        rb_buf_addf(&keyjoin, "%ss.%s = t.%s", i > 0 ? " AND " : "",
                    rb_pg_quote_ident(a, t->key.items[i]), rb_pg_quote_ident(a, t->key.items[i]));
    }

    st->copy_out_sql = rb_sprintf(a, "COPY (SELECT %s FROM %s WHERE %s) TO STDOUT", sel.data,
                                  st->src_q, st->filter);
    st->count_sql = rb_sprintf(a, "SELECT count(*) FROM %s WHERE %s", st->src_q, st->filter);
    st->null_count_sql =
        rb_sprintf(a, "SELECT count(*) FROM %s WHERE %s IS NULL%s%s%s%s%s", st->src_q,
                   rb_pg_quote_ident(a, t->changed_since), t->where != NULL ? " AND (" : "",
                   t->where != NULL ? t->where : "", t->where != NULL ? ")" : "",
                   range[0] != '\0' ? " AND " : "", range);
    st->probe_sql = rb_sprintf(a, "SELECT %s FROM %s WHERE %s LIMIT 0", sel.data, st->src_q,
                               rb_sync_changed_filter(a, t, cutover));
    st->stage_sql =
        rb_sprintf(a, "CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
                   SYNC_STAGE, cols.data, st->tgt_q);
    /*
     * A key part that is NULL never conflicts (NULLs are distinct in a unique index), so such a
     * row would be inserted again by every run: refuse it while copying, naming the row.
     */
    st->stage_keys_sql = rb_sprintf(a, "ALTER TABLE pg_temp.%s %s", SYNC_STAGE, notnull.data);
    st->copy_in_sql = rb_sprintf(a, "COPY pg_temp.%s (%s) FROM STDIN", SYNC_STAGE, cols.data);
    if (nset > 0)
        st->upsert_sql = rb_sprintf(
            a,
            "WITH upsert AS (INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.%s "
            "ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s) "
            "RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM "
            "upsert",
            st->tgt_q, cols.data, cols.data, SYNC_STAGE, keys.data, set.data, old.data, newv.data);
    else /* every column is part of the key: a present row is an equal row */
        st->upsert_sql =
            rb_sprintf(a,
                       "WITH upsert AS (INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.%s "
                       "ON CONFLICT (%s) DO NOTHING RETURNING true AS inserted) "
                       "SELECT count(*), 0 FROM upsert",
                       st->tgt_q, cols.data, cols.data, SYNC_STAGE, keys.data);
    /*
     * The upsert's fast path (sync.c's apply step): when none of the staged keys is in the
     * target yet (rows created since cutover, the common case), a plain INSERT of the same
     * columns does the upsert's work at about half its cost, without the speculative insertion
     * and the RETURNING rows it counts. key_present_sql decides; the stage's key columns are NOT
     * NULL and have the target's types, so the join is the unique index's own equality. That
     * join probes the target's index once per staged row (0.25-0.4 s at 500,000 rows, a third of
     * the INSERT); a single-column key first looks up the first SYNC_KEY_SAMPLE staged keys (a
     * table whose keys are there already, a second run, says yes at once), then asks the index
     * whether any target key lies between the smallest and the largest staged one (two scans of
     * the stage, about 0.06 s), which is enough when new's keys continue above legacy's, and only
     * then joins every staged key. ORDER BY ... LIMIT 1, not min()/max(): a key type with a btree
     * order need not have those aggregates (uuid has none). CASE evaluates its subqueries only
     * when it reaches them.
     */
    st->key_present_sql =
        rb_sprintf(a, "SELECT EXISTS (SELECT 1 FROM pg_temp.%s AS s JOIN %s AS t ON %s)",
                   SYNC_STAGE, st->tgt_q, keyjoin.data);
    if (t->key.n == 1) {
        const char *k = rb_pg_quote_ident(a, t->key.items[0]);

        st->key_present_sql = rb_sprintf(
            a,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM (SELECT %s FROM pg_temp.%s LIMIT %d) AS s "
            "JOIN %s AS t ON %s) THEN true WHEN NOT EXISTS (SELECT 1 FROM %s AS t WHERE t.%s "
            "BETWEEN (SELECT %s FROM pg_temp.%s ORDER BY 1 LIMIT 1) AND (SELECT %s FROM "
            "pg_temp.%s ORDER BY 1 DESC LIMIT 1)) THEN false ELSE EXISTS (SELECT 1 FROM "
            "pg_temp.%s AS s JOIN %s AS t ON %s) END",
            k, SYNC_STAGE, SYNC_KEY_SAMPLE, st->tgt_q, keyjoin.data, st->tgt_q, k, k, SYNC_STAGE, k,
            SYNC_STAGE, SYNC_STAGE, st->tgt_q, keyjoin.data);
    }
    st->insert_sql = rb_sprintf(a, "INSERT INTO %s (%s) SELECT %s FROM pg_temp.%s", st->tgt_q,
                                cols.data, cols.data, SYNC_STAGE);
    st->dup_sql =
        rb_sprintf(a, "SELECT %s, count(*) FROM pg_temp.%s GROUP BY %s HAVING count(*) > 1 LIMIT 1",
                   keytext.data, SYNC_STAGE, keys.data);
    if (t->deletions.policy == RB_DELETIONS_DELETE ||
        t->deletions.policy == RB_DELETIONS_SOFT_DELETE)
        st->delete_sql = delete_sql(a, st, keys.data);
    st->lock_sql = rb_sprintf(
        a, "SET lock_timeout = '%s'; SELECT pg_advisory_lock(%d, %d); RESET lock_timeout",
        SYNC_LOCK_WAIT, SYNC_LOCK_CLASS, SYNC_LOCK_OBJ);
    rb_buf_release(&sel);
    rb_buf_release(&cols);
    rb_buf_release(&keys);
    rb_buf_release(&set);
    rb_buf_release(&old);
    rb_buf_release(&newv);
    rb_buf_release(&keytext);
    rb_buf_release(&notnull);
    rb_buf_release(&keyjoin);
}
