/*
 * test_sql_refs.c - the tables free runbook SQL touches (src/phases/sql_refs.c), as prepare's
 * permissions.<target> asks the catalogs for them.
 *
 * Pins each verb (UPDATE, INSERT INTO, DELETE FROM, TRUNCATE, SELECT) with its privilege; that
 * nothing inside comments, strings, dollar quotes or quoted identifiers is read as a name; that
 * FROM inside a function call (EXTRACT, substring) or IS DISTINCT FROM is no table, nor a WITH
 * query or a set-returning function; and that what is not understood is named, not guessed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/buf.h"

#include "../../src/phases/sql_refs.h"

static int setup(void **state)
{
    *state = rb_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rb_arena_free(*state);
    return 0;
}

/* "table:PRIVS table:PRIVS ..." (S I U D T) for one compact assertion per case. */
static const char *refs_text(struct rb_arena *a, const char *sql)
{
    struct rb_sql_refs r = { 0 };
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    rb_sql_refs_add(a, sql, &r);
    for (size_t i = 0; i < r.n; i++) {
        rb_buf_addf(&b, "%s%s:", i > 0 ? " " : "", r.v[i].table);
        if (r.v[i].privs & RB_PRIV_SELECT)
            rb_buf_addf(&b, "S");
        if (r.v[i].privs & RB_PRIV_INSERT)
            rb_buf_addf(&b, "I");
        if (r.v[i].privs & RB_PRIV_UPDATE)
            rb_buf_addf(&b, "U");
        if (r.v[i].privs & RB_PRIV_DELETE)
            rb_buf_addf(&b, "D");
        if (r.v[i].privs & RB_PRIV_TRUNCATE)
            rb_buf_addf(&b, "T");
    }
    if (r.unchecked != NULL)
        rb_buf_addf(&b, "%sunchecked:%s", b.len > 0 ? " " : "", r.unchecked);
    out = rb_strdup(a, b.len > 0 ? b.data : "");
    rb_buf_release(&b);
    return out;
}

static void test_verbs(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(refs_text(a, "UPDATE employee_tax SET rate = 0.2 WHERE id = 5"),
                        "employee_tax:U");
    assert_string_equal(refs_text(a, "update only legacy.\"EMPLOYEE_TAX\" set x = 1"),
                        "legacy.\"EMPLOYEE_TAX\":U");
    assert_string_equal(refs_text(a, "INSERT INTO audit_log (what) VALUES ('rollback')"),
                        "audit_log:I");
    assert_string_equal(refs_text(a, "delete from payroll_runs where status = 'new'"),
                        "payroll_runs:D");
    assert_string_equal(refs_text(a, "TRUNCATE TABLE stage_a, ONLY stage_b"),
                        "stage_a:T stage_b:T");
    assert_string_equal(refs_text(a, "select count(*) > 0 from payroll_history"),
                        "payroll_history:S");
    assert_string_equal(refs_text(a, "TABLE employees"), "employees:S");
}

static void test_reads_inside_writes(void **state)
{
    struct rb_arena *a = *state;

    /* UPDATE ... FROM, a subquery in WHERE, INSERT ... SELECT, DELETE ... USING */
    assert_string_equal(
        refs_text(a, "UPDATE employees e SET salary = n.salary FROM new_salaries n "
                     "WHERE e.id = n.id AND e.dept IN (SELECT id FROM depts WHERE open)"),
        "employees:U new_salaries:S depts:S");
    assert_string_equal(refs_text(a, "insert into history (a, b) select a, b from staging s "
                                     "join extra x on x.a = s.a"),
                        "history:I staging:S extra:S");
    assert_string_equal(refs_text(a, "DELETE FROM jobs USING runs r, hosts WHERE jobs.r = r.id"),
                        "jobs:D runs:S hosts:S");
    assert_string_equal(
        refs_text(a, "INSERT INTO t (k, v) VALUES (1, 2) ON CONFLICT (k) DO UPDATE SET v = 2"),
        "t:IU");
    /* a FROM list with aliases and column aliases */
    assert_string_equal(refs_text(a, "select * from a AS x (c1, c2), b y, \"C\" where true"),
                        "a:S b:S \"C\":S");
}

static void test_not_tables(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(refs_text(a, "select extract(year from pay_date), substring(name from 2) "
                                     "from payments where a is distinct from b"),
                        "payments:S");
    assert_string_equal(refs_text(a, "select * from generate_series(1, 3) g, payments"),
                        "payments:S");
    assert_string_equal(refs_text(a, "with recent as (select * from payments where d > now()) "
                                     "update totals set n = (select count(*) from recent)"),
                        "totals:U payments:S");
    assert_string_equal(refs_text(a, "select 1 from (select * from inner_t) as sub"), "inner_t:S");
    /* comments, strings, dollar quotes and quoted identifiers hide nothing and invent nothing */
    assert_string_equal(refs_text(a, "-- from commented\nselect 'from fake' /* from x /* y */ */ "
                                     ", $$ from dollar $$, $t$ from t $t$, E'\\' from e' "
                                     "from \"from\""),
                        "\"from\":S");
    assert_string_equal(refs_text(a, "select $1 from p where x = $2"), "p:S");
}

static void test_statements_and_unchecked(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(refs_text(a, "BEGIN; UPDATE a SET x = 1; UPDATE a SET y = 2; "
                                     "DELETE FROM a; COMMIT;"),
                        "a:UD");
    assert_string_equal(refs_text(a, "SET search_path = legacy; call refresh_totals()"),
                        "unchecked:CALL");
    assert_string_equal(refs_text(a, "refresh materialized view mv; merge into t using s on "
                                     "true when matched then delete"),
                        "unchecked:REFRESH, MERGE");
    /* a data-modifying WITH query is read as the statement it is */
    assert_string_equal(refs_text(a, "with gone as (delete from old_rows returning *) "
                                     "insert into archive select * from gone"),
                        "archive:I old_rows:D");
    assert_string_equal(refs_text(a, ""), "");
    assert_string_equal(refs_text(a, "  ;; "), "");
}

static void test_accumulates(void **state)
{
    struct rb_arena *a = *state;
    struct rb_sql_refs r = { 0 };

    rb_sql_refs_add(a, "select * from employees", &r);
    rb_sql_refs_add(a, "update employees set x = 1; do $$ begin end $$", &r);
    rb_sql_refs_add(a, "vacuum employees", &r);
    rb_sql_refs_add(a, "delete from EMPLOYEES; select 1 from \"Employees\", public.Employees", &r);
    assert_int_equal(r.n, 3); /* employees = EMPLOYEES, not "Employees", not public.employees */
    assert_string_equal(r.v[0].table, "employees");
    assert_string_equal(r.v[0].quoted, "\"employees\"");
    assert_string_equal(r.v[1].quoted, "\"Employees\"");
    assert_string_equal(r.v[2].table, "public.Employees");
    assert_string_equal(r.v[2].quoted, "\"public\".\"employees\"");
    assert_int_equal(r.v[0].privs, RB_PRIV_SELECT | RB_PRIV_UPDATE | RB_PRIV_DELETE);
    assert_string_equal(r.unchecked, "DO, VACUUM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verbs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_inside_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements_and_unchecked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accumulates, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
