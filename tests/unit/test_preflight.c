/*
 * test_preflight.c - the pre-flight's policy against a fake database driver, no server.
 *
 * The fake ops (struct rb_db_ops) sit in the registry row of "postgres", as in test_sync_apply.c;
 * each fake server counts its connections and logs its statements, and a scenario makes a login
 * fail (refused: 28P01) or a connection not be made. Asserted: every failing target is named in
 * one error and in the report, the others still checked (all of them, not the first only); the
 * catalog checks of each table still to sync ran and nothing was written (no BEGIN, no DDL); on
 * resume, targets needed only by actions the journal says are done are not contacted at all; a
 * `run` program is looked up as posix_spawnp does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/db.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/run.h"

static const char runbook[] = "version: 1\n"
                              "name: t\n"
                              "cutover: 2026-11-01T00:00:00Z\n"
                              "state_dir: /nonexistent\n"
                              "targets:\n"
                              "  new: { driver: postgres, conninfo: host=new }\n"
                              "  legacy: { driver: postgres, conninfo: host=legacy }\n"
                              "  reports: { driver: postgres, conninfo: host=reports }\n"
                              "sync:\n"
                              "  from: new\n"
                              "  to: legacy\n"
                              "  tables:\n"
                              "    - name: payments\n"
                              "      source: { table: payments, changed_since: updated_at }\n"
                              "      target: { table: payments, key: [id] }\n"
                              "      columns: { id: id, amount: amount }\n"
                              "restore:\n"
                              "  - name: Reindex\n"
                              "    run: [rb-test-no-such-program, --all]\n"
                              "  - name: Mark reports\n"
                              "    sql: { target: reports, statement: update m set v = 1 }\n";

/* --- the fake driver ------------------------------------------------------------------------ */

struct fake_server {
    char log[8192];
    int opens;
    bool refuse_login; /* 28P01 */
    bool down;         /* connection refused */
};

static struct fake_server servers[3];

static struct fake_server *server_of(const char *name)
{
    return &servers[strcmp(name, "new") == 0 ? 0 : strcmp(name, "legacy") == 0 ? 1 : 2];
}

struct fake_db {
    struct rb_db base;
    struct fake_server *srv;
};

static struct rb_db *fake_open(struct rb_run *run, const struct rb_target *t, struct rb_err *err)
{
    struct fake_server *srv = server_of(t->name);
    struct fake_db *db = rb_run_handle_get(run, "fake", t->name);

    if (db != NULL)
        return &db->base;
    srv->opens++;
    if (srv->refuse_login) {
        rb_errf(err, RB_E_FAILED,
                "unable to connect to '%s': FATAL:  password authentication failed for user \"rb\"",
                t->name);
        rb_err_kind(err, RB_K_REFUSED);
        memcpy(err->sqlstate, "28P01", 6);
        return NULL;
    }
    if (srv->down) {
        rb_errf(err, RB_E_FAILED, "unable to connect to '%s': Connection refused", t->name);
        rb_err_kind(err, RB_K_CONN_LOST);
        return NULL;
    }
    db = rb_new(run->arena, struct fake_db);
    db->base.ops = rb_driver_lookup("postgres")->ops;
    db->base.label = t->name;
    db->srv = srv;
    rb_run_handle_put(run, "fake", t->name, db);
    return &db->base;
}

static void fake_close(struct rb_run *run, const struct rb_target *t)
{
    (void)run;
    (void)t;
}

static bool fake_lost(const struct rb_db *db)
{
    (void)db;
    return false;
}

static struct rb_db_result *result(struct rb_arena *a, size_t ncols, const char *const *vals)
{
    struct rb_db_result *r = rb_new(a, struct rb_db_result);
    size_t n = 0;
    uint32_t *types = rb_new_array(a, uint32_t, ncols + 1);
    int *mods = rb_new_array(a, int, ncols + 1);
    const char **names = rb_new_array(a, const char *, ncols + 1);

    while (vals[n] != NULL)
        n++;
    for (size_t j = 0; j < ncols; j++) {
        types[j] = 23;
        mods[j] = -1;
        names[j] = "c";
    }
    r->ncols = ncols;
    r->nrows = ncols > 0 ? n / ncols : 0;
    r->values = (const char **)vals;
    r->types = types;
    r->typmods = mods;
    r->names = names;
    r->command = "SELECT";
    r->rows_affected = (int64_t)r->nrows;
    return r;
}

/* The catalog queries of sync's checks, answered for a table payments(id, amount, updated_at). */
static int fake_query(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
                      struct rb_db_result **out, struct rb_err *err)
{
    struct fake_db *f = (struct fake_db *)db;
    static const char *const oid[] = { "16384", NULL };
    static const char *const src_cols[] = { "id", "amount", "updated_at", NULL };
    static const char *const dst_cols[] = { "id", "amount", NULL };
    static const char *const nullable[] = { "f", NULL };
    static const char *const unique[] = { "1", "id", NULL };
    /* rb_sync_privileges: exists, SELECT..TRUNCATE, TEMP, ledger ok, ledger exists, schema... */
    static const char *const privileges[] = { "t", "t", "t", "t", "t", "t", "t",
                                              "t", "f", "public", "rb", "db", NULL };
    static const char *const none[] = { NULL };
    const char *const *rows = none;
    size_t ncols = 1;
    size_t used = strlen(f->srv->log);

    (void)err;
    snprintf(f->srv->log + used, sizeof(f->srv->log) - used, "%s\n", st->sql);
    if (strstr(st->sql, "has_table_privilege") != NULL) {
        rows = privileges;
        ncols = 12;
    } else if (strstr(st->sql, "to_regclass") != NULL) {
        rows = oid;
    } else if (strstr(st->sql, "NOT attisdropped ORDER BY attnum") != NULL) {
        rows = f->srv == &servers[0] ? src_cols : dst_cols;
    } else if (strstr(st->sql, "NOT attnotnull") != NULL) {
        rows = nullable;
    } else if (strstr(st->sql, "pg_index") != NULL) {
        rows = unique;
        ncols = 2;
    } else if (strstr(st->sql, "LIMIT 0") != NULL) {
        ncols = 2;
    }
    if (out != NULL)
        *out = result(a, ncols, rows);
    return 0;
}

static int fake_cancel(struct rb_db *db)
{
    (void)db;
    return 0;
}

static bool fake_in_transaction(const struct rb_db *db)
{
    (void)db;
    return false;
}

static int fake_tx(struct rb_db *db, enum rb_db_tx op, const char *savepoint, int64_t timeout_ms,
                   struct rb_err *err)
{
    struct fake_db *f = (struct fake_db *)db;
    size_t used = strlen(f->srv->log);

    (void)op;
    (void)savepoint;
    (void)timeout_ms;
    (void)err;
    snprintf(f->srv->log + used, sizeof(f->srv->log) - used, "TX %d\n", (int)op);
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
};

/* --- fixture -------------------------------------------------------------------------------- */

struct fixture {
    struct rb_arena *arena;
    struct rb_ctx ctx;
    char *diag;
    size_t diag_len;
    struct rb_run *run;
    const void *real_ops;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rb_diags d;
    struct rb_runbook *rb;

    memset(servers, 0, sizeof(servers));
    f->arena = rb_arena_new();
    f->ctx.arena = f->arena;
    f->ctx.out = stdout;
    f->ctx.diag = open_memstream(&f->diag, &f->diag_len);
    rb_diags_init(&d, f->arena, "t.yaml");
    rb = rb_runbook_load_buffer(f->arena, "t.yaml", runbook, strlen(runbook), &d);
    assert_non_null(rb);
    f->real_ops = rb_driver_override_ops("postgres", &fake_ops);
    f->run = rb_run_new(&f->ctx, rb, RB_MODE_EXECUTE);
    snprintf(f->run->run_id, sizeof(f->run->run_id), "r1");
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

/* "kind:target:ok" of each check in the report, space-separated. */
static const char *checks(struct fixture *f, const cJSON *rep)
{
    const cJSON *c;
    char *out = rb_strdup(f->arena, "");

    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rep, "checks")) {
        out = (char *)rb_sprintf(
            f->arena, "%s%s%s:%s:%s", out, out[0] != '\0' ? " " : "",
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "kind")),
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "target")),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ok")) ? "ok" : "FAILED");
    }
    return out;
}

static void mark_done(struct fixture *f, const char *id)
{
    cJSON *st = cJSON_CreateObject();

    cJSON_AddStringToObject(st, "state", "done");
    cJSON_AddItemToObject(f->run->replay, id, st);
}

/* --- tests ------------------------------------------------------------------------------------ */

/*
 * A refused login on legacy and a missing program: both named, in the report and in one error;
 * the other database and the program lines still checked; the table's catalog checks skipped
 * (legacy could not be asked); nothing but reads was sent anywhere.
 */
static void test_every_failure_named(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    cJSON *rep = NULL;

    servers[1].refuse_login = true;
    assert_int_equal(rb_preflight(f->run, &rep, &err), -1);
    fflush(f->ctx.diag);
    assert_int_equal(err.cls, RB_E_FAILED);
    assert_string_equal(checks(f, rep),
                        "database:new:ok database:legacy:FAILED "
                        "database:reports:ok program:rb-test-no-such-program:FAILED");
    assert_non_null(strstr(err.msg, "pre-flight failed: 2 of 4 checks (database 'legacy', "
                                    "program 'rb-test-no-such-program'); nothing was changed"));
    assert_non_null(strstr(err.hint, "'rollbackctl resume r1'"));
    assert_non_null(strstr(f->diag, "pre-flight: FAILED database 'legacy': unable to connect to "
                                    "'legacy': FATAL:  password authentication failed"));
    assert_non_null(strstr(f->diag, "pre-flight: FAILED program 'rb-test-no-such-program': "
                                    "t.yaml:18: restore/reindex: program "
                                    "'rb-test-no-such-program' is not found in PATH"));
    assert_int_equal(servers[1].opens, 1); /* a refused login is not tried again */
    assert_null(strstr(servers[0].log, "TX"));
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "ok")));
    cJSON_Delete(rep);
}

/* All answer: the table's catalog checks ran on both sides, read-only; nothing begun. */
static void test_tables_checked_read_only(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    cJSON *rep = NULL;
    char dir[] = "/tmp/rb-test-pf.XXXXXX";
    char prog[64];
    const char *was = getenv("PATH");
    char *saved = was != NULL ? strdup(was) : NULL;
    FILE *fp;

    assert_non_null(mkdtemp(dir));
    snprintf(prog, sizeof(prog), "%s/rb-test-no-such-program", dir);
    fp = fopen(prog, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\n", fp);
    fclose(fp);
    chmod(prog, 0755);
    setenv("PATH", dir, 1);
    assert_int_equal(rb_preflight(f->run, &rep, &err), 0);
    if (saved != NULL)
        setenv("PATH", saved, 1);
    free(saved);
    unlink(prog);
    rmdir(dir);
    assert_string_equal(checks(f, rep),
                        "database:new:ok database:legacy:ok database:reports:ok "
                        "sync table:payments:ok program:rb-test-no-such-program:ok");
    assert_non_null(strstr(servers[0].log, "LIMIT 0"));  /* the source expressions were tried */
    assert_non_null(strstr(servers[1].log, "pg_index")); /* the key's unique index looked up */
    assert_non_null(strstr(servers[1].log, "has_database_privilege")); /* what apply will need */
    assert_null(strstr(servers[1].log, "TX"));
    assert_null(strstr(servers[1].log, "CREATE TABLE"));
    assert_null(strstr(servers[1].log, "CREATE TEMP"));
    assert_null(strstr(servers[1].log, "INSERT INTO"));
    cJSON_Delete(rep);
}

/*
 * Resume: sync/payments and the run step are done, so neither legacy nor the program is
 * needed; legacy being down does not stop the run and it is not even contacted.
 */
static void test_resume_checks_only_what_is_left(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    cJSON *rep = NULL;

    servers[1].down = true;
    mark_done(f, "sync/payments");
    mark_done(f, "restore/reindex");
    assert_int_equal(rb_preflight(f->run, &rep, &err), 0);
    assert_string_equal(checks(f, rep), "database:reports:ok");
    assert_int_equal(servers[1].opens, 0);
    assert_int_equal(servers[0].opens, 0);
    cJSON_Delete(rep);
}

/* A database first needed after a restore run step (which may start it) that is down: a warning. */
static void test_database_started_by_a_step_is_a_warning(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    cJSON *rep = NULL;

    servers[2].down = true;
    mark_done(f, "sync/payments");
    assert_int_equal(rb_preflight(f->run, &rep, &err), -1); /* the program is still missing */
    fflush(f->ctx.diag);
    assert_non_null(strstr(f->diag, "warning: pre-flight: database 'reports' does not answer now, "
                                    "but restore step 'Reindex' comes first and may start it"));
    assert_null(strstr(err.msg, "database 'reports'"));
    cJSON_Delete(rep);

    /* a refused login is no reason to wait for a step: it fails */
    servers[2].down = false;
    servers[2].refuse_login = true;
    rep = NULL;
    {
        struct rb_run *again = rb_run_new(&f->ctx, f->run->rb, RB_MODE_EXECUTE);

        cJSON_AddItemToObject(
            again->replay, "sync/payments",
            cJSON_Duplicate(cJSON_GetObjectItem(f->run->replay, "sync/payments"), 1));
        assert_int_equal(rb_preflight(again, &rep, &err), -1);
    }
    assert_non_null(strstr(err.msg, "database 'reports'"));
    cJSON_Delete(rep);
}

static void test_find_program(void **state)
{
    struct fixture *f = *state;
    struct rb_err err = RB_ERR_INIT;
    const char *was = getenv("PATH");
    char *saved = was != NULL ? strdup(was) : NULL;
    const char *p;

    setenv("PATH", "/nonexistent:/bin:/usr/bin", 1);
    p = rb_preflight_find_program(f->arena, "sh", &err);
    assert_non_null(p);
    assert_true(strcmp(p, "/bin/sh") == 0 || strcmp(p, "/usr/bin/sh") == 0);
    /* a name with a slash is taken as it is */
    assert_null(rb_preflight_find_program(f->arena, "./rb-test-none", &err));
    assert_non_null(strstr(err.msg, "program './rb-test-none' does not exist"));
    assert_null(rb_preflight_find_program(f->arena, "/etc/passwd", &err));
    assert_non_null(strstr(err.msg, "is not an executable file"));
    assert_null(rb_preflight_find_program(f->arena, "/bin", &err));
    /* unset PATH: the system's default path, as posix_spawnp */
    unsetenv("PATH");
    assert_non_null(rb_preflight_find_program(f->arena, "sh", &err));
    if (saved != NULL)
        setenv("PATH", saved, 1);
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_failure_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables_checked_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_checks_only_what_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_started_by_a_step_is_a_warning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_find_program, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
