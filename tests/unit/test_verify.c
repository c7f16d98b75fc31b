/*
 * test_verify.c - the verification report as people read it: verdict line, one line per check,
 * missing and differing rows with quoted values (so '' and 'x ' show), totals with the variance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/verify.h"

/* JSON with ` for " (readable without escapes); report_json() swaps them back. */
static const char report[] =
    "{`verification`:`failed`,`passed`:1,`failed`:2,`checks`:["
    "{`name`:`Payments`,`kind`:`compare`,`passed`:false,`duration_ms`:1250,"
    " `summary`:`3 rows changed since cutover: 1 missing in legacy, 1 differ`,"
    " `compare`:{`missing_in_legacy`:1,`differing`:1,"
    "  `missing`:[{`key`:{`payment_id`:`9`},`new`:{`payment_id`:`9`,`note`:null}}],"
    "  `differences`:[{`key`:{`payment_id`:`4`},`columns`:["
    "   {`column`:`note`,`new`:`it's`,`legacy`:`it's `},"
    "   {`column`:`memo`,`new`:null,`legacy`:``}]}]}},"
    "{`name`:`Count`,`kind`:`equal`,`passed`:true,`duration_ms`:3,`summary`:`both 40`},"
    "{`name`:`YTD`,`kind`:`totals`,`passed`:false,`duration_ms`:20,`summary`:`2 of 40 keys off`,"
    " `differences`:["
    "  {`key`:`E7`,`column`:`gross`,`new`:`100.00`,`legacy`:`99.98`,`variance`:`0.02`},"
    "  {`key`:`E9`,`problem`:`missing in legacy`,`new`:{`gross`:`10.00`,`net`:`8.00`}}]}]}";

static cJSON *report_json(void)
{
    char buf[sizeof(report)];

    memcpy(buf, report, sizeof(report));
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '`')
            *p = '"';
    return cJSON_Parse(buf);
}

static void test_report_text(void **state)
{
    cJSON *rep = report_json();
    struct rb_buf b = RB_BUF_INIT;

    (void)state;
    assert_non_null(rep);
    rb_verify_report_text(&b, rep);
    assert_non_null(strstr(b.data, "verification failed: 1 of 3 checks passed\n"));
    assert_non_null(strstr(b.data,
                           "  FAIL  Payments [compare, 1.25s]: 3 rows changed since cutover: "
                           "1 missing in legacy, 1 differ\n"));
    assert_non_null(strstr(b.data, "      missing in legacy (1 listed of 1):\n"
                                   "        payment_id='9': payment_id='9' note=NULL\n"));
    assert_non_null(strstr(b.data, "        payment_id='4': note new 'it''s' legacy 'it''s '; "
                                   "memo new NULL legacy ''\n"));
    assert_non_null(strstr(b.data, "  PASS  Count [equal, 0.00s]: both 40\n"));
    assert_non_null(
        strstr(b.data, "        'E7' gross: new '100.00' legacy '99.98' variance '0.02'\n"));
    assert_non_null(
        strstr(b.data, "        'E9': missing in legacy (gross '10.00', net '8.00')\n"));
    rb_buf_release(&b);
    cJSON_Delete(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
