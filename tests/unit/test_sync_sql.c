/*
 * test_sync_sql.c - the statements a sync table becomes (src/phases/sync_sql.c).
 *
 * Pins the exact SQL for the shapes that matter: names needing quotes on both sides, a `where:`,
 * expressions next to bare columns, a composite key, and a table whose columns are all key
 * columns (nothing to update: DO NOTHING). The integration tests run these against PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/phases/sync_priv.h"

#define CUTOVER_2026_11_01 1793491200

struct fixture {
    struct rb_arena *arena;
    struct rb_runbook rb;
    struct rb_run run;
    struct sync_phase ph;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->arena = rb_arena_new();
    f->rb.path = "rb.yaml";
    f->rb.cutover = CUTOVER_2026_11_01;
    f->run.arena = f->arena;
    f->run.rb = &f->rb;
    f->ph.from = "new";
    f->ph.to = "legacy";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rb_arena_free(f->arena);
    free(f);
    return 0;
}

static void test_quoted_names(void **state)
{
    struct fixture *f = *state;
    static const char *key[] = { "Id" };
    struct rb_column_map cols[] = {
        { "Id", "\"ID\"", { 0, 0 } },
        { "Order", "upper(\"select\")", { 0, 0 } },
        { "amount", "amount", { 0, 0 } },
    };
    struct rb_sync_table t;
    struct sync_table st;

    memset(&t, 0, sizeof(t));
    memset(&st, 0, sizeof(st));
    t.name = "nasty";
    t.source_table = "Src Schema.Pay-Record";
    t.changed_since = "Changed At";
    t.where = "status = 'completed'";
    t.target_table = "\"LEGACY\".\"PAY.RECORD\"";
    t.key.items = key;
    t.key.n = 1;
    t.columns = cols;
    t.n_columns = 3;
    st.ph = &f->ph;
    st.t = &t;
    rb_sync_build_sql(&f->run, &st);

    assert_string_equal(
        st.copy_out_sql,
        "COPY (SELECT (\"ID\") AS \"Id\", (upper(\"select\")) AS \"Order\", amount AS \"amount\" "
        "FROM \"Src Schema\".\"Pay-Record\" WHERE \"Changed At\" >= "
        "'2026-11-01T00:00:00Z'::timestamptz "
        "AND (status = 'completed')) TO STDOUT");
    assert_string_equal(
        st.count_sql, "SELECT count(*) FROM \"Src Schema\".\"Pay-Record\" WHERE \"Changed At\" >= "
                      "'2026-11-01T00:00:00Z'::timestamptz AND (status = 'completed')");
    assert_string_equal(
        st.null_count_sql,
        "SELECT count(*) FROM \"Src Schema\".\"Pay-Record\" WHERE \"Changed At\" IS NULL "
        "AND (status = 'completed')");
    assert_string_equal(st.stage_sql, "CREATE TEMP TABLE rollbackctl_stage ON COMMIT DROP AS "
                                      "SELECT \"Id\", \"Order\", \"amount\" "
                                      "FROM \"LEGACY\".\"PAY.RECORD\" WITH NO DATA");
    assert_string_equal(
        st.copy_in_sql,
        "COPY pg_temp.rollbackctl_stage (\"Id\", \"Order\", \"amount\") FROM STDIN");
    assert_string_equal(st.upsert_sql,
                        "WITH upsert AS (INSERT INTO \"LEGACY\".\"PAY.RECORD\" AS t (\"Id\", "
                        "\"Order\", \"amount\") "
                        "SELECT \"Id\", \"Order\", \"amount\" FROM pg_temp.rollbackctl_stage "
                        "ON CONFLICT (\"Id\") DO UPDATE SET \"Order\" = EXCLUDED.\"Order\", "
                        "\"amount\" = EXCLUDED.\"amount\" "
                        "WHERE (t.\"Order\", t.\"amount\") IS DISTINCT FROM (EXCLUDED.\"Order\", "
                        "EXCLUDED.\"amount\") "
                        "RETURNING (t.xmax = 0) AS inserted) "
                        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT "
                        "inserted) FROM upsert");
    /* the apply step's fast path: the same columns without ON CONFLICT, after the key probe */
    /*
     * one key column: the first 1000 staged keys, then whether any target key lies in the staged
     * keys' range, and only then every staged key
     */
    assert_string_equal(
        st.key_present_sql,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM (SELECT \"Id\" FROM "
        "pg_temp.rollbackctl_stage LIMIT 1000) AS s JOIN \"LEGACY\".\"PAY.RECORD\" "
        "AS t ON s.\"Id\" = t.\"Id\") THEN true "
        "WHEN NOT EXISTS (SELECT 1 FROM \"LEGACY\".\"PAY.RECORD\" AS t "
        "WHERE t.\"Id\" BETWEEN (SELECT \"Id\" FROM pg_temp.rollbackctl_stage "
        "ORDER BY 1 LIMIT 1) AND (SELECT \"Id\" FROM pg_temp.rollbackctl_stage ORDER "
        "BY 1 DESC LIMIT 1)) THEN false ELSE EXISTS (SELECT 1 FROM "
        "pg_temp.rollbackctl_stage AS s JOIN \"LEGACY\".\"PAY.RECORD\" AS t ON "
        "s.\"Id\" = t.\"Id\") END");
    assert_string_equal(st.insert_sql, "INSERT INTO \"LEGACY\".\"PAY.RECORD\" (\"Id\", \"Order\", "
                                       "\"amount\") SELECT \"Id\", \"Order\", \"amount\" "
                                       "FROM pg_temp.rollbackctl_stage");
    assert_string_equal(st.dup_sql, "SELECT \"Id\"::text, count(*) FROM pg_temp.rollbackctl_stage "
                                    "GROUP BY \"Id\" HAVING count(*) > 1 LIMIT 1");
    assert_non_null(strstr(st.lock_sql, "pg_advisory_lock(1380074324, 1)"));
}

static void test_all_key_columns(void **state)
{
    struct fixture *f = *state;
    static const char *key[] = { "emp_id", "plan" };
    struct rb_column_map cols[] = {
        { "emp_id", "employee_id", { 0, 0 } },
        { "plan", "plan_code", { 0, 0 } },
    };
    struct rb_sync_table t;
    struct sync_table st;

    memset(&t, 0, sizeof(t));
    memset(&st, 0, sizeof(st));
    t.name = "enrolments";
    t.source_table = "benefits";
    t.changed_since = "updated_at";
    t.target_table = "enrolment";
    t.key.items = key;
    t.key.n = 2;
    t.columns = cols;
    t.n_columns = 2;
    st.ph = &f->ph;
    st.t = &t;
    rb_sync_build_sql(&f->run, &st);

    assert_string_equal(
        st.copy_out_sql,
        "COPY (SELECT employee_id AS \"emp_id\", plan_code AS \"plan\" FROM \"benefits\" "
        "WHERE \"updated_at\" >= '2026-11-01T00:00:00Z'::timestamptz) TO STDOUT");
    assert_string_equal(st.upsert_sql, "WITH upsert AS (INSERT INTO \"enrolment\" AS t "
                                       "(\"emp_id\", \"plan\") SELECT \"emp_id\", \"plan\" "
                                       "FROM pg_temp.rollbackctl_stage ON CONFLICT (\"emp_id\", "
                                       "\"plan\") DO NOTHING RETURNING true AS inserted) "
                                       "SELECT count(*), 0 FROM upsert");
    assert_string_equal(st.key_present_sql,
                        "SELECT EXISTS (SELECT 1 FROM pg_temp.rollbackctl_stage AS s JOIN "
                        "\"enrolment\" AS t ON s.\"emp_id\" = t.\"emp_id\" AND s.\"plan\" = "
                        "t.\"plan\")");
    assert_string_equal(st.insert_sql, "INSERT INTO \"enrolment\" (\"emp_id\", \"plan\") SELECT "
                                       "\"emp_id\", \"plan\" FROM pg_temp.rollbackctl_stage");
    assert_string_equal(
        st.dup_sql,
        "SELECT \"emp_id\"::text, \"plan\"::text, count(*) FROM pg_temp.rollbackctl_stage "
        "GROUP BY \"emp_id\", \"plan\" HAVING count(*) > 1 LIMIT 1");
    /* a NULL key part never conflicts: the stage refuses it rather than insert it every run */
    assert_string_equal(
        st.stage_keys_sql,
        "ALTER TABLE pg_temp.rollbackctl_stage ALTER COLUMN \"emp_id\" SET NOT NULL, "
        "ALTER COLUMN \"plan\" SET NOT NULL");
}

static void test_expr_sql(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(rb_sync_expr_sql(f->arena, "gross_amount"), "gross_amount");
    assert_string_equal(rb_sync_expr_sql(f->arena, "_x1"), "_x1");
    assert_string_equal(rb_sync_expr_sql(f->arena, "Gross"), "(Gross)");
    assert_string_equal(rb_sync_expr_sql(f->arena, "a, b"), "(a, b)");
    assert_string_equal(rb_sync_expr_sql(f->arena, "1"), "(1)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quoted_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_key_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expr_sql, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
