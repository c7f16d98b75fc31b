/*
 * sync.c - the sync phase: every change since cutover, from `from` to `to`, exactly once.
 *
 * One action per runbook sync table, in order. Applying a table is one transaction on the target:
 *
 *   pg_advisory_lock (session, held for the rest of the run: two rollbacks never write at once)
 *   BEGIN; ledger row for (run, table)? -> it committed before a crash: done, nothing to do
 *   CREATE TEMP TABLE stage ON COMMIT DROP, typed as the target's columns
 *   COPY (SELECT exprs FROM source WHERE changed_since >= cutover [AND where]) TO STDOUT on the
 *     source, streamed verbatim into COPY stage FROM STDIN (the driver's COPY pump)
 *   SAVEPOINT; is any staged key in the target already? no -> a plain INSERT ... SELECT (all
 *     inserted); yes, or that INSERT meets a key (23505, back to the savepoint) -> one upsert
 *     INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE row IS DISTINCT FROM
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
 * Duplicate keys in the source rows are caught by the upsert itself (SQLSTATE 21000, "cannot affect
 * row a second time"; the plain INSERT meets them as 23505 and leaves them to the upsert) inside a
 * savepoint, and only then named by a GROUP BY on the staging table:
 * no extra pass over the rows when there are none.
 *
 * Statements are built in sync_sql.c, checked against the catalogs in sync_check.c, and the rows
 * moved by the database driver's COPY pump (rb_db_copy). Which failures are retried is decided
 * by the error's kind: only a lost connection, never a refused login.
 */
#include "rollbackctl/phases.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/output.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/sync.h"
#include "sync_priv.h"

static const char ledger_ddl[] =
    "CREATE TABLE IF NOT EXISTS rollbackctl_ledger ("
    "run_id text NOT NULL, table_name text NOT NULL, rows bigint NOT NULL, checksum text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now(), inserted bigint NOT NULL DEFAULT 0, "
    "updated bigint NOT NULL DEFAULT 0, unchanged bigint NOT NULL DEFAULT 0, "
    "deleted bigint NOT NULL DEFAULT 0, deletions_found bigint NOT NULL DEFAULT 0, "
    "PRIMARY KEY (run_id, table_name))";
/* A ledger made before deletions were applied lacks their two columns (issue 14). */
static const char ledger_columns_sql[] =
    "SELECT count(*) FROM pg_attribute WHERE attrelid = 'rollbackctl_ledger'::regclass "
    "AND attname IN ('deleted', 'deletions_found') AND NOT attisdropped";
static const char ledger_upgrade_sql[] =
    "ALTER TABLE rollbackctl_ledger ADD COLUMN IF NOT EXISTS deleted bigint NOT NULL DEFAULT 0, "
    "ADD COLUMN IF NOT EXISTS deletions_found bigint NOT NULL DEFAULT 0";
static const char ledger_check_sql[] =
    "SELECT rows, inserted, updated, unchanged, checksum, applied_at, deleted, deletions_found "
    "FROM rollbackctl_ledger WHERE run_id = $1 AND table_name = $2";
static const char ledger_insert_sql[] =
    "INSERT INTO rollbackctl_ledger (run_id, table_name, rows, checksum, inserted, updated, "
    "unchanged, deleted, deletions_found) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

static int count_at_risk(struct rb_run *run, struct sync_table *st, struct rb_db *src, int64_t *out,
                         struct rb_err *err)
{
    const char *v;
    bool null;

    if (rb_db_scalar(src, run->arena, 0, st->count_sql, &v, &null, err) < 0)
        return -1;
    *out = v != NULL ? strtoll(v, NULL, 10) : 0;
    return 0;
}

/*
 * Source rows (matching `where`) whose changed_since is NULL: no comparison with the cutover
 * selects them, so they are never synced. Counted only when the column may be NULL, and said
 * out loud, so that leaving them out is never silent.
 */
static int count_no_change_time(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                                int64_t *out, struct rb_err *err)
{
    const char *v;
    bool null;

    *out = 0;
    if (!st->changed_nullable)
        return 0;
    if (rb_db_scalar(src, run->arena, 0, st->null_count_sql, &v, &null, err) < 0)
        return -1;
    *out = v != NULL ? strtoll(v, NULL, 10) : 0;
    return 0;
}

static const char *no_change_time_note(struct rb_run *run, const struct sync_table *st, int64_t n)
{
    return rb_sprintf(run->arena,
                      "%lld source %s with no '%s' (NULL) left out: not synced, check them by hand",
                      (long long)n, n == 1 ? "row" : "rows", st->t->changed_since);
}

/* Who holds the sync lock on the target: its pid and application_name, and a line for messages. */
static void lock_holder(struct rb_db *dst, char *pid, size_t pidlen, char *app, size_t applen,
                        char *out, size_t len)
{
    struct rb_arena *scratch = rb_arena_new();
    struct rb_db_result *r = rb_db_query(
        dst, scratch, 5000,
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), "
        "a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1380074324 AND l.objid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND a.pid <> pg_backend_pid() LIMIT 1",
        0, NULL, NULL);

    out[0] = pid[0] = app[0] = '\0';
    if (r != NULL && r->nrows == 1) {
        snprintf(pid, pidlen, "%s", rb_db_text(r, 0, 0));
        snprintf(app, applen, "%s", rb_db_text(r, 0, 1));
        snprintf(out, len, " (backend pid %s, application '%s', from %s, connected %s)",
                 rb_db_text(r, 0, 0), rb_db_text(r, 0, 1), rb_db_text(r, 0, 2),
                 rb_db_text(r, 0, 3));
    }
    rb_arena_free(scratch);
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
int rb_sync_name_session(struct rb_run *run, struct rb_db *dst, struct rb_err *err)
{
    const char *params[1] = { rb_sprintf(run->arena, "rollbackctl %s", run->run_id) };

    return rb_db_exec(dst, 0, "SELECT set_config('application_name', $1, false)", 1, params, err);
}

int rb_sync_take_lock(struct rb_run *run, const struct sync_phase *ph, struct rb_db *dst,
                      struct rb_err *err)
{
    const char *name = rb_sprintf(run->arena, "rollbackctl %s", run->run_id);
    const char *params[1] = { name };
    char who[512], pid[32], app[128];
    int tries;

    if (rb_sync_name_session(run, dst, err) < 0)
        return rb_err_wrap(err, "unable to take the sync lock on '%s'", ph->to);
    for (tries = 0; tries < 2; tries++) {
        if (rb_db_exec(dst, 60000, ph->lock_sql, 0, NULL, err) == 0)
            return 0;
        /* 55P03 lock_not_available: lock_timeout passed, someone holds it */
        if (!rb_err_is(err, RB_K_SQL) || strcmp(err->sqlstate, "55P03") != 0)
            return rb_err_wrap(err, "unable to take the sync lock on '%s'", ph->to);
        lock_holder(dst, pid, sizeof(pid), app, sizeof(app), who, sizeof(who));
        if (tries > 0 || pid[0] == '\0' || strcmp(app, name) != 0)
            break;
        params[0] = pid;
        rb_info(run->ctx,
                "  sync: ending backend %s on '%s', left holding the sync lock by this run's "
                "interrupted process",
                pid, ph->to);
        if (rb_db_exec(dst, 0, "SELECT pg_terminate_backend($1::int, 10000)", 1, params, err) < 0)
            return rb_err_wrap(err, "unable to end backend %s left by this run on '%s'", pid,
                               ph->to);
    }
    rb_errf(err, RB_E_LOCKED, "another rollback is syncing into '%s'%s", ph->to, who);
    rb_err_hint(err, "wait for it to finish, or stop it; rollbackctl waits " SYNC_LOCK_WAIT
                     " for the lock");
    return -1;
}

static void rollback(struct rb_db *dst)
{
    rb_db_rollback(dst, 30000, NULL);
}

static int64_t field_i64(const struct rb_db_result *r, size_t row, size_t col)
{
    return rb_db_isnull(r, row, col) ? 0 : strtoll(rb_db_value(r, row, col), NULL, 10);
}

/*
 * What the COPY pump reports: the note of the action's progress line (progress.h), or, for a
 * table on a stream of a parallel sync, that stream's count (the runner draws them all).
 */
struct copy_progress {
    const struct rb_ctx *ctx;
    struct sync_stream *stream;
    int64_t expected_rows; /* for the ETA; -1 unknown */
    int64_t started_ms;
};

/* "120000 of 1000000 rows, 250000 rows/s, ETA 4s"; a rate only once there is one to speak of. */
static void copy_progress(void *arg, int64_t rows, bool done)
{
    struct copy_progress *p = arg;
    int64_t ms = rb_now_ms() - p->started_ms, rate;
    char eta[32] = "", speed[48] = "";

    if (p->stream != NULL) {
        rb_sync_stream_rows(p->stream, rows);
        return;
    }
    if (p->ctx == NULL || !p->ctx->progress || done)
        return;
    rate = ms >= RB_RATE_MIN_MS ? rows * 1000 / ms : 0;
    if (rate > 0)
        snprintf(speed, sizeof(speed), ", %lld rows/s", (long long)rate);
    if (p->expected_rows > rows && rate > 0) {
        memcpy(eta, ", ETA ", 7);
        rb_human_duration((p->expected_rows - rows) / rate + 1, eta + 6, sizeof(eta) - 6);
    }
    if (p->expected_rows >= 0)
        rb_progress_note(p->ctx, "%lld of %lld rows%s%s", (long long)rows,
                         (long long)p->expected_rows, speed, eta);
    else
        rb_progress_note(p->ctx, "%lld rows%s", (long long)rows, speed);
}

int rb_sync_ledger_ready(struct rb_run *run, struct rb_db *dst, struct rb_err *err)
{
    const char *v;
    bool null;

    if (rb_db_exec(dst, 0, ledger_ddl, 0, NULL, err) < 0 ||
        rb_db_scalar(dst, run->arena, 0, ledger_columns_sql, &v, &null, err) < 0)
        return -1;
    if (v != NULL && strcmp(v, "2") == 0)
        return 0;
    return rb_db_exec(dst, 0, ledger_upgrade_sql, 0, NULL, err);
}

/* What the table does now: on its progress line, or in a word on its stream's part of one. */
static void doing(struct rb_run *run, struct sync_stream *stream, const char *what,
                  const char *word)
{
    if (stream != NULL)
        rb_sync_stream_doing(stream, word);
    else
        rb_progress_note(run->ctx, "%s", what);
}

/*
 * The apply step's fast path, inside the savepoint rollbackctl_upsert: when none of the staged
 * keys is in the target yet, the plain INSERT (insert_sql) instead of the upsert, which costs
 * about twice as much (its speculative insertion, the RETURNING rows it counts). A unique
 * violation there (23505: a key key_present_sql did not see, or the same key twice in the
 * source rows) rolls back to the savepoint and leaves the rows to the upsert, which updates
 * the key that is there, or meets the duplicate and names it (21000). Returns 1 applied
 * (inserted = its rows, updated = 0), 0 the upsert's turn, -1 failed (err).
 */
static int apply_insert(struct rb_run *run, const struct sync_table *st, struct rb_db *dst,
                        struct sync_result *res, struct rb_err *err)
{
    struct rb_db_result *r;

    r = rb_db_query(dst, run->arena, SYNC_STATEMENT_TIMEOUT_MS, st->key_present_sql, 0, NULL, err);
    if (r == NULL)
        return err->sqlstate[0] != '\0'
                   ? rb_err_wrap(err, "the check for keys already in '%s' failed",
                                 st->t->target_table)
                   : -1;
    if (r->nrows < 1 || r->ncols < 1)
        return rb_errf(err, RB_E_FAILED, "the check for keys already in '%s' answered no row",
                       st->t->target_table);
    if (strcmp(rb_db_text(r, 0, 0), "f") != 0)
        return 0;
    r = rb_db_query(dst, run->arena, SYNC_STATEMENT_TIMEOUT_MS, st->insert_sql, 0, NULL, err);
    if (r != NULL) {
        if (r->rows_affected < 0)
            return rb_errf(err, RB_E_FAILED, "insert into '%s' reported no row count",
                           st->t->target_table);
        res->inserted = r->rows_affected;
        res->updated = 0;
        return 1;
    }
    if (!(rb_err_is(err, RB_K_SQL) && strcmp(err->sqlstate, "23505") == 0))
        return err->sqlstate[0] != '\0'
                   ? rb_err_wrap(err, "insert into '%s' failed", st->t->target_table)
                   : -1;
    if (rb_db_rollback_to(dst, "rollbackctl_upsert", err) < 0)
        return -1;
    rb_err_clear(err);
    return 0;
}

/*
 * One attempt at the table, all in one target transaction. On a stream (run is then the
 * stream's view, with connections of its own) the session is only named: the runner's own
 * connection to the target holds the sync lock for every stream.
 */
static int sync_once(struct rb_run *run, struct sync_table *st, struct sync_stream *stream,
                     struct sync_result *res, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const char *lp[9];
    char nbuf[6][24];
    struct rb_db_copy cp;
    struct copy_progress prog;
    struct rb_pos pos = t->pos;
    struct rb_db *src, *dst;
    struct rb_db_result *r;
    int64_t t0;

    if ((dst = rb_db_target(run, st->ph->to, err)) == NULL)
        return rb_sync_table_err(run, st, pos, err);
    if ((src = rb_db_target(run, st->ph->from, err)) == NULL)
        return rb_sync_table_err(run, st, pos, err);
    if (stream == NULL ? rb_sync_take_lock(run, st->ph, dst, err) < 0
                       : rb_sync_name_session(run, dst, err) < 0)
        return rb_sync_table_err(run, st, pos, err);
    if (rb_sync_validate(run, st, src, dst, err) < 0)
        return -1;
    if (count_no_change_time(run, st, src, &res->no_change_time, err) < 0)
        return rb_sync_table_err(run, st, t->source_pos, err);

    t0 = rb_now_ms();
    if (rb_db_begin(dst, err) < 0 || rb_sync_ledger_ready(run, dst, err) < 0)
        goto fail;
    lp[0] = run->run_id;
    lp[1] = st->ledger_name; /* the pass's: a pre-sync's row is not the sync phase's */
    r = rb_db_query(dst, run->arena, 0, ledger_check_sql, 2, lp, err);
    if (r == NULL)
        goto fail;
    if (r->nrows == 1) {
        /* Committed before the process died: report what it did, change nothing. */
        res->already_applied = true;
        res->at_risk = field_i64(r, 0, 0);
        res->inserted = field_i64(r, 0, 1);
        res->updated = field_i64(r, 0, 2);
        res->unchanged = field_i64(r, 0, 3);
        snprintf(res->checksum, sizeof(res->checksum), "%s", rb_db_text(r, 0, 4));
        res->del.looked = t->deletions.policy != RB_DELETIONS_IGNORE;
        res->del.applied = field_i64(r, 0, 6);
        res->del.found = field_i64(r, 0, 7);
        res->del.sample = "";
        rollback(dst);
        return 0;
    }
    /* the source as the phase's one snapshot shows it, for the deletions and the rows alike */
    if (rb_sync_snapshot_begin(run, st->ph, src, &res->snapshot, err) < 0) {
        pos = t->source_pos;
        goto fail;
    }
    /* before the rows move: a table over its deletions cap is refused at once, unchanged */
    if (rb_sync_deletions_find(run, st, src, dst, &res->del, err) < 0) {
        pos = t->deletions.pos;
        goto fail;
    }
    if (rb_db_exec(dst, 0, st->stage_sql, 0, NULL, err) < 0 ||
        rb_db_exec(dst, 0, st->stage_keys_sql, 0, NULL, err) < 0 ||
        (st->stage_widen_sql != NULL && rb_db_exec(dst, 0, st->stage_widen_sql, 0, NULL, err) < 0))
        goto fail;

    memset(&cp, 0, sizeof(cp));
    memset(&prog, 0, sizeof(prog));
    prog.ctx = run->ctx;
    prog.stream = stream;
    prog.expected_rows = st->at_risk;
    prog.started_ms = rb_now_ms();
    cp.src = src;
    cp.dst = dst;
    cp.out_sql = st->copy_out_sql;
    cp.in_sql = st->copy_in_sql;
    cp.stall_ms = RB_SYNC_STALL_MS;
    cp.arena = run->arena;
    cp.progress = copy_progress;
    cp.progress_ctx = &prog;
    if (rb_db_copy(&cp, err) < 0) {
        if (cp.dst_fail != NULL) {
            /* the lookup of the refused value's row runs outside the read, which the
             * cancelled COPY may have left failed */
            rb_db_rollback(src, 10000, NULL);
            rb_sync_explain_copy_error(run, st, src, cp.dst_fail, err, &pos);
        } else if (cp.src_failed) {
            pos = t->source_pos;
        }
        goto fail;
    }
    res->at_risk = cp.rows;
    memcpy(res->checksum, cp.checksum, sizeof(res->checksum));
    /* every row is read: the source transaction has nothing left to do */
    if (rb_db_rollback(src, 10000, err) < 0) {
        pos = t->source_pos;
        goto fail;
    }
    if (st->round_check_sql != NULL) {
        r = rb_db_query(dst, run->arena, SYNC_STATEMENT_TIMEOUT_MS, st->round_check_sql, 0, NULL,
                        err);
        if (r == NULL)
            goto fail;
        if (r->nrows > 0) {
            rb_sync_explain_rounding(run, st, r, err, &pos);
            goto fail;
        }
    }

    if (rb_db_savepoint(dst, "rollbackctl_upsert", err) < 0)
        goto fail;
    /* one statement that can run for minutes at a million rows: the progress line says so */
    doing(run, stream,
          rb_sprintf(run->arena, "upsert of %lld rows into '%s'", (long long)res->at_risk,
                     t->target_table),
          "upsert");
    switch (apply_insert(run, st, dst, res, err)) {
    case 1:
        goto applied;
    case 0:
        break;
    default:
        if (err->sqlstate[0] != '\0') /* the server refused it (and may have left) */
            pos = t->target_pos;
        goto fail;
    }
    r = rb_db_query(dst, run->arena, SYNC_STATEMENT_TIMEOUT_MS, st->upsert_sql, 0, NULL, err);
    if (r == NULL) {
        /* 21000: "ON CONFLICT DO UPDATE command cannot affect row a second time". */
        if (rb_err_is(err, RB_K_SQL) && strcmp(err->sqlstate, "21000") == 0) {
            rb_sync_explain_duplicate(run, st, dst, err);
            pos = t->key.pos;
        } else if (err->sqlstate[0] != '\0') { /* the server refused it (and may have left) */
            rb_err_wrap(err, "upsert into '%s' failed", t->target_table);
            pos = t->target_pos;
        }
        goto fail;
    }
    if (r->nrows < 1 || r->ncols < 2) {
        rb_errf(err, RB_E_FAILED, "upsert into '%s' returned no counts", t->target_table);
        goto fail;
    }
    res->inserted = field_i64(r, 0, 0);
    res->updated = field_i64(r, 0, 1);
applied:
    res->unchanged = res->at_risk - res->inserted - res->updated;
    if (rb_sync_deletions_apply(run, st, dst, &res->del, err) < 0) {
        pos = t->deletions.pos;
        goto fail;
    }

    snprintf(nbuf[0], sizeof(nbuf[0]), "%" PRId64, res->at_risk);
    snprintf(nbuf[1], sizeof(nbuf[1]), "%" PRId64, res->inserted);
    snprintf(nbuf[2], sizeof(nbuf[2]), "%" PRId64, res->updated);
    snprintf(nbuf[3], sizeof(nbuf[3]), "%" PRId64, res->unchanged);
    snprintf(nbuf[4], sizeof(nbuf[4]), "%" PRId64, res->del.applied);
    snprintf(nbuf[5], sizeof(nbuf[5]), "%" PRId64, res->del.found);
    lp[2] = nbuf[0];
    lp[3] = res->checksum;
    lp[4] = nbuf[1];
    lp[5] = nbuf[2];
    lp[6] = nbuf[3];
    lp[7] = nbuf[4];
    lp[8] = nbuf[5];
    doing(run, stream, "recording in the ledger and committing", "commit");
    if (rb_db_exec(dst, 0, ledger_insert_sql, 9, lp, err) < 0)
        goto fail;
    if (rb_db_commit(dst, SYNC_STATEMENT_TIMEOUT_MS, err) < 0)
        goto fail;
    rb_sync_deletions_release(&res->del);
    res->duration_ms = rb_now_ms() - t0;
    return 0;
fail:
    rb_sync_deletions_release(&res->del);
    rollback(dst);
    rb_db_rollback(src, 10000, NULL);
    return rb_sync_table_err(run, st, pos, err);
}

/* Add up the numbers of a split table's ranges into its own entry (entry->ranges: by range). */
static void add_up_ranges(cJSON *entry)
{
    static const char *const fields[] = {
        "at_risk", "recovered", "lost", "deleted", "deletions_not_applied", NULL
    };
    const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(entry, "ranges"), *r;

    for (size_t k = 0; fields[k] != NULL; k++) {
        double sum = 0;
        bool any = false;

        cJSON_ArrayForEach(r, ranges) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, fields[k]);

            if (cJSON_IsNumber(v)) {
                sum += v->valuedouble;
                any = true;
            }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(entry, fields[k]);
        if (any || k < 3)
            cJSON_AddNumberToObject(entry, fields[k], sum);
    }
}

/*
 * Run-wide totals, recomputed from a per-table fact so that re-applying a table after a crash
 * never counts it twice. A range of a split table is an entry under its table's "ranges" (by
 * range number, with done), the table's own numbers the sum of its ranges': every reader of
 * sync_tables sees tables, however they were cut.
 */
static void set_facts(struct rb_run *run, const struct sync_table *st, bool done, int64_t at_risk,
                      int64_t recovered, int64_t lost_rows, const struct sync_deletions *del)
{
    const cJSON *prev = rb_run_fact(run, "sync_tables");
    cJSON *tables = prev != NULL ? cJSON_Duplicate(prev, 1) : cJSON_CreateObject();
    cJSON *entry = cJSON_CreateObject(), *it;
    double risk = 0, rec = 0, lst = 0;
    char rate[32];

    cJSON_AddNumberToObject(entry, "at_risk", (double)at_risk);
    cJSON_AddNumberToObject(entry, "recovered", (double)recovered);
    cJSON_AddNumberToObject(entry, "lost", (double)lost_rows);
    if (del != NULL && del->looked) {
        cJSON_AddNumberToObject(entry, "deleted", (double)del->applied);
        cJSON_AddNumberToObject(entry, "deletions_not_applied",
                                (double)(del->found - del->applied));
    }
    if (st->range > 0) {
        cJSON *whole = cJSON_DetachItemFromObjectCaseSensitive(tables, st->split_base);
        cJSON *ranges;
        char key[16];

        if (whole == NULL)
            whole = cJSON_CreateObject();
        if ((ranges = cJSON_GetObjectItemCaseSensitive(whole, "ranges")) == NULL)
            ranges = cJSON_AddObjectToObject(whole, "ranges");
        snprintf(key, sizeof(key), "%d", st->range);
        cJSON_AddBoolToObject(entry, "done", done);
        cJSON_DeleteItemFromObjectCaseSensitive(ranges, key);
        cJSON_AddItemToObject(ranges, key, entry);
        add_up_ranges(whole);
        entry = whole;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(tables, st->split_base);
    cJSON_AddItemToObject(tables, st->split_base, entry);
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

/* Every range of st's table has committed (the facts of this run say so, across processes). */
static bool all_ranges_done(const struct rb_run *run, const struct sync_table *st)
{
    const cJSON *whole =
        cJSON_GetObjectItemCaseSensitive(rb_run_fact(run, "sync_tables"), st->split_base);
    const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(whole, "ranges");
    char key[16];

    for (int r = 1; r <= st->n_ranges; r++) {
        snprintf(key, sizeof(key), "%d", r);
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(ranges, key), "done")))
            return false;
    }
    return true;
}

/*
 * The deletions' part of a table's result: {policy, found, applied, exact, never_migrated,
 * sample}, and a clause for its message ("; 3 deleted in new, 3 deleted").
 */
static void deletions_json(cJSON *j, const struct sync_table *st, const struct sync_result *res,
                           char *msg, size_t len)
{
    const struct sync_deletions *d = &res->del;
    cJSON *o;
    size_t used = strlen(msg);

    if (!d->looked)
        return;
    o = cJSON_AddObjectToObject(j, "deletions");
    cJSON_AddStringToObject(o, "policy", rb_sync_deletions_policy_name(st->t));
    cJSON_AddNumberToObject(o, "found", (double)d->found);
    cJSON_AddNumberToObject(o, "applied", (double)d->applied);
    cJSON_AddNumberToObject(o, "not_applied", (double)(d->found - d->applied));
    if (!res->already_applied) {
        cJSON_AddBoolToObject(o, "exact", d->exact);
        if (d->exact)
            cJSON_AddNumberToObject(o, "never_migrated", (double)d->never_migrated);
        cJSON_AddStringToObject(o, "sample", d->sample != NULL ? d->sample : "");
    }
    cJSON_AddNumberToObject(j, "deleted", (double)d->applied);
    if (st->delete_sql == NULL)
        snprintf(msg + used, len - used, "; %lld deleted in new, reported, not applied",
                 (long long)d->found);
    else
        snprintf(msg + used, len - used, "; %lld deleted in new, %lld %s", (long long)d->found,
                 (long long)d->applied, rb_sync_deletions_verb(st->t));
}

static cJSON *result_json(const struct sync_table *st, const struct sync_result *res)
{
    cJSON *j = cJSON_CreateObject();
    int64_t rate = res->duration_ms > 0 ? res->at_risk * 1000 / res->duration_ms : res->at_risk;
    char msg[320];

    cJSON_AddNumberToObject(j, "at_risk", (double)res->at_risk);
    cJSON_AddNumberToObject(j, "inserted", (double)res->inserted);
    cJSON_AddNumberToObject(j, "updated", (double)res->updated);
    cJSON_AddNumberToObject(j, "unchanged", (double)res->unchanged);
    cJSON_AddNumberToObject(j, "duration_ms", (double)res->duration_ms);
    cJSON_AddNumberToObject(j, "rows_per_s", (double)rate);
    cJSON_AddStringToObject(j, "checksum", res->checksum);
    cJSON_AddNumberToObject(j, "attempts", res->attempts);
    if (res->snapshot.id != NULL) {
        cJSON *snap = cJSON_AddObjectToObject(j, "snapshot");

        cJSON_AddStringToObject(snap, "xmin", res->snapshot.xmin);
        cJSON_AddStringToObject(snap, "lsn", res->snapshot.lsn);
        cJSON_AddStringToObject(snap, "taken_at", res->snapshot.taken_at);
    }
    if (res->already_applied) {
        cJSON_AddBoolToObject(j, "already_applied", true);
        snprintf(
            msg, sizeof(msg),
            "already committed by this run before it was interrupted: %lld at risk, %lld inserted, "
            "%lld updated, %lld unchanged",
            (long long)res->at_risk, (long long)res->inserted, (long long)res->updated,
            (long long)res->unchanged);
    } else {
        /* a rate over a few milliseconds says nothing about the next million rows: not shown
         * (JSON keeps rows_per_s, with duration_ms beside it) */
        snprintf(msg, sizeof(msg),
                 "%lld at risk: %lld inserted, %lld updated, %lld unchanged in %.1fs",
                 (long long)res->at_risk, (long long)res->inserted, (long long)res->updated,
                 (long long)res->unchanged, (double)res->duration_ms / 1000.0);
        if (res->duration_ms >= RB_RATE_MIN_MS) {
            size_t used = strlen(msg);

            snprintf(msg + used, sizeof(msg) - used, " (%lld rows/s)", (long long)rate);
        }
    }
    if (res->no_change_time > 0) {
        size_t used = strlen(msg);

        cJSON_AddNumberToObject(j, "no_change_time", (double)res->no_change_time);
        snprintf(msg + used, sizeof(msg) - used, "; %lld without a change time left out",
                 (long long)res->no_change_time);
    }
    deletions_json(j, st, res, msg, sizeof(msg));
    cJSON_AddStringToObject(j, "message", msg);
    return j;
}

static void backoff(int attempt)
{
    rb_sleep_ms((int64_t)SYNC_BACKOFF_MS << (attempt - 1));
}

/*
 * Worth another go: only a lost connection (or one not made: a server restarting, a network
 * blip). A login the server refused (RB_K_REFUSED: a wrong password, pg_hba.conf), a statement it
 * refused (RB_K_SQL) or a deadline that passed (RB_K_TIMEOUT) would fail the same way again.
 */
static bool retryable(const struct rb_err *err)
{
    return err->cls == RB_E_FAILED && rb_err_is(err, RB_K_CONN_LOST);
}

int rb_sync_table_work(struct rb_run *run, struct sync_table *st, struct sync_stream *stream,
                       struct sync_result *res, struct rb_err *err)
{
    int attempt, rc = -1;

    if (st->split_err != NULL) { /* split: no bounds, no range (rb_sync_split_ready) */
        memset(res, 0, sizeof(*res));
        rb_errf(err, RB_E_FAILED, "%s", st->split_err);
        return rb_sync_table_err(run, st, st->t->split_pos, err);
    }
    for (attempt = 1; attempt <= SYNC_ATTEMPTS; attempt++) {
        memset(res, 0, sizeof(*res));
        res->attempts = attempt;
        rb_err_clear(err);
        rc = sync_once(run, st, stream, res, err);
        if (rc == 0)
            break;
        if (!retryable(err))
            break;
        if (attempt == SYNC_ATTEMPTS) {
            size_t used = strlen(err->msg);

            snprintf(err->msg + used, sizeof(err->msg) - used, " (gave up after %d attempts)",
                     attempt);
            break;
        }
        rb_warn(run->ctx, "%s (attempt %d of %d); retrying the table from scratch in %ds", err->msg,
                attempt, SYNC_ATTEMPTS, (SYNC_BACKOFF_MS << (attempt - 1)) / 1000);
        rb_db_target_close(run, st->ph->to);
        rb_db_target_close(run, st->ph->from);
        backoff(attempt);
    }
    return rc;
}

int rb_sync_table_finish(struct rb_run *run, struct rb_action *act, int rc, struct sync_result *res)
{
    struct sync_table *st = act->arg;

    cJSON_Delete(act->result);
    act->result = NULL;
    if (rc == 0) {
        if (res->no_change_time > 0)
            rb_warn(run->ctx, "%s: %s", act->name,
                    no_change_time_note(run, st, res->no_change_time));
        act->result = result_json(st, res);
        /*
         * a deletion found is a record at risk; applied, it is recovered; reported, it is lost.
         * After a pre-sync, rows found unchanged are the pre-sync's, counted there already.
         */
        int64_t again = st->since != NULL ? res->unchanged : 0;
        /* and deletions the pre-sync found and left in legacy (policy report) are found again */
        int64_t del_again =
            rb_sync_deletions_counted_before(run, st, res->del.found - res->del.applied);

        set_facts(run, st, true, res->at_risk - again + res->del.found - del_again,
                  res->inserted + res->updated + res->unchanged - again + res->del.applied,
                  res->del.found - res->del.applied - del_again, &res->del);
        /* a split table's pass after the pre-sync starts from its instant only once every
         * range of it committed (a range that did not left rows the instant would skip) */
        if (st->ph->pass == SYNC_PASS_PRE && (st->range == 0 || all_ranges_done(run, st)))
            rb_presync_table_done(run, st);
        return 0;
    }
    {
        /* Records lost: the rows this table should have brought back (best-effort count). */
        int64_t at_risk = res->at_risk > 0 ? res->at_risk : st->at_risk;
        struct rb_err ignored = RB_ERR_INIT;
        struct rb_db *src;

        if (at_risk < 0 && (src = rb_db_target(run, st->ph->from, &ignored)) != NULL)
            count_at_risk(run, st, src, &at_risk, &ignored);
        if (at_risk >= 0) {
            /* a table refused over its deletions cap still had them at risk, none applied */
            at_risk += res->del.found;
            res->del.applied = 0;
            set_facts(run, st, false, at_risk, 0, at_risk, &res->del);
        }
        /* Journaled with "failed": what this table leaves unrecovered. */
        act->result = cJSON_CreateObject();
        cJSON_AddNumberToObject(act->result, "at_risk", (double)at_risk);
        cJSON_AddNumberToObject(act->result, "lost", (double)at_risk);
        cJSON_AddNumberToObject(act->result, "attempts", res->attempts);
        if (res->del.looked)
            cJSON_AddNumberToObject(act->result, "deletions_found", (double)res->del.found);
    }
    return -1;
}

/* A table on its own, on the run's connections (the engine's apply, and its unit tests). */
static int apply_table(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct sync_result res;
    int rc = rb_sync_table_work(run, act->arg, NULL, &res, err);

    return rb_sync_table_finish(run, act, rc, &res);
}

/* The plan text: both sides' SQL, in the order apply runs it, and the rows at risk. */
static void describe(struct rb_run *run, struct rb_action *act, const struct sync_table *st,
                     const char *count_note)
{
    if (st->ph->jobs > 1)
        rb_action_detailf(act,
                          "one of up to %d tables in flight at once (sync.jobs), on connections "
                          "of its own\n",
                          st->ph->jobs);
    if (st->range > 0) {
        rb_action_detailf(act,
                          "key range %d of %d (split: %d) of '%s' on key '%s', a transaction and "
                          "a ledger row ('%s') of its own: %s\n",
                          st->range, st->n_ranges, st->n_ranges, st->t->source_table,
                          st->t->key.items[0], st->ledger_name, rb_sync_range_sql(run->arena, st));
        if (st->bounds == NULL)
            rb_action_detailf(act,
                              "bounds: %s (min and max of the key among the rows it reads, cut "
                              "in %d of equal width), journaled before any range starts\n",
                              st->split_err != NULL ? st->split_err : "read when it runs",
                              st->n_ranges);
        if (st->range == 1 && st->t->deletions.policy != RB_DELETIONS_IGNORE)
            rb_action_detailf(act, "deletions: this range looks for the whole table's\n");
        else if (st->range > 1 &&
                 st->ph->tables[st->index - (size_t)(st->range - 1)]->t->deletions.policy !=
                     RB_DELETIONS_IGNORE)
            rb_action_detailf(act, "deletions: range 1's (it looks for the whole table's)\n");
    }
    if (st->n_deps > 0) {
        rb_action_detailf(act, "starts once these have finished:");
        for (size_t k = 0; k < st->n_deps; k++)
            rb_action_detailf(act, "%s sync/%s (%s)", k > 0 ? "," : "",
                              st->ph->tables[st->deps[k]]->label, st->dep_why[k]);
        rb_action_detailf(act, "\n");
    }
    if (st->ph->pass == SYNC_PASS_PRE)
        rb_action_detailf(act, "pre-sync (sync.presync): before the freeze, while '%s' still "
                               "runs; the sync phase then copies only what changed from this "
                               "pass's snapshot on\n",
                          st->ph->from);
    else if (st->ph->pass == SYNC_PASS_FINAL)
        rb_action_detailf(act, "%s\n",
                          st->since != NULL
                              ? "after the pre-sync (sync.presync): only rows changed from the "
                                "instant its snapshot began on (inclusive)"
                              : "after the pre-sync (sync.presync), whose presync/ action for "
                                "this table did not commit: every row changed since cutover");
    rb_action_detailf(act, "rows at risk: %s\n", count_note);
    rb_action_detailf(act,
                      "on '%s' (source), reading the sync phase's one snapshot (exported once "
                      "for every table, in a REPEATABLE READ READ ONLY transaction held open "
                      "while the phase runs):\n"
                      "  BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION "
                      "SNAPSHOT '<the phase's snapshot>'\n  %s\n  ROLLBACK\n",
                      st->ph->from, st->copy_out_sql);
    rb_action_detailf(act, "on '%s' (target), one transaction:\n", st->ph->to);
    rb_action_detailf(act, "  SELECT set_config('application_name', 'rollbackctl %s', false)\n",
                      run->run_id[0] != '\0' ? run->run_id : "<run id>");
    if (st->ph->jobs > 1)
        rb_action_detailf(act,
                          "  -- the run's own session on '%s' holds the sync lock for every "
                          "stream: %s\n  BEGIN\n  %s\n",
                          st->ph->to, st->lock_sql, ledger_ddl);
    else
        rb_action_detailf(act, "  %s\n  BEGIN\n  %s\n", st->lock_sql, ledger_ddl);
    rb_action_detailf(
        act, "  %s -- $1 = %s, $2 = '%s': a row means already applied\n", ledger_check_sql,
        run->run_id[0] != '\0' ? rb_sprintf(run->arena, "'%s'", run->run_id) : "the run id",
        st->ledger_name);
    rb_action_detailf(act, "  %s\n  %s\n", st->stage_sql, st->stage_keys_sql);
    if (st->stage_widen_sql != NULL)
        rb_action_detailf(act, "  %s\n", st->stage_widen_sql);
    rb_action_detailf(act, "  %s\n", st->copy_in_sql);
    if (st->round_check_sql != NULL)
        rb_action_detailf(act, "  %s -- a row means a value would be rounded: stop\n",
                          st->round_check_sql);
    rb_action_detailf(act,
                      "  SAVEPOINT rollbackctl_upsert\n  %s -- is any staged key in the target "
                      "already?\n  -- no: the rows are all new (inserted = its row count)\n  %s\n"
                      "  -- yes, or that INSERT met a key (23505: ROLLBACK TO SAVEPOINT "
                      "rollbackctl_upsert): the upsert\n  %s\n",
                      st->key_present_sql, st->insert_sql, st->upsert_sql);
    if (st->delete_sql != NULL)
        rb_action_detailf(act,
                          "  %s -- $1 = up to %d keys deleted in new, found before the COPY by key "
                          "hashes in this transaction; more than deletions.max (%lld) refuses "
                          "the table\n",
                          st->delete_sql, SYNC_DELETE_BATCH, (long long)st->t->deletions.max);
    else if (st->t->deletions.policy == RB_DELETIONS_REPORT)
        rb_action_detailf(act, "  -- deletions in new found before the COPY and reported "
                               "(policy report): nothing deleted\n");
    rb_action_detailf(act, "  %s\n  COMMIT\n", ledger_insert_sql);
}

/*
 * The table as data: the statements in the order apply runs them, from the runbook alone (the
 * action's definition; statements the target's catalog decides are observed, see
 * observe_catalog). Parameters stay $n: the run id is not known until execute.
 */
static void define(struct rb_action *act, const struct sync_table *st)
{
    cJSON *f = rb_action_fields(act, "sync");
    cJSON *key, *sql, *src, *tgt;
    const char *stmts[16];
    size_t n = 0;

    cJSON_AddStringToObject(f, "table", st->t->name);
    cJSON_AddStringToObject(f, "source", st->ph->from);
    cJSON_AddStringToObject(f, "target", st->ph->to);
    cJSON_AddStringToObject(f, "source_table", st->t->source_table);
    cJSON_AddStringToObject(f, "target_table", st->t->target_table);
    key = cJSON_AddArrayToObject(f, "key");
    for (size_t i = 0; i < st->t->key.n; i++)
        cJSON_AddItemToArray(key, cJSON_CreateString(st->t->key.items[i]));
    cJSON_AddStringToObject(f, "deletions", rb_sync_deletions_policy_name(st->t));
    if (st->range > 0) {
        cJSON_AddNumberToObject(f, "range", st->range);
        cJSON_AddNumberToObject(f, "ranges", st->n_ranges);
    }
    if (st->ph->pass != SYNC_PASS_ONLY)
        cJSON_AddStringToObject(f, "pass", st->ph->pass == SYNC_PASS_PRE ? "presync" : "final");
    sql = cJSON_AddObjectToObject(f, "sql");
    src = cJSON_AddArrayToObject(sql, "source");
    tgt = cJSON_AddArrayToObject(sql, "target");
    cJSON_AddItemToArray(src, cJSON_CreateString(st->copy_out_sql));
    stmts[n++] = "SELECT set_config('application_name', 'rollbackctl <run id>', false)";
    stmts[n++] = st->lock_sql;
    stmts[n++] = "BEGIN";
    stmts[n++] = ledger_ddl;
    stmts[n++] = ledger_check_sql;
    stmts[n++] = st->stage_sql;
    stmts[n++] = st->stage_keys_sql;
    stmts[n++] = st->copy_in_sql;
    stmts[n++] = "SAVEPOINT rollbackctl_upsert";
    stmts[n++] = st->key_present_sql; /* false: insert_sql; true, or 23505 there: upsert_sql */
    stmts[n++] = st->insert_sql;
    stmts[n++] = st->upsert_sql;
    if (st->delete_sql != NULL)
        stmts[n++] = st->delete_sql;
    stmts[n++] = ledger_insert_sql;
    stmts[n++] = "COMMIT";
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(tgt, cJSON_CreateString(stmts[i]));
}

/* What the target's catalog made of the table: the stage widened against silent rounding. */
static void observe_catalog(cJSON *obs, const struct sync_table *st)
{
    cJSON *arr = cJSON_AddArrayToObject(obs, "catalog_sql");

    if (st->stage_widen_sql != NULL)
        cJSON_AddItemToArray(arr, cJSON_CreateString(st->stage_widen_sql));
    if (st->round_check_sql != NULL)
        cJSON_AddItemToArray(arr, cJSON_CreateString(st->round_check_sql));
}

/*
 * The rows at risk as plan shows them: changed since cutover plus legacy rows deleted in new
 * (sync_deletions.c), and a sample of those keys. A failed search is said, never fatal to plan.
 * obs (may be NULL) gets the number of deletions, null when unknown.
 */
static const char *plan_deletions(struct rb_run *run, const struct sync_table *st,
                                  struct rb_db *src, struct rb_db *dst, const char **sample_line,
                                  cJSON *obs)
{
    struct rb_sync_deleted d;
    struct rb_err derr = RB_ERR_INIT;

    if (rb_sync_find_deletions(run, st->t, src, dst, &d, &derr) < 0) {
        rb_warn(run->ctx, "sync/%s: %s", st->t->name, derr.msg);
        if (obs != NULL)
            cJSON_AddNullToObject(obs, "deletions");
        return rb_sprintf(run->arena, "%lld changed since cutover + deleted in new unknown (%s)",
                          (long long)st->at_risk, derr.msg);
    }
    if (obs != NULL)
        cJSON_AddNumberToObject(obs, "deletions", (double)d.deleted);
    /* the sample goes on the line after "rows at risk:" (describe prints the note) */
    if (d.n_sample > 0 && st->delete_sql != NULL)
        *sample_line = rb_sprintf(run->arena, "\nwould be %s (first %zu of %llu): %s",
                                  rb_sync_deletions_verb(st->t), d.n_sample,
                                  (unsigned long long)d.deleted, d.sample);
    else if (d.n_sample > 0)
        *sample_line = rb_sprintf(run->arena, "\ndeleted in new, %s (first %zu of %llu): %s",
                                  st->t->deletions.policy == RB_DELETIONS_REPORT
                                      ? "reported, not applied"
                                      : "not synced",
                                  d.n_sample, (unsigned long long)d.deleted, d.sample);
    if (st->delete_sql != NULL && (int64_t)d.deleted > st->t->deletions.max) {
        rb_warn(run->ctx,
                "sync/%s: %llu legacy rows deleted in '%s' exceed deletions.max (%lld): the "
                "table would be refused",
                st->t->name, (unsigned long long)d.deleted, st->ph->from,
                (long long)st->t->deletions.max);
        *sample_line = rb_sprintf(run->arena, "%s\nrefused when applied: %llu deletions exceed "
                                              "deletions.max (%lld)",
                                  *sample_line, (unsigned long long)d.deleted,
                                  (long long)st->t->deletions.max);
    }
    return rb_sync_at_risk_note(run->arena, st->at_risk, &d);
}

int rb_sync_plan(struct rb_run *run, struct rb_err *err)
{
    return rb_sync_plan_pass(run, run->rb->sync.presync ? SYNC_PASS_FINAL : SYNC_PASS_ONLY, err);
}

/*
 * One range of a table (range 0: the table unsplit): its action, definition, plan text and
 * counts. acts, notes and order_db are the plan's.
 */
static void plan_one(struct rb_run *run, struct sync_phase *ph, const struct rb_sync_table *t,
                     int range, const char **bounds, bool journaled, const char *split_err,
                     struct rb_action **act_out, const char **note_out, struct rb_db **order_db)
{
    bool pre = ph->pass == SYNC_PASS_PRE;
    struct sync_table *st = rb_new(run->arena, struct sync_table);
    struct rb_err perr = RB_ERR_INIT;
    struct rb_action *act;
    const char *note = "counted when applied";
    struct rb_db *src = NULL, *dst = NULL;
    bool since_known = true;
    cJSON *obs;

    st->ph = ph;
    st->index = ph->n_tables;
    st->at_risk = -1;
    st->range = range;
    st->n_ranges = range > 0 ? t->split : 1;
    st->split_base = pre ? rb_sprintf(run->arena, "presync/%s", t->name) : t->name;
    st->label = range > 0 ? rb_sprintf(run->arena, "%s#%d", t->name, range) : t->name;
    st->ledger_name =
        range > 0 ? rb_sprintf(run->arena, "%s#%d", st->split_base, range) : st->split_base;
    st->split_err = split_err;
    st->bounds_journaled = journaled;
    if (range > 1) {
        /* range 1 looks for the whole table's deletions (they are keys absent from the source:
         * in no range's rows), the others for none, so each is found and applied once */
        struct rb_sync_table *copy = rb_new(run->arena, struct rb_sync_table);

        *copy = *t;
        copy->deletions.policy = RB_DELETIONS_IGNORE;
        t = copy;
    }
    st->t = t;
    if (ph->pass == SYNC_PASS_FINAL)
        st->since = rb_presync_since(run, t->name, &since_known);
    ph->tables[ph->n_tables++] = st;
    /* the definition (what the plan's hash covers) names the bounds' places, not their values,
     * which depend on the rows: then the statements as they run */
    rb_sync_build_sql(run, st);
    ph->lock_sql = st->lock_sql;
    act = rb_run_add_action(
        run, pre ? "presync" : "sync",
        rb_sprintf(run->arena, "%s/%s", pre ? "presync" : "sync", st->label),
        rb_sprintf(run->arena, "%supsert '%s' rows changed since %s from '%s' into '%s' on '%s'%s",
                   pre ? "before the freeze: " : "", t->source_table,
                   st->since != NULL ? "the pre-sync's snapshot" : "cutover", ph->from,
                   t->target_table, ph->to,
                   range > 0 ? rb_sprintf(run->arena, ", key range %d of %d", range, t->split)
                             : ""),
        RB_CHECKS_FIRST, apply_table, st);
    act->critical = t->critical;
    act->pos = t->pos;
    define(act, st);
    if (bounds != NULL) {
        st->bounds = bounds;
        rb_sync_build_sql(run, st);
    }
    obs = rb_action_observed(run, act);
    act->group = &ph->group;
    if (obs != NULL && range > 0) {
        cJSON *sp = cJSON_AddObjectToObject(obs, "split");
        cJSON *b = cJSON_AddArrayToObject(sp, "bounds");

        cJSON_AddNumberToObject(sp, "range", range);
        cJSON_AddNumberToObject(sp, "of", t->split);
        cJSON_AddStringToObject(sp, "predicate", rb_sync_range_sql(run->arena, st));
        if (bounds != NULL) {
            cJSON_AddItemToArray(b, range > 1 ? cJSON_CreateString(bounds[range - 2])
                                              : cJSON_CreateNull());
            cJSON_AddItemToArray(b, range < t->split ? cJSON_CreateString(bounds[range - 1])
                                                     : cJSON_CreateNull());
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(sp, "bounds");
            cJSON_AddNullToObject(sp, "bounds");
            cJSON_AddStringToObject(sp, "bounds_unknown",
                                    split_err != NULL ? split_err : "computed when it runs");
        }
    }

    /* Offline plans contact nothing; execute counts only when the count feeds a progress ETA. */
    if (!since_known) {
        /* the pass after a pre-sync that has not run yet: only what new writes meanwhile */
        note = "changed in new from the pre-sync's snapshot on (counted when it has run: "
               "what new writes between it and the freeze)";
        /* the target's foreign keys still order the tables (the pre-sync warned already) */
        if (!run->offline && !rb_plan_is_unreachable(run, ph->to))
            dst = rb_db_target(run, ph->to, &perr);
    } else if (run->offline) {
        note = "not counted (offline)";
    } else if (rb_plan_is_unreachable(run, ph->to) || rb_plan_is_unreachable(run, ph->from)) {
        note = "unknown (a target could not be reached, see above)";
    } else if ((dst = rb_db_target(run, ph->to, &perr)) == NULL ||
               (src = rb_db_target(run, ph->from, &perr)) == NULL) {
        note = rb_sprintf(run->arena, "unknown (%s)", perr.msg);
        /* plan warns once per target and ends with an error naming it */
        rb_plan_unreachable(run, dst == NULL ? ph->to : ph->from, &perr);
    } else if (rb_sync_validate(run, st, src, dst, &perr) < 0) {
        /* In execute the action fails when applied (critical or not decides); plan shows it. */
        note = rb_sprintf(run->arena, "unknown: %s", perr.msg);
        if (run->mode == RB_MODE_PLAN)
            rb_warn(run->ctx, "%s", perr.msg);
    } else if (range > 0 && bounds == NULL) {
        note = rb_sprintf(run->arena, "unknown (%s)",
                          split_err != NULL ? split_err : "the ranges' bounds are not known yet");
    } else if (run->mode == RB_MODE_PLAN || (run->ctx != NULL && run->ctx->progress)) {
        int64_t nulls = 0;
        const char *sample_line = "";

        if (obs != NULL)
            observe_catalog(obs, st);
        if (count_at_risk(run, st, src, &st->at_risk, &perr) == 0 &&
            (run->mode != RB_MODE_PLAN || count_no_change_time(run, st, src, &nulls, &perr) == 0)) {
            note = rb_sprintf(run->arena, "%lld", (long long)st->at_risk);
            if (obs != NULL) {
                cJSON_AddNumberToObject(obs, "rows", (double)st->at_risk);
                cJSON_AddNumberToObject(obs, "no_change_time", (double)nulls);
            }
            /* plan only: execute counts for a progress ETA, where deletions stream nothing;
             * a split table's deletions are its first range's */
            if (run->mode == RB_MODE_PLAN && range <= 1)
                note = plan_deletions(run, st, src, dst, &sample_line, obs);
            if (nulls > 0) {
                note = rb_sprintf(run->arena, "%s; %s", note, no_change_time_note(run, st, nulls));
                rb_warn(run->ctx, "sync/%s: %s", st->label, no_change_time_note(run, st, nulls));
            }
            note = rb_sprintf(run->arena, "%s%s", note, sample_line);
        } else {
            note = rb_sprintf(run->arena, "unknown (%s)", perr.msg);
        }
    }
    /* a count the plan could not make: null, with why (never a guess) */
    if (obs != NULL && cJSON_GetObjectItemCaseSensitive(obs, "rows") == NULL) {
        cJSON_AddNullToObject(obs, "rows");
        cJSON_AddStringToObject(obs, "rows_unknown", note);
    }
    *act_out = act;
    *note_out = note;
    if (dst != NULL)
        *order_db = dst;
}

int rb_sync_plan_pass(struct rb_run *run, enum sync_pass pass, struct rb_err *err)
{
    const struct rb_sync *sync = &run->rb->sync;
    bool pre = pass == SYNC_PASS_PRE;
    struct sync_phase *ph;
    struct rb_action **acts;
    const char **notes;
    struct rb_db *order_db = NULL;
    size_t i, n = 0;

    if (!sync->present || sync->n_tables == 0)
        return 0;
    for (i = 0; i < sync->n_tables; i++)
        n += sync->tables[i].split > 1 ? (size_t)sync->tables[i].split : 1;
    ph = rb_new(run->arena, struct sync_phase);
    ph->pass = pass;
    ph->from = sync->from;
    ph->to = sync->to;
    ph->jobs = sync->jobs > 1 ? sync->jobs : 1;
    ph->tables = rb_new_array(run->arena, struct sync_table *, n);
    ph->n_tables = 0;
    ph->group.run = rb_sync_run_tables;
    ph->group.arg = ph;
    rb_sync_snapshot_init(run, &ph->snapshot);
    if (pre)
        rb_presync_setup(ph);
    acts = rb_new_array(run->arena, struct rb_action *, n);
    notes = rb_new_array(run->arena, const char *, n);
    for (i = 0; i < sync->n_tables; i++) {
        const struct rb_sync_table *t = &sync->tables[i];
        const char **bounds = NULL, *why = NULL;
        bool journaled = false;

        if (t->split <= 1) {
            plan_one(run, ph, t, 0, NULL, false, NULL, &acts[ph->n_tables], &notes[ph->n_tables],
                     &order_db);
            continue;
        }
        bounds = rb_sync_split_plan_bounds(run, ph, t, &journaled, &why);
        for (int r = 1; r <= t->split; r++)
            plan_one(run, ph, t, r, bounds, journaled, why, &acts[ph->n_tables],
                     &notes[ph->n_tables], &order_db);
    }
    /* the order needs every table: foreign keys between them are read from the target once */
    rb_sync_order(run, ph, order_db);
    for (i = 0; i < ph->n_tables; i++)
        describe(run, acts[i], ph->tables[i], notes[i]);
    (void)err;
    return 0;
}
