/*
 * test_report.c - the report model from a hand-made journal that has every phase the contracts
 * describe (assess/verdict, approve/quorum, freeze, sync, restore, a failed verify check,
 * communicate/<slug> sent and failed, a budget fact): figures, budgets and over-budget phases,
 * approvals, notifications, gaps, the post-mortem's prefilled lessons; the Markdown's Mermaid
 * gantt and the HTML's escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/report.h"

struct ev {
    const char *ts, *phase, *action, *event, *data;
};

/* The journal of a run that went through all seven phases; verify's compare check failed. */
static const struct ev run_evs[] = {
    { "2026-12-01T10:00:00.000Z", "", "", "run_started",
      "{\"runbook\":\"payroll-rollback\",\"reason\":\"tax <calc> errors & \\\"more\\\"\","
      "\"initiated_by\":\"alice@ops1\",\"severity\":null,\"force\":false}" },
    { "2026-12-01T10:00:01.000Z", "assess", "", "phase_started", "{}" },
    { "2026-12-01T10:00:01.000Z", "assess", "assess/verdict", "started",
      "{\"summary\":\"assess\"}" },
    { "2026-12-01T10:00:02.000Z", "", "", "fact", "{\"key\":\"severity\",\"value\":\"critical\"}" },
    { "2026-12-01T10:00:02.000Z", "", "", "fact",
      "{\"key\":\"budget\",\"value\":{\"budget_ms\":100000,\"deadline\":\"x\"}}" },
    { "2026-12-01T10:00:02.000Z", "assess", "assess/verdict", "done",
      "{\"verdict\":\"rollback\",\"severity\":\"critical\",\"scenario\":\"Critical calculation "
      "errors\",\"impact\":\"high\",\"action\":\"rollback\",\"recovery_time\":\"2h-4h\","
      "\"signals\":{\"affected_users\":120,\"calc_error_ratio\":0.2},\"forced\":false}" },
    { "2026-12-01T10:00:02.000Z", "assess", "", "phase_done", "{}" },
    { "2026-12-01T10:00:03.000Z", "approve", "", "phase_started", "{}" },
    { "2026-12-01T10:00:03.000Z", "approve", "approve/quorum", "started", "{}" },
    { "2026-12-01T10:00:04.000Z", "approve", "approve/quorum", "done",
      "{\"needed\":2,\"approvals\":[{\"user\":\"alice\",\"host\":\"ops1\",\"at\":\"t1\","
      "\"comment\":\"go\",\"kind\":\"initiator\"},{\"user\":\"bob\",\"host\":\"ops2\",\"at\":"
      "\"t2\","
      "\"comment\":\"ok\",\"kind\":\"approve\"}]}" },
    { "2026-12-01T10:00:04.000Z", "approve", "", "phase_done", "{}" },
    { "2026-12-01T10:00:05.000Z", "freeze", "", "phase_started", "{}" },
    { "2026-12-01T10:00:05.000Z", "freeze", "freeze/scale-api", "started",
      "{\"summary\":\"scale\"}" },
    { "2026-12-01T10:00:06.000Z", "freeze", "freeze/scale-api", "done",
      "{\"message\":\"scaled to 0\",\"duration_ms\":1000}" },
    { "2026-12-01T10:00:06.000Z", "freeze", "", "phase_done", "{}" },
    /* sync: 40 s of a 40 s share (100 s * 40 %): within */
    { "2026-12-01T10:00:06.000Z", "sync", "", "phase_started", "{}" },
    { "2026-12-01T10:00:06.000Z", "sync", "sync/payments", "started", "{\"summary\":\"upsert\"}" },
    { "2026-12-01T10:00:40.000Z", "", "", "fact",
      "{\"key\":\"sync_tables\",\"value\":{\"payments\":{\"at_risk\":10,\"recovered\":9,"
      "\"lost\":1}}}" },
    { "2026-12-01T10:00:40.000Z", "", "", "fact", "{\"key\":\"records_at_risk\",\"value\":10}" },
    { "2026-12-01T10:00:40.000Z", "", "", "fact", "{\"key\":\"records_recovered\",\"value\":9}" },
    { "2026-12-01T10:00:40.000Z", "", "", "fact", "{\"key\":\"records_lost\",\"value\":1}" },
    { "2026-12-01T10:00:40.000Z", "", "", "fact",
      "{\"key\":\"recovery_rate\",\"value\":\"90.00%\"}" },
    { "2026-12-01T10:00:46.000Z", "sync", "sync/payments", "done",
      "{\"at_risk\":10,\"inserted\":7,\"updated\":2,\"unchanged\":0,\"duration_ms\":40000}" },
    { "2026-12-01T10:00:46.000Z", "sync", "", "phase_done", "{}" },
    /* restore: 30 s against 25 s: over */
    { "2026-12-01T10:00:46.000Z", "restore", "", "phase_started", "{}" },
    { "2026-12-01T10:00:46.000Z", "restore", "restore/start-db", "started", "{}" },
    { "2026-12-01T10:01:16.000Z", "restore", "restore/start-db", "done", "{\"message\":\"ok\"}" },
    { "2026-12-01T10:01:16.000Z", "restore", "", "phase_done", "{}" },
    { "2026-12-01T10:01:16.000Z", "verify", "", "phase_started", "{}" },
    { "2026-12-01T10:01:16.000Z", "verify", "verify/payments-match", "started", "{}" },
    { "2026-12-01T10:01:17.000Z", "verify", "verify/payments-match", "failed",
      "{\"error\":\"1 row missing\",\"result\":{\"name\":\"Payments match\",\"kind\":\"compare\","
      "\"passed\":false,\"summary\":\"1 of 10 rows missing in legacy\",\"compare\":{\"table\":"
      "\"payments\",\"missing_in_legacy\":1,\"differing\":2}}}" },
    { "2026-12-01T10:01:17.000Z", "", "", "fact",
      "{\"key\":\"verification\",\"value\":\"failed\"}" },
    { "2026-12-01T10:01:18.000Z", "verify", "", "phase_partial", "{}" },
    { "2026-12-01T10:01:18.000Z", "communicate", "", "phase_started", "{}" },
    { "2026-12-01T10:01:18.000Z", "communicate", "communicate/leadership", "started", "{}" },
    { "2026-12-01T10:01:19.000Z", "communicate", "communicate/leadership", "done",
      "{\"via\":\"mail\",\"driver\":\"smtp\",\"to\":[\"lead@x\"],\"subject\":\"Urgent\","
      "\"message_id\":\"<m1@x>\",\"attempts\":1,\"copy\":\"notifications/leadership.txt\"}" },
    { "2026-12-01T10:01:19.000Z", "communicate", "communicate/technical-team", "started", "{}" },
    { "2026-12-01T10:01:20.000Z", "communicate", "communicate/technical-team", "failed",
      "{\"error\":\"webhook answered 500\",\"result\":{\"via\":\"chat\",\"driver\":\"webhook\","
      "\"attempts\":3}}" },
    { "2026-12-01T10:01:20.000Z", "communicate", "", "phase_partial", "{}" },
    { "2026-12-01T10:01:40.000Z", "", "", "run_finished",
      "{\"outcome\":\"partial\",\"error\":\"run finished partially\"}" },
};

static void make_log(struct rb_journal_log *log, const struct ev *evs, size_t n)
{
    size_t i;

    memset(log, 0, sizeof(*log));
    log->entries = calloc(n, sizeof(*log->entries));
    log->n = n;
    snprintf(log->last_hash, sizeof(log->last_hash), "%064d", 7);
    for (i = 0; i < n; i++) {
        struct rb_journal_entry *e = &log->entries[i];

        e->seq = i + 1;
        e->ts = evs[i].ts;
        e->phase = evs[i].phase;
        e->action = evs[i].action;
        e->event = evs[i].event;
        e->line = cJSON_CreateObject();
        cJSON_AddStringToObject(e->line, "run_id", "20261201T100000000Z-abcdef");
        e->data = cJSON_Parse(evs[i].data);
        assert_non_null(e->data);
        cJSON_AddItemToObject(e->line, "data", e->data);
    }
}

static void free_log(struct rb_journal_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        cJSON_Delete(log->entries[i].line);
    free(log->entries);
}

static const cJSON *path(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    return b != NULL ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const cJSON *phase(const cJSON *r, const char *name)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "phases"))
        if (strcmp(cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring, name) == 0)
            return p;
    fail_msg("no phase '%s'", name);
    return NULL;
}

/* True when one string of array arr contains needle. */
static bool has_line(const cJSON *arr, const char *needle)
{
    const cJSON *x;

    cJSON_ArrayForEach(x, arr)
        if (cJSON_IsString(x) && strstr(x->valuestring, needle) != NULL)
            return true;
    return false;
}

static void test_model_figures(void **state)
{
    struct rb_journal_log log;
    cJSON *r;
    const cJSON *m, *n;

    (void)state;
    make_log(&log, run_evs, sizeof(run_evs) / sizeof(run_evs[0]));
    r = rb_report_build(&log);
    assert_string_equal(path(r, "run_id", NULL)->valuestring, "20261201T100000000Z-abcdef");
    assert_string_equal(path(r, "outcome", NULL)->valuestring, "partial");
    assert_string_equal(path(r, "severity", NULL)->valuestring, "critical");
    assert_string_equal(path(r, "scenario", NULL)->valuestring, "Critical calculation errors");
    m = path(r, "metrics", NULL);
    assert_int_equal(path(m, "records_at_risk", NULL)->valueint, 10);
    assert_int_equal(path(m, "records_recovered", NULL)->valueint, 9);
    assert_int_equal(path(m, "records_lost", NULL)->valueint, 1);
    assert_string_equal(path(m, "recovery_rate", NULL)->valuestring, "90.00%");
    /* first freeze action 10:00:05 -> restore ended 10:01:16 */
    assert_int_equal((long)path(m, "downtime_ms", NULL)->valuedouble, 71000);
    assert_int_equal((long)path(m, "execution_ms", NULL)->valuedouble, 100000);
    assert_int_equal(path(m, "affected_users", NULL)->valueint, 120);
    /* the budget fact wins over recovery_time; shares per rb_phase_budget_share_pct */
    assert_int_equal((long)path(r, "budget_ms", NULL)->valuedouble, 100000);
    assert_string_equal(path(r, "budget_source", NULL)->valuestring, "budget fact");
    assert_int_equal((long)path(phase(r, "sync"), "budget_ms", NULL)->valuedouble, 25000);
    assert_true(cJSON_IsTrue(path(phase(r, "sync"), "over_budget", NULL))); /* 40 s of 25 s */
    assert_true(cJSON_IsFalse(path(phase(r, "freeze"), "over_budget", NULL)));
    assert_int_equal((long)path(phase(r, "restore"), "duration_ms", NULL)->valuedouble, 30000);
    assert_true(cJSON_IsTrue(path(phase(r, "restore"), "over_budget", NULL)));
    assert_true(cJSON_IsNull(path(phase(r, "assess"), "budget_ms", NULL)));
    assert_string_equal(path(phase(r, "approve"), "state", NULL)->valuestring, "done");
    assert_string_equal(path(phase(r, "verify"), "state", NULL)->valuestring, "partial");
    /* approvals from approve/quorum */
    assert_int_equal(cJSON_GetArraySize(path(r, "approvals", NULL)), 2);
    assert_int_equal(path(r, "approvals_needed", NULL)->valueint, 2);
    /* sync table, with the fact's recovered/lost */
    n = cJSON_GetArrayItem(path(r, "sync_tables", NULL), 0);
    assert_string_equal(path(n, "table", NULL)->valuestring, "payments");
    assert_int_equal(path(n, "inserted", NULL)->valueint, 7);
    assert_int_equal(path(n, "lost", NULL)->valueint, 1);
    /* verification and the gaps its compare found */
    assert_string_equal(path(r, "verification", "verdict")->valuestring, "failed");
    assert_int_equal(path(r, "verification", "checks_total")->valueint, 1);
    assert_int_equal(path(r, "verification", "checks_passed")->valueint, 0);
    assert_true(cJSON_IsTrue(path(r, "gaps", "computed")));
    assert_int_equal(path(r, "gaps", "manual_entry")->valueint, 1);
    assert_int_equal(path(r, "gaps", "review")->valueint, 2);
    /* notifications: one sent with its copy, one failed with the reason */
    n = path(r, "notifications", NULL);
    assert_int_equal(cJSON_GetArraySize(n), 2);
    assert_string_equal(path(cJSON_GetArrayItem(n, 0), "state", NULL)->valuestring, "sent");
    assert_string_equal(path(cJSON_GetArrayItem(n, 0), "copy", NULL)->valuestring,
                        "notifications/leadership.txt");
    assert_string_equal(path(cJSON_GetArrayItem(n, 1), "state", NULL)->valuestring, "failed");
    assert_string_equal(path(cJSON_GetArrayItem(n, 1), "error", NULL)->valuestring,
                        "webhook answered 500");
    assert_int_equal(path(cJSON_GetArrayItem(n, 1), "attempts", NULL)->valueint, 3);
    /* the timeline has every action once, with its last state */
    assert_int_equal(cJSON_GetArraySize(path(r, "timeline", NULL)), 8);
    /* post-mortem prefilled from facts */
    n = path(r, "postmortem", NULL);
    assert_string_equal(
        path(cJSON_GetArrayItem(path(n, "five_whys", NULL), 0), "answer", NULL)->valuestring,
        "tax <calc> errors & \"more\"");
    assert_true(has_line(path(n, "went_wrong", NULL), "phase 'restore' took 30.0 s, over"));
    assert_true(has_line(path(n, "went_wrong", NULL), "check 'Payments match' failed"));
    assert_true(has_line(path(n, "went_wrong", NULL), "1 records were lost"));
    assert_true(has_line(path(n, "went_wrong", NULL), "message 'technical-team' was not sent"));
    assert_true(has_line(path(n, "went_wrong", NULL), "phase 'sync' took 40.0 s, over"));
    assert_true(has_line(path(n, "went_well", NULL), "phase 'freeze' stayed within"));
    assert_string_equal(path(r, "journal", "last_hash")->valuestring, log.last_hash);
    cJSON_Delete(r);
    free_log(&log);
}

static void test_markdown_and_html(void **state)
{
    struct rb_journal_log log;
    struct rb_buf md = RB_BUF_INIT, html = RB_BUF_INIT;
    cJSON *r;

    (void)state;
    make_log(&log, run_evs, sizeof(run_evs) / sizeof(run_evs[0]));
    r = rb_report_build(&log);
    rb_report_markdown(&md, r);
    assert_non_null(strstr(md.data, "```mermaid\ngantt\n"));
    assert_non_null(strstr(md.data, "dateFormat x"));
    /* restore over budget: a crit bar; its budget bar 25 s from its start */
    assert_non_null(strstr(md.data, ":crit, restore_took, 1796119246000, 1796119276000"));
    assert_non_null(strstr(md.data, ":restore_budget, 1796119246000, 1796119266000"));
    assert_non_null(strstr(md.data, "| records lost | 1 |"));
    assert_non_null(strstr(md.data, "### Remediation plan"));
    assert_non_null(strstr(md.data, "| 1 | why did payroll need a rollback? | tax <calc> errors"));
    rb_report_html(&html, r);
    assert_non_null(strstr(html.data, "<svg "));
    assert_non_null(strstr(html.data, "tax &lt;calc&gt; errors &amp; &quot;more&quot;"));
    assert_null(strstr(html.data, "<calc>"));
    /* self-contained: nothing fetched from elsewhere */
    assert_null(strstr(html.data, "<script"));
    assert_null(strstr(html.data, "<link"));
    assert_null(strstr(html.data, "src="));
    cJSON_Delete(r);
    rb_buf_release(&md);
    rb_buf_release(&html);
    free_log(&log);
}

/* A run that stopped in sync: no run_finished, no budget; the report still renders. */
static void test_unfinished_run(void **state)
{
    static const struct ev evs[] = {
        { "2026-12-01T10:00:00.000Z", "", "", "run_started", "{\"reason\":\"r\"}" },
        { "2026-12-01T10:00:05.000Z", "freeze", "freeze/scale-api", "started", "{}" },
        { "2026-12-01T10:00:06.000Z", "sync", "sync/payments", "started", "{}" },
    };
    struct rb_journal_log log;
    struct rb_buf md = RB_BUF_INIT;
    cJSON *r;

    (void)state;
    make_log(&log, evs, sizeof(evs) / sizeof(evs[0]));
    r = rb_report_build(&log);
    assert_string_equal(path(r, "outcome", NULL)->valuestring, "unfinished");
    assert_true(cJSON_IsNull(path(r, "budget_ms", NULL)));
    assert_true(cJSON_IsTrue(path(r, "metrics", "downtime_open")));
    assert_true(cJSON_IsNull(path(r, "metrics", "records_at_risk")));
    assert_false(cJSON_IsTrue(path(r, "gaps", "computed")));
    assert_string_equal(
        path(cJSON_GetArrayItem(path(r, "timeline", NULL), 1), "state", NULL)->valuestring,
        "running");
    rb_report_markdown(&md, r);
    assert_non_null(strstr(md.data, "Outcome: **unfinished**"));
    assert_non_null(strstr(md.data, "restore did not finish"));
    cJSON_Delete(r);
    rb_buf_release(&md);
    free_log(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_figures),
        cmocka_unit_test(test_markdown_and_html),
        cmocka_unit_test(test_unfinished_run),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
