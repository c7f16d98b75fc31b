/*
 * execute.c - `rollbackctl execute`: the whole rollback, from lock to last journal line.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/output.h"
#include "rollbackctl/plan_opts.h"
#include "rollbackctl/runs.h"

const char *rb_initiated_by(struct rb_arena *a)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *user = pw != NULL ? pw->pw_name : getenv("USER");
    char host[256];

    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    return rb_sprintf(a, "%s@%s", user != NULL ? user : "unknown", host);
}

/* An operator at a terminal types the runbook's name; scripts must say --yes. */
static int confirm(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *reason,
                   struct rb_err *err)
{
    char line[512];
    size_t n;

    if (!isatty(STDIN_FILENO)) {
        rb_errf(err, RB_E_USAGE, "execute needs --yes when standard input is not a terminal");
        return rb_err_hint(err, "run 'rollbackctl plan' first to see what execute will do");
    }
    fprintf(ctx->diag,
            "This starts the rollback '%s' (reason: %s).\nType the runbook name to go on: ",
            rb->name, reason);
    fflush(ctx->diag);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return rb_errf(err, RB_E_DECLINED, "not confirmed");
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (strcmp(line, rb->name) != 0)
        return rb_errf(err, RB_E_DECLINED, "not confirmed: '%s' is not the runbook name '%s'", line,
                       rb->name);
    return 0;
}

static void add_str_or_null(cJSON *o, const char *key, const char *val)
{
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
    else
        cJSON_AddNullToObject(o, key);
}

/* Journal the lock takeover of a holder that died (kernel dropped its flock). */
int rb_journal_takeover(struct rb_run *run, const struct rb_lock_holder *stale, struct rb_err *err)
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
    if (rmdir(run_dir) < 0)
        return;
    snprintf(parent, sizeof(parent), "%s", run_dir);
    slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        rb_fsync_dir(parent);
    }
}

int rb_cmd_execute(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    struct rb_plan_opts o;
    const struct rb_runbook *rb;
    struct rb_run *run;
    struct rb_lock lock = RB_LOCK_INIT;
    struct rb_lock_holder stale;
    bool took_over = false;
    char hash[65];
    char *text;
    size_t len = 0;
    cJSON *d;

    if (rb_plan_opts_parse(argc, argv, &o, true, err) < 0)
        return -1;
    if (o.dry_run) {
        rb = rb_cmd_load_runbook(ctx, 0, err);
        return rb == NULL ? -1 : rb_plan_show(ctx, rb, &o, err);
    }
    if (o.reason == NULL)
        return rb_errf(err, RB_E_USAGE, "execute needs --reason: why is this rollback happening?");
    rb = rb_cmd_load_runbook(ctx, 1, err);
    if (rb == NULL)
        return -1;
    if (!o.yes && confirm(ctx, rb, o.reason, err) < 0)
        return -1;
    text = rb_read_file(rb->path, &len, err);
    if (text == NULL)
        return -1;
    rb_sha256_hex(text, len, hash);
    free(text);

    run = rb_run_new(ctx, rb, RB_MODE_EXECUTE);
    run->reason = o.reason;
    run->severity_opt = o.severity;
    run->signals_file = o.signals_file;
    run->yes = o.yes;
    run->force = o.force;
    run->initiated_by = rb_initiated_by(ctx->arena);
    run->started_at = time(NULL);
    rb_run_id_new(run->run_id);
    run->run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, run->run_id);

    if (rb_lock_acquire(&lock, rb->state_dir, run->run_id, &took_over, &stale, err) < 0)
        return -1;
    if (rb_journal_create(&run->journal, run->run_dir, run->run_id, err) < 0) {
        rmdir(run->run_dir); /* created just now; removed only if empty */
        rb_lock_release(&lock);
        return -1;
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "runbook", rb->name);
    cJSON_AddStringToObject(d, "runbook_path", rb->path);
    cJSON_AddStringToObject(d, "runbook_sha256", hash);
    cJSON_AddStringToObject(d, "reason", o.reason);
    add_str_or_null(d, "severity", o.severity);
    add_str_or_null(d, "signals_file", o.signals_file);
    cJSON_AddBoolToObject(d, "force", o.force);
    cJSON_AddBoolToObject(d, "yes", o.yes);
    cJSON_AddStringToObject(d, "initiated_by", run->initiated_by);
    cJSON_AddNumberToObject(d, "pid", (double)getpid());
    cJSON_AddStringToObject(d, "cutover", rb->cutover_src);
    cJSON_AddStringToObject(d, "version", RB_VERSION);
    if (rb_journal_append(&run->journal, "", "", "run_started", d, err) < 0) {
        cJSON_Delete(d);
        rb_journal_close(&run->journal);
        discard_run_dir(run->run_dir);
        rb_lock_release(&lock);
        return -1;
    }
    cJSON_Delete(d);
    if (took_over && rb_journal_takeover(run, &stale, err) < 0) {
        rb_journal_close(&run->journal);
        rb_lock_release(&lock);
        return -1;
    }
    rb_info(ctx, "run %s started for '%s' (reason: %s)", run->run_id, rb->name, o.reason);
    return rb_runs_drive(run, &lock, err);
}
