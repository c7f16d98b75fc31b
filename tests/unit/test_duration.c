/*
 * test_duration.c - durations, RFC 3339 times and `~` expansion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/runbook.h"

static void test_duration_parse(void **state)
{
    (void)state;
    assert_int_equal(rb_duration_parse("30s"), 30000);
    assert_int_equal(rb_duration_parse("5m"), 300000);
    assert_int_equal(rb_duration_parse("24h"), 86400000);
    assert_int_equal(rb_duration_parse("2h30m"), 9000000);
    assert_int_equal(rb_duration_parse("1d"), 86400000);
    assert_int_equal(rb_duration_parse("250ms"), 250);
    assert_int_equal(rb_duration_parse("1m30s250ms"), 90250);
    assert_int_equal(rb_duration_parse("0"), 0);
    assert_int_equal(rb_duration_parse("0s"), 0);
}

static void test_duration_bad(void **state)
{
    (void)state;
    assert_int_equal(rb_duration_parse(NULL), -1);
    assert_int_equal(rb_duration_parse(""), -1);
    assert_int_equal(rb_duration_parse("30"), -1); /* no unit */
    assert_int_equal(rb_duration_parse("5x"), -1);
    assert_int_equal(rb_duration_parse("h"), -1);
    assert_int_equal(rb_duration_parse("-5s"), -1);
    assert_int_equal(rb_duration_parse("1.5h"), -1);
    assert_int_equal(rb_duration_parse("5 m"), -1);
    assert_int_equal(rb_duration_parse("99999999999999999999s"), -1);
}

static void test_duration_format(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(rb_duration_format(9000000, buf, sizeof(buf)), "2h30m");
    assert_string_equal(rb_duration_format(45000, buf, sizeof(buf)), "45s");
    assert_string_equal(rb_duration_format(120, buf, sizeof(buf)), "120ms");
    assert_string_equal(rb_duration_format(0, buf, sizeof(buf)), "0s");
    assert_string_equal(rb_duration_format(90061001, buf, sizeof(buf)), "1d1h1m1s1ms");
    assert_int_equal(rb_duration_parse(rb_duration_format(90061001, buf, sizeof(buf))), 90061001);
}

static void test_rfc3339(void **state)
{
    time_t t = 0;
    char buf[32];

    (void)state;
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00Z", &t), 0);
    assert_int_equal((long long)t, 1793491200LL);
    assert_string_equal(rb_time_format_rfc3339(t, buf, sizeof(buf)), "2026-11-01T00:00:00Z");
    assert_int_equal(rb_time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal((long long)t, 0);
    /* offsets move the instant to UTC */
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T02:30:00+02:30", &t), 0);
    assert_int_equal((long long)t, 1793491200LL);
    assert_int_equal(rb_time_parse_rfc3339("2026-10-31T19:00:00-05:00", &t), 0);
    assert_int_equal((long long)t, 1793491200LL);
    /* fractions are accepted (and dropped), lowercase t/z too */
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00.123456Z", &t), 0);
    assert_int_equal((long long)t, 1793491200LL);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01t00:00:00z", &t), 0);
    /* leap day */
    assert_int_equal(rb_time_parse_rfc3339("2024-02-29T12:00:00Z", &t), 0);
    assert_string_equal(rb_time_format_rfc3339(t, buf, sizeof(buf)), "2024-02-29T12:00:00Z");
    assert_int_equal(rb_time_parse_rfc3339("2000-02-29T00:00:00Z", &t), 0);
    /* before 1970 */
    assert_int_equal(rb_time_parse_rfc3339("1969-12-31T23:59:59Z", &t), 0);
    assert_int_equal((long long)t, -1);
    assert_string_equal(rb_time_format_rfc3339(t, buf, sizeof(buf)), "1969-12-31T23:59:59Z");
}

static void test_rfc3339_bad(void **state)
{
    time_t t = 0;

    (void)state;
    assert_int_equal(rb_time_parse_rfc3339("2026-02-30T00:00:00Z", &t), -1); /* Feb 30 */
    assert_int_equal(rb_time_parse_rfc3339("2025-02-29T00:00:00Z", &t), -1); /* not a leap year */
    assert_int_equal(rb_time_parse_rfc3339("1900-02-29T00:00:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-04-31T00:00:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-13-01T00:00:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T24:00:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:60:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00", &t), -1); /* no offset */
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00+0200", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00.Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("2026-11-01T00:00:00Zjunk", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339("26-11-01T00:00:00Z", &t), -1);
    assert_int_equal(rb_time_parse_rfc3339(NULL, &t), -1);
}

static void test_path_expand(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    setenv("HOME", "/home/op", 1);
    assert_string_equal(rb_path_expand(a, "~/.kube/config"), "/home/op/.kube/config");
    assert_string_equal(rb_path_expand(a, "~"), "/home/op");
    assert_string_equal(rb_path_expand(a, "~other/x"), "~other/x");
    assert_string_equal(rb_path_expand(a, "/etc/x"), "/etc/x");
    assert_string_equal(rb_path_expand(a, "rel/~/x"), "rel/~/x");
    assert_null(rb_path_expand(a, NULL));
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse),  cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_duration_format), cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_rfc3339_bad),     cmocka_unit_test(test_path_expand),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
