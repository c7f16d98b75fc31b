/*
 * test_engine.c - the engine and the run lifecycle with fake actions, no servers: a critical
 * failure stops the run, a non-critical one makes it partial, resume refuses an RB_ONCE action
 * that was in flight and re-applies RB_CHECKS_FIRST / RB_IDEMPOTENT ones while skipping done
 * ones, a signal between actions journals `interrupted`, a check run journals nothing, and two
 * actions with one id are refused before any is applied.
 *
 * Action groups (sync.jobs): a fake runner keeps two actions in flight at once and ends the later
 * first; the journal shows both started before either ended, a critical failure lets the one in
 * flight end and starts no other, a non-critical one makes the phase partial, a signal stops it
 * before the next, and resume skips a group's done actions.
 *
 * The fake phase is put in the run's phase table; rb_run_begin/resume/drive are the real ones,
 * so every assertion is on the journal file the run leaves and on the outcome it reports. A
 * crash is a forked child that _exits in the middle of an action (the kernel drops its lock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollbackctl/engine.h"
#include "rollbackctl/run_figures.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/runs.h"
#include "run_fixture.h"

/* What a fake action does when applied. */
enum fake_effect {
    FAKE_OK = 0,
    FAKE_FAIL,      /* returns -1 with RB_E_FAILED */
    FAKE_CRASH,     /* the process dies in the middle of the action, as a power cut would */
    FAKE_INTERRUPT, /* succeeds, but a SIGTERM arrives while it runs */
    FAKE_SLOW,      /* succeeds after 20 ms */
};

struct fake_action {
    const char *name;
    enum rb_idem idem;
    bool critical;
    enum fake_effect effect;
    int applied; /* times applied in this process */
};

/* The actions the fake phase plans, in order; set by each test before a run. */
static struct fake_action *script;
static size_t script_n;

static int fake_apply(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct fake_action *fa = act->arg;

    (void)run;
    fa->applied++;
    switch (fa->effect) {
    case FAKE_OK:
        return 0;
    case FAKE_FAIL:
        return rb_errf(err, RB_E_FAILED, "%s broke", fa->name);
    case FAKE_CRASH:
        _exit(0);
    case FAKE_INTERRUPT:
        raise(SIGTERM); /* the engine's handler only sets the flag */
        return 0;
    case FAKE_SLOW:
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
        return 0;
    }
    return 0;
}

/*
 * A group's runner as sync's would be with two jobs, on one thread: up to two actions begun,
 * the later one applied and ended first, then the next begun; nothing begun after a stop or a
 * signal.
 */
static int fake_group_run(struct rb_run *run, struct rb_action *const *acts, size_t n,
                          const struct rb_group_hooks *h, struct rb_err *err)
{
    struct rb_action *flight[2];
    size_t next = 0, nf = 0;
    bool stop = false;
    int rc = 0;

    for (;;) {
        struct rb_err aerr = RB_ERR_INIT;
        struct rb_action *act;
        int arc, erc;

        while (!stop && nf < 2 && next < n && !rb_interrupted()) {
            int brc = h->begin(h, acts[next], err);

            if (brc == 1) {
                next++;
                continue;
            }
            if (brc < 0) {
                stop = true;
                rc = -1;
                break;
            }
            flight[nf++] = acts[next++];
        }
        if (nf == 0)
            return rc;
        act = flight[--nf];
        arc = act->apply(run, act, &aerr);
        erc = h->end(h, act, arc, &aerr, err);
        stop = stop || erc != 0;
        if (erc < 0)
            rc = -1;
    }
}

static const struct rb_action_group fake_group = { fake_group_run, NULL };
static bool grouped; /* the fake phase's actions form one group */

static int fake_plan(struct rb_run *run, struct rb_err *err)
{
    (void)err;
    for (size_t i = 0; i < script_n; i++) {
        struct rb_action *act = rb_run_add_action(run, "restore", script[i].name, script[i].name,
                                                  script[i].idem, fake_apply, &script[i]);

        act->critical = script[i].critical;
        if (grouped)
            act->group = &fake_group;
    }
    return 0;
}

static const struct rb_phase fake_phases[] = { { "restore", fake_plan } };

static int setup(void **state)
{
    struct rb_test_run *f = calloc(1, sizeof(*f));

    grouped = false;
    if (f == NULL || rb_test_run_open(f, "engine", NULL) != 0)
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

static struct rb_run *begin(struct rb_test_run *f)
{
    struct rb_run_opts o = { .reason = "unit test", .yes = true };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = NULL;

    assert_int_equal(rb_run_begin(&f->ctx, f->rb, &o, &run, &err), 0);
    run->phases = fake_phases;
    run->n_phases = 1;
    return run;
}

static struct rb_run *resume(struct rb_test_run *f)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = NULL;

    assert_int_equal(rb_run_resume(&f->ctx, f->rb, NULL, &run, &err), 0);
    run->phases = fake_phases;
    run->n_phases = 1;
    return run;
}

/* The latest run's journal as status summarises it (rb_runs_summarize); caller deletes. */
static cJSON *latest_summary(struct rb_test_run *f)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    const char **ids;
    size_t n;
    cJSON *s;

    assert_int_equal(rb_runs_list(f->ctx.arena, f->dir, &ids, &n, &err), 0);
    assert_true(n > 0);
    assert_int_equal(rb_journal_read(rb_sprintf(f->ctx.arena, "%s/journal.jsonl",
                                                rb_runs_dir_of(f->ctx.arena, f->dir, ids[n - 1])),
                                     &log, &err),
                     0);
    s = rb_runs_summarize(&log);
    rb_journal_log_release(&log);
    return s;
}

/*
 * The latest run's journal, one "event action" (or "event", or "event outcome" for run_finished)
 * per line, in order. Arena-owned.
 */
static const char *journal_lines(struct rb_test_run *f)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_buf b = RB_BUF_INIT;
    const char **ids;
    size_t n;
    const char *out;

    assert_int_equal(rb_runs_list(f->ctx.arena, f->dir, &ids, &n, &err), 0);
    assert_true(n > 0);
    assert_int_equal(rb_journal_read(rb_sprintf(f->ctx.arena, "%s/journal.jsonl",
                                                rb_runs_dir_of(f->ctx.arena, f->dir, ids[n - 1])),
                                     &log, &err),
                     0);
    for (size_t i = 0; i < log.n; i++) {
        const struct rb_journal_entry *e = &log.entries[i];
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(e->data, "outcome");

        rb_buf_adds(&b, e->event);
        if (e->action[0] != '\0')
            rb_buf_addf(&b, " %s", e->action);
        else if (cJSON_IsString(o))
            rb_buf_addf(&b, " %s", o->valuestring);
        rb_buf_addc(&b, '\n');
    }
    out = rb_strdup(f->ctx.arena, b.data);
    rb_buf_release(&b);
    rb_journal_log_release(&log);
    return out;
}

/* Run the script in a child that crashes (FAKE_CRASH) or is interrupted; its exit status. */
static int run_in_child(struct rb_test_run *f)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        struct rb_err err = RB_ERR_INIT;
        struct rb_run *run = begin(f);

        _exit(rb_run_drive(run, &err) == 0 ? 0 : err.cls == RB_E_INTERRUPTED ? 3 : 1);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/*
 * A run that fails after approval still runs its communicate phase (issue 12), with the outcome
 * "failed" visible to it, and stays failed; a failure in approve itself, or a decline, does not.
 */
static const char *communicate_saw; /* run->outcome when the fake communicate phase planned */
static enum fake_effect approve_effect;
static enum rb_err_class approve_fail_class;

static int ok_apply(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    (void)run;
    (void)act;
    (void)err;
    return 0;
}

static int approve_apply(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    (void)run;
    (void)act;
    if (approve_effect == FAKE_FAIL)
        return rb_errf(err, approve_fail_class, "approval refused");
    return 0;
}

static int fake_approve_plan(struct rb_run *run, struct rb_err *err)
{
    (void)err;
    rb_run_add_action(run, "approve", "approve/quorum", "quorum", RB_IDEMPOTENT, approve_apply,
                      NULL);
    return 0;
}

static int fake_communicate_plan(struct rb_run *run, struct rb_err *err)
{
    struct rb_action *act;

    (void)err;
    communicate_saw = run->outcome;
    act = rb_run_add_action(run, "communicate", "communicate/leadership", "mail", RB_IDEMPOTENT,
                            ok_apply, NULL);
    act->critical = false;
    return 0;
}

static const struct rb_phase phases_with_communicate[] = {
    { "approve", fake_approve_plan },
    { "restore", fake_plan },
    { "communicate", fake_communicate_plan },
};

static int drive_with_communicate(struct rb_test_run *f, struct rb_err *err, const char **outcome)
{
    struct rb_run *run = begin(f);
    int rc;

    run->phases = phases_with_communicate;
    run->n_phases = 3;
    communicate_saw = NULL;
    rc = rb_run_drive(run, err);
    *outcome = run->outcome;
    return rc;
}

static void test_failed_run_still_communicates(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_FAIL, 0 },
        { "restore/b", RB_ONCE, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    const char *outcome;

    script = acts;
    script_n = 2;
    approve_effect = FAKE_OK;
    assert_int_equal(drive_with_communicate(f, &err, &outcome), -1);
    assert_string_equal(outcome, "failed");
    assert_string_equal(err.msg, "restore/a broke"); /* the run's error, not communicate's */
    assert_string_equal(communicate_saw, "failed");
    assert_int_equal(acts[1].applied, 0);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started approve/quorum\n"
                                          "done approve/quorum\n"
                                          "phase_done\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "failed restore/a\n"
                                          "phase_started\n"
                                          "started communicate/leadership\n"
                                          "done communicate/leadership\n"
                                          "phase_done\n"
                                          "run_finished failed\n");
}

static void test_no_communicate_before_approval(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = { { "restore/a", RB_ONCE, true, FAKE_OK, 0 } };
    struct rb_err err = RB_ERR_INIT;
    const char *outcome;

    script = acts;
    script_n = 1;
    approve_effect = FAKE_FAIL;
    approve_fail_class = RB_E_FAILED; /* approve itself broke: nobody approved anything */
    assert_int_equal(drive_with_communicate(f, &err, &outcome), -1);
    assert_string_equal(outcome, "failed");
    assert_null(communicate_saw);
    approve_fail_class = RB_E_DECLINED;
    assert_int_equal(drive_with_communicate(f, &err, &outcome), -1);
    assert_string_equal(outcome, "declined");
    assert_null(communicate_saw);
    assert_int_equal(acts[0].applied, 0);
}

static void test_critical_failure_stops_the_run(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_OK, 0 },
        { "restore/b", RB_ONCE, true, FAKE_FAIL, 0 },
        { "restore/c", RB_ONCE, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    script = acts;
    script_n = 3;
    run = begin(f);
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_string_equal(run->outcome, "failed");
    assert_string_equal(err.msg, "restore/b broke");
    assert_int_equal(acts[2].applied, 0);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "done restore/a\n"
                                          "started restore/b\n"
                                          "failed restore/b\n"
                                          "run_finished failed\n");
}

/*
 * A phase that takes longer than its share of the budget (the fact `budget`) is journaled as
 * phase_over_budget after phase_done, and the run goes on; within its share, nothing. A budget of
 * 0 ms makes every share 0, so a phase that took any time at all is over it.
 */
static void test_phase_over_budget(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = { { "restore/slow", RB_IDEMPOTENT, true, FAKE_SLOW, 0 } };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;
    cJSON *b;

    script = acts;
    script_n = 1;
    assert_int_equal(rb_phase_budget_share_pct("restore"), 20);
    assert_int_equal(rb_phase_budget_share_pct("assess"), 0);
    run = begin(f);
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "budget_ms", 0);
    cJSON_AddStringToObject(b, "deadline", "2026-11-01T04:00:00Z");
    assert_int_equal(rb_run_fact_set(run, "budget", b, &err), 0);
    assert_int_equal(rb_run_drive(run, &err), 0);
    assert_string_equal(run->outcome, "succeeded");
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "fact\n"
                                          "phase_started\n"
                                          "started restore/slow\n"
                                          "done restore/slow\n"
                                          "phase_done\n"
                                          "phase_over_budget\n"
                                          "run_finished succeeded\n");
    /* a budget of a day: the 20 ms phase is well within its 20% share */
    run = begin(f);
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "budget_ms", 86400000);
    assert_int_equal(rb_run_fact_set(run, "budget", b, &err), 0);
    assert_int_equal(rb_run_drive(run, &err), 0);
    assert_null(strstr(journal_lines(f), "phase_over_budget"));
}

static void test_non_critical_failure_is_partial(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_OK, 0 },
        { "restore/b", RB_ONCE, false, FAKE_FAIL, 0 },
        { "restore/c", RB_ONCE, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    FILE *out = tmpfile();
    char text[4096];
    size_t got;
    cJSON *sum;
    const cJSON *ph;

    assert_non_null(out);
    f->ctx.out = out; /* the action lines, as people read them */
    script = acts;
    script_n = 3;
    run = begin(f);
    assert_int_equal(rb_run_drive(run, &err), -1);
    f->ctx.out = f->devnull;
    rewind(out);
    got = fread(text, 1, sizeof(text) - 1, out);
    text[got] = '\0';
    fclose(out);
    /* the phase is shown partial, naming what failed, after the failed action's own line */
    assert_non_null(strstr(text, "FAILED  restore/b"));
    assert_non_null(strstr(text, "PARTIAL restore"));
    assert_non_null(strstr(text, "1 of 3 actions failed: restore/b\n"));
    assert_true(strstr(text, "FAILED  restore/b") < strstr(text, "PARTIAL restore"));
    sum = latest_summary(f);
    ph = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sum, "phases"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ph, "state")),
                        "partial");
    cJSON_Delete(sum);
    assert_string_equal(run->outcome, "partial");
    assert_non_null(strstr(err.msg, "finished partially"));
    assert_int_equal(acts[2].applied, 1);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "done restore/a\n"
                                          "started restore/b\n"
                                          "failed restore/b\n"
                                          "started restore/c\n"
                                          "done restore/c\n"
                                          "phase_partial\n" /* not done: restore/b failed */
                                          "run_finished partial\n");
}

static void test_in_flight_once_is_refused_on_resume(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_IDEMPOTENT, true, FAKE_OK, 0 },
        { "restore/b", RB_ONCE, true, FAKE_CRASH, 0 },
        { "restore/c", RB_IDEMPOTENT, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    script = acts;
    script_n = 3;
    assert_int_equal(run_in_child(f), 0);
    acts[1].effect = FAKE_OK; /* it would succeed now: it must not be tried at all */
    run = resume(f);
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_string_equal(run->outcome, "failed");
    assert_non_null(strstr(err.msg, "'restore/b' was in flight"));
    assert_int_equal(acts[0].applied + acts[1].applied + acts[2].applied, 0);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "done restore/a\n"
                                          "started restore/b\n"
                                          "lock_takeover\n"
                                          "resumed\n"
                                          "phase_started\n"
                                          "run_finished failed\n");
}

/*
 * The refusal of an RB_ONCE action in flight is a question to a person, not a failed rollback:
 * found by tests/crash/, such a resume ran communicate with outcome "failed" and told leadership
 * the rollback had failed (then, after the person's answer, that it succeeded).
 */
static void test_in_flight_once_refusal_tells_nobody(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_CRASH, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;
    int status;
    pid_t pid;

    script = acts;
    script_n = 1;
    approve_effect = FAKE_OK;
    pid = fork();
    if (pid == 0) {
        run = begin(f);
        run->phases = phases_with_communicate;
        run->n_phases = 3;
        _exit(rb_run_drive(run, &err) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    acts[0].effect = FAKE_OK;
    run = resume(f);
    run->phases = phases_with_communicate;
    run->n_phases = 3;
    communicate_saw = NULL;
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_non_null(strstr(err.msg, "'restore/a' was in flight"));
    assert_null(communicate_saw); /* communicate not even planned */
    assert_int_equal(acts[0].applied, 0);
    assert_null(strstr(journal_lines(f), "communicate/leadership"));
}

/* An action of this idempotency crashes mid-apply; resume re-applies it and skips the done one. */
static void in_flight_is_reapplied(struct rb_test_run *f, enum rb_idem idem)
{
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_OK, 0 },
        { "restore/b", idem, true, FAKE_CRASH, 0 },
        { "restore/c", RB_ONCE, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    script = acts;
    script_n = 3;
    assert_int_equal(run_in_child(f), 0);
    acts[1].effect = FAKE_OK;
    run = resume(f);
    assert_int_equal(rb_run_drive(run, &err), 0);
    assert_string_equal(run->outcome, "succeeded");
    assert_int_equal(acts[0].applied, 0); /* done before the crash: skipped */
    assert_int_equal(acts[1].applied, 1);
    assert_int_equal(acts[2].applied, 1);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "done restore/a\n"
                                          "started restore/b\n"
                                          "lock_takeover\n"
                                          "resumed\n"
                                          "phase_started\n"
                                          "started restore/b\n"
                                          "done restore/b\n"
                                          "started restore/c\n"
                                          "done restore/c\n"
                                          "phase_done\n"
                                          "run_finished succeeded\n");
}

static void test_in_flight_checks_first_is_reapplied(void **state)
{
    in_flight_is_reapplied(*state, RB_CHECKS_FIRST);
}

static void test_in_flight_idempotent_is_reapplied(void **state)
{
    in_flight_is_reapplied(*state, RB_IDEMPOTENT);
}

static void test_interruption_between_actions_is_journaled(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_INTERRUPT, 0 },
        { "restore/b", RB_ONCE, true, FAKE_OK, 0 },
    };

    script = acts;
    script_n = 2;
    /* in a child: the signal flag, once set, stays set for the process */
    assert_int_equal(run_in_child(f), 3);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "done restore/a\n"
                                          "interrupted\n"
                                          "run_finished interrupted\n");
}

/* The three actions ACTS as one group, driven to RC with OUTCOME and the journal JOURNAL. */
static void drive_group(struct rb_test_run *f, struct fake_action *acts, int rc, const char *outcome,
                        const char *journal, struct rb_err *err)
{
    struct rb_run *run;

    script = acts;
    script_n = 3;
    grouped = true;
    run = begin(f);
    assert_int_equal(rb_run_drive(run, err), rc);
    assert_string_equal(run->outcome, outcome);
    assert_string_equal(journal_lines(f), journal);
}

/* Two in flight at once: both started before either ended, each journaled as it ended. */
static void test_group_actions_in_flight_together(void **state)
{
    struct fake_action acts[] = {
        { "restore/a", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/b", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/c", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;

    drive_group(*state, acts, 0, "succeeded",
                "run_started\n"
                "phase_started\n"
                "started restore/a\n"
                "started restore/b\n"
                "done restore/b\n"
                "started restore/c\n"
                "done restore/c\n"
                "done restore/a\n"
                "phase_done\n"
                "run_finished succeeded\n",
                &err);
}

/* A critical failure: the action in flight beside it still ends, none other starts. */
static void test_group_critical_failure_stops_the_rest(void **state)
{
    struct fake_action acts[] = {
        { "restore/a", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/b", RB_CHECKS_FIRST, true, FAKE_FAIL, 0 },
        { "restore/c", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;

    drive_group(*state, acts, -1, "failed",
                "run_started\n"
                "phase_started\n"
                "started restore/a\n"
                "started restore/b\n"
                "failed restore/b\n"
                "done restore/a\n"
                "run_finished failed\n",
                &err);
    assert_string_equal(err.msg, "restore/b broke");
    assert_int_equal(acts[0].applied, 1);
    assert_int_equal(acts[2].applied, 0);
}

/* A non-critical failure in a group: the others go on, the phase ends partial. */
static void test_group_non_critical_failure_is_partial(void **state)
{
    struct fake_action acts[] = {
        { "restore/a", RB_CHECKS_FIRST, false, FAKE_FAIL, 0 },
        { "restore/b", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/c", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;

    drive_group(*state, acts, -1, "partial",
                "run_started\n"
                "phase_started\n"
                "started restore/a\n"
                "started restore/b\n"
                "done restore/b\n"
                "started restore/c\n"
                "done restore/c\n"
                "failed restore/a\n"
                "phase_partial\n"
                "run_finished partial\n",
                &err);
    assert_int_equal(acts[2].applied, 1);
}

/* A signal while a group runs: what is in flight ends, the next is not begun, resumable. */
static void test_group_interrupted_before_the_next(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/b", RB_CHECKS_FIRST, true, FAKE_INTERRUPT, 0 },
        { "restore/c", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
    };

    script = acts;
    script_n = 3;
    grouped = true;
    assert_int_equal(run_in_child(f), 3);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_started\n"
                                          "started restore/a\n"
                                          "started restore/b\n"
                                          "done restore/b\n"
                                          "done restore/a\n"
                                          "interrupted\n"
                                          "run_finished interrupted\n");
}

/* Killed with two in flight: resume skips the done one and applies the others again. */
static void test_group_resume_skips_done(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_CHECKS_FIRST, true, FAKE_CRASH, 0 },
        { "restore/b", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
        { "restore/c", RB_CHECKS_FIRST, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    script = acts;
    script_n = 3;
    grouped = true;
    run_in_child(f); /* b and c done, a in flight when the process died */
    acts[0].effect = FAKE_OK;
    acts[1].applied = 0;
    acts[2].applied = 0;
    run = resume(f);
    assert_int_equal(rb_run_drive(run, &err), 0);
    assert_string_equal(run->outcome, "succeeded");
    assert_int_equal(acts[0].applied, 1);
    assert_int_equal(acts[1].applied, 0);
    assert_int_equal(acts[2].applied, 0);
    assert_non_null(strstr(journal_lines(f), "done restore/c\nlock_takeover\nresumed\n"
                                             "phase_started\n"
                                             "started restore/a\n"
                                             "done restore/a\n"
                                             "phase_done\n"));
}

static void test_check_run_journals_nothing(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_IDEMPOTENT, false, FAKE_OK, 0 },
        { "restore/b", RB_IDEMPOTENT, false, FAKE_FAIL, 0 },
        { "restore/c", RB_IDEMPOTENT, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run = rb_run_new_check(&f->ctx, f->rb);
    DIR *d;

    script = acts;
    script_n = 3;
    run->phases = fake_phases;
    run->n_phases = 1;
    assert_int_equal(rb_engine_check(run, "restore", &err), 0);
    assert_true(run->partial);
    assert_string_equal(run->outcome, "partial");
    assert_int_equal(acts[0].applied + acts[1].applied + acts[2].applied, 3);
    /* no run folder, no lock file: nothing at all under state_dir */
    d = opendir(f->dir);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            fail_msg("a check run wrote '%s' in state_dir", de->d_name);
    closedir(d);

    /* a critical failure stops a check run too */
    acts[2].effect = FAKE_FAIL;
    run = rb_run_new_check(&f->ctx, f->rb);
    run->phases = fake_phases;
    run->n_phases = 1;
    assert_int_equal(rb_engine_check(run, "restore", &err), -1);
    assert_string_equal(err.msg, "restore/c broke");
    assert_string_equal(run->outcome, "failed");
}

/*
 * Two actions with one id would share their journal records and ledger row: the plan refuses
 * them, in plan and in execute, before any action of the phase is applied.
 */
static void test_duplicate_action_ids_are_refused(void **state)
{
    struct rb_test_run *f = *state;
    struct fake_action acts[] = {
        { "restore/a", RB_ONCE, true, FAKE_OK, 0 },
        { "restore/b", RB_ONCE, true, FAKE_OK, 0 },
        { "restore/a", RB_ONCE, true, FAKE_OK, 0 },
    };
    struct rb_err err = RB_ERR_INIT;
    struct rb_run *run;

    script = acts;
    script_n = 3;
    run = rb_run_new_check(&f->ctx, f->rb);
    run->phases = fake_phases;
    run->n_phases = 1;
    assert_int_equal(rb_engine_plan_quiet(run, &err), -1);
    assert_int_equal(err.cls, RB_E_RUNBOOK);
    assert_non_null(strstr(err.msg, "two actions would have the id 'restore/a' (in phase "
                                    "'restore' and phase 'restore')"));

    err = (struct rb_err)RB_ERR_INIT;
    run = begin(f);
    assert_int_equal(rb_run_drive(run, &err), -1);
    assert_int_equal(err.cls, RB_E_RUNBOOK);
    assert_string_equal(run->outcome, "failed");
    assert_int_equal(acts[0].applied + acts[1].applied + acts[2].applied, 0);
    assert_string_equal(journal_lines(f), "run_started\n"
                                          "phase_failed\n"
                                          "run_finished failed\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_critical_failure_stops_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phase_over_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_critical_failure_is_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_once_is_refused_on_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_once_refusal_tells_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_checks_first_is_reapplied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_idempotent_is_reapplied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interruption_between_actions_is_journaled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_run_journals_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_action_ids_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_actions_in_flight_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_critical_failure_stops_the_rest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_group_non_critical_failure_is_partial, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_group_interrupted_before_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_resume_skips_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_run_still_communicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_communicate_before_approval, setup, teardown),
    };

    rb_memory_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
