/*
 * test_money.c - exact decimals: parsing, scale alignment, the tolerance boundary, overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/money.h"

static struct rb_money P(const char *s) {
    struct rb_money m;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_money_parse(s, &m, &err), 0);
    return m;
}

static const char *
F(struct rb_money m)
{
    static char buf[RB_MONEY_STR_MAX];

    return rb_money_format(&m, buf, sizeof(buf));
}

static void test_parse_format(void **state)
{
    (void)state;
    assert_string_equal(F(P("12.50")), "12.50");
    assert_string_equal(F(P("-0.05")), "-0.05");
    assert_string_equal(F(P("+3")), "3");
    assert_string_equal(F(P(".5")), "0.5");
    assert_string_equal(F(P("7.")), "7");
    assert_string_equal(F(P(" 100.00 ")), "100.00");
    assert_string_equal(F(P("0")), "0");
    assert_string_equal(F(P("-0.00")), "0.00");
    assert_string_equal(F(P("00012.3")), "12.3");
    assert_string_equal(F(P("12345678901234567890123456789012345678")),
                        "12345678901234567890123456789012345678");
}

static void test_parse_rejects(void **state)
{
    const char *bad[] = { "",
                          " ",
                          "-",
                          ".",
                          "1.2.3",
                          "1e3",
                          "NaN",
                          "Infinity",
                          "12a",
                          "1 2",
                          "123456789012345678901234567890123456789",
                          "0x10",
                          NULL };
    struct rb_money m;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        assert_int_equal(rb_money_parse(bad[i], &m, &err), -1);
        assert_false(rb_money_valid(bad[i]));
    }
    assert_int_equal(rb_money_parse(NULL, &m, &err), -1);
    assert_non_null(strstr(err.msg, "null"));
    assert_int_equal(rb_money_parse("1e3", &m, &err), -1);
    assert_string_equal(err.msg, "'1e3' is not an exact decimal number");
}

static void test_add_sub(void **state)
{
    struct rb_money a = P("0.1"), b = P("0.2"), r;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    assert_int_equal(rb_money_add(&a, &b, &r, &err), 0);
    assert_string_equal(F(r), "0.3");
    a = P("100.005");
    b = P("0.01");
    assert_int_equal(rb_money_sub(&a, &b, &r, &err), 0);
    assert_string_equal(F(r), "99.995");
    a = P("1.00");
    b = P("2");
    assert_int_equal(rb_money_sub(&a, &b, &r, &err), 0);
    assert_string_equal(F(r), "-1.00");
    /* a million cents add up exactly */
    struct rb_money sum = P("0.00"), cent = P("0.01");
    for (int i = 0; i < 1000000; i++)
        assert_int_equal(rb_money_add(&sum, &cent, &sum, &err), 0);
    assert_string_equal(F(sum), "10000.00");
}

static void test_cmp_abs(void **state)
{
    struct rb_money a, b;

    (void)state;
    a = P("1.0");
    b = P("1.00");
    assert_int_equal(rb_money_cmp(&a, &b), 0);
    a = P("-0.01");
    b = P("0");
    assert_true(rb_money_cmp(&a, &b) < 0);
    assert_true(rb_money_cmp(&b, &a) > 0);
    a = rb_money_abs(&a);
    assert_string_equal(F(a), "0.01");
    /* the tolerance boundary is inclusive: |0.01| <= 0.01 */
    struct rb_money n = P("1000.00"), l = P("999.99"), d, tol = P("0.01");
    struct rb_err err = RB_ERR_INIT;
    assert_int_equal(rb_money_sub(&n, &l, &d, &err), 0);
    d = rb_money_abs(&d);
    assert_true(rb_money_cmp(&d, &tol) <= 0);
    l = P("999.989");
    assert_int_equal(rb_money_sub(&n, &l, &d, &err), 0);
    assert_true(rb_money_cmp(&d, &tol) > 0);
    /* comparing values whose scales cannot be aligned without overflow */
    a = P("12345678901234567890123456789012345678");
    b = P("0.000000000000000000000000000001");
    assert_true(rb_money_cmp(&a, &b) > 0);
    assert_true(rb_money_cmp(&b, &a) < 0);
    a = P("-12345678901234567890123456789012345678");
    assert_true(rb_money_cmp(&a, &b) < 0);
    assert_true(rb_money_cmp(&b, &a) > 0);
}

static void test_overflow(void **state)
{
    struct rb_money a = P("99999999999999999999999999999999999999"), b = P("1"), r;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    assert_int_equal(rb_money_add(&a, &b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "overflow"));
    b = P("0.5");
    assert_int_equal(rb_money_add(&a, &b, &r, &err), -1);
    a = P("-99999999999999999999999999999999999999");
    b = P("1");
    assert_int_equal(rb_money_sub(&a, &b, &r, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format), cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_add_sub),      cmocka_unit_test(test_cmp_abs),
        cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
