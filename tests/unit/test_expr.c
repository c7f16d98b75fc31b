/*
 * test_expr.c - the `when:`/`rollback_if:` language: precedence, exact decimals, strings,
 * not/and/or, null handling, parse errors with their column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/expr.h"

/* Variables for the tests: name=value pairs; a value "'x" is the string x, "null" is NULL. */
static const char *const vars[][2] = {
    { "ratio", "0.10" },         { "users", "150" },
    { "hours", "47.5" },         { "severity", "'critical" },
    { "outcome", "'succeeded" }, { "missing", "null" },
    { "tiny", "1e-05" },         { "neg", "-2" },
    { "zero", "0.000" },         { "flag", "true" },
};

static int lookup(void *ctx, const char *name, struct rb_value *v)
{
    size_t i;

    (void)ctx;
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *val = vars[i][1];

        if (strcmp(vars[i][0], name) != 0)
            continue;
        if (strcmp(val, "null") == 0) {
            v->type = RB_VAL_NULL;
        } else if (strcmp(val, "true") == 0) {
            v->type = RB_VAL_BOOL;
            v->b = true;
        } else if (val[0] == '\'') {
            v->type = RB_VAL_STRING;
            v->str = val + 1;
        } else {
            v->type = RB_VAL_NUMBER;
            v->str = val;
        }
        return 0;
    }
    return -1;
}

/* 1 true, 0 false, -1 eval error, -2 parse error */
static int eval(const char *src)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_expr *e;
    bool b = false;
    int col, rc;

    e = rb_expr_parse(a, src, &col, &err);
    if (e == NULL)
        rc = -2;
    else
        rc = rb_expr_eval_bool(e, lookup, NULL, &b, &err) < 0 ? -1 : b;
    rb_arena_free(a);
    return rc;
}

/* Column of the parse error of src, or 0 when it parses; msg gets the message. */
static int err_col(const char *src, char *msg, size_t len)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    int col = 0;

    if (rb_expr_parse(a, src, &col, &err) != NULL)
        col = 0;
    memcpy(msg, err.msg, len - 1); /* err.msg is NUL-terminated within its first 256 bytes here */
    msg[len - 1] = '\0';
    rb_arena_free(a);
    return col;
}

static void test_decimal_exact(void **state)
{
    int c = 9;

    (void)state;
    assert_int_equal(eval("0.10 > 0.1"), 0);
    assert_int_equal(eval("0.10 == 0.1"), 1);
    assert_int_equal(eval("ratio > 0.10"), 0);
    assert_int_equal(eval("ratio >= 0.10"), 1);
    assert_int_equal(eval("ratio > 0.099999999999999999999"), 1);
    assert_int_equal(eval("users > 100"), 1);
    assert_int_equal(eval("users == 150.000"), 1);
    assert_int_equal(eval("007 == 7"), 1);
    assert_int_equal(eval("hours < 48"), 1);
    assert_int_equal(eval("neg < -1.5"), 1);
    assert_int_equal(eval("-0 == 0"), 1);
    assert_int_equal(eval("zero == 0"), 1);
    assert_int_equal(eval("tiny > 0 and tiny < 0.0001"), 1); /* exponent from a driver */
    assert_int_equal(rb_decimal_cmp("123456789012345678901234567890.01",
                                    "123456789012345678901234567890.009", &c),
                     0);
    assert_int_equal(c, 1);
    assert_int_equal(rb_decimal_cmp("-1", "-10", &c), 0);
    assert_int_equal(c, 1);
    assert_int_equal(rb_decimal_cmp("1.5E2", "150", &c), 0);
    assert_int_equal(c, 0);
    assert_int_equal(rb_decimal_cmp("abc", "1", &c), -1);
    assert_int_equal(rb_decimal_cmp("NaN", "1", &c), -1);
    assert_int_equal(rb_decimal_cmp("1.", "1", &c), 0);
    assert_int_equal(rb_decimal_cmp(".5", "0.5", &c), 0);
    assert_int_equal(c, 0);
}

static void test_precedence(void **state)
{
    (void)state;
    /* and binds tighter than or */
    assert_int_equal(eval("1 == 1 or 1 == 2 and 1 == 2"), 1);
    assert_int_equal(eval("(1 == 1 or 1 == 2) and 1 == 2"), 0);
    /* not binds tighter than and, looser than comparison */
    assert_int_equal(eval("not 1 == 2 and 2 == 2"), 1);
    assert_int_equal(eval("not (1 == 1 and 2 == 2)"), 0);
    assert_int_equal(eval("not not true"), 1);
    assert_int_equal(eval("ratio > 0 and ratio < 0.01 or severity == \"critical\""), 1);
    assert_int_equal(eval("((users))"), 1); /* a number alone is true when not zero */
    assert_int_equal(eval("zero"), 0);
}

static void test_strings_and_bools(void **state)
{
    (void)state;
    assert_int_equal(eval("severity == \"critical\""), 1);
    assert_int_equal(eval("severity == 'critical'"), 1);
    assert_int_equal(eval("severity != 'high'"), 1);
    assert_int_equal(eval("outcome == \"succeeded\""), 1);
    assert_int_equal(eval("'b' > 'a'"), 1);
    assert_int_equal(eval("'it\\'s' == \"it's\""), 1);
    assert_int_equal(eval("''"), 0);
    assert_int_equal(eval("flag == true"), 1);
    assert_int_equal(eval("flag != false"), 1);
    /* mixed types: equality is false, ordering is an error */
    assert_int_equal(eval("severity == 1"), 0);
    assert_int_equal(eval("severity != 1"), 1);
    assert_int_equal(eval("severity > 1"), -1);
    assert_int_equal(eval("flag < true"), -1);
}

static void test_null_and_unknown(void **state)
{
    (void)state;
    /* a NULL signal never satisfies an ordered comparison: SQL-like, no surprise rollbacks */
    assert_int_equal(eval("missing > 0"), 0);
    assert_int_equal(eval("missing < 0"), 0);
    assert_int_equal(eval("missing == 0"), 0);
    assert_int_equal(eval("missing != 0"), 1);
    assert_int_equal(eval("not missing"), 1);
    assert_int_equal(eval("nosuch > 1"), -1);
    /* short circuit: the right side is not looked up */
    assert_int_equal(eval("true or nosuch > 1"), 1);
    assert_int_equal(eval("false and nosuch > 1"), 0);
}

static void test_parse_errors(void **state)
{
    char msg[256];

    (void)state;
    assert_int_equal(err_col("", msg, sizeof(msg)), 1);
    assert_string_equal(msg, "empty expression");
    assert_int_equal(err_col("ratio > ", msg, sizeof(msg)), 9);
    assert_string_equal(msg, "expected a value, found end of expression");
    assert_int_equal(err_col("ratio && users", msg, sizeof(msg)), 7);
    assert_string_equal(msg, "unknown operator '&&'; use 'and'");
    assert_int_equal(err_col("ratio || users", msg, sizeof(msg)), 7);
    assert_int_equal(err_col("ratio = 1", msg, sizeof(msg)), 7);
    assert_string_equal(msg, "unknown operator '='; use '=='");
    assert_int_equal(err_col("(ratio > 1", msg, sizeof(msg)), 1);
    assert_string_equal(msg, "unclosed '('");
    assert_int_equal(err_col("ratio > 1)", msg, sizeof(msg)), 10);
    assert_string_equal(msg, "unmatched ')'");
    assert_int_equal(err_col("severity == \"crit", msg, sizeof(msg)), 13);
    assert_string_equal(msg, "unterminated string");
    assert_int_equal(err_col("1 < ratio < 2", msg, sizeof(msg)), 11);
    assert_int_equal(err_col("ratio users", msg, sizeof(msg)), 7);
    assert_string_equal(msg, "expected an operator or end of expression, found 'users'");
    assert_int_equal(err_col("ratio > 1.", msg, sizeof(msg)), 11);
    assert_int_equal(err_col("ratio > 1e3", msg, sizeof(msg)), 10);
    assert_int_equal(err_col("ratio > $x", msg, sizeof(msg)), 9);
    assert_string_equal(msg, "unexpected character '$'");
    assert_int_equal(err_col("and", msg, sizeof(msg)), 1);
    assert_int_equal(err_col("- 1", msg, sizeof(msg)), 1);
    assert_int_equal(err_col("ratio > 0.10", msg, sizeof(msg)), 0);
}

static void test_deep_nesting(void **state)
{
    char src[400];
    char msg[256];

    (void)state;
    memset(src, '(', 300);
    src[300] = '\0';
    assert_true(err_col(src, msg, sizeof(msg)) > 0);
    assert_string_equal(msg, "expression nested too deeply");
}

static void collect(void *ctx, const char *name, int col)
{
    char *out = ctx;

    sprintf(out + strlen(out), "%s@%d ", name, col);
}

static void test_names(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_expr *e;
    char out[256] = "";

    (void)state;
    e = rb_expr_parse(a, "calc > 0.1 and (not affected or severity == \"x\")", NULL, &err);
    assert_non_null(e);
    rb_expr_names(e, collect, out);
    assert_string_equal(out, "calc@1 affected@21 severity@33 ");
    rb_arena_free(a);
}

/* Three-valued: 1 true, 0 false, 2 unknown (why gets the reason), -2 parse error. */
static int eval3(const char *src, char *why, size_t len)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err w = RB_ERR_INIT;
    struct rb_expr *e;
    int col, rc;

    e = rb_expr_parse(a, src, &col, &w);
    if (e == NULL) {
        rc = -2;
    } else {
        enum rb_tri t = rb_expr_eval3(e, lookup, NULL, &w);

        rc = t == RB_TRI_TRUE ? 1 : t == RB_TRI_FALSE ? 0 : 2;
        if (why != NULL)
            memcpy(why, w.msg, len < sizeof(w.msg) ? len : sizeof(w.msg));
    }
    rb_arena_free(a);
    return rc;
}

static void test_three_valued(void **state)
{
    char why[RB_ERR_MSG_MAX];

    (void)state;
    /* a comparison with an unknown operand is unknown (two-valued says false) */
    assert_int_equal(eval3("missing > 1", why, sizeof(why)), 2);
    assert_string_equal(why, "'missing' is unknown");
    assert_int_equal(eval("missing > 1"), 0);
    assert_int_equal(eval3("missing == 1", NULL, 0), 2);
    assert_int_equal(eval3("not (missing < 1)", NULL, 0), 2);
    /* Kleene and / or */
    assert_int_equal(eval3("missing > 1 and ratio > 1", NULL, 0), 0);
    assert_int_equal(eval3("ratio > 1 and missing > 1", NULL, 0), 0);
    assert_int_equal(eval3("missing > 1 and ratio > 0.05", why, sizeof(why)), 2);
    assert_string_equal(why, "'missing' is unknown");
    assert_int_equal(eval3("missing > 1 or users > 100", NULL, 0), 1);
    assert_int_equal(eval3("users > 100 or missing > 1", NULL, 0), 1);
    assert_int_equal(eval3("missing > 1 or users > 1000", NULL, 0), 2);
    assert_int_equal(eval3("users > 1000 or ratio > 1", NULL, 0), 0);
    /* known values as the two-valued evaluator has them */
    assert_int_equal(eval3("ratio > 0.1", NULL, 0), 0);
    assert_int_equal(eval3("ratio >= 0.100", NULL, 0), 1);
    assert_int_equal(eval3("severity == \"critical\"", NULL, 0), 1);
    assert_int_equal(eval3("flag", NULL, 0), 1);
    assert_int_equal(eval3("not flag", NULL, 0), 0);
    assert_int_equal(eval3("zero", NULL, 0), 0);
    /* an evaluation error is unknown with its reason, not a failure */
    assert_int_equal(eval3("severity > 3", why, sizeof(why)), 2);
    assert_non_null(strstr(why, "cannot compare a string with a number"));
    assert_int_equal(eval3("nosuch > 3 or users > 100", NULL, 0), 1);
    assert_int_equal(eval3("nosuch > 3", why, sizeof(why)), 2);
    assert_string_equal(why, "unknown name 'nosuch'");
    assert_string_equal(rb_tri_name(RB_TRI_UNKNOWN), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_exact),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_strings_and_bools),
        cmocka_unit_test(test_null_and_unknown),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_three_valued),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
