/*
 * test_sync_apply.c - the sync phase's apply of one table against a fake database driver.
 *
 * The fake ops (struct rb_db_ops) are put in the registry row of "postgres", so the phase reaches
 * them through the same lookup as the real driver: no server. Each fake server keeps what it was
 * asked (statements, transactions begun, committed, rolled back, thrown away with a dropped
 * connection) and a scenario says what goes wrong: a connection dropped mid-COPY (on the source:
 * the target's transaction is rolled back; on the target: the server throws it away), a statement
 * past its deadline, a duplicate key (SQLSTATE 21000), a value the stage refuses mid-COPY; and
 * which way the rows go in (the staged keys all new: the plain INSERT; its 23505: the upsert).
 * Asserted: what was committed (never the ledger row of a failed attempt), what was rolled back,
 * the error an operator reads, and the retries (only a lost connection or one not made is retried,
 * from scratch; a refused login is not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/db.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/run.h"

static const char runbook[] = "version: 1\n"
                              "name: t\n"
                              "cutover: 2026-11-01T00:00:00Z\n"
                              "state_dir: /nonexistent\n"
                              "targets:\n"
                              "  new:\n"
                              "    driver: postgres\n"
                              "    conninfo: host=new\n"
                              "  legacy:\n"
                              "    driver: postgres\n"
                              "    conninfo: host=legacy\n"
                              "sync:\n"
                              "  from: new\n"
                              "  to: legacy\n"
                              "  tables:\n"
                              "    - name: payments\n"
                              "      source:\n"
                              "        table: payments\n"
                              "        changed_since: updated_at\n"
                              "      target:\n"
                              "        table: payments\n"
                              "        key: [id]\n"
                              "      columns:\n"
                              "        id: id\n"
                              "        amount: amount\n";

/* --- the fake driver ------------------------------------------------------------------------ */

/* One server (per target): survives reconnects, remembers what it was asked. */
struct fake_server {
    const char *name;
    char log[16384]; /* statements, one a line */
    int opens, begun, commits, rollbacks, thrown_away, ledger_rows;
    bool in_tx;
};

struct fake_db {
    struct rb_db base;
    struct fake_server *srv;
    bool lost;
};

/* What goes wrong, per test. */
static struct {
    int src_drops_in_copy; /* this many COPY attempts lose the source connection */
    int dst_drops_in_copy; /* ... the target connection */
    bool upsert_timeout;   /* the upsert passes its deadline */
    bool upsert_duplicate; /* the upsert meets a key twice (21000) */
    bool keys_absent;      /* none of the staged keys is in the target: the plain INSERT runs */
    bool insert_duplicate; /* ... and meets a key after all (23505) */
    bool copy_refused;     /* the stage refuses a value (22P02, line 2, column amount) */
    int copies;            /* COPY attempts seen */
    char looked_up[64];    /* the value the source was searched for */
    int dst_open_refused;  /* this many connects to the target are refused (28P01) */
    int dst_open_lost;     /* ... cannot be made (server down) */
} sc;

static struct fake_server servers[2];

static struct fake_server *server_of(const char *name)
{
    int i = strcmp(name, "new") == 0 ? 0 : 1;

    servers[i].name = i == 0 ? "new" : "legacy";
    return &servers[i];
}

static void logf_(struct fake_server *s, const char *line)
{
    size_t used = strlen(s->log);

    snprintf(s->log + used, sizeof(s->log) - used, "%s\n", line);
}

static int lost_err(struct rb_err *err)
{
    rb_errf(err, RB_E_FAILED, "server closed the connection unexpectedly");
    return rb_err_kind(err, RB_K_CONN_LOST);
}

static struct rb_db *fake_open(struct rb_run *run, const struct rb_target *t, struct rb_err *err)
{
    struct fake_db *db = rb_run_handle_get(run, "fake", t->name);

    if (strcmp(t->name, "legacy") == 0 && (db == NULL || db->lost)) {
        if (sc.dst_open_refused > 0) {
            sc.dst_open_refused--;
            server_of(t->name)->opens++;
            rb_errf(err, RB_E_FAILED,
                    "unable to connect to 'legacy': FATAL:  password "
                    "authentication failed for user \"rb\"");
            rb_err_kind(err, RB_K_REFUSED);
            memcpy(err->sqlstate, "28P01", 6);
            return NULL;
        }
        if (sc.dst_open_lost > 0) {
            sc.dst_open_lost--;
            server_of(t->name)->opens++;
            rb_errf(err, RB_E_FAILED, "unable to connect to 'legacy': Connection refused");
            rb_err_kind(err, RB_K_CONN_LOST);
            return NULL;
        }
    }
    if (db == NULL) {
        db = rb_new(run->arena, struct fake_db);
        db->base.ops = rb_driver_lookup("postgres")->ops;
        db->base.label = t->name;
        db->srv = server_of(t->name);
        db->lost = true;
        rb_run_handle_put(run, "fake", t->name, db);
    }
    if (db->lost) {
        db->lost = false;
        db->srv->opens++;
    }
    return &db->base;
}

static void fake_close(struct rb_run *run, const struct rb_target *t)
{
    struct fake_db *db = rb_run_handle_get(run, "fake", t->name);

    if (db != NULL)
        db->lost = true;
}

static bool fake_lost(const struct rb_db *db)
{
    return ((const struct fake_db *)db)->lost;
}

/* A result of ncols columns from NULL-terminated row values (strings, "\N" for NULL). */
static struct rb_db_result *result(struct rb_arena *a, size_t ncols, const char *const *vals)
{
    struct rb_db_result *r = rb_new(a, struct rb_db_result);
    size_t n = 0;
    const char **v;
    uint32_t *types = rb_new_array(a, uint32_t, ncols + 1);
    int *mods = rb_new_array(a, int, ncols + 1);
    const char **names = rb_new_array(a, const char *, ncols + 1);

    while (vals != NULL && vals[n] != NULL)
        n++;
    v = rb_new_array(a, const char *, n + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = strcmp(vals[i], "\\N") == 0 ? NULL : vals[i];
    for (size_t j = 0; j < ncols; j++) {
        types[j] = 23; /* int4: no rounding check planned */
        mods[j] = -1;
        names[j] = "c";
    }
    r->ncols = ncols;
    r->nrows = ncols > 0 ? n / ncols : 0;
    r->values = v;
    r->types = types;
    r->typmods = mods;
    r->names = names;
    r->command = "SELECT";
    r->rows_affected = (int64_t)r->nrows;
    return r;
}

static int fake_query(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
                      struct rb_db_result **out, struct rb_err *err)
{
    struct fake_db *f = (struct fake_db *)db;
    const char *sql = st->sql;
    static const char *const oid[] = { "16384", NULL };
    static const char *const src_cols[] = { "id", "amount", "updated_at", NULL };
    static const char *const dst_cols[] = { "id", "amount", NULL };
    static const char *const nullable[] = { "f", NULL };
    static const char *const unique[] = { "1", "id", NULL };
    static const char *const upserted[] = { "3", "0", NULL };
    static const char *const present[] = { "t", NULL }, *const absent[] = { "f", NULL };
    bool plain_insert = false;
    static const char *const dup[] = { "7", "2", NULL };
    static const char *const key5[] = { "5", NULL };
    static const char *const ledger_cols[] = { "2", NULL };
    static const char *const none[] = { NULL };
    const char *const *rows = none;
    size_t ncols = 1;

    if (out != NULL)
        *out = NULL;
    if (f->lost)
        return lost_err(err);
    logf_(f->srv, sql);
    if (strstr(sql, "to_regclass") != NULL) {
        rows = oid;
    } else if (strstr(sql, "attnum > 0 AND NOT attisdropped ORDER BY attnum") != NULL) {
        rows = f->srv == &servers[0] ? src_cols : dst_cols;
    } else if (strstr(sql, "NOT attnotnull") != NULL) {
        rows = nullable;
    } else if (strstr(sql, "pg_index") != NULL) {
        rows = unique;
        ncols = 2;
    } else if (strstr(sql, "LIMIT 0") != NULL) {
        ncols = 2; /* the probe: two int4 columns, no rows */
    } else if (strstr(sql, "EXISTS (SELECT 1 FROM pg_temp.rollbackctl_stage AS s JOIN") != NULL) {
        rows = sc.keys_absent ? absent : present;
    } else if (strncmp(sql, "INSERT INTO ", 12) == 0 && strstr(sql, "rollbackctl_") != NULL &&
               strstr(sql, "rollbackctl_ledger") == NULL) {
        if (sc.insert_duplicate) {
            rb_errf(err, RB_E_FAILED, "duplicate key value violates unique constraint");
            rb_err_kind(err, RB_K_SQL);
            memcpy(err->sqlstate, "23505", 6);
            return -1;
        }
        plain_insert = true; /* INSERT 0 3: no rows back, a count */
    } else if (strstr(sql, "WITH upsert AS") != NULL) {
        if (sc.upsert_timeout) {
            rb_errf(err, RB_E_FAILED, "query cancelled after %lld ms", (long long)st->timeout_ms);
            return rb_err_kind(err, RB_K_TIMEOUT);
        }
        if (sc.upsert_duplicate) {
            rb_errf(err, RB_E_FAILED,
                    "ON CONFLICT DO UPDATE command cannot affect row a second time");
            rb_err_kind(err, RB_K_SQL);
            memcpy(err->sqlstate, "21000", 6);
            return -1;
        }
        rows = upserted;
        ncols = 2;
    } else if (strstr(sql, "HAVING count(*) > 1") != NULL) {
        rows = dup;
        ncols = 2;
    } else if (strstr(sql, "'deleted', 'deletions_found'") != NULL) {
        rows = ledger_cols; /* the ledger has the deletion columns already */
    } else if (strstr(sql, "INSERT INTO rollbackctl_ledger") != NULL) {
        f->srv->ledger_rows++;
    } else if (strstr(sql, "::text = $1 LIMIT 1") != NULL) {
        rows = key5; /* the source row holding the refused value */
        snprintf(sc.looked_up, sizeof(sc.looked_up), "%s",
                 st->nparams > 0 && st->params[0] != NULL ? st->params[0] : "");
    }
    if (out != NULL) {
        *out = result(a, ncols, rows);
        if (plain_insert) {
            (*out)->command = "INSERT 0 3";
            (*out)->rows_affected = 3;
        }
    }
    return 0;
}

static int fake_cancel(struct rb_db *db)
{
    return fake_lost(db) ? -1 : 0;
}

static bool fake_in_transaction(const struct rb_db *db)
{
    const struct fake_db *f = (const struct fake_db *)db;

    return !f->lost && f->srv->in_tx;
}

static int fake_tx(struct rb_db *db, enum rb_db_tx op, const char *savepoint, int64_t timeout_ms,
                   struct rb_err *err)
{
    struct fake_db *f = (struct fake_db *)db;
    static const char *const names[] = { "BEGIN",     "COMMIT",  "ROLLBACK",
                                         "SAVEPOINT", "RELEASE", "ROLLBACK TO" };
    char line[128];

    (void)timeout_ms;
    if (f->lost)
        return lost_err(err);
    snprintf(line, sizeof(line), "%s%s%s", names[op], savepoint != NULL ? " " : "",
             savepoint != NULL ? savepoint : "");
    logf_(f->srv, line);
    switch (op) {
    case RB_DB_BEGIN:
        f->srv->in_tx = true;
        f->srv->begun++;
        break;
    case RB_DB_COMMIT:
        f->srv->in_tx = false;
        f->srv->commits++;
        break;
    case RB_DB_ROLLBACK:
        f->srv->in_tx = false;
        f->srv->rollbacks++;
        break;
    default:
        break;
    }
    return 0;
}

/* A connection that drops: the server throws its open transaction away. */
static void drop(struct fake_db *f)
{
    f->lost = true;
    if (f->srv->in_tx)
        f->srv->thrown_away++;
    f->srv->in_tx = false;
}

static int fake_copy(struct rb_db_copy *cp, struct rb_err *err)
{
    struct fake_db *src = (struct fake_db *)cp->src, *dst = (struct fake_db *)cp->dst;

    sc.copies++;
    logf_(dst->srv, cp->in_sql);
    if (sc.src_drops_in_copy > 0) {
        sc.src_drops_in_copy--;
        drop(src);
        cp->src_failed = true;
        lost_err(err);
        /* the real pump aborts the target COPY: the transaction is failed, not gone */
        return rb_err_wrap(err, "source query failed");
    }
    if (sc.dst_drops_in_copy > 0) {
        sc.dst_drops_in_copy--;
        drop(dst);
        lost_err(err);
        return rb_err_wrap(err, "target COPY failed");
    }
    if (sc.copy_refused) {
        struct rb_db_error *e = rb_new(cp->arena, struct rb_db_error);

        memcpy(e->sqlstate, "22P02", 6);
        e->message = "invalid input syntax for type integer: \"x\"";
        e->copy_relation = "rollbackctl_stage";
        e->copy_line = 2;
        e->copy_column = "amount";
        e->copy_value = "x";
        cp->dst_fail = e;
        rb_errf(err, RB_E_FAILED, "%s", e->message);
        rb_err_kind(err, RB_K_SQL);
        memcpy(err->sqlstate, "22P02", 6);
        return rb_err_wrap(err, "target COPY failed");
    }
    cp->rows = 3;
    cp->bytes = 42;
    snprintf(cp->checksum, sizeof(cp->checksum), "c0ffee");
    return 0;
}

static const struct rb_db_ops fake_ops = {
    .driver = "postgres",
    .open = fake_open,
    .close = fake_close,
    .lost = fake_lost,
    .query = fake_query,
    .cancel = fake_cancel,
    .in_transaction = fake_in_transaction,
    .tx = fake_tx,
    .copy = fake_copy,
};

/* --- a run with one sync action ------------------------------------------------------------- */

struct fixture {
    struct rb_arena *arena;
    struct rb_ctx ctx;
    char *diag;
    size_t diag_len;
    struct rb_run *run;
    struct rb_action *act;
    const void *real_ops;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rb_diags d;
    struct rb_runbook *rb;
    struct rb_err err = RB_ERR_INIT;

    memset(&sc, 0, sizeof(sc));
    memset(servers, 0, sizeof(servers));
    f->arena = rb_arena_new();
    f->ctx.arena = f->arena;
    f->ctx.out = stdout;
    f->ctx.diag = open_memstream(&f->diag, &f->diag_len);
    rb_diags_init(&d, f->arena, "t.yaml");
    rb = rb_runbook_load_buffer(f->arena, "t.yaml", runbook, strlen(runbook), &d);
    assert_non_null(rb);
    f->real_ops = rb_driver_override_ops("postgres", &fake_ops);
    /* planned offline (nothing contacted), then applied as execute does */
    f->run = rb_run_new(&f->ctx, rb, RB_MODE_PLAN);
    f->run->offline = true;
    snprintf(f->run->run_id, sizeof(f->run->run_id), "r1");
    assert_int_equal(rb_sync_plan(f->run, &err), 0);
    assert_int_equal(f->run->n_actions, 1);
    f->act = f->run->actions[0];
    assert_string_equal(f->act->name, "sync/payments");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rb_driver_override_ops("postgres", f->real_ops);
    rb_arena_free(f->arena);
    fclose(f->ctx.diag);
    free(f->diag);
    free(f);
    return 0;
}

static int apply(struct fixture *f, struct rb_err *err)
{
    int rc = f->act->apply(f->run, f->act, err);

    fflush(f->ctx.diag);
    return rc;
}

static double result_num(const struct fixture *f, const char *key)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(f->act->result, key));
}

/* --- tests ------------------------------------------------------------------------------------ */

static void test_applies_and_commits_once(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    assert_int_equal(apply(f, &err), 0);
    assert_int_equal(dst->begun, 1);
    assert_int_equal(dst->commits, 1);
    assert_int_equal(dst->ledger_rows, 1);
    assert_int_equal(dst->rollbacks, 0);
    assert_non_null(strstr(dst->log, "SAVEPOINT rollbackctl_upsert\n"));
    assert_true(result_num(f, "inserted") == 3);
    assert_true(result_num(f, "attempts") == 1);
}

/*
 * The source drops mid-COPY on every attempt: each attempt's target transaction is rolled back
 * (the target is alive), no ledger row is ever written or committed, the table is tried three
 * times from scratch on fresh connections, and the error says which side failed and how often.
 */
static void test_source_drops_mid_copy(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *src = &servers[0], *dst = &servers[1];

    sc.src_drops_in_copy = 99;
    assert_int_equal(apply(f, &err), -1);
    assert_int_equal(sc.copies, 3);
    assert_int_equal(dst->begun, 3);
    assert_int_equal(dst->rollbacks, 3);
    assert_int_equal(dst->commits, 0);
    assert_int_equal(dst->ledger_rows, 0);
    assert_null(strstr(dst->log, "INSERT INTO rollbackctl_ledger"));
    /* reconnected for every attempt; once more on the source to count the rows lost */
    assert_int_equal(dst->opens, 3);
    assert_int_equal(src->opens, 4);
    assert_int_equal(err.cls, RB_E_FAILED);
    assert_int_equal(err.kind, RB_K_CONN_LOST);
    assert_non_null(strstr(err.msg, "sync table 'payments': source query failed: server closed "
                                    "the connection unexpectedly (gave up after 3 attempts)"));
    assert_non_null(strstr(f->diag, "(attempt 1 of 3); retrying the table from scratch in 1s"));
    assert_non_null(strstr(f->diag, "(attempt 2 of 3); retrying the table from scratch in 2s"));
    assert_true(result_num(f, "attempts") == 3);
}

/*
 * The target drops mid-COPY once: its server throws the transaction away (nothing to roll back
 * on a connection that is gone, nothing committed), and the second attempt commits the table.
 */
static void test_target_drops_mid_copy_then_recovers(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    sc.dst_drops_in_copy = 1;
    assert_int_equal(apply(f, &err), 0);
    assert_int_equal(sc.copies, 2);
    assert_int_equal(dst->thrown_away, 1);
    assert_int_equal(dst->rollbacks, 0);
    assert_int_equal(dst->commits, 1);
    assert_int_equal(dst->ledger_rows, 1);
    assert_int_equal(dst->opens, 2);
    assert_non_null(strstr(f->diag, "target COPY failed: server closed the connection "
                                    "unexpectedly (attempt 1 of 3)"));
    assert_true(result_num(f, "attempts") == 2);
}

/* A statement past its deadline is cancelled, not a lost connection: rolled back, not retried. */
static void test_upsert_timeout_is_not_retried(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    sc.upsert_timeout = true;
    assert_int_equal(apply(f, &err), -1);
    assert_int_equal(sc.copies, 1);
    assert_int_equal(err.kind, RB_K_TIMEOUT);
    assert_non_null(strstr(err.msg, "sync table 'payments': query cancelled after 21600000 ms"));
    assert_int_equal(dst->rollbacks, 1);
    assert_int_equal(dst->commits, 0);
    assert_int_equal(dst->ledger_rows, 0);
    assert_null(strstr(f->diag, "retrying"));
    assert_true(result_num(f, "attempts") == 1);
    assert_true(result_num(f, "lost") == 3); /* the rows this table should have brought back */
}

/*
 * A login the target refuses (wrong password: RB_K_REFUSED, 28P01) would be refused again: one
 * attempt, no "retrying" warning, nothing begun, the server's reason in the error.
 */
static void test_refused_login_is_not_retried(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    sc.dst_open_refused = 99;
    assert_int_equal(apply(f, &err), -1);
    assert_int_equal(dst->opens, 1);
    assert_int_equal(dst->begun, 0);
    assert_int_equal(sc.copies, 0);
    assert_int_equal(err.kind, RB_K_REFUSED);
    assert_string_equal(err.sqlstate, "28P01");
    assert_non_null(strstr(err.msg, "sync table 'payments': unable to connect to 'legacy': "
                                    "FATAL:  password authentication failed"));
    assert_null(strstr(err.msg, "gave up after"));
    assert_null(strstr(f->diag, "retrying"));
    assert_true(result_num(f, "attempts") == 1);
}

/* A connection that cannot be made (the server restarting) may be made on a second try. */
static void test_connection_not_made_is_retried(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    sc.dst_open_lost = 1;
    assert_int_equal(apply(f, &err), 0);
    assert_int_equal(dst->opens, 2);
    assert_int_equal(dst->commits, 1);
    assert_int_equal(dst->ledger_rows, 1);
    assert_non_null(strstr(f->diag, "Connection refused (attempt 1 of 3); retrying"));
    assert_true(result_num(f, "attempts") == 2);
}

/*
 * SQLSTATE 21000 from the upsert: the phase goes back to its savepoint and names the key that
 * appears twice (read by the dup query), pointing at the runbook's key line. Not retried.
 */
static void test_duplicate_key_is_named(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];
    const char *back;

    sc.upsert_duplicate = true;
    assert_int_equal(apply(f, &err), -1);
    back = strstr(dst->log, "ROLLBACK TO rollbackctl_upsert\n");
    assert_non_null(back);
    assert_non_null(strstr(back, "HAVING count(*) > 1")); /* named after going back */
    assert_non_null(strstr(err.msg, "t.yaml:22:14: sync table 'payments': duplicate key in the "
                                    "source rows: id=7 appears 2 times"));
    assert_non_null(strstr(err.hint, "the key must identify one source row"));
    assert_int_equal(sc.copies, 1);
    assert_int_equal(dst->rollbacks, 1);
    assert_int_equal(dst->ledger_rows, 0);
    assert_int_equal(dst->commits, 0);
}

/*
 * None of the staged keys in the target: the plain INSERT applies the rows (inserted = its row
 * count, updated 0) and the upsert never runs.
 */
static void test_new_keys_take_the_insert(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];
    const char *probe;

    sc.keys_absent = true;
    assert_int_equal(apply(f, &err), 0);
    probe = strstr(dst->log, "SAVEPOINT rollbackctl_upsert\nSELECT CASE WHEN EXISTS (SELECT 1 "
                             "FROM (SELECT \"id\" FROM pg_temp.rollbackctl_stage LIMIT 1000) ");
    assert_non_null(probe);
    assert_non_null(strstr(probe, "\nINSERT INTO "));
    assert_null(strstr(dst->log, "WITH upsert AS"));
    assert_null(strstr(dst->log, "ROLLBACK TO"));
    assert_true(result_num(f, "inserted") == 3);
    assert_true(result_num(f, "updated") == 0);
    assert_true(result_num(f, "unchanged") == 0);
    assert_int_equal(dst->commits, 1);
    assert_int_equal(dst->ledger_rows, 1);
}

/*
 * The plain INSERT meets a key (23505): back to the savepoint, the upsert applies the rows; the
 * table commits with the upsert's counts, in one attempt.
 */
static void test_insert_conflict_falls_back_to_the_upsert(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];
    const char *back;

    sc.keys_absent = true;
    sc.insert_duplicate = true;
    assert_int_equal(apply(f, &err), 0);
    back = strstr(dst->log, "ROLLBACK TO rollbackctl_upsert\n");
    assert_non_null(back);
    assert_non_null(strstr(back, "WITH upsert AS"));
    assert_true(result_num(f, "inserted") == 3);
    assert_true(result_num(f, "attempts") == 1);
    assert_int_equal(dst->commits, 1);
    assert_int_equal(dst->ledger_rows, 1);
}

/*
 * A duplicate key inside the stage: the plain INSERT fails with 23505, the upsert it falls back to
 * with 21000, and that is what names the key.
 */
static void test_duplicate_key_through_the_insert_is_named(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct fake_server *dst = &servers[1];

    sc.keys_absent = true;
    sc.insert_duplicate = true;
    sc.upsert_duplicate = true;
    assert_int_equal(apply(f, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:22:14: sync table 'payments': duplicate key in the "
                                    "source rows: id=7 appears 2 times"));
    assert_null(strstr(err.msg, "23505"));
    assert_int_equal(dst->ledger_rows, 0);
    assert_int_equal(dst->commits, 0);
}

/*
 * The stage refuses a value mid-COPY: the error's fields (COPY line, column, value), not its
 * text, name the row, the mapping line and the source row's key.
 */
static void test_refused_value_names_row_and_key(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;

    sc.copy_refused = true;
    assert_int_equal(apply(f, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:25:9: sync table 'payments': row 2 of the source "
                                    "query, column 'amount' (source expression 'amount'): invalid "
                                    "input syntax for type integer: \"x\" (source row with id=5)"));
    assert_string_equal(sc.looked_up, "x");
    assert_int_equal(sc.copies, 1);
    assert_int_equal(servers[1].rollbacks, 1);
    assert_int_equal(servers[1].commits, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_applies_and_commits_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_drops_mid_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_drops_mid_copy_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_timeout_is_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_keys_take_the_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_conflict_falls_back_to_the_upsert, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key_through_the_insert_is_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_login_is_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_not_made_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_value_names_row_and_key, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
