/*
 * test_run_figures.c - a run's times read back from a journal: phase spans, downtime (first freeze
 * action -> end of restore), execution time, and what an unfinished run reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/run_figures.h"

/* A log in memory, as rb_journal_read hands it back (the chain is journal.c's to test). */
struct ev {
    const char *ts, *phase, *action, *event, *outcome;
};

static void make_log(struct rb_journal_log *log, const struct ev *evs, size_t n)
{
    size_t i;

    memset(log, 0, sizeof(*log));
    log->entries = calloc(n, sizeof(*log->entries));
    log->n = n;
    for (i = 0; i < n; i++) {
        struct rb_journal_entry *e = &log->entries[i];

        e->seq = i + 1;
        e->ts = evs[i].ts;
        e->phase = evs[i].phase;
        e->action = evs[i].action;
        e->event = evs[i].event;
        e->data = cJSON_CreateObject();
        if (evs[i].outcome != NULL)
            cJSON_AddStringToObject(e->data, "outcome", evs[i].outcome);
    }
}

static void free_log(struct rb_journal_log *log)
{
    size_t i;

    for (i = 0; i < log->n; i++)
        cJSON_Delete(log->entries[i].data);
    free(log->entries);
}

static void test_time_parse_ms(void **state)
{
    (void)state;
    assert_int_equal(rb_time_parse_ms("1970-01-01T00:00:01.250Z"), 1250);
    assert_int_equal(rb_time_parse_ms("1970-01-01T00:00:02Z"), 2000);
    assert_int_equal(rb_time_parse_ms("1970-01-01T00:00:02.5Z"), 2500);
    assert_int_equal(rb_time_parse_ms("garbage"), -1);
}

static void test_downtime_and_phases(void **state)
{
    static const struct ev evs[] = {
        { "2026-12-01T10:00:00.000Z", "", "", "run_started", NULL },
        { "2026-12-01T10:00:01.000Z", "assess", "", "phase_started", NULL },
        { "2026-12-01T10:00:02.000Z", "assess", "", "phase_done", NULL },
        { "2026-12-01T10:00:03.000Z", "freeze", "", "phase_started", NULL },
        { "2026-12-01T10:00:03.500Z", "freeze", "freeze/scale-api", "started", NULL },
        { "2026-12-01T10:00:04.000Z", "freeze", "", "phase_done", NULL },
        { "2026-12-01T10:00:05.000Z", "restore", "", "phase_started", NULL },
        { "2026-12-01T10:00:13.500Z", "restore", "", "phase_done", NULL },
        { "2026-12-01T10:00:20.000Z", "", "", "run_finished", "succeeded" },
    };
    struct rb_journal_log log;
    struct rb_run_figures f;

    (void)state;
    make_log(&log, evs, sizeof(evs) / sizeof(evs[0]));
    rb_run_figures_read(&log, &f);
    assert_int_equal(f.execution_ms, 20000);
    assert_int_equal(f.downtime_ms, 10000);
    assert_false(f.downtime_open);
    assert_string_equal(f.outcome, "succeeded");
    assert_int_equal(f.n_phases, 3);
    assert_string_equal(f.phases[1].phase, "freeze");
    assert_int_equal(f.phases[1].finished_ms - f.phases[1].started_ms, 1000);
    assert_string_equal(f.phases[2].state, "done");
    free_log(&log);
}

static void test_unfinished_restore_keeps_downtime_open(void **state)
{
    static const struct ev evs[] = {
        { "2026-12-01T10:00:00.000Z", "", "", "run_started", NULL },
        { "2026-12-01T10:00:03.000Z", "freeze", "", "phase_started", NULL },
        { "2026-12-01T10:00:03.000Z", "freeze", "freeze/scale-api", "started", NULL },
        { "2026-12-01T10:00:04.000Z", "freeze", "", "phase_done", NULL },
        { "2026-12-01T10:00:05.000Z", "restore", "", "phase_started", NULL },
        { "2026-12-01T10:00:06.000Z", "restore", "restore/dns", "failed", NULL },
        { "2026-12-01T10:00:07.000Z", "", "", "run_finished", "failed" },
    };
    struct rb_journal_log log;
    struct rb_run_figures f;

    (void)state;
    make_log(&log, evs, sizeof(evs) / sizeof(evs[0]));
    rb_run_figures_read(&log, &f);
    assert_true(f.downtime_open);
    assert_int_equal(f.downtime_ms, 4000);
    assert_string_equal(f.phases[1].state, "failed");
    free_log(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse_ms),
        cmocka_unit_test(test_downtime_and_phases),
        cmocka_unit_test(test_unfinished_restore_keeps_downtime_open),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
