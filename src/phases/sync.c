/*
 * sync.c - the sync phase: every change since cutover, from `from` to `to`, exactly once.
 *
 * One action per runbook sync table, in order. Applying a table is one transaction on the target:
 *
 *   pg_advisory_lock (session, held for the rest of the run: two rollbacks never write at once)
 *   BEGIN; ledger row for (run, table)? -> it committed before a crash: done, nothing to do
 *   CREATE TEMP TABLE stage ON COMMIT DROP, typed as the target's columns
 *   COPY (SELECT exprs FROM source WHERE changed_since > cutover [AND where]) TO STDOUT on the
 *     source, streamed verbatim into COPY stage FROM STDIN (sync_copy.c)
 *   one upsert INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE row IS DISTINCT FROM
 *     EXCLUDED, counting inserted and updated rows
 *   INSERT INTO rollbackctl_ledger; COMMIT
 *
 * Together with the journal the ledger makes resume exact: a table whose transaction committed is
 * found in the ledger and not applied again, one that did not commit left nothing behind and is
 * applied from scratch. A second execute (new run id) finds every row equal: 0 inserted, 0 updated.
 *
 * Casts happen where PostgreSQL does them best: the staging table has the target's column types,
 * so the target's input functions parse the source's text forms (NUMERIC keeps its digits, money
 * never passes through a C double); a value that does not cast fails the COPY, and its CONTEXT
 * (line = row, column) is turned into a message naming the row, the column and the runbook line.
 */
#include "rollbackctl/phases.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/output.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/sync.h"

/* pg_advisory_lock(classid, objid): 'RBCT' and 1 = "a rollbackctl sync writes this database". */
#define SYNC_LOCK_CLASS 1380074324
#define SYNC_LOCK_OBJ 1
#define SYNC_LOCK_WAIT "10s"
/* The target connection dropping mid-table: tried this many times in all, waiting 1s, 2s, 4s... */
#define SYNC_ATTEMPTS 3
#define SYNC_BACKOFF_MS 1000
/* Upserts of very large tables take a while; this is a deadline, not an expectation. */
#define SYNC_STATEMENT_TIMEOUT_MS (6LL * 3600 * 1000)
#define SYNC_STAGE "rollbackctl_stage"

static const char ledger_ddl[] =
    "CREATE TABLE IF NOT EXISTS rollbackctl_ledger ("
    "run_id text NOT NULL, table_name text NOT NULL, rows bigint NOT NULL, checksum text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now(), inserted bigint NOT NULL DEFAULT 0, "
    "updated bigint NOT NULL DEFAULT 0, unchanged bigint NOT NULL DEFAULT 0, "
    "PRIMARY KEY (run_id, table_name))";
static const char ledger_check_sql[] =
    "SELECT rows, inserted, updated, unchanged, checksum, applied_at FROM rollbackctl_ledger "
    "WHERE run_id = $1 AND table_name = $2";
static const char ledger_insert_sql[] =
    "INSERT INTO rollbackctl_ledger (run_id, table_name, rows, checksum, inserted, updated, unchanged) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";

/* Shared by the run's sync actions. */
struct sync_phase {
    const char *from, *to;
};

/* One sync table: its SQL, built once at plan time, and what the plan learnt. */
struct sync_table {
    struct sync_phase *ph;
    const struct rb_sync_table *t;
    const char *src_q, *tgt_q;      /* quoted, qualified table names */
    const char *filter;             /* changed_since > cutover [AND (where)] */
    const char *copy_out_sql;
    const char *count_sql;
    const char *probe_sql;          /* the source SELECT with LIMIT 0: do the expressions parse? */
    const char *stage_sql;
    const char *copy_in_sql;
    const char *upsert_sql;
    const char *dup_sql;
    const char *lock_sql;
    int64_t at_risk;                /* counted at plan time; -1 unknown */
};

struct table_result {
    int64_t at_risk, inserted, updated, unchanged, duration_ms;
    char checksum[65];
    bool already_applied;
    int attempts;
};

/* "FILE:LINE:COL: " for messages that name the runbook line. */
static const char *where_in_runbook(struct rb_run *run, struct rb_pos pos)
{
    return rb_sprintf(run->arena, "%s:%d:%d: ", run->rb->path != NULL ? run->rb->path : "runbook",
                      pos.line, pos.col);
}

/* Prefix err with the runbook position and the sync table's name. */
static int table_err(struct rb_run *run, const struct sync_table *st, struct rb_pos pos, struct rb_err *err)
{
    if (pos.line == 0)
        pos = st->t->pos;
    return rb_err_wrap(err, "%ssync table '%s'", where_in_runbook(run, pos), st->t->name);
}

static bool lost(PGconn *c)
{
    return c == NULL || PQstatus(c) != CONNECTION_OK;
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

static const struct rb_column_map *column_of(const struct rb_sync_table *t, const char *col)
{
    size_t i;

    for (i = 0; i < t->n_columns; i++)
        if (strcmp(t->columns[i].target_column, col) == 0)
            return &t->columns[i];
    return NULL;
}

static const char *expr_sql(struct rb_arena *a, const char *expr)
{
    return simple_name(expr) ? expr : rb_sprintf(a, "(%s)", expr);
}

/* Build every statement of the table once; plan prints them, apply runs them. */
static void build_sql(struct rb_run *run, struct sync_table *st)
{
    const struct rb_sync_table *t = st->t;
    struct rb_arena *a = run->arena;
    struct rb_buf sel = RB_BUF_INIT, cols = RB_BUF_INIT, keys = RB_BUF_INIT, set = RB_BUF_INIT;
    struct rb_buf old = RB_BUF_INIT, newv = RB_BUF_INIT, keytext = RB_BUF_INIT;
    char cutover[40];
    size_t i, nset = 0;

    st->src_q = rb_pg_quote_qualified(a, t->source_table);
    st->tgt_q = rb_pg_quote_qualified(a, t->target_table);
    rb_time_format_rfc3339(run->rb->cutover, cutover, sizeof(cutover));
    st->filter = rb_sprintf(a, "%s > %s::timestamptz%s%s%s", rb_pg_quote_ident(a, t->changed_since),
                            rb_pg_quote_literal(a, cutover), t->where != NULL ? " AND (" : "",
                            t->where != NULL ? t->where : "", t->where != NULL ? ")" : "");
    for (i = 0; i < t->n_columns; i++) {
        const char *col = rb_pg_quote_ident(a, t->columns[i].target_column);

        rb_buf_addf(&sel, "%s%s AS %s", i > 0 ? ", " : "", expr_sql(a, t->columns[i].source_expr), col);
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
        rb_buf_addf(&keytext, "%s%s::text", i > 0 ? ", " : "", rb_pg_quote_ident(a, t->key.items[i]));
    }

    st->copy_out_sql = rb_sprintf(a, "COPY (SELECT %s FROM %s WHERE %s) TO STDOUT", sel.data, st->src_q,
                                  st->filter);
    st->count_sql = rb_sprintf(a, "SELECT count(*) FROM %s WHERE %s", st->src_q, st->filter);
    st->probe_sql = rb_sprintf(a, "SELECT %s FROM %s WHERE %s LIMIT 0", sel.data, st->src_q, st->filter);
    st->stage_sql = rb_sprintf(a, "CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
                               SYNC_STAGE, cols.data, st->tgt_q);
    st->copy_in_sql = rb_sprintf(a, "COPY pg_temp.%s (%s) FROM STDIN", SYNC_STAGE, cols.data);
    if (nset > 0)
        st->upsert_sql = rb_sprintf(a,
            "WITH upsert AS (INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.%s "
            "ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s) "
            "RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upsert",
            st->tgt_q, cols.data, cols.data, SYNC_STAGE, keys.data, set.data, old.data, newv.data);
    else /* every column is part of the key: a present row is an equal row */
        st->upsert_sql = rb_sprintf(a,
            "WITH upsert AS (INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.%s "
            "ON CONFLICT (%s) DO NOTHING RETURNING true AS inserted) "
            "SELECT count(*), 0 FROM upsert",
            st->tgt_q, cols.data, cols.data, SYNC_STAGE, keys.data);
    st->dup_sql = rb_sprintf(a, "SELECT %s, count(*) FROM pg_temp.%s GROUP BY %s HAVING count(*) > 1 LIMIT 1",
                             keytext.data, SYNC_STAGE, keys.data);
    st->lock_sql = rb_sprintf(a, "SET lock_timeout = '%s'; SELECT pg_advisory_lock(%d, %d); RESET lock_timeout",
                              SYNC_LOCK_WAIT, SYNC_LOCK_CLASS, SYNC_LOCK_OBJ);
    rb_buf_release(&sel);
    rb_buf_release(&cols);
    rb_buf_release(&keys);
    rb_buf_release(&set);
    rb_buf_release(&old);
    rb_buf_release(&newv);
    rb_buf_release(&keytext);
}

/* The oid of a table as text, or NULL (err filled) when it does not exist. */
static const char *table_oid(struct rb_run *run, PGconn *c, const char *quoted, struct rb_err *err)
{
    const char *params[1] = { quoted };
    PGresult *r = rb_pg_query(c, 0, "SELECT to_regclass($1)::oid", 1, params, err);
    const char *oid;

    if (r == NULL)
        return NULL;
    oid = PQgetisnull(r, 0, 0) ? NULL : rb_strdup(run->arena, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (oid == NULL)
        rb_errf(err, RB_E_FAILED, "no table %s", quoted);
    return oid;
}

/* Column names of a table (arena strings), NULL-terminated. */
static const char **table_columns(struct rb_run *run, PGconn *c, const char *oid, struct rb_err *err)
{
    const char *params[1] = { oid };
    PGresult *r = rb_pg_query(c, 0,
                              "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
                              "AND NOT attisdropped ORDER BY attnum", 1, params, err);
    const char **names;
    int i;

    if (r == NULL)
        return NULL;
    names = rb_new_array(run->arena, const char *, (size_t)PQntuples(r) + 1);
    for (i = 0; i < PQntuples(r); i++)
        names[i] = rb_strdup(run->arena, PQgetvalue(r, i, 0));
    PQclear(r);
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
static int key_has_unique_index(PGconn *c, const char *oid, const struct rb_strlist *key, bool *found,
                                struct rb_err *err)
{
    const char *params[1] = { oid };
    PGresult *r = rb_pg_query(c, 0,
        "SELECT i.indexrelid, a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indrelid = $1::oid AND i.indisunique AND i.indimmediate AND i.indisvalid "
        "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY 1", 1, params, err);
    int i = 0, j, n;

    if (r == NULL)
        return -1;
    *found = false;
    n = PQntuples(r);
    while (i < n && !*found) {
        size_t matched = 0, cols = 0;

        for (j = i; j < n && strcmp(PQgetvalue(r, j, 0), PQgetvalue(r, i, 0)) == 0; j++) {
            size_t k;

            cols++;
            for (k = 0; k < key->n; k++)
                if (strcmp(key->items[k], PQgetvalue(r, j, 1)) == 0)
                    matched++;
        }
        *found = cols == key->n && matched == key->n;
        i = j;
    }
    PQclear(r);
    return 0;
}

/*
 * Before anything is copied: both tables and every named column exist, the source expressions
 * parse and run, the key has a unique index on the target. Errors name the runbook line.
 */
static int validate(struct rb_run *run, struct sync_table *st, PGconn *src, PGconn *dst,
                    struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *src_oid, *tgt_oid, **cols;
    bool unique = false;
    PGresult *r;
    size_t i;

    src_oid = table_oid(run, src, st->src_q, err);
    if (src_oid == NULL) {
        if (!lost(src))
            rb_errf(err, RB_E_FAILED, "source table '%s' does not exist in '%s'", t->source_table,
                    st->ph->from);
        return table_err(run, st, t->source_pos, err);
    }
    tgt_oid = table_oid(run, dst, st->tgt_q, err);
    if (tgt_oid == NULL) {
        if (!lost(dst))
            rb_errf(err, RB_E_FAILED, "target table '%s' does not exist in '%s'", t->target_table,
                    st->ph->to);
        return table_err(run, st, t->target_pos, err);
    }
    if ((cols = table_columns(run, src, src_oid, err)) == NULL)
        return table_err(run, st, t->source_pos, err);
    if (!has_name(cols, t->changed_since)) {
        rb_errf(err, RB_E_FAILED, "source table '%s' has no column '%s' (changed_since)", t->source_table,
                t->changed_since);
        return table_err(run, st, t->source_pos, err);
    }
    if ((cols = table_columns(run, dst, tgt_oid, err)) == NULL)
        return table_err(run, st, t->target_pos, err);
    for (i = 0; i < t->n_columns; i++) {
        if (!has_name(cols, t->columns[i].target_column)) {
            rb_errf(err, RB_E_FAILED, "target table '%s' has no column '%s'", t->target_table,
                    t->columns[i].target_column);
            return table_err(run, st, t->columns[i].pos, err);
        }
    }
    for (i = 0; i < t->key.n; i++) {
        if (column_of(t, t->key.items[i]) == NULL) {
            rb_errf(err, RB_E_FAILED, "key column '%s' is not one of the table's columns", t->key.items[i]);
            return table_err(run, st, t->key.pos, err);
        }
    }
    if (key_has_unique_index(dst, tgt_oid, &t->key, &unique, err) < 0)
        return table_err(run, st, t->key.pos, err);
    if (!unique) {
        struct rb_buf k = RB_BUF_INIT;

        for (i = 0; i < t->key.n; i++)
            rb_buf_addf(&k, "%s%s", i > 0 ? ", " : "", t->key.items[i]);
        rb_errf(err, RB_E_FAILED, "target table '%s' has no unique index on the key (%s)", t->target_table,
                k.data);
        rb_buf_release(&k);
        rb_err_hint(err, "the upsert needs a unique index or constraint on exactly the key columns");
        return table_err(run, st, t->key.pos, err);
    }

    /* The whole SELECT first; when it fails, each expression alone tells which line is wrong. */
    r = rb_pg_query(src, 0, st->probe_sql, 0, NULL, err);
    if (r != NULL) {
        PQclear(r);
        return 0;
    }
    if (lost(src))
        return table_err(run, st, t->source_pos, err);
    for (i = 0; i < t->n_columns; i++) {
        struct rb_err e2 = RB_ERR_INIT;
        const char *sql = rb_sprintf(run->arena, "SELECT %s FROM %s LIMIT 0",
                                     expr_sql(run->arena, t->columns[i].source_expr), st->src_q);

        r = rb_pg_query(src, 0, sql, 0, NULL, &e2);
        if (r == NULL) {
            rb_errf(err, RB_E_FAILED, "column '%s': source expression '%s' fails on '%s': %s",
                    t->columns[i].target_column, t->columns[i].source_expr, st->ph->from, e2.msg);
            return table_err(run, st, t->columns[i].pos, err);
        }
        PQclear(r);
    }
    rb_err_wrap(err, "source query fails on '%s'", st->ph->from);
    return table_err(run, st, t->source_pos, err);
}

static int count_at_risk(struct rb_run *run, struct sync_table *st, PGconn *src, int64_t *out,
                         struct rb_err *err)
{
    const char *v;
    bool null;

    if (rb_pg_scalar(run->arena, src, 0, st->count_sql, &v, &null, err) < 0)
        return -1;
    *out = v != NULL ? strtoll(v, NULL, 10) : 0;
    return 0;
}

/* Who holds the sync lock on the target: its pid and application_name, and a line for messages. */
static void lock_holder(PGconn *dst, char *pid, size_t pidlen, char *app, size_t applen, char *out, size_t len)
{
    PGresult *r = rb_pg_query(dst, 5000,
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), "
        "a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1380074324 AND l.objid = 1 "
        "AND a.pid <> pg_backend_pid() LIMIT 1",
        0, NULL, NULL);

    out[0] = pid[0] = app[0] = '\0';
    if (r != NULL && PQntuples(r) == 1) {
        snprintf(pid, pidlen, "%s", PQgetvalue(r, 0, 0));
        snprintf(app, applen, "%s", PQgetvalue(r, 0, 1));
        snprintf(out, len, " (backend pid %s, application '%s', from %s, connected %s)", PQgetvalue(r, 0, 0),
                 PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    }
    PQclear(r);
}

/*
 * Take the session advisory lock (re-entrant: each table takes it again, which costs nothing and
 * covers a reconnect). It is never released explicitly: it lasts until the run's connection closes.
 *
 * The session is named 'rollbackctl <run id>' first. When this run's previous process was killed
 * mid-table, its backend may still hold the lock (the server notices a vanished client only when
 * it next talks to it, e.g. after a long upsert); a holder with our own run's name is that orphan,
 * so we terminate it instead of waiting for it: its transaction never commits, the ledger decides.
 */
static int take_lock(struct rb_run *run, struct sync_table *st, PGconn *dst, struct rb_err *err)
{
    const char *name = rb_sprintf(run->arena, "rollbackctl %s", run->run_id);
    const char *params[1] = { name };
    char who[512], pid[32], app[128];
    const char *state;
    PGresult *r;
    int tries;

    if (rb_pg_exec(dst, 0, "SELECT set_config('application_name', $1, false)", 1, params, err) < 0)
        return rb_err_wrap(err, "unable to take the sync lock on '%s'", st->ph->to);
    for (tries = 0; tries < 2; tries++) {
        r = rb_pg_query_keep(dst, 60000, st->lock_sql, 0, NULL, err);
        if (r != NULL && PQresultStatus(r) != PGRES_FATAL_ERROR) {
            PQclear(r);
            return 0;
        }
        state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (state == NULL || strcmp(state, "55P03") != 0) {
            PQclear(r);
            return rb_err_wrap(err, "unable to take the sync lock on '%s'", st->ph->to);
        }
        PQclear(r);
        lock_holder(dst, pid, sizeof(pid), app, sizeof(app), who, sizeof(who));
        if (tries > 0 || pid[0] == '\0' || strcmp(app, name) != 0)
            break;
        params[0] = pid;
        rb_info(run->ctx, "  %s: ending backend %s on '%s', left holding the sync lock by this run's "
                "interrupted process", st->t->name, pid, st->ph->to);
        if (rb_pg_exec(dst, 0, "SELECT pg_terminate_backend($1::int, 10000)", 1, params, err) < 0)
            return rb_err_wrap(err, "unable to end backend %s left by this run on '%s'", pid, st->ph->to);
    }
    rb_errf(err, RB_E_LOCKED, "another rollback is syncing into '%s'%s", st->ph->to, who);
    rb_err_hint(err, "wait for it to finish, or stop it; rollbackctl waits " SYNC_LOCK_WAIT " for the lock");
    return -1;
}

/*
 * A failed target COPY whose CONTEXT reads `COPY stage, line N, column C: "value"`: name the
 * row, the column, its source expression and, when we can find it, the row's key in the source.
 */
static void explain_copy_error(struct rb_run *run, struct sync_table *st, PGconn *src, const PGresult *fail,
                               struct rb_err *err, struct rb_pos *pos)
{
    const char *ctx = PQresultErrorField(fail, PG_DIAG_CONTEXT);
    const char *primary = PQresultErrorField(fail, PG_DIAG_MESSAGE_PRIMARY);
    const char *p, *colstart, *colend, *val = NULL;
    const struct rb_column_map *cm = NULL;
    char *col = NULL, *value = NULL;
    long long line;
    bool null_input = false;

    if (ctx == NULL || primary == NULL || (p = strstr(ctx, "COPY " SYNC_STAGE ", line ")) == NULL)
        return;
    p += strlen("COPY " SYNC_STAGE ", line ");
    line = strtoll(p, NULL, 10);
    colstart = strstr(p, ", column ");
    if (colstart != NULL) {
        colstart += strlen(", column ");
        colend = strstr(colstart, ": ");
        if (colend != NULL) {
            col = rb_strndup(run->arena, colstart, (size_t)(colend - colstart));
            val = colend + 2;
            if (strncmp(val, "null input", 10) == 0) {
                null_input = true;
            } else if (*val == '"') {
                const char *end = strrchr(val + 1, '"');
                size_t n = end != NULL ? (size_t)(end - val - 1) : 0;

                /* PostgreSQL cuts long values and appends "...": then we cannot match it. */
                if (end != NULL && !(n >= 3 && strncmp(end - 3, "...", 3) == 0))
                    value = rb_strndup(run->arena, val + 1, n);
            }
        }
        cm = col != NULL ? column_of(st->t, col) : NULL;
    }
    if (cm == NULL) {
        rb_errf(err, RB_E_FAILED, "row %lld of the source query does not fit the target: %s", line, primary);
        return;
    }
    *pos = cm->pos;
    rb_errf(err, RB_E_FAILED, "row %lld of the source query, column '%s' (source expression '%s'): %s", line,
            cm->target_column, cm->source_expr, primary);

    /* Best effort: the key of a source row with that value, so the operator can find it. */
    if (!lost(src) && (value != NULL || null_input)) {
        struct rb_buf sql = RB_BUF_INIT, keys = RB_BUF_INIT;
        const char *params[1] = { value };
        PGresult *r;
        size_t i;

        for (i = 0; i < st->t->key.n; i++) {
            const struct rb_column_map *k = column_of(st->t, st->t->key.items[i]);

            rb_buf_addf(&keys, "%s%s::text", i > 0 ? ", " : "", expr_sql(run->arena, k->source_expr));
        }
        rb_buf_addf(&sql, "SELECT %s FROM %s WHERE %s AND %s %s LIMIT 1", keys.data, st->src_q, st->filter,
                    expr_sql(run->arena, cm->source_expr), null_input ? "IS NULL" : "::text = $1");
        r = rb_pg_query(src, 30000, sql.data, null_input ? 0 : 1, params, NULL);
        if (r != NULL && PQntuples(r) == 1) {
            struct rb_buf k = RB_BUF_INIT;
            int f;

            for (f = 0; f < PQnfields(r); f++)
                rb_buf_addf(&k, "%s%s=%s", f > 0 ? ", " : "", st->t->key.items[f],
                            PQgetisnull(r, 0, f) ? "NULL" : PQgetvalue(r, 0, f));
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof(err->msg) - used, " (source row with %s)", k.data);
            rb_buf_release(&k);
        }
        PQclear(r);
        rb_buf_release(&sql);
        rb_buf_release(&keys);
    }
}

/* A duplicate key in the staged rows: name it. Runs inside the failed upsert's savepoint. */
static void explain_duplicate(struct rb_run *run, struct sync_table *st, PGconn *dst, struct rb_err *err)
{
    PGresult *r;
    struct rb_buf k = RB_BUF_INIT;
    int f;

    if (rb_pg_exec(dst, 0, "ROLLBACK TO SAVEPOINT rollbackctl_upsert", 0, NULL, NULL) < 0)
        goto plain;
    r = rb_pg_query(dst, SYNC_STATEMENT_TIMEOUT_MS, st->dup_sql, 0, NULL, NULL);
    if (r == NULL || PQntuples(r) != 1) {
        PQclear(r);
        goto plain;
    }
    for (f = 0; f + 1 < PQnfields(r); f++)
        rb_buf_addf(&k, "%s%s=%s", f > 0 ? ", " : "", st->t->key.items[f],
                    PQgetisnull(r, 0, f) ? "NULL" : PQgetvalue(r, 0, f));
    rb_errf(err, RB_E_FAILED, "duplicate key in the source rows: %s appears %s times", k.data,
            PQgetvalue(r, 0, PQnfields(r) - 1));
    rb_err_hint(err, "the key must identify one source row; fix the column mapping or add a `where:`");
    rb_buf_release(&k);
    PQclear(r);
    (void)run;
    return;
plain:
    rb_errf(err, RB_E_FAILED, "duplicate keys in the source rows");
}

static void rollback(PGconn *dst)
{
    if (!lost(dst) && PQtransactionStatus(dst) != PQTRANS_IDLE)
        rb_pg_exec(dst, 30000, "ROLLBACK", 0, NULL, NULL);
}

static int64_t field_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* One attempt at the table, all in one target transaction. */
static int sync_once(struct rb_run *run, struct rb_action *act, struct sync_table *st,
                     struct table_result *res, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *lp[7];
    char nbuf[4][24];
    struct rb_sync_copy cp;
    struct rb_pos pos = t->pos;
    PGconn *src, *dst;
    PGresult *r;
    int64_t t0;

    if ((dst = rb_pg_target(run, st->ph->to, err)) == NULL)
        return table_err(run, st, pos, err);
    if ((src = rb_pg_target(run, st->ph->from, err)) == NULL)
        return table_err(run, st, pos, err);
    if (take_lock(run, st, dst, err) < 0)
        return table_err(run, st, pos, err);
    if (validate(run, st, src, dst, err) < 0)
        return -1;

    t0 = rb_now_ms();
    if (rb_pg_exec(dst, 0, "BEGIN", 0, NULL, err) < 0 || rb_pg_exec(dst, 0, ledger_ddl, 0, NULL, err) < 0)
        goto fail;
    lp[0] = run->run_id;
    lp[1] = t->name;
    r = rb_pg_query(dst, 0, ledger_check_sql, 2, lp, err);
    if (r == NULL)
        goto fail;
    if (PQntuples(r) == 1) {
        /* Committed before the process died: report what it did, change nothing. */
        res->already_applied = true;
        res->at_risk = field_i64(r, 0, 0);
        res->inserted = field_i64(r, 0, 1);
        res->updated = field_i64(r, 0, 2);
        res->unchanged = field_i64(r, 0, 3);
        snprintf(res->checksum, sizeof(res->checksum), "%s", PQgetvalue(r, 0, 4));
        PQclear(r);
        rollback(dst);
        return 0;
    }
    PQclear(r);
    if (rb_pg_exec(dst, 0, st->stage_sql, 0, NULL, err) < 0)
        goto fail;

    memset(&cp, 0, sizeof(cp));
    cp.src = src;
    cp.dst = dst;
    cp.out_sql = st->copy_out_sql;
    cp.in_sql = st->copy_in_sql;
    cp.expected_rows = st->at_risk;
    cp.ctx = run->ctx;
    cp.label = act->name;
    if (rb_sync_copy_run(&cp, err) < 0) {
        if (cp.dst_fail != NULL) {
            explain_copy_error(run, st, src, cp.dst_fail, err, &pos);
            PQclear(cp.dst_fail);
        } else if (cp.src_failed) {
            pos = t->source_pos;
        }
        goto fail;
    }
    res->at_risk = cp.rows;
    memcpy(res->checksum, cp.checksum, sizeof(res->checksum));

    if (rb_pg_exec(dst, 0, "SAVEPOINT rollbackctl_upsert", 0, NULL, err) < 0)
        goto fail;
    r = rb_pg_query_keep(dst, SYNC_STATEMENT_TIMEOUT_MS, st->upsert_sql, 0, NULL, err);
    if (r == NULL)
        goto fail;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

        /* 21000: "ON CONFLICT DO UPDATE command cannot affect row a second time". */
        if (state != NULL && strcmp(state, "21000") == 0) {
            explain_duplicate(run, st, dst, err);
            pos = t->key.pos;
        } else {
            rb_err_wrap(err, "upsert into '%s' failed", t->target_table);
            pos = t->target_pos;
        }
        PQclear(r);
        goto fail;
    }
    res->inserted = field_i64(r, 0, 0);
    res->updated = field_i64(r, 0, 1);
    res->unchanged = res->at_risk - res->inserted - res->updated;
    PQclear(r);

    snprintf(nbuf[0], sizeof(nbuf[0]), "%" PRId64, res->at_risk);
    snprintf(nbuf[1], sizeof(nbuf[1]), "%" PRId64, res->inserted);
    snprintf(nbuf[2], sizeof(nbuf[2]), "%" PRId64, res->updated);
    snprintf(nbuf[3], sizeof(nbuf[3]), "%" PRId64, res->unchanged);
    lp[2] = nbuf[0];
    lp[3] = res->checksum;
    lp[4] = nbuf[1];
    lp[5] = nbuf[2];
    lp[6] = nbuf[3];
    if (rb_pg_exec(dst, 0, ledger_insert_sql, 7, lp, err) < 0)
        goto fail;
    if (rb_pg_exec(dst, SYNC_STATEMENT_TIMEOUT_MS, "COMMIT", 0, NULL, err) < 0)
        goto fail;
    res->duration_ms = rb_now_ms() - t0;
    return 0;
fail:
    rollback(dst);
    return table_err(run, st, pos, err);
}

/*
 * Run-wide totals, recomputed from a per-table fact so that re-applying a table after a crash
 * never counts it twice.
 */
static void set_facts(struct rb_run *run, const char *table, int64_t at_risk, int64_t recovered,
                      int64_t lost_rows)
{
    const cJSON *prev = rb_run_fact(run, "sync_tables");
    cJSON *tables = prev != NULL ? cJSON_Duplicate(prev, 1) : cJSON_CreateObject();
    cJSON *entry = cJSON_CreateObject(), *it;
    double risk = 0, rec = 0, lst = 0;
    char rate[32];

    cJSON_AddNumberToObject(entry, "at_risk", (double)at_risk);
    cJSON_AddNumberToObject(entry, "recovered", (double)recovered);
    cJSON_AddNumberToObject(entry, "lost", (double)lost_rows);
    cJSON_DeleteItemFromObjectCaseSensitive(tables, table);
    cJSON_AddItemToObject(tables, table, entry);
    cJSON_ArrayForEach(it, tables) {
        risk += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "at_risk"));
        rec += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "recovered"));
        lst += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "lost"));
    }
    /* A ratio for people, not money: a double is fine here. */
    snprintf(rate, sizeof(rate), "%.2f%%", risk > 0 ? 100.0 * rec / risk : 100.0);
    rb_run_fact_set(run, "sync_tables", tables, NULL);
    rb_run_fact_set(run, "records_at_risk", cJSON_CreateNumber(risk), NULL);
    rb_run_fact_set(run, "records_recovered", cJSON_CreateNumber(rec), NULL);
    rb_run_fact_set(run, "records_lost", cJSON_CreateNumber(lst), NULL);
    rb_run_fact_set(run, "recovery_rate", cJSON_CreateString(rate), NULL);
}

static cJSON *result_json(const struct table_result *res)
{
    cJSON *j = cJSON_CreateObject();
    int64_t rate = res->duration_ms > 0 ? res->at_risk * 1000 / res->duration_ms : res->at_risk;
    char msg[256];

    cJSON_AddNumberToObject(j, "at_risk", (double)res->at_risk);
    cJSON_AddNumberToObject(j, "inserted", (double)res->inserted);
    cJSON_AddNumberToObject(j, "updated", (double)res->updated);
    cJSON_AddNumberToObject(j, "unchanged", (double)res->unchanged);
    cJSON_AddNumberToObject(j, "duration_ms", (double)res->duration_ms);
    cJSON_AddNumberToObject(j, "rows_per_s", (double)rate);
    cJSON_AddStringToObject(j, "checksum", res->checksum);
    cJSON_AddNumberToObject(j, "attempts", res->attempts);
    if (res->already_applied) {
        cJSON_AddBoolToObject(j, "already_applied", true);
        snprintf(msg, sizeof(msg),
                 "already committed by this run before it was interrupted: %lld at risk, %lld inserted, "
                 "%lld updated, %lld unchanged", (long long)res->at_risk, (long long)res->inserted,
                 (long long)res->updated, (long long)res->unchanged);
    } else {
        snprintf(msg, sizeof(msg), "%lld at risk: %lld inserted, %lld updated, %lld unchanged in %.1fs "
                 "(%lld rows/s)", (long long)res->at_risk, (long long)res->inserted, (long long)res->updated,
                 (long long)res->unchanged, (double)res->duration_ms / 1000.0, (long long)rate);
    }
    cJSON_AddStringToObject(j, "message", msg);
    return j;
}

static void backoff(int attempt)
{
    int64_t ms = (int64_t)SYNC_BACKOFF_MS << (attempt - 1);
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int apply_table(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct sync_table *st = act->arg;
    struct table_result res;
    int attempt, rc = -1;

    for (attempt = 1; attempt <= SYNC_ATTEMPTS; attempt++) {
        memset(&res, 0, sizeof(res));
        res.attempts = attempt;
        rb_err_clear(err);
        rc = sync_once(run, act, st, &res, err);
        if (rc == 0)
            break;
        /* Only a lost connection is worth another go: SQL errors would fail the same way. */
        if (err->cls != RB_E_FAILED ||
            !(rb_pg_target_lost(run, st->ph->to) || rb_pg_target_lost(run, st->ph->from)))
            break;
        if (attempt == SYNC_ATTEMPTS) {
            size_t used = strlen(err->msg);

            snprintf(err->msg + used, sizeof(err->msg) - used, " (gave up after %d attempts)", attempt);
            break;
        }
        rb_warn(run->ctx, "%s (attempt %d of %d); retrying the table from scratch in %ds", err->msg, attempt,
                SYNC_ATTEMPTS, (SYNC_BACKOFF_MS << (attempt - 1)) / 1000);
        rb_pg_target_close(run, st->ph->to);
        rb_pg_target_close(run, st->ph->from);
        backoff(attempt);
    }
    cJSON_Delete(act->result);
    act->result = NULL;
    if (rc == 0) {
        act->result = result_json(&res);
        set_facts(run, st->t->name, res.at_risk, res.inserted + res.updated + res.unchanged, 0);
        return 0;
    }
    {
        /* Records lost: the rows this table should have brought back (best-effort count). */
        int64_t at_risk = res.at_risk > 0 ? res.at_risk : st->at_risk;
        struct rb_err ignored = RB_ERR_INIT;
        PGconn *src;

        if (at_risk < 0 && (src = rb_pg_target(run, st->ph->from, &ignored)) != NULL)
            count_at_risk(run, st, src, &at_risk, &ignored);
        if (at_risk >= 0)
            set_facts(run, st->t->name, at_risk, 0, at_risk);
        /* Journaled with "failed": what this table leaves unrecovered. */
        act->result = cJSON_CreateObject();
        cJSON_AddNumberToObject(act->result, "at_risk", (double)at_risk);
        cJSON_AddNumberToObject(act->result, "lost", (double)at_risk);
        cJSON_AddNumberToObject(act->result, "attempts", res.attempts);
    }
    return -1;
}

/* The plan text: both sides' SQL, in the order apply runs it, and the rows at risk. */
static void describe(struct rb_run *run, struct rb_action *act, const struct sync_table *st,
                     const char *count_note)
{
    rb_action_detailf(act, "rows at risk: %s\n", count_note);
    rb_action_detailf(act, "on '%s' (source):\n  %s\n", st->ph->from, st->copy_out_sql);
    rb_action_detailf(act, "on '%s' (target), one transaction:\n", st->ph->to);
    rb_action_detailf(act, "  SELECT set_config('application_name', 'rollbackctl %s', false)\n",
                      run->run_id[0] != '\0' ? run->run_id : "<run id>");
    rb_action_detailf(act, "  %s\n  BEGIN\n  %s\n", st->lock_sql, ledger_ddl);
    rb_action_detailf(act, "  %s -- $1 = %s, $2 = '%s': a row means already applied\n", ledger_check_sql,
                      run->run_id[0] != '\0' ? rb_sprintf(run->arena, "'%s'", run->run_id) : "the run id",
                      st->t->name);
    rb_action_detailf(act, "  %s\n  %s\n  SAVEPOINT rollbackctl_upsert\n  %s\n", st->stage_sql,
                      st->copy_in_sql, st->upsert_sql);
    rb_action_detailf(act, "  %s\n  COMMIT\n", ledger_insert_sql);
}

int rb_sync_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_sync *sync = &run->rb->sync;
    struct sync_phase *ph;
    size_t i;

    if (!sync->present || sync->n_tables == 0)
        return 0;
    ph = rb_new(run->arena, struct sync_phase);
    ph->from = sync->from;
    ph->to = sync->to;
    for (i = 0; i < sync->n_tables; i++) {
        const struct rb_sync_table *t = &sync->tables[i];
        struct sync_table *st = rb_new(run->arena, struct sync_table);
        struct rb_err perr = RB_ERR_INIT;
        struct rb_action *act;
        const char *note = "counted when applied";
        PGconn *src = NULL, *dst = NULL;

        st->ph = ph;
        st->t = t;
        st->at_risk = -1;
        build_sql(run, st);
        act = rb_run_add_action(run, "sync", rb_sprintf(run->arena, "sync/%s", t->name),
                                rb_sprintf(run->arena, "upsert '%s' rows changed since cutover from '%s' "
                                           "into '%s' on '%s'", t->source_table, ph->from, t->target_table,
                                           ph->to),
                                RB_CHECKS_FIRST, apply_table, st);
        act->critical = t->critical;
        act->pos = t->pos;

        /* Offline plans contact nothing; execute counts only when the count feeds a progress ETA. */
        if (run->offline) {
            note = "not counted (offline)";
        } else if ((dst = rb_pg_target(run, ph->to, &perr)) == NULL ||
                   (src = rb_pg_target(run, ph->from, &perr)) == NULL) {
            note = rb_sprintf(run->arena, "unknown (%s)", perr.msg);
            if (run->mode == RB_MODE_PLAN)
                rb_warn(run->ctx, "%s", perr.msg);
        } else if (validate(run, st, src, dst, &perr) < 0) {
            /* In execute the action fails when applied (critical or not decides); plan shows it. */
            note = rb_sprintf(run->arena, "unknown: %s", perr.msg);
            if (run->mode == RB_MODE_PLAN)
                rb_warn(run->ctx, "%s", perr.msg);
        } else if (run->mode == RB_MODE_PLAN || (run->ctx != NULL && run->ctx->progress)) {
            if (count_at_risk(run, st, src, &st->at_risk, &perr) == 0)
                note = rb_sprintf(run->arena, "%lld", (long long)st->at_risk);
            else
                note = rb_sprintf(run->arena, "unknown (%s)", perr.msg);
        }
        describe(run, act, st, note);
    }
    (void)err;
    return 0;
}
