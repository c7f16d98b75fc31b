/*
 * test_assess.c - the assessment without servers: Prometheus answers parsed (one sample, empty,
 * scalar, several series, API errors), JSON signal files read exactly, and the assess phase over
 * fake database and metrics drivers put in the registry rows (rb_driver_override_ops): each
 * verdict, unknown signals, --severity, the budget, points of no return, declined and --force.
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
#include "rollbackctl/assess.h"
#include "rollbackctl/db.h"
#include "rollbackctl/metrics.h"
#include "rollbackctl/phases.h"

/* ---- Prometheus answers -------------------------------------------------------------------- */

static int parse(const char *body, const char **v, struct rb_err *err, struct rb_arena *a)
{
    return rb_prometheus_parse(a, "q()", 200, body, strlen(body), v, err);
}

static void test_prometheus_parse(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const char *v;

    (void)state;
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                           "[{\"metric\":{},\"value\":[1700000000.1,\"2\"]}]}}",
                           &v, &err, a),
                     0);
    assert_string_equal(v, "2");
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                           "\"result\":[]}}",
                           &v, &err, a),
                     0);
    assert_string_equal(v, "0");
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                           "\"result\":[1700000000,\"0.1000000000000000000001\"]}}",
                           &v, &err, a),
                     0);
    assert_string_equal(v, "0.1000000000000000000001");
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                           "[{\"metric\":{\"name\":\"a\"},\"value\":[1,\"0\"]},"
                           "{\"metric\":{\"name\":\"b\"},\"value\":[1,\"1\"]}]}}",
                           &v, &err, a),
                     -1);
    assert_non_null(strstr(err.msg, "query 'q()' returned 2 series"));
    assert_non_null(strstr(err.hint, "aggregate it, e.g. with sum()"));
    assert_null(v);
    err = (struct rb_err)RB_ERR_INIT;
    assert_int_equal(parse("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
                           "\"1:7: parse error: unexpected end of input\"}",
                           &v, &err, a),
                     -1);
    assert_string_equal(err.msg,
                        "query 'q()' failed: bad_data: 1:7: parse error: unexpected end of input");
    assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                           "\"result\":[]}}",
                           &v, &err, a),
                     -1);
    assert_non_null(strstr(err.msg, "returned a matrix"));
    assert_int_equal(parse("<html>proxy error</html>", &v, &err, a), -1);
    assert_non_null(strstr(err.msg, "without a Prometheus API result"));
    rb_arena_free(a);
}

/* ---- JSON signal files --------------------------------------------------------------------- */

static void test_json_values(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_value v;
    const char *j = "{ \"nested\": {\"x\": [1, \"}\", {\"y\": 2}]}, \"s\": \"a\\\"b\","
                    " \"r\": 0.1000000000000000000001, \"big\": -12345678901234567890.5e-3,"
                    " \"t\": true, \"n\": null, \"l\": [1], \"sp\\u0061ce\": 7, \"r\": 9 }";

    (void)state;
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "r", &v, &err), 0);
    assert_int_equal(v.type, RB_VAL_NUMBER);
    assert_string_equal(v.str, "0.1000000000000000000001");
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "big", &v, &err), 0);
    assert_string_equal(v.str, "-12345678901234567890.5e-3");
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "space", &v, &err), 0);
    assert_string_equal(v.str, "7");
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "s", &v, &err), 0);
    assert_int_equal(v.type, RB_VAL_STRING);
    assert_string_equal(v.str, "a\"b");
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "t", &v, &err), 0);
    assert_int_equal(v.type, RB_VAL_BOOL);
    assert_true(v.b);
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "n", &v, &err), 0);
    assert_int_equal(v.type, RB_VAL_NULL);
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "l", &v, &err), -1);
    assert_non_null(strstr(err.msg, "is a list"));
    assert_int_equal(rb_signal_json_value(a, j, strlen(j), "nope", &v, &err), -1);
    assert_string_equal(err.msg, "no key 'nope'");
    assert_int_equal(rb_signal_json_value(a, "[1]", 3, "x", &v, &err), -1);
    assert_string_equal(err.msg, "not a JSON object");
    rb_arena_free(a);
}

/* A file is one JSON value: text after the object (a second object, a half-overwritten tail) is
   refused and its byte named, never read as the first object alone. */
static void test_json_trailing_text(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_value v;
    const char *two = "{\"r\": 0.5} {\"r\": 9}";
    const char *tail = "{\"r\": 0.5}\n\t \n";

    (void)state;
    assert_int_equal(rb_signal_json_value(a, two, strlen(two), "r", &v, &err), -1);
    assert_string_equal(err.msg, "not valid JSON (at byte 11)");
    assert_int_equal(rb_signal_json_value(a, "{\"r\": 1,}", 9, "r", &v, &err), -1);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    /* white space after it is fine */
    assert_int_equal(rb_signal_json_value(a, tail, strlen(tail), "r", &v, &err), 0);
    assert_string_equal(v.str, "0.5");
    rb_arena_free(a);
}

static void test_recovery_time(void **state)
{
    (void)state;
    assert_int_equal(rb_recovery_time_upper_ms("2h-4h"), 4 * 3600000);
    assert_int_equal(rb_recovery_time_upper_ms("30m"), 30 * 60000);
    assert_int_equal(rb_recovery_time_upper_ms("n/a"), -1);
}

/* ---- the assess phase over fake drivers ---------------------------------------------------- */

/* What the fake database answers: by the exact SQL. */
struct answer {
    const char *sql;
    uint32_t type;     /* 1700 numeric, 23 int4, 16 bool, 25 text */
    const char *value; /* NULL: SQL NULL */
    bool no_row;
    const char *error; /* the statement fails with this */
};

static const struct answer *answers;
static bool db_down;
static int prom_calls;
static const char *prom_value; /* NULL: the query fails */

struct fake_db {
    struct rb_db base;
};

static struct rb_db *fake_open(struct rb_run *run, const struct rb_target *t, struct rb_err *err)
{
    struct fake_db *db;

    if (db_down) {
        rb_errf(err, RB_E_FAILED, "unable to connect to '%s': Connection refused", t->name);
        rb_err_kind(err, RB_K_CONN_LOST);
        return NULL;
    }
    db = rb_new(run->arena, struct fake_db);
    db->base.ops = rb_driver_lookup("postgres")->ops;
    db->base.label = t->name;
    return &db->base;
}

static void fake_close(struct rb_run *run, const struct rb_target *t)
{
    (void)run, (void)t;
}

static bool fake_lost(const struct rb_db *db)
{
    (void)db;
    return false;
}

static int fake_query(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
                      struct rb_db_result **out, struct rb_err *err)
{
    (void)db;
    for (const struct answer *an = answers; an != NULL && an->sql != NULL; an++) {
        struct rb_db_result *r;
        uint32_t *types;
        const char **vals;

        if (strcmp(an->sql, st->sql) != 0)
            continue;
        if (an->error != NULL) {
            rb_errf(err, RB_E_FAILED, "%s", an->error);
            return rb_err_kind(err, RB_K_SQL);
        }
        r = rb_new(a, struct rb_db_result);
        memset(r, 0, sizeof(*r));
        types = rb_new_array(a, uint32_t, 1);
        vals = rb_new_array(a, const char *, 1);
        types[0] = an->type;
        vals[0] = an->value;
        r->ncols = 1;
        r->nrows = an->no_row ? 0 : 1;
        r->types = types;
        r->values = vals;
        *out = r;
        return 0;
    }
    return rb_errf(err, RB_E_FAILED, "fake: no answer for '%s'", st->sql);
}

static int fake_cancel(struct rb_db *db)
{
    (void)db;
    return 0;
}

static bool fake_in_tx(const struct rb_db *db)
{
    (void)db;
    return false;
}

static int fake_tx(struct rb_db *db, enum rb_db_tx op, const char *sp, int64_t timeout_ms,
                   struct rb_err *err)
{
    (void)db, (void)op, (void)sp, (void)timeout_ms, (void)err;
    return 0;
}

static const struct rb_db_ops fake_db_ops = {
    .driver = "postgres",
    .open = fake_open,
    .close = fake_close,
    .lost = fake_lost,
    .query = fake_query,
    .cancel = fake_cancel,
    .in_transaction = fake_in_tx,
    .tx = fake_tx,
};

static int fake_prom_query(struct rb_arena *a, const struct rb_target *t, const char *promql,
                           const char **value, struct rb_err *err)
{
    (void)a, (void)t;
    prom_calls++;
    if (prom_value == NULL) {
        rb_errf(err, RB_E_FAILED, "query '%s' returned 3 series; a signal needs one number",
                promql);
        return rb_err_hint(err, "aggregate it, e.g. with sum()");
    }
    *value = prom_value;
    return 0;
}

static const struct rb_metrics_ops fake_prom_ops = { .driver = "prometheus",
                                                     .query = fake_prom_query };

static const char runbook[] = "version: 1\n"
                              "name: t\n"
                              "cutover: 2026-11-01T00:00:00Z\n"
                              "state_dir: /tmp/rb-test-assess\n"
                              "targets:\n"
                              "  new: { driver: postgres, conninfo: \"dbname=new\" }\n"
                              "  metrics: { driver: prometheus, url: \"http://127.0.0.1:1\" }\n"
                              "signals:\n"
                              "  calc_error_ratio: { target: new, sql: select ratio }\n"
                              "  affected_users: { target: new, sql: select users }\n"
                              "  next_payroll_hours: { target: new, sql: select hours }\n"
                              "  failed_integrations: { target: metrics, query: count(up == 0) }\n"
                              "decision:\n"
                              "  matrix:\n"
                              "    - scenario: Critical calculation errors\n"
                              "      when: calc_error_ratio > 0.1\n"
                              "      severity: critical\n"
                              "      impact: high\n"
                              "      action: rollback\n"
                              "      recovery_time: 2h-4h\n"
                              "    - scenario: Minor variances\n"
                              "      when: calc_error_ratio > 0 and calc_error_ratio < 0.01\n"
                              "      severity: medium\n"
                              "      impact: low\n"
                              "      action: fix_forward\n"
                              "      recovery_time: n/a\n"
                              "  rollback_if:\n"
                              "    - severity == \"critical\"\n"
                              "    - affected_users > 100\n"
                              "  point_of_no_return:\n"
                              "    - when: failed_integrations >= 2\n"
                              "      message: bank files already sent\n";

struct fixture {
    struct rb_arena *arena;
    struct rb_ctx ctx;
    char *diag;
    size_t diag_len;
    const struct rb_runbook *rb;
    const void *real_db, *real_prom;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rb_diags d;

    f->arena = rb_arena_new();
    f->ctx.arena = f->arena;
    f->ctx.out = stdout;
    f->ctx.diag = open_memstream(&f->diag, &f->diag_len);
    rb_diags_init(&d, f->arena, "t.yaml");
    f->rb = rb_runbook_load_buffer(f->arena, "t.yaml", runbook, strlen(runbook), &d);
    assert_non_null(f->rb);
    f->real_db = rb_driver_override_ops("postgres", &fake_db_ops);
    f->real_prom = rb_driver_override_ops("prometheus", &fake_prom_ops);
    db_down = false;
    prom_calls = 0;
    prom_value = "2";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rb_driver_override_ops("postgres", f->real_db);
    rb_driver_override_ops("prometheus", f->real_prom);
    rb_arena_free(f->arena);
    fclose(f->ctx.diag);
    free(f->diag);
    free(f);
    return 0;
}

static struct rb_assessment *assess(struct fixture *f, const char *severity)
{
    struct rb_run *run = rb_run_new_check(&f->ctx, f->rb);
    struct rb_err err = RB_ERR_INIT;
    struct rb_signal_value *sig;
    size_t n;

    run->severity_opt = severity;
    run->started_at = 1000000;
    assert_int_equal(rb_signals_read(run, &sig, &n, &err), 0);
    return rb_assessment_make(run, sig, n);
}

static void test_warranted(void **state)
{
    static const struct answer a[] = {
        { "select ratio", 1700, "0.1000000000000000000001", false, NULL },
        { "select users", 23, "5", false, NULL },
        { "select hours", 1700, "1.5", false, NULL },
        { NULL, 0, NULL, false, NULL },
    };
    struct fixture *f = *state;
    struct rb_assessment *as;

    answers = a;
    as = assess(f, NULL);
    assert_string_equal(as->verdict, "warranted");
    assert_int_equal(as->matrix[0], RB_TRI_TRUE); /* exact: 0.1000000000000000000001 > 0.1 */
    assert_int_equal(as->matrix[1], RB_TRI_FALSE);
    assert_ptr_equal(as->matched, &f->rb->decision.matrix[0]);
    assert_int_equal(as->severity, RB_SEV_CRITICAL);
    assert_int_equal(as->rules[0], RB_TRI_TRUE);
    assert_int_equal(as->rules[1], RB_TRI_FALSE);
    assert_int_equal(as->ponr[0], RB_TRI_TRUE);
    /* the smaller of recovery_time (4h) and next_payroll_hours (1.5h) */
    assert_int_equal(as->budget_ms, 5400000);
    assert_int_equal(as->deadline, 1000000 + 5400);
    assert_string_equal(as->signals[3].value.str, "2");
    assert_string_equal(as->signals[3].source, "prometheus 'metrics'");
    assert_string_equal(as->signals[0].source, "sql on 'new'");
}

static void test_not_warranted_and_severity(void **state)
{
    static const struct answer a[] = {
        { "select ratio", 1700, "0.005", false, NULL },
        { "select users", 23, "5", false, NULL },
        { "select hours", 1700, "100", false, NULL },
        { NULL, 0, NULL, false, NULL },
    };
    struct fixture *f = *state;
    struct rb_assessment *as;

    answers = a;
    as = assess(f, NULL);
    assert_string_equal(as->verdict, "not_warranted");
    assert_int_equal(as->severity, RB_SEV_MEDIUM);
    assert_string_equal(as->matched->scenario, "Minor variances");
    assert_non_null(strstr(as->why, "no rollback_if rule is true (severity medium, scenario "
                                    "'Minor variances')"));
    assert_int_equal(as->budget_ms, 100 * 3600000LL); /* recovery_time n/a: the payroll bounds it */
    /* every row false: no severity applies, so `severity == "critical"` is false, not unknown */
    {
        static const struct answer none[] = {
            { "select ratio", 1700, "0", false, NULL },
            { "select users", 23, "5", false, NULL },
            { "select hours", 1700, "100", false, NULL },
            { NULL, 0, NULL, false, NULL },
        };

        answers = none;
        as = assess(f, NULL);
        assert_null(as->matched);
        assert_int_equal(as->rules[0], RB_TRI_FALSE);
        assert_string_equal(as->verdict, "not_warranted");
        answers = a;
    }
    /* --severity decides the severity; the rows are still evaluated */
    as = assess(f, "critical");
    assert_string_equal(as->verdict, "warranted");
    assert_true(as->severity_from_option);
    assert_int_equal(as->matrix[1], RB_TRI_TRUE);
}

static void test_unknown_signals(void **state)
{
    static const struct answer a[] = {
        { "select ratio", 1700, NULL, false, NULL },
        { "select users", 23, NULL, true, NULL },
        { "select hours", 1700, NULL, false, "ERROR:  relation \"pay_periods\" does not exist" },
        { NULL, 0, NULL, false, NULL },
    };
    struct fixture *f = *state;
    struct rb_assessment *as;

    answers = a;
    prom_value = NULL;
    as = assess(f, NULL);
    assert_string_equal(as->verdict, "undetermined");
    assert_string_equal(as->signals[0].unknown, "NULL");
    assert_string_equal(as->signals[1].unknown, "no row");
    assert_non_null(strstr(as->signals[2].unknown, "pay_periods"));
    assert_non_null(strstr(as->signals[3].unknown, "aggregate it"));
    assert_int_equal(as->signals[3].value.type, RB_VAL_NULL); /* never a silent 0 */
    assert_null(as->matched);
    assert_int_equal(as->severity, RB_SEV_NONE);
    assert_int_equal(as->rules[0], RB_TRI_UNKNOWN);
    assert_int_equal(as->ponr[0], RB_TRI_UNKNOWN);
    assert_int_equal(as->budget_ms, -1);
    assert_non_null(strstr(as->rules_why[1], "'affected_users' is unknown: no row"));
    /* Prometheus's NaN is no number to compare: unknown, saying so */
    prom_value = "NaN";
    as = assess(f, NULL);
    assert_string_equal(as->signals[3].unknown, "'NaN' is not a number");
    /* the database down: every sql signal unknown with the reason, nothing crashes */
    db_down = true;
    prom_value = "0";
    as = assess(f, NULL);
    assert_string_equal(as->verdict, "undetermined");
    assert_non_null(strstr(as->signals[0].unknown, "Connection refused"));
    assert_string_equal(as->signals[3].value.str, "0");
}

static void test_phase_declined_and_forced(void **state)
{
    static const struct answer a[] = {
        { "select ratio", 1700, "0.005", false, NULL },
        { "select users", 23, "5", false, NULL },
        { "select hours", 1700, "100", false, NULL },
        { NULL, 0, NULL, false, NULL },
    };
    struct fixture *f = *state;
    struct rb_run *run = rb_run_new(&f->ctx, f->rb, RB_MODE_PLAN);
    struct rb_err err = RB_ERR_INIT;
    struct rb_action *act;
    const cJSON *r;

    answers = a;
    run->initiated_by = "alice@host";
    run->reason = "test";
    /* plan: the assessment in the detail, the facts set in memory */
    assert_int_equal(rb_assess_plan(run, &err), 0);
    assert_int_equal(run->n_actions, 1);
    act = run->actions[0];
    assert_string_equal(act->name, "assess/verdict");
    assert_int_equal(act->idem, RB_IDEMPOTENT);
    assert_non_null(strstr(act->detail.data, "verdict: rollback not warranted"));
    assert_non_null(strstr(act->detail.data, "unless --force"));
    assert_string_equal(cJSON_GetStringValue(rb_run_fact(run, "severity")), "medium");
    assert_string_equal(cJSON_GetStringValue(rb_run_fact(run, "verdict")), "not_warranted");
    assert_string_equal(cJSON_GetStringValue(rb_run_fact(run, "scenario")), "Minor variances");
    assert_int_equal(cJSON_GetArraySize(rb_run_fact(run, "point_of_no_return")), 1);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(rb_run_fact(run, "budget"), "deadline"));
    /* apply without --force: declined */
    assert_int_equal(act->apply(run, act, &err), -1);
    assert_int_equal(err.cls, RB_E_DECLINED);
    assert_non_null(strstr(err.msg, "rollback not warranted"));
    assert_string_equal(err.hint, "use --force to roll back anyway");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act->result, "forced")));
    cJSON_Delete(act->result);
    act->result = NULL;
    /* with --force: goes on, and says who forced it and why */
    run->force = true;
    err = (struct rb_err)RB_ERR_INIT;
    assert_int_equal(act->apply(run, act, &err), 0);
    r = act->result;
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "forced")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "forced_by")),
                        "alice@host");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "reason")),
                        "test");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "verdict")),
                        "not_warranted");
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "rollback_if")));
    cJSON_Delete(act->result);
    act->result = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_parse),
        cmocka_unit_test(test_json_values),
        cmocka_unit_test(test_json_trailing_text),
        cmocka_unit_test(test_recovery_time),
        cmocka_unit_test_setup_teardown(test_warranted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_warranted_and_severity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phase_declined_and_forced, setup, teardown),
    };

    rb_memory_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
