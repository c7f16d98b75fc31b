/*
 * test_pg_quote.c - identifier and literal quoting of the PostgreSQL adapter.
 *
 * Legacy schemas have upper-case and mixed-case names, reserved words and names with quotes and
 * dots; runbook values reach SQL only through these functions, so each shape is pinned here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/pg.h"

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

static void test_ident(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(rb_pg_quote_ident(a, "employees"), "\"employees\"");
    assert_string_equal(rb_pg_quote_ident(a, "EMPLOYEES"), "\"EMPLOYEES\"");
    assert_string_equal(rb_pg_quote_ident(a, "Pay History"), "\"Pay History\"");
    assert_string_equal(rb_pg_quote_ident(a, "order"), "\"order\"");
    assert_string_equal(rb_pg_quote_ident(a, "we\"ird"), "\"we\"\"ird\"");
    assert_string_equal(rb_pg_quote_ident(a, "a.b"), "\"a.b\"");
    assert_string_equal(rb_pg_quote_ident(a, ""), "\"\"");
    assert_string_equal(rb_pg_quote_ident(a, "naïve"), "\"naïve\"");
}

static void test_qualified(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(rb_pg_quote_qualified(a, "employees"), "\"employees\"");
    assert_string_equal(rb_pg_quote_qualified(a, "public.employees"), "\"public\".\"employees\"");
    assert_string_equal(rb_pg_quote_qualified(a, "Legacy.PAY_HISTORY"),
                        "\"Legacy\".\"PAY_HISTORY\"");
    /* A quoted part keeps its dots; "" inside quotes is one quote. */
    assert_string_equal(rb_pg_quote_qualified(a, "\"my.schema\".tbl"), "\"my.schema\".\"tbl\"");
    assert_string_equal(rb_pg_quote_qualified(a, "s.\"a.b\""), "\"s\".\"a.b\"");
    assert_string_equal(rb_pg_quote_qualified(a, "\"we\"\"ird\".\"x\""), "\"we\"\"ird\".\"x\"");
    /* Only the first dot splits: the rest belongs to the table name. */
    assert_string_equal(rb_pg_quote_qualified(a, "a.b.c"), "\"a\".\"b.c\"");
    assert_string_equal(rb_pg_quote_qualified(a, "select"), "\"select\"");
}

static void test_literal(void **state)
{
    struct rb_arena *a = *state;

    assert_string_equal(rb_pg_quote_literal(a, "abc"), "'abc'");
    assert_string_equal(rb_pg_quote_literal(a, "O'Brien"), "'O''Brien'");
    assert_string_equal(rb_pg_quote_literal(a, ""), "''");
    assert_string_equal(rb_pg_quote_literal(a, "a\\b"), "E'a\\\\b'");
    assert_string_equal(rb_pg_quote_literal(a, "it's a\\n"), "E'it''s a\\\\n'");
    assert_string_equal(rb_pg_quote_literal(a, "tab\there"), "'tab\there'");
    assert_string_equal(rb_pg_quote_literal(a, "2026-11-01T00:00:00Z"), "'2026-11-01T00:00:00Z'");
}

static void test_now_monotonic(void **state)
{
    int64_t a = rb_now_ms(), b = rb_now_ms();

    (void)state;
    assert_true(a > 0);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qualified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literal, setup, teardown),
        cmocka_unit_test(test_now_monotonic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
