/*
 * sync_check.c - a sync table against the two catalogs before anything is copied, and server
 * errors turned into messages an operator can act on.
 *
 * Every message names the runbook line it belongs to: the table, its source or target, the column
 * or the key. Checks read only (they also run in plan's read-only sessions). Server errors are
 * read by their SQLSTATE and fields (struct rb_db_error), never by their text.
 */
#include "sync_priv.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/sync.h"

/* The oid of a table as text, or NULL (err filled) when it does not exist. */
static const char *table_oid(struct rb_run *run, struct rb_db *c, const char *quoted,
                             struct rb_err *err)
{
    const char *params[1] = { quoted };
    struct rb_db_result *r =
        rb_db_query(c, run->arena, 0, "SELECT to_regclass($1)::oid", 1, params, err);
    const char *oid;

    if (r == NULL)
        return NULL;
    oid = r->nrows < 1 ? NULL : rb_db_value(r, 0, 0);
    if (oid == NULL)
        rb_errf(err, RB_E_FAILED, "no table %s", quoted);
    return oid;
}

/* Column names of a table (arena strings), NULL-terminated. */
static const char **table_columns(struct rb_run *run, struct rb_db *c, const char *oid,
                                  struct rb_err *err)
{
    const char *params[1] = { oid };
    struct rb_db_result *r =
        rb_db_query(c, run->arena, 0,
                    "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
                    "AND NOT attisdropped ORDER BY attnum",
                    1, params, err);
    const char **names;

    if (r == NULL)
        return NULL;
    names = rb_new_array(run->arena, const char *, r->nrows + 1);
    for (size_t i = 0; i < r->nrows; i++)
        names[i] = rb_db_text(r, i, 0);
    return names;
}

static bool has_name(const char **names, const char *name)
{
    for (; *names != NULL; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

/* Is there a valid, immediate, non-partial unique index on exactly the key columns? */
static int key_has_unique_index(struct rb_run *run, struct rb_db *c, const char *oid,
                                const struct rb_strlist *key, bool *found, struct rb_err *err)
{
    const char *params[1] = { oid };
    struct rb_db_result *r = rb_db_query(
        c, run->arena, 0,
        "SELECT i.indexrelid, a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indrelid = $1::oid AND i.indisunique AND i.indimmediate AND i.indisvalid "
        "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY 1",
        1, params, err);
    size_t i = 0, j, n;

    if (r == NULL)
        return -1;
    *found = false;
    n = r->nrows;
    while (i < n && !*found) {
        size_t matched = 0, cols = 0;

        for (j = i; j < n && strcmp(rb_db_text(r, j, 0), rb_db_text(r, i, 0)) == 0; j++) {
            size_t k;

            cols++;
            for (k = 0; k < key->n; k++)
                if (strcmp(key->items[k], rb_db_text(r, j, 1)) == 0)
                    matched++;
        }
        *found = cols == key->n && matched == key->n;
        i = j;
    }
    return 0;
}

/*
 * NUMERIC typmod: ((precision << 16) | scale) + 4, the scale an 11-bit signed number since
 * PostgreSQL 15 (numeric(3,-2) rounds to hundreds); unconstrained: -1, here INT_MIN.
 */
static int numeric_scale(int typmod)
{
    int s;

    if (typmod < 4)
        return INT_MIN;
    s = (typmod - 4) & 0x7ff;
    return (s & 0x400) != 0 ? s - 0x800 : s;
}

static int numeric_precision(int typmod)
{
    return typmod < 4 ? -1 : ((typmod - 4) >> 16) & 0xffff;
}

/*
 * NUMERIC(p,s) target columns whose source may carry more than s decimals (an unconstrained or
 * wider numeric, a float, text): COPY into the target's type would round them without a word
 * (10.005 becomes 10.01). For those, the stage holds the value as sent and a check before the
 * upsert names the first one that does not fit. A source of the same or a smaller scale, or an
 * integer, cannot round: no check, no cost.
 */
static int plan_round_check(struct rb_run *run, struct sync_table *st, struct rb_db *dst,
                            const char *tgt_oid, const struct rb_db_result *probe,
                            struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *params[1] = { tgt_oid };
    struct rb_buf widen = RB_BUF_INIT, where = RB_BUF_INIT, cols = RB_BUF_INIT, keys = RB_BUF_INIT;
    struct rb_db_result *r =
        rb_db_query(dst, run->arena, 0,
                    "SELECT attname, atttypmod, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = $1::oid AND atttypid = 'numeric'::regtype AND atttypmod >= 0 "
                    "AND attnum > 0 AND NOT attisdropped",
                    1, params, err);
    size_t n = 0;

    st->stage_widen_sql = st->round_check_sql = NULL;
    st->round_cols = NULL;
    if (r == NULL)
        return -1;
    st->round_cols = rb_new_array(run->arena, const char *, t->n_columns + 1);
    st->round_types = rb_new_array(run->arena, const char *, t->n_columns + 1);
    for (size_t i = 0; i < t->n_columns && i < probe->ncols; i++) {
        uint32_t ft = probe->types[i];
        int row = -1;

        for (size_t j = 0; j < r->nrows; j++)
            if (strcmp(rb_db_text(r, j, 0), t->columns[i].target_column) == 0)
                row = (int)j;
        if (row < 0)
            continue;
        if (ft == 20 || ft == 21 || ft == 23) /* int8, int2, int4 */
            continue;
        if (ft == 1700 && numeric_scale(probe->typmods[i]) != INT_MIN &&
            numeric_scale(probe->typmods[i]) <= numeric_scale(atoi(rb_db_text(r, (size_t)row, 1))))
            continue;
        {
            const char *col = rb_pg_quote_ident(run->arena, t->columns[i].target_column);
            int mod = atoi(rb_db_text(r, (size_t)row, 1)), scale = numeric_scale(mod);
            /* neither cast nor error here: a value too large for the column is named too */
            const char *bad =
                rb_sprintf(run->arena, "(round(%s, %d) <> %s OR abs(%s) >= 1e%d) AND %s <> 'NaN'",
                           col, scale, col, col, numeric_precision(mod) - scale, col);

            rb_buf_addf(&widen, "%sALTER COLUMN %s TYPE numeric", n > 0 ? ", " : "", col);
            rb_buf_addf(&where, "%s(%s)", n > 0 ? " OR " : "", bad);
            rb_buf_addf(&cols, ", CASE WHEN %s THEN %s::text END", bad, col);
            st->round_types[n] = rb_db_text(r, (size_t)row, 2);
            st->round_cols[n++] = t->columns[i].target_column;
        }
    }
    if (n > 0) {
        for (size_t k = 0; k < t->key.n; k++)
            rb_buf_addf(&keys, "%s%s::text", k > 0 ? ", " : "",
                        rb_pg_quote_ident(run->arena, t->key.items[k]));
        st->stage_widen_sql =
            rb_sprintf(run->arena, "ALTER TABLE pg_temp.%s %s", SYNC_STAGE, widen.data);
        st->round_check_sql = rb_sprintf(run->arena, "SELECT %s%s FROM pg_temp.%s WHERE %s LIMIT 1",
                                         keys.data, cols.data, SYNC_STAGE, where.data);
    }
    rb_buf_release(&widen);
    rb_buf_release(&where);
    rb_buf_release(&cols);
    rb_buf_release(&keys);
    return 0;
}

/* A value the NUMERIC(p,s) target would round: name the column, the value and the row's key. */
void rb_sync_explain_rounding(struct rb_run *run, const struct sync_table *st,
                              const struct rb_db_result *r, struct rb_err *err, struct rb_pos *pos)
{
    const struct rb_sync_table *t = st->t;
    struct rb_buf k = RB_BUF_INIT;
    size_t f, nk = t->key.n;

    for (f = 0; f < nk; f++)
        rb_buf_addf(&k, "%s%s=%s", f > 0 ? ", " : "", t->key.items[f],
                    rb_db_isnull(r, 0, f) ? "NULL" : rb_db_value(r, 0, f));
    (void)run;
    for (f = nk; f < r->ncols; f++) {
        const struct rb_column_map *cm;

        if (rb_db_isnull(r, 0, f) || (cm = rb_sync_column_of(t, st->round_cols[f - nk])) == NULL)
            continue;
        *pos = cm->pos;
        rb_errf(
            err, RB_E_FAILED,
            "column '%s' (source expression '%s'): value %s of the source row with %s does not fit "
            "%s in '%s' exactly: it would be rounded or refused",
            cm->target_column, cm->source_expr, rb_db_value(r, 0, f), k.data,
            st->round_types[f - nk], t->target_table);
        rb_err_hint(err, "if rounding is intended, say so in the mapping: round(%s, <scale>)",
                    cm->source_expr);
        rb_buf_release(&k);
        return;
    }
    rb_errf(err, RB_E_FAILED,
            "a source value does not fit its NUMERIC column in '%s' exactly (row with %s)",
            t->target_table, k.data);
    rb_buf_release(&k);
}

/*
 * A policy that looks at deletions: the soft-delete column exists and its value is one the
 * column takes, and `deletions.scope` runs (LIMIT 0 still parses and casts the literal), so a
 * typo is named at its runbook line before the freeze rather than inside the table's transaction.
 */
static int check_deletions(struct rb_run *run, const struct sync_table *st, struct rb_db *dst,
                           const char **cols, struct rb_err *err)
{
    const struct rb_sync_deletions *d = &st->t->deletions;
    bool scope = d->scope != NULL && d->scope[0] != '\0';
    struct rb_err e2 = RB_ERR_INIT;
    const char *sql;

    if (d->policy == RB_DELETIONS_IGNORE)
        return 0;
    if (d->policy == RB_DELETIONS_SOFT_DELETE && !has_name(cols, d->soft_column)) {
        rb_errf(err, RB_E_FAILED, "target table '%s' has no column '%s' (deletions.soft_delete)",
                st->t->target_table, d->soft_column);
        return rb_sync_table_err(run, st, d->pos, err);
    }
    sql = rb_sprintf(run->arena, "SELECT 1 FROM %s WHERE %s%s%s%s LIMIT 0", st->tgt_q,
                     scope ? "(" : "", scope ? d->scope : "true", scope ? ")" : "",
                     d->policy == RB_DELETIONS_SOFT_DELETE
                         ? rb_sprintf(run->arena, " AND %s IS DISTINCT FROM %s",
                                      rb_pg_quote_ident(run->arena, d->soft_column),
                                      rb_pg_quote_literal(run->arena, d->soft_value))
                         : "");
    if (rb_db_exec(dst, 0, sql, 0, NULL, &e2) == 0)
        return 0;
    if (rb_db_lost(dst)) {
        *err = e2;
        return rb_sync_table_err(run, st, d->pos, err);
    }
    rb_errf(err, RB_E_FAILED, "deletions %s fails on '%s': %s",
            d->policy == RB_DELETIONS_SOFT_DELETE ? "scope or soft_delete value" : "scope",
            st->ph->to, e2.msg);
    return rb_sync_table_err(run, st, d->pos, err);
}

/*
 * Before anything is copied: both tables and every named column exist, the source expressions
 * parse and run, the key has a unique index on the target. Errors name the runbook line.
 */
int rb_sync_validate(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                     struct rb_db *dst, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *src_oid, *tgt_oid, **cols;
    bool unique = false;
    struct rb_db_result *r;
    size_t i;

    /* One connection cannot stream COPY out and in at once: `from` and `to` must differ. */
    if (src == dst) {
        rb_errf(err, RB_E_FAILED, "'from' and 'to' are the same target '%s'", st->ph->to);
        rb_err_hint(err, "name two targets (they may point at the same database)");
        return rb_sync_table_err(run, st, run->rb->sync.pos, err);
    }
    src_oid = table_oid(run, src, st->src_q, err);
    if (src_oid == NULL) {
        if (!rb_db_lost(src))
            rb_errf(err, RB_E_FAILED, "source table '%s' does not exist in '%s'", t->source_table,
                    st->ph->from);
        return rb_sync_table_err(run, st, t->source_pos, err);
    }
    tgt_oid = table_oid(run, dst, st->tgt_q, err);
    if (tgt_oid == NULL) {
        if (!rb_db_lost(dst))
            rb_errf(err, RB_E_FAILED, "target table '%s' does not exist in '%s'", t->target_table,
                    st->ph->to);
        return rb_sync_table_err(run, st, t->target_pos, err);
    }
    if ((cols = table_columns(run, src, src_oid, err)) == NULL)
        return rb_sync_table_err(run, st, t->source_pos, err);
    if (!has_name(cols, t->changed_since)) {
        rb_errf(err, RB_E_FAILED, "source table '%s' has no column '%s' (changed_since)",
                t->source_table, t->changed_since);
        return rb_sync_table_err(run, st, t->source_pos, err);
    }
    {
        /* A NULL change time is never at or after the cutover: such rows are left out, so say how many. */
        const char *params[2] = { src_oid, t->changed_since };

        r = rb_db_query(src, run->arena, 0,
                        "SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = $1::oid "
                        "AND attname = $2",
                        2, params, err);
        if (r == NULL)
            return rb_sync_table_err(run, st, t->source_pos, err);
        st->changed_nullable = r->nrows == 1 && rb_db_text(r, 0, 0)[0] == 't';
    }
    if ((cols = table_columns(run, dst, tgt_oid, err)) == NULL)
        return rb_sync_table_err(run, st, t->target_pos, err);
    for (i = 0; i < t->n_columns; i++) {
        if (!has_name(cols, t->columns[i].target_column)) {
            rb_errf(err, RB_E_FAILED, "target table '%s' has no column '%s'", t->target_table,
                    t->columns[i].target_column);
            return rb_sync_table_err(run, st, t->columns[i].pos, err);
        }
    }
    if (check_deletions(run, st, dst, cols, err) < 0)
        return -1;
    for (i = 0; i < t->key.n; i++) {
        if (rb_sync_column_of(t, t->key.items[i]) == NULL) {
            rb_errf(err, RB_E_FAILED, "key column '%s' is not one of the table's columns",
                    t->key.items[i]);
            return rb_sync_table_err(run, st, t->key.pos, err);
        }
    }
    if (key_has_unique_index(run, dst, tgt_oid, &t->key, &unique, err) < 0)
        return rb_sync_table_err(run, st, t->key.pos, err);
    if (!unique) {
        struct rb_buf k = RB_BUF_INIT;

        for (i = 0; i < t->key.n; i++)
            rb_buf_addf(&k, "%s%s", i > 0 ? ", " : "", t->key.items[i]);
        rb_errf(err, RB_E_FAILED, "target table '%s' has no unique index on the key (%s)",
                t->target_table, k.data);
        rb_buf_release(&k);
        rb_err_hint(err,
                    "the upsert needs a unique index or constraint on exactly the key columns");
        return rb_sync_table_err(run, st, t->key.pos, err);
    }

    /* The whole SELECT first; when it fails, each expression alone tells which line is wrong. */
    r = rb_db_query(src, run->arena, 0, st->probe_sql, 0, NULL, err);
    if (r != NULL) {
        int rc = plan_round_check(run, st, dst, tgt_oid, r, err);

        return rc < 0 ? rb_sync_table_err(run, st, t->target_pos, err) : 0;
    }
    if (rb_db_lost(src))
        return rb_sync_table_err(run, st, t->source_pos, err);
    for (i = 0; i < t->n_columns; i++) {
        struct rb_err e2 = RB_ERR_INIT;
        const char *sql =
            rb_sprintf(run->arena, "SELECT %s FROM %s LIMIT 0",
                       rb_sync_expr_sql(run->arena, t->columns[i].source_expr), st->src_q);

        if (rb_db_exec(src, 0, sql, 0, NULL, &e2) < 0) {
            rb_errf(err, RB_E_FAILED, "column '%s': source expression '%s' fails on '%s': %s",
                    t->columns[i].target_column, t->columns[i].source_expr, st->ph->from, e2.msg);
            return rb_sync_table_err(run, st, t->columns[i].pos, err);
        }
    }
    rb_err_wrap(err, "source query fails on '%s'", st->ph->from);
    return rb_sync_table_err(run, st, t->source_pos, err);
}

/*
 * A failed target COPY into the stage: name the row (the COPY's input line), the column, its
 * source expression and, when we can find it, the row's key in the source.
 */
void rb_sync_explain_copy_error(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                                const struct rb_db_error *fail, struct rb_err *err,
                                struct rb_pos *pos)
{
    const struct rb_column_map *cm = NULL;
    long long line;

    if (fail->message == NULL || fail->copy_relation == NULL ||
        strcmp(fail->copy_relation, SYNC_STAGE) != 0)
        return;
    line = (long long)fail->copy_line;
    /* 23502 on the stage: a key part is NULL (stage_keys_sql); such a row can never be matched */
    if (strcmp(fail->sqlstate, "23502") == 0 && fail->column != NULL &&
        (cm = rb_sync_column_of(st->t, fail->column)) != NULL) {
        *pos = st->t->key.pos;
        rb_errf(err, RB_E_FAILED,
                "row %lld of the source query has a NULL key column '%s' (source expression '%s'): "
                "a row without its whole key cannot be matched in '%s' and would be inserted again "
                "by every run",
                line, cm->target_column, cm->source_expr, st->t->target_table);
        rb_err_hint(err, "exclude such rows with `where:`, or map the key to an expression "
                         "that is never NULL");
        return;
    }
    cm = fail->copy_column != NULL ? rb_sync_column_of(st->t, fail->copy_column) : NULL;
    if (cm == NULL) {
        rb_errf(err, RB_E_FAILED, "row %lld of the source query does not fit the target: %s", line,
                fail->message);
        return;
    }
    *pos = cm->pos;
    rb_errf(err, RB_E_FAILED,
            "row %lld of the source query, column '%s' (source expression '%s'): %s", line,
            cm->target_column, cm->source_expr, fail->message);

    /* Best effort: the key of a source row with that value, so the operator can find it. */
    if (!rb_db_lost(src) && (fail->copy_value != NULL || fail->copy_value_null)) {
        struct rb_buf sql = RB_BUF_INIT, keys = RB_BUF_INIT;
        const char *params[1] = { fail->copy_value };
        struct rb_db_result *r;
        size_t i;

        for (i = 0; i < st->t->key.n; i++) {
            const struct rb_column_map *k = rb_sync_column_of(st->t, st->t->key.items[i]);

            rb_buf_addf(&keys, "%s%s::text", i > 0 ? ", " : "",
                        rb_sync_expr_sql(run->arena, k->source_expr));
        }
        rb_buf_addf(&sql, "SELECT %s FROM %s WHERE %s AND %s %s LIMIT 1", keys.data, st->src_q,
                    st->filter, rb_sync_expr_sql(run->arena, cm->source_expr),
                    fail->copy_value_null ? "IS NULL" : "::text = $1");
        r = rb_db_query(src, run->arena, 30000, sql.data, fail->copy_value_null ? 0 : 1, params,
                        NULL);
        if (r != NULL && r->nrows == 1) {
            struct rb_buf k = RB_BUF_INIT;
            size_t f;

            for (f = 0; f < r->ncols; f++)
                rb_buf_addf(&k, "%s%s=%s", f > 0 ? ", " : "", st->t->key.items[f],
                            rb_db_isnull(r, 0, f) ? "NULL" : rb_db_value(r, 0, f));
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof(err->msg) - used, " (source row with %s)", k.data);
            rb_buf_release(&k);
        }
        rb_buf_release(&sql);
        rb_buf_release(&keys);
    }
}

/* A duplicate key in the staged rows: name it. Runs inside the failed upsert's savepoint. */
void rb_sync_explain_duplicate(struct rb_run *run, const struct sync_table *st, struct rb_db *dst,
                               struct rb_err *err)
{
    struct rb_db_result *r;
    struct rb_buf k = RB_BUF_INIT;
    size_t f;

    if (rb_db_rollback_to(dst, "rollbackctl_upsert", NULL) < 0)
        goto plain;
    r = rb_db_query(dst, run->arena, SYNC_STATEMENT_TIMEOUT_MS, st->dup_sql, 0, NULL, NULL);
    if (r == NULL || r->nrows != 1 || r->ncols < 1)
        goto plain;
    for (f = 0; f + 1 < r->ncols; f++)
        rb_buf_addf(&k, "%s%s=%s", f > 0 ? ", " : "", st->t->key.items[f],
                    rb_db_isnull(r, 0, f) ? "NULL" : rb_db_value(r, 0, f));
    rb_errf(err, RB_E_FAILED, "duplicate key in the source rows: %s appears %s times", k.data,
            rb_db_text(r, 0, r->ncols - 1));
    rb_err_hint(err,
                "the key must identify one source row; fix the column mapping or add a `where:`");
    rb_buf_release(&k);
    return;
plain:
    rb_errf(err, RB_E_FAILED, "duplicate keys in the source rows");
}

int rb_sync_privileges(struct rb_run *run, struct rb_db *db, const char *table_sql,
                       struct rb_sync_privileges *out, struct rb_err *err)
{
    const char *params[1] = { table_sql };
    /*
     * to_regclass, not ::regclass: a table that is not there is an answer (table_exists false),
     * not a failed statement. has_table_privilege of a NULL oid is NULL: coalesced to false.
     */
    struct rb_db_result *r = rb_db_query(
        db, run->arena, 0,
        "SELECT c IS NOT NULL, "
        "coalesce(has_table_privilege(c, 'SELECT'), false), "
        "coalesce(has_table_privilege(c, 'INSERT'), false), "
        "coalesce(has_table_privilege(c, 'UPDATE'), false), "
        "coalesce(has_table_privilege(c, 'DELETE'), false), "
        "coalesce(has_table_privilege(c, 'TRUNCATE'), false), "
        "has_database_privilege(current_database(), 'TEMP'), "
        "CASE WHEN to_regclass('rollbackctl_ledger') IS NULL "
        "THEN coalesce(has_schema_privilege(current_schema(), 'CREATE'), false) "
        "ELSE has_table_privilege('rollbackctl_ledger', 'INSERT') "
        "AND has_table_privilege('rollbackctl_ledger', 'SELECT') END, "
        "to_regclass('rollbackctl_ledger') IS NOT NULL, coalesce(current_schema(), '(none)'), "
        "current_user, current_database() "
        "FROM (SELECT to_regclass($1) AS c) AS t",
        1, params, err);
    static const unsigned bits[] = { RB_PRIV_SELECT, RB_PRIV_INSERT, RB_PRIV_UPDATE, RB_PRIV_DELETE,
                                     RB_PRIV_TRUNCATE };

    memset(out, 0, sizeof(*out));
    if (r == NULL)
        return -1;
    if (r->nrows < 1 || r->ncols < 12)
        return rb_errf(err, RB_E_FAILED, "the privilege query on '%s' answered no row",
                       db->label != NULL ? db->label : "?");
    out->table_exists = rb_db_text(r, 0, 0)[0] == 't';
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (rb_db_text(r, 0, 1 + i)[0] == 't')
            out->table |= bits[i];
    out->temp = rb_db_text(r, 0, 6)[0] == 't';
    out->ledger_ok = rb_db_text(r, 0, 7)[0] == 't';
    out->ledger_exists = rb_db_text(r, 0, 8)[0] == 't';
    out->schema = rb_db_text(r, 0, 9);
    out->role = rb_db_text(r, 0, 10);
    out->database = rb_db_text(r, 0, 11);
    return 0;
}

/*
 * What applying the table will need on the target, asked of the catalogs (rb_sync_privileges):
 * SELECT on the target table (the stage is made in its shape, and the upsert compares the old
 * values), INSERT and UPDATE (the upsert), TEMP in the database (the stage), and the ledger
 * (sync.c's ledger_ddl: created unqualified on first use): INSERT and SELECT on it, or CREATE on
 * the schema it would be created in. A role lacking one would fail after the freeze.
 */
unsigned rb_sync_target_privileges(const struct rb_sync_table *t)
{
    unsigned need = RB_PRIV_SELECT | RB_PRIV_INSERT | RB_PRIV_UPDATE;

    if (t->deletions.policy == RB_DELETIONS_DELETE)
        need |= RB_PRIV_DELETE;
    return need;
}

static int check_privileges(struct rb_run *run, const struct sync_table *st, struct rb_db *dst,
                            struct rb_err *err)
{
    const unsigned need = rb_sync_target_privileges(st->t);
    bool del = (need & RB_PRIV_DELETE) != 0;
    const char *list = del ? "SELECT, INSERT, UPDATE, DELETE" : "SELECT, INSERT, UPDATE";
    struct rb_sync_privileges p;
    const char *who;

    if (rb_sync_privileges(run, dst, st->tgt_q, &p, err) < 0)
        return rb_sync_table_err(run, st, st->t->target_pos, err);
    who = p.role;
    if (p.table_exists && (p.table & need) != need) {
        rb_errf(err, RB_E_FAILED, "role '%s' may not %s target table '%s' in '%s'%s", who,
                del ? "SELECT, INSERT, UPDATE and DELETE" : "SELECT, INSERT and UPDATE",
                st->t->target_table, st->ph->to, del ? " (deletions.policy is delete)" : "");
        rb_err_hint(err, "GRANT %s ON %s TO %s", list, st->tgt_q, who);
        return rb_sync_table_err(run, st, st->t->target_pos, err);
    }
    if (!p.temp) {
        rb_errf(err, RB_E_FAILED, "role '%s' may not create temporary tables in '%s'", who,
                st->ph->to);
        rb_err_hint(err,
                    "GRANT TEMPORARY ON DATABASE %s TO %s (the rows are staged in a "
                    "temporary table)",
                    p.database, who);
        return rb_sync_table_err(run, st, st->t->target_pos, err);
    }
    if (!p.ledger_ok) {
        if (!p.ledger_exists) {
            rb_errf(err, RB_E_FAILED,
                    "role '%s' may not create the sync ledger 'rollbackctl_ledger' in schema "
                    "'%s' of '%s'",
                    who, p.schema, st->ph->to);
            rb_err_hint(err,
                        "grant CREATE on that schema to '%s', or create the ledger there "
                        "first (its definition: rollbackctl plan)",
                        who);
        } else {
            rb_errf(err, RB_E_FAILED,
                    "role '%s' may not INSERT into and SELECT from the sync ledger "
                    "'rollbackctl_ledger' in '%s'",
                    who, st->ph->to);
            rb_err_hint(err, "GRANT INSERT, SELECT ON rollbackctl_ledger TO %s", who);
        }
        return rb_sync_table_err(run, st, st->t->target_pos, err);
    }
    return 0;
}

static struct sync_table *checked_table(struct rb_run *run, const struct rb_sync_table *t,
                                        struct rb_db *src, struct rb_db *dst, struct rb_err *err)
{
    struct sync_phase *ph = rb_new(run->arena, struct sync_phase);
    struct sync_table *st = rb_new(run->arena, struct sync_table);

    ph->from = run->rb->sync.from;
    ph->to = run->rb->sync.to;
    st->ph = ph;
    st->t = t;
    st->at_risk = -1;
    rb_sync_build_sql(run, st);
    if (rb_sync_validate(run, st, src, dst, err) < 0 || check_privileges(run, st, dst, err) < 0)
        return NULL;
    return st;
}

int rb_sync_check_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                        struct rb_db *dst, struct rb_err *err)
{
    return checked_table(run, t, src, dst, err) != NULL ? 0 : -1;
}

int rb_sync_dry_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                      struct rb_db *dst, int64_t *at_risk, struct rb_err *err)
{
    struct sync_table *st = checked_table(run, t, src, dst, err);
    const char *v;
    bool null;

    *at_risk = -1;
    if (st == NULL)
        return -1;
    if (rb_db_scalar(src, run->arena, 0, st->count_sql, &v, &null, err) < 0)
        return rb_sync_table_err(run, st, t->pos, err);
    *at_risk = v != NULL ? strtoll(v, NULL, 10) : 0;
    return 0;
}
