/*
 * test_err.c - error messages stay one printable line whatever a server put in them, and the
 * class-to-exit-code table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/err.h"

/* A Kubernetes status message as a hostile server could send it: an ANSI escape that clears the
   screen, a carriage return that would overwrite the line, a newline that forges a log line. */
static const char *const hostile = "quota\x1b[2J exceeded\rOK\nok - forged\x7f";

static void test_msg_controls_shown(void **state)
{
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_errf(&err, RB_E_FAILED, "PATCH deployments/api: %s", hostile);
    assert_string_equal(err.msg, "PATCH deployments/api: quota?[2J exceeded OK ok - forged?");
    assert_int_equal(rb_err_exit_code(err.cls), 1);
}

static void test_hint_controls_shown(void **state)
{
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_errf(&err, RB_E_FAILED, "refused");
    rb_err_hint(&err, "the server said: %s", hostile);
    assert_string_equal(err.hint, "the server said: quota?[2J exceeded OK ok - forged?");
}

static void test_wrap_controls_shown(void **state)
{
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_errf(&err, RB_E_RUNBOOK, "inner");
    rb_err_wrap(&err, "step '%s'", "a\tb\x1b");
    assert_string_equal(err.msg, "step 'a b?': inner");
    assert_int_equal(rb_err_exit_code(err.cls), 5);
}

/* libpq's own line breaks: one space each, none at the end. */
static void test_libpq_text_one_line(void **state)
{
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_errf(&err, RB_E_FAILED, "%s",
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the "
            "server running on that host and accepting TCP/IP connections?\n");
    assert_string_equal(err.msg, "connection to server at \"127.0.0.1\", port 1 failed: Connection "
                                 "refused Is the server running on that host and accepting TCP/IP "
                                 "connections?");
}

/* UTF-8 text (names, currency signs) is not a control character and stays as it is. */
static void test_utf8_kept(void **state)
{
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_errf(&err, RB_E_FAILED, "table \"gehälter\" total 12,50 \xe2\x82\xac");
    assert_string_equal(err.msg, "table \"gehälter\" total 12,50 \xe2\x82\xac");
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(rb_err_exit_code(RB_E_NONE), 0);
    assert_int_equal(rb_err_exit_code(RB_E_USAGE), 2);
    assert_int_equal(rb_err_exit_code(RB_E_DECLINED), 3);
    assert_int_equal(rb_err_exit_code(RB_E_LOCKED), 4);
    assert_int_equal(rb_err_exit_code(RB_E_INTERRUPTED), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_controls_shown),  cmocka_unit_test(test_hint_controls_shown),
        cmocka_unit_test(test_wrap_controls_shown), cmocka_unit_test(test_libpq_text_one_line),
        cmocka_unit_test(test_utf8_kept),           cmocka_unit_test(test_exit_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
