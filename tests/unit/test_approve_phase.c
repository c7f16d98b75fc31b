/*
 * test_approve_phase.c - the approve phase without servers or other people: plan says how many
 * approvals and why (severity from the assessment's fact, one more for a point of no return);
 * a run finds the quorum in records already in its approvals/ folder and journals who approved;
 * a deny record declines it naming who and why; the initiator's confirmation goes through
 * run->confirm, which sees the severity and the approvals needed, and a refusal declines the run;
 * no quorum by approval.timeout declines it.
 *
 * The records here are written by root speaking for other users (as `sudo rollbackctl approve`
 * does), so the tests that need them are skipped when not run as root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/phases.h"
#include "run_fixture.h"

static const struct rb_phase approve_only[] = { { "approve", rb_approve_plan } };

static int setup(void **state)
{
    struct rb_test_run *f = calloc(1, sizeof(*f));

    if (f == NULL || rb_test_run_open(f, "approve", "approval:\n  required: { critical: 2, high: 1 }\n  timeout: 1s\n") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct rb_test_run *f = *state;
    int rc = rb_test_run_close(f);

    free(f);
    return rc;
}

static void test_plan_counts(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = rb_run_new(&f->ctx, f->rb, RB_MODE_PLAN);
    cJSON *pnr = cJSON_CreateArray();

    cJSON_AddItemToArray(pnr, cJSON_CreateString("bank payment files already transmitted"));
    assert_int_equal(rb_run_fact_set(run, "severity", cJSON_CreateString("critical"), &err), 0);
    assert_int_equal(rb_run_fact_set(run, "point_of_no_return", pnr, &err), 0);
    assert_int_equal(rb_approve_plan(run, &err), 0);
    assert_int_equal(run->n_actions, 1);
    assert_string_equal(run->actions[0]->name, RB_APPROVE_ACTION);
    assert_string_equal(run->actions[0]->summary,
                        "3 approvals (severity critical): the initiator and 2 more persons");
    assert_non_null(strstr(run->actions[0]->detail.data,
                           "point of no return (+1 approval): bank payment files already "
                           "transmitted"));
    assert_non_null(strstr(run->actions[0]->detail.data, "approval.required.critical: 2"));
    assert_non_null(strstr(run->actions[0]->detail.data, "no quorum within 1s"));
}

static void test_plan_check_mode_plans_nothing(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = rb_run_new_check(&f->ctx, f->rb);

    assert_int_equal(rb_approve_plan(run, &err), 0);
    assert_int_equal(run->n_actions, 0);
}

/* A run of the approve phase alone, severity critical (2 needed), confirmed with --yes or not. */
static struct rb_run *begin(struct rb_test_run *f, bool yes)
{
    struct rb_run_opts o = { .reason = "test", .severity = "critical", .yes = yes };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    assert_int_equal(rb_run_begin(&f->ctx, f->rb, &o, &run, &err), 0);
    run->phases = approve_only;
    run->n_phases = 1;
    assert_int_equal(rb_approvals_dir_create(f->dir, run->run_dir, &err), 0);
    return run;
}

static void drop(struct rb_test_run *f, struct rb_run *run, const char *kind, const char *user,
                 const char *comment)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_approval_rec r = { .kind = kind,
                                 .user = user,
                                 .host = "h",
                                 .at = "2026-12-02T00:00:00.000Z",
                                 .comment = comment,
                                 .pid = 1 };

    assert_int_equal(rb_approval_write(f->ctx.arena, run->run_dir, &r, NULL, &err), 0);
}

static void test_quorum_from_records(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;
    const cJSON *facts, *it;
    char users[128] = "";

    if (geteuid() != 0)
        skip();
    run = begin(f, true);
    drop(f, run, "approve", "bob", "ok");
    drop(f, run, "approve", "bob", "again"); /* the same person counts once */
    assert_int_equal(rb_run_drive(run, &err), 0);
    assert_string_equal(run->outcome, "succeeded");
    facts = rb_run_fact(run, "approvals");
    assert_int_equal(cJSON_GetArraySize(facts), 2);
    cJSON_ArrayForEach(it, facts) {
        strcat(users, cJSON_GetObjectItem(it, "user")->valuestring);
        strcat(users, "/");
        strcat(users, cJSON_GetObjectItem(it, "kind")->valuestring);
        strcat(users, " ");
    }
    assert_non_null(strstr(users, "/initiator bob/approve "));
}

static void test_deny_record(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    if (geteuid() != 0)
        skip();
    run = begin(f, true);
    drop(f, run, "deny", "carol", "payroll runs tonight");
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_int_equal(err.cls, RB_E_DECLINED);
    assert_string_equal(err.msg, "run denied by carol@h: payroll runs tonight");
    assert_string_equal(run->outcome, "declined");
    assert_null(rb_run_fact(run, "approvals"));
}

static const char *confirm_saw;
static int confirm_answer;

static int fake_confirm(struct rb_run *run, const char *what, struct rb_err *err)
{
    confirm_saw = rb_strdup(run->arena, what);
    if (confirm_answer == 0)
        return 0;
    return rb_errf(err, RB_E_DECLINED, "not confirmed");
}

static void test_confirm_declined(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = begin(f, false);

    run->confirm = fake_confirm;
    confirm_answer = -1;
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_int_equal(err.cls, RB_E_DECLINED);
    assert_string_equal(run->outcome, "declined");
    assert_non_null(strstr(confirm_saw, "severity:  critical"));
    assert_non_null(strstr(confirm_saw, "approvals: 2 needed: yours and 1 more person"));
}

static void test_confirmed_then_timeout(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = begin(f, false);

    run->confirm = fake_confirm;
    confirm_answer = 0;
    confirm_saw = NULL;
    /* confirmed, but nobody else approves within approval.timeout (1s) */
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_non_null(confirm_saw);
    assert_int_equal(err.cls, RB_E_DECLINED);
    assert_non_null(strstr(err.msg, "no quorum: 1 of 2 approvals by "));
    assert_string_equal(run->outcome, "declined");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_check_mode_plans_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_from_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deny_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirm_declined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirmed_then_timeout, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
