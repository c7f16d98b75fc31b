/*
 * test_template.c - message templates and mail headers: {{name}} with and without spaces,
 * values inserted as text and never re-expanded, the "\{{" escape, every problem with its
 * line and column (counted in characters), and the mail format (RFC 2047 subjects decoded back,
 * quoted-printable for long or non-ASCII lines, CRLF, the headers every mail carries).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/notify.h"
#include "rollbackctl/template.h"

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "outcome") == 0)
        return "succeeded";
    if (strcmp(name, "reason") == 0)
        return "{{outcome}} injected"; /* a value that looks like a variable */
    if (strcmp(name, "name") == 0)
        return "payroll";
    return NULL; /* records_lost etc.: not known */
}

static char *render(struct rb_arena *a, const char *src)
{
    struct rb_template_problem *probs;
    size_t n;
    struct rb_template *t = rb_template_parse(a, src, strlen(src), NULL, &probs, &n);

    assert_non_null(t);
    assert_int_equal(n, 0);
    return rb_template_render(a, t, lookup, NULL);
}

static void test_render(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(render(a, "run {{outcome}}, {{ name }}, {{\treason }}."),
                        "run succeeded, payroll, {{outcome}} injected.");
    assert_string_equal(render(a, "lost: {{records_lost}}"), "lost: " RB_TEMPLATE_UNKNOWN);
    assert_string_equal(render(a, "literal \\{{outcome}} and \\x and {single}"),
                        "literal {{outcome}} and \\x and {single}");
    assert_string_equal(render(a, ""), "");
    assert_string_equal(render(a, "no variables\n"), "no variables\n");
    rb_arena_free(a);
}

static void test_problems(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_template_problem *probs;
    size_t n;
    const char *src = "Hello\nÄÖ {{ nope }} and {{outcome}}\n{{ 9x\n{{}} end {{ outcome";

    (void)state;
    assert_null(rb_template_parse(a, src, strlen(src), NULL, &probs, &n));
    assert_int_equal(n, 4);
    /* line 2: "ÄÖ {{ nope }}": the name starts at character 7 (Ä and Ö count one each) */
    assert_int_equal(probs[0].pos.line, 2);
    assert_int_equal(probs[0].pos.col, 7);
    assert_non_null(strstr(probs[0].msg, "unknown variable 'nope'"));
    assert_int_equal(probs[1].pos.line, 3); /* "{{ 9x": not closed */
    assert_int_equal(probs[1].pos.col, 1);
    assert_non_null(strstr(probs[1].msg, "not closed"));
    assert_int_equal(probs[2].pos.line, 4); /* "{{}}": no name */
    assert_int_equal(probs[2].pos.col, 1);
    assert_non_null(strstr(probs[2].msg, "expected a variable name"));
    assert_int_equal(probs[3].pos.line, 4); /* "{{ outcome" at the end: not closed */
    assert_int_equal(probs[3].pos.col, 10);
    rb_arena_free(a);
}

static void test_every_contract_variable_known(void **state)
{
    static const char *const contract[] = {
        "run_id",
        "name",
        "reason",
        "severity",
        "outcome",
        "initiated_by",
        "started_at",
        "finished_at",
        "downtime",
        "records_at_risk",
        "records_recovered",
        "records_lost",
        "recovery_rate",
        "verification",
        "scenario",
        "approvals",
        "gaps",
        NULL,
    };
    struct rb_arena *a = rb_arena_new();
    struct rb_template_problem *probs;
    size_t n;

    (void)state;
    for (size_t i = 0; contract[i] != NULL; i++) {
        const char *src = rb_sprintf(a, "{{%s}}", contract[i]);

        assert_non_null(rb_template_parse(a, src, strlen(src), NULL, &probs, &n));
    }
    rb_arena_free(a);
}

/* RFC 2047 B words back to UTF-8: what a mail reader does with the Subject. */
static char *decode_words(const char *v)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = calloc(1, strlen(v) + 1);
    size_t o = 0;
    const char *p = v;

    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        unsigned acc = 0;
        int bits = 0;

        for (p += 10; *p != '?'; p++) {
            const char *c = strchr(tab, *p);

            if (*p == '=' || c == NULL)
                continue;
            acc = (acc << 6) | (unsigned)(c - tab);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[o++] = (char)((acc >> bits) & 0xFF);
            }
        }
        p += 2;
    }
    return out;
}

static void test_subject_encoding(void **state)
{
    struct rb_arena *a = rb_arena_new();
    const char *subject =
        "Dringend: Gehaltsabrechnung zurückgesetzt – 給与システム 🚨 rollback done";
    const char *enc = rb_mail_encode_header(a, subject);
    char *dec = decode_words(enc);
    const char *line = enc;

    (void)state;
    assert_string_equal(rb_mail_encode_header(a, "Plain ASCII subject"), "Plain ASCII subject");
    assert_non_null(strstr(enc, "=?UTF-8?B?"));
    assert_string_equal(dec, subject);
    /* every folded line short enough for "Subject: " in front */
    while (line != NULL) {
        const char *nl = strstr(line, "\r\n");
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

        assert_true(len + 9 <= 78);
        line = nl != NULL ? nl + 2 : NULL;
    }
    free(dec);
    rb_arena_free(a);
}

static void test_mail_format(void **state)
{
    struct rb_arena *a = rb_arena_new();
    const char *to[] = { "a@example.test", "b@example.test" };
    struct rb_notify_message m = {
        "Leadership", to, 2, "Update", "line one\nline two\n", "<run.leadership@example.test>",
        1796083200
    };
    size_t len = 0;
    const char *msg = rb_mail_format(a, "Rollback <rb@example.test>", &m, &len);
    char *long_body;

    (void)state;
    assert_int_equal(len, strlen(msg));
    assert_non_null(strstr(msg, "From: Rollback <rb@example.test>\r\n"));
    assert_non_null(strstr(msg, "To: a@example.test,\r\n b@example.test\r\n"));
    assert_non_null(strstr(msg, "Date: Tue, 01 Dec 2026 00:00:00 +0000\r\n"));
    assert_non_null(strstr(msg, "Subject: Update\r\n"));
    assert_non_null(strstr(msg, "Message-ID: <run.leadership@example.test>\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(msg, "Content-Transfer-Encoding: 7bit\r\n"));
    assert_non_null(strstr(msg, "\r\n\r\nline one\r\nline two\r\n"));
    assert_null(strstr(msg, "\n\n")); /* no bare LF anywhere */

    /* a header value from a variable cannot add a header */
    m.subject = "evil\r\nBcc: x@example.test";
    msg = rb_mail_format(a, "rb@example.test", &m, &len);
    assert_null(strstr(msg, "\r\nBcc:"));

    /* a 2000-byte line and non-ASCII: quoted-printable, every line within 76 */
    long_body = calloc(1, 2100);
    memset(long_body, 'x', 2000);
    strcat(long_body, " é\n");
    m.subject = "Update";
    m.body = long_body;
    msg = rb_mail_format(a, "rb@example.test", &m, &len);
    assert_non_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable\r\n"));
    assert_non_null(strstr(msg, "=C3=A9"));
    for (const char *l = strstr(msg, "\r\n\r\n") + 4; *l != '\0';) {
        const char *nl = strstr(l, "\r\n");

        assert_non_null(nl);
        assert_true(nl - l <= 76);
        l = nl + 2;
    }
    free(long_body);
    assert_string_equal(rb_mail_address(a, "Rollback <rb@example.test>"), "rb@example.test");
    assert_string_equal(rb_mail_address(a, "rb@example.test"), "rb@example.test");
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_problems),
        cmocka_unit_test(test_every_contract_variable_known),
        cmocka_unit_test(test_subject_encoding),
        cmocka_unit_test(test_mail_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
