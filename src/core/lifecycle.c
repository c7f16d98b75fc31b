/*
 * lifecycle.c - beginning, resuming and finishing a run: the state_dir lock and every run-level
 * journal line (run_started, lock_takeover, torn_tail_ignored, runbook_changed, resumed, preflight,
 * run_finished). What happens between the first and the last line is the engine's; the pre-flight
 * before the engine's first action is src/phases/preflight.c's policy, journaled here.
 */
#include "rollbackctl/lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/identity.h"
#include "rollbackctl/output.h"
#include "rollbackctl/plan_file.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/run_metrics.h"
#include "rollbackctl/runs.h"
#include "rollbackctl/version.h"

const char *rb_initiated_by(struct rb_arena *a)
{
    struct rb_identity id;

    /* the person, not root: 'sudo rollbackctl execute' is started by whoever typed sudo */
    rb_identity_get(&id);
    return rb_sprintf(a, "%s@%s", id.user, id.host);
}

static void add_str_or_null(cJSON *o, const char *key, const char *val)
{
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
    else
        cJSON_AddNullToObject(o, key);
}

/*
 * Take the state_dir lock; with --lock-timeout (ctx->lock_timeout_ms > 0) a lock another run
 * holds is tried again, 50 ms apart at first and then up to 1 s apart, until the deadline
 * (terraform's -lock-timeout), instead of failing at once. Giving up is still RB_E_LOCKED
 * (exit 4), saying how long it waited and who holds the lock. SIGINT/SIGTERM stop the wait.
 */
static int take_lock(struct rb_run *run, const char *run_id, bool *took_over,
                     struct rb_lock_holder *stale, struct rb_err *err)
{
    const struct rb_ctx *ctx = run->ctx;
    int64_t wait = ctx->lock_timeout_ms, deadline = rb_now_ms() + wait, pause = 50;
    char dur[32];
    bool said = false;

    rb_duration_format(wait, dur, sizeof(dur));
    for (;;) {
        int64_t left;

        rb_err_clear(err);
        if (rb_lock_acquire(&run->lock, run->rb->state_dir, run_id, took_over, stale, err) == 0)
            return 0;
        if (err->cls != RB_E_LOCKED || wait <= 0)
            return -1;
        if (!said) {
            /* said once, so a script's log shows why the run has not started yet */
            rb_info(ctx, "%s; waiting up to %s for it (--lock-timeout)", err->msg, dur);
            said = true;
        }
        left = deadline - rb_now_ms();
        if (left <= 0)
            return rb_err_wrap(err, "gave up waiting %s for the lock (--lock-timeout)", dur);
        if (rb_interrupted())
            return rb_err_wrap(err, "interrupted while waiting for the lock");
        rb_sleep_ms(pause < left ? pause : left);
        pause = pause * 2 < 1000 ? pause * 2 : 1000;
    }
}

/* Journal the lock takeover of a holder that died (kernel dropped its flock). */
static int journal_takeover(struct rb_run *run, const struct rb_lock_holder *stale,
                            struct rb_err *err)
{
    cJSON *d = cJSON_CreateObject();
    int rc;

    cJSON_AddNumberToObject(d, "pid", (double)stale->pid);
    cJSON_AddStringToObject(d, "run_id", stale->run_id);
    cJSON_AddStringToObject(d, "user", stale->user);
    cJSON_AddStringToObject(d, "host", stale->host);
    cJSON_AddStringToObject(d, "started", stale->started);
    rc = rb_journal_append(&run->journal, "", "", "lock_takeover", d, err);
    cJSON_Delete(d);
    rb_warn(run->ctx, "took over the lock of run '%s' (pid %ld on '%s' is gone)", stale->run_id,
            stale->pid, stale->host);
    return rc;
}

/* Journal one run-level event whose data the caller built; data is consumed. */
static int journal_event(struct rb_run *run, const char *event, cJSON *data, struct rb_err *err)
{
    int rc = rb_journal_append(&run->journal, "", "", event, data, err);

    cJSON_Delete(data);
    return rc;
}

/*
 * A run whose start could not be journaled never began: remove its folder, so that no run is
 * left without a run_started line for status and resume to stumble over. Best effort: the
 * folder holds at most an empty or torn journal.
 */
static void discard_run_dir(const char *run_dir)
{
    char path[4096 + 16];
    char parent[4096];
    char *slash;

    snprintf(path, sizeof(path), "%s/journal.jsonl", run_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/journal.jsonl.head", run_dir);
    unlink(path);
    if (rmdir(run_dir) < 0)
        return;
    snprintf(parent, sizeof(parent), "%s", run_dir);
    slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        rb_fsync_dir(parent);
    }
}

int rb_run_begin(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_run_opts *o,
                 struct rb_run **out, struct rb_err *err)
{
    struct rb_run *run = rb_run_new(ctx, rb, RB_MODE_EXECUTE);
    struct rb_lock_holder stale = { 0 };
    bool took_over = false;
    cJSON *d;

    run->reason = o->reason;
    run->severity_opt = o->severity;
    run->signals_file = o->signals_file;
    run->yes = o->yes;
    run->force = o->force;
    run->plan_sha256 = o->plan_sha256;
    run->initiated_by = rb_initiated_by(ctx->arena);
    run->started_at = time(NULL);
    rb_run_id_new(run->run_id);
    run->run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, run->run_id);

    if (take_lock(run, run->run_id, &took_over, &stale, err) < 0)
        return -1;
    if (rb_journal_create(&run->journal, run->run_dir, run->run_id, err) < 0) {
        rmdir(run->run_dir); /* created just now; removed only if empty */
        rb_lock_release(&run->lock);
        return -1;
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "runbook", rb->name);
    cJSON_AddStringToObject(d, "runbook_path", rb->path);
    cJSON_AddStringToObject(d, "runbook_sha256", rb->sha256);
    cJSON_AddStringToObject(d, "reason", o->reason);
    add_str_or_null(d, "severity", o->severity);
    add_str_or_null(d, "signals_file", o->signals_file);
    cJSON_AddBoolToObject(d, "force", o->force);
    cJSON_AddBoolToObject(d, "yes", o->yes);
    cJSON_AddStringToObject(d, "initiated_by", run->initiated_by);
    cJSON_AddNumberToObject(d, "pid", (double)getpid());
    cJSON_AddStringToObject(d, "cutover", rb->cutover_src);
    cJSON_AddStringToObject(d, "version", RB_VERSION);
    add_str_or_null(d, "commit", rb_build_commit()); /* the tree the binary was built from */
    /* what the approvers approve: the plan this run makes, and the reviewed file it matched */
    add_str_or_null(d, "plan_sha256", o->plan_sha256);
    add_str_or_null(d, "plan_file", o->plan_file);
    if (journal_event(run, "run_started", d, err) < 0) {
        rb_journal_close(&run->journal);
        discard_run_dir(run->run_dir);
        rb_lock_release(&run->lock);
        return -1;
    }
    if (took_over && journal_takeover(run, &stale, err) < 0) {
        rb_journal_close(&run->journal);
        rb_lock_release(&run->lock);
        return -1;
    }
    *out = run;
    return 0;
}

static const char *data_str(struct rb_arena *a, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? rb_strdup(a, v->valuestring) : NULL;
}

static bool data_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/*
 * The latest run, if it can be resumed; NULL with err otherwise. Only the latest: continuing an
 * older unfinished run after a newer one finished would redo its steps on top of that rollback,
 * so an older run must be named (the hint says which). A latest run whose journal does not verify
 * is that error, not "nothing to resume": it is the run an operator would expect to continue.
 */
static const char *latest_resumable(struct rb_ctx *ctx, const struct rb_runbook *rb,
                                    struct rb_err *err)
{
    const char **ids;
    const char *latest = NULL, *latest_outcome = NULL, *never_began = NULL;
    size_t n, i;

    if (rb_runs_list(ctx->arena, rb->state_dir, &ids, &n, err) < 0)
        return NULL;
    for (i = n; i-- > 0;) {
        struct rb_journal_log log;
        struct rb_err rerr = RB_ERR_INIT;
        const char *path = rb_sprintf(ctx->arena, "%s/journal.jsonl",
                                      rb_runs_dir_of(ctx->arena, rb->state_dir, ids[i]));
        const cJSON *o;
        cJSON *s;
        int started, ok;

        /* a folder without a journal was killed as it was being made: it never began */
        if (access(path, F_OK) < 0) {
            if (latest == NULL && never_began == NULL)
                never_began = ids[i];
            continue;
        }
        if (rb_journal_read(path, &log, &rerr) < 0) {
            if (latest == NULL) {
                *err = rerr;
                rb_err_wrap(err, "run '%s' cannot be resumed", ids[i]);
                return NULL;
            }
            rb_warn(ctx, "%s", rerr.msg);
            continue;
        }
        s = rb_runs_summarize(&log);
        /* No run_started (killed as it was being created): it never began, nothing to continue. */
        started = cJSON_GetObjectItemCaseSensitive(s, "started") != NULL;
        ok = started && rb_runs_resumable(s);
        o = cJSON_GetObjectItemCaseSensitive(s, "outcome");
        if (started && latest == NULL && !ok)
            latest_outcome = rb_strdup(ctx->arena, cJSON_IsString(o) ? o->valuestring : "?");
        cJSON_Delete(s);
        rb_journal_log_release(&log);
        if (!started) {
            if (latest == NULL && never_began == NULL)
                never_began = ids[i];
            continue;
        }
        if (latest == NULL) {
            latest = ids[i];
            if (ok)
                return latest;
            continue;
        }
        if (ok) { /* an older unfinished run: name it, do not pick it */
            rb_errf(err, RB_E_FAILED,
                    "the latest run '%s' already finished (%s); nothing to resume", latest,
                    latest_outcome);
            rb_err_hint(
                err,
                "run '%s' is older and unfinished; to continue it anyway: 'rollbackctl resume %s'",
                ids[i], ids[i]);
            return NULL;
        }
    }
    /* finished and succeeded, nothing older left behind: rb_run_resume reports it (exit 0) */
    if (latest != NULL && latest_outcome != NULL && strcmp(latest_outcome, "succeeded") == 0)
        return latest;
    if (latest != NULL) {
        rb_errf(err, RB_E_FAILED, "the latest run '%s' already finished (%s); nothing to resume",
                latest, latest_outcome);
    } else if (never_began != NULL) {
        /* execute was stopped between making the run's folder and its run_started line */
        rb_errf(err, RB_E_FAILED,
                "no unfinished run to resume in '%s': run '%s' was stopped before it began, so "
                "none of it happened",
                rb->state_dir, never_began);
        rb_err_hint(err, "start the rollback again: 'rollbackctl execute --reason ...'");
    } else {
        rb_errf(err, RB_E_FAILED, "no unfinished run to resume in '%s'", rb->state_dir);
    }
    return NULL;
}

/*
 * The plan hash of a resumed attempt: the run's options, the runbook as it is now, planned again
 * offline; NULL when it cannot be made. The run keeps the hash run_started recorded
 * (run->plan_sha256): it is what its approvers approved, and resume accepts an edited runbook
 * (a fixed step) without asking them again; a plan that changed is said, and journaled with
 * `resumed`.
 */
static const char *resumed_plan_hash(struct rb_run *run, const char *was)
{
    struct rb_run *pre;
    struct rb_err perr = RB_ERR_INIT;

    run->plan_sha256 = was;
    if (rb_plan_prepass(run->ctx, run->rb, run->severity_opt, run->signals_file, &pre, &perr) <
        0) {
        rb_warn(run->ctx, "unable to plan again for the plan hash: %s", perr.msg);
        return NULL;
    }
    if (was != NULL && strcmp(was, pre->plan_sha256) != 0)
        rb_warn(run->ctx,
                "the plan of run '%s' changed since it started (plan sha256 %.12s... then, "
                "%.12s... now); its approvals were given for the plan it started with",
                run->run_id, was, pre->plan_sha256);
    return pre->plan_sha256;
}

/*
 * With the journal re-opened: refuse a finished run, restore the options run_started recorded and
 * what the journal says was done, and journal what this attempt starts from (torn tail, lock
 * takeover, edited runbook) and that it resumed. Returns 1, journaling nothing, for a run that
 * already succeeded: a process killed after its run_finished line (before it could exit 0) left
 * a finished run, and resuming it is reaching that end again, not an error.
 */
static int continue_run(struct rb_run *run, const struct rb_journal_log *log, bool took_over,
                        const struct rb_lock_holder *stale, struct rb_err *err)
{
    struct rb_ctx *ctx = run->ctx;
    const cJSON *started = NULL;
    const char *was, *outcome, *now;
    cJSON *summary, *d;
    size_t i;
    int resumable;

    summary = rb_runs_summarize(log);
    resumable = rb_runs_resumable(summary);
    outcome = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(summary, "outcome"));
    if (!resumable && outcome != NULL && strcmp(outcome, "succeeded") == 0) {
        cJSON_Delete(summary);
        run->outcome = "succeeded";
        return 1;
    }
    if (!resumable) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(summary, "outcome");

        rb_errf(err, RB_E_FAILED, "run '%s' already finished (%s); nothing to resume", run->run_id,
                cJSON_IsString(o) ? o->valuestring : "?");
    }
    cJSON_Delete(summary);
    if (!resumable)
        return -1;
    for (i = 0; i < log->n && started == NULL; i++)
        if (strcmp(log->entries[i].event, "run_started") == 0)
            started = log->entries[i].data;
    if (started == NULL)
        return rb_errf(err, RB_E_FAILED, "journal of run '%s' has no run_started record",
                       run->run_id);
    run->reason = data_str(ctx->arena, started, "reason");
    run->severity_opt = data_str(ctx->arena, started, "severity");
    run->signals_file = data_str(ctx->arena, started, "signals_file");
    run->force = data_bool(started, "force");
    run->yes = true;
    run->initiated_by = data_str(ctx->arena, started, "initiated_by");
    if (rb_engine_replay(run, log, err) < 0)
        return -1;

    if (log->head == RB_JOURNAL_HEAD_NONE)
        rb_warn(ctx,
                "run '%s' was journaled without a head (by a version before heads were kept): "
                "a change to its last lines, or their removal, could not be detected; its head "
                "is kept from now on",
                run->run_id);
    if (log->torn_tail) {
        rb_warn(ctx, "the journal's last line was torn by a crash and has been ignored");
        if (rb_journal_append(&run->journal, "", "", "torn_tail_ignored", NULL, err) < 0)
            return -1;
    }
    if (took_over && journal_takeover(run, stale, err) < 0)
        return -1;
    was = data_str(ctx->arena, started, "runbook_sha256");
    if (was != NULL && strcmp(was, run->rb->sha256) != 0) {
        rb_warn(ctx, "runbook '%s' changed since run '%s' started; resuming with the new text",
                run->rb->path, run->run_id);
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "was", was);
        cJSON_AddStringToObject(d, "now", run->rb->sha256);
        if (journal_event(run, "runbook_changed", d, err) < 0)
            return -1;
    }
    now = resumed_plan_hash(run, data_str(ctx->arena, started, "plan_sha256"));
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "by", rb_initiated_by(ctx->arena));
    cJSON_AddNumberToObject(d, "pid", (double)getpid());
    add_str_or_null(d, "plan_sha256", now);
    return journal_event(run, "resumed", d, err);
}

int rb_run_resume(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *run_id,
                  struct rb_run **out, struct rb_err *err)
{
    struct rb_run *run;
    struct rb_lock_holder stale = { 0 };
    struct rb_journal_log log;
    bool took_over = false;
    int rc;

    if (run_id == NULL && (run_id = latest_resumable(ctx, rb, err)) == NULL)
        return -1;
    if (strchr(run_id, '/') != NULL ||
        access(rb_runs_dir_of(ctx->arena, rb->state_dir, run_id), F_OK) < 0)
        return rb_errf(err, RB_E_FAILED, "no run '%s' in '%s'", run_id, rb->state_dir);

    run = rb_run_new(ctx, rb, RB_MODE_EXECUTE);
    snprintf(run->run_id, sizeof(run->run_id), "%s", run_id);
    run->run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, run_id);
    if (take_lock(run, run_id, &took_over, &stale, err) < 0)
        return -1;
    if (rb_journal_reopen(&run->journal, run->run_dir, &log, err) < 0) {
        rb_err_wrap(err, "run '%s' cannot be resumed", run_id);
        rb_lock_release(&run->lock);
        return -1;
    }
    rc = continue_run(run, &log, took_over, &stale, err);
    rb_journal_log_release(&log);
    if (rc != 0) {
        rb_journal_close(&run->journal);
        rb_lock_release(&run->lock);
        if (rc > 0)
            *out = run;
        return rc < 0 ? -1 : 1;
    }
    *out = run;
    return 0;
}

/*
 * Before the first action: the pre-flight asks every target the actions still to do need, and
 * its report is journaled (`preflight`) whatever it found. A failure ends the attempt before any
 * action started, so nothing was changed and resume starts it over. A run with its own phase
 * table (unit tests) does not walk the runbook's sections, so there is nothing to ask for it.
 */
static int preflight(struct rb_run *run, struct rb_err *err)
{
    struct rb_err jerr = RB_ERR_INIT;
    cJSON *report = NULL;
    int rc;

    if (run->phases != NULL)
        return 0;
    rc = rb_preflight(run, &report, err);
    if (report != NULL && journal_event(run, "preflight", report, &jerr) < 0 && rc == 0) {
        *err = jerr;
        rc = -1;
    }
    if (rc < 0)
        run->outcome = "failed";
    return rc;
}

int rb_run_drive(struct rb_run *run, struct rb_err *err)
{
    rb_signals_install();
    if (preflight(run, err) < 0)
        return rb_run_finish(run, -1, err);
    return rb_run_finish(run, rb_engine_execute(run, err), err);
}

int rb_run_finish(struct rb_run *run, int rc, struct rb_err *err)
{
    struct rb_err jerr = RB_ERR_INIT;
    cJSON *d;

    if (rc == 0 && run->partial) {
        rb_errf(err, RB_E_FAILED, "run '%s' finished partially: a non-critical action failed",
                run->run_id);
        rb_err_hint(err, "see 'rollbackctl status %s', fix the cause, then 'rollbackctl resume %s'",
                    run->run_id, run->run_id);
        rc = -1;
    }
    if (rc < 0 && err->hint[0] == '\0' && err->cls != RB_E_DECLINED)
        rb_err_hint(err, "fix the cause, then 'rollbackctl resume %s' continues where it stopped",
                    run->run_id);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "outcome", run->outcome);
    if (rc < 0) {
        cJSON_AddStringToObject(d, "error", err->msg);
        if (err->hint[0] != '\0')
            cJSON_AddStringToObject(d, "hint", err->hint);
    }
    if (journal_event(run, "run_finished", d, &jerr) < 0 && rc == 0) {
        *err = jerr;
        rc = -1;
    }
    rb_journal_close(&run->journal);
    /* report.md/.json and the metrics, still under the lock: warnings, never the run's outcome */
    rb_run_publish_results(run);
    rb_lock_release(&run->lock);
    return rc < 0 ? -1 : 0;
}
