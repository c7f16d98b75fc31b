/*
 * resume.c - `rollbackctl resume [RUN_ID]`: continue an interrupted or failed run.
 *
 * The run is re-planned with the options it was started with (from its run_started record);
 * the engine skips what the journal says is done. The runbook may have been fixed in between
 * (a wrong command, say): that is allowed, warned about and journaled.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/output.h"
#include "rollbackctl/runs.h"

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
 * so an older run must be named (the hint says which).
 */
static const char *latest_resumable(struct rb_ctx *ctx, const struct rb_runbook *rb,
                                    struct rb_err *err)
{
    const char **ids;
    const char *latest = NULL, *latest_outcome = NULL;
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

        if (rb_journal_read(path, &log, &rerr) < 0) {
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
        if (!started)
            continue;
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
    if (latest != NULL)
        rb_errf(err, RB_E_FAILED, "the latest run '%s' already finished (%s); nothing to resume",
                latest, latest_outcome);
    else
        rb_errf(err, RB_E_FAILED, "no unfinished run to resume in '%s'", rb->state_dir);
    return NULL;
}

int rb_cmd_resume(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    const char *run_id;
    struct rb_run *run;
    struct rb_lock lock = RB_LOCK_INIT;
    struct rb_lock_holder stale;
    struct rb_journal_log log;
    bool took_over = false;
    const cJSON *started = NULL;
    cJSON *summary, *d;
    char hash[65];
    char *text;
    size_t len = 0, i;

    if (argc > 2)
        return rb_errf(err, RB_E_USAGE, "resume takes at most one RUN_ID");
    if (argc == 2 && argv[1][0] == '-')
        return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[1]);
    rb = rb_cmd_load_runbook(ctx, 1, err);
    if (rb == NULL)
        return -1;
    run_id = argc == 2 ? argv[1] : latest_resumable(ctx, rb, err);
    if (run_id == NULL)
        return -1;
    if (strchr(run_id, '/') != NULL ||
        access(rb_runs_dir_of(ctx->arena, rb->state_dir, run_id), F_OK) < 0)
        return rb_errf(err, RB_E_FAILED, "no run '%s' in '%s'", run_id, rb->state_dir);

    run = rb_run_new(ctx, rb, RB_MODE_EXECUTE);
    snprintf(run->run_id, sizeof(run->run_id), "%s", run_id);
    run->run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, run_id);
    if (rb_lock_acquire(&lock, rb->state_dir, run_id, &took_over, &stale, err) < 0)
        return -1;
    if (rb_journal_reopen(&run->journal, run->run_dir, &log, err) < 0) {
        rb_lock_release(&lock);
        return -1;
    }
    summary = rb_runs_summarize(&log);
    if (!rb_runs_resumable(summary)) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(summary, "outcome");

        rb_errf(err, RB_E_FAILED, "run '%s' already finished (%s); nothing to resume", run_id,
                cJSON_IsString(o) ? o->valuestring : "?");
        goto fail;
    }
    for (i = 0; i < log.n && started == NULL; i++)
        if (strcmp(log.entries[i].event, "run_started") == 0)
            started = log.entries[i].data;
    if (started == NULL) {
        rb_errf(err, RB_E_FAILED, "journal of run '%s' has no run_started record", run_id);
        goto fail;
    }
    run->reason = data_str(ctx->arena, started, "reason");
    run->severity_opt = data_str(ctx->arena, started, "severity");
    run->signals_file = data_str(ctx->arena, started, "signals_file");
    run->force = data_bool(started, "force");
    run->yes = true;
    run->initiated_by = data_str(ctx->arena, started, "initiated_by");
    if (rb_engine_replay(run, &log, err) < 0)
        goto fail;

    if (log.torn_tail) {
        rb_warn(ctx, "the journal's last line was torn by a crash and has been ignored");
        if (rb_journal_append(&run->journal, "", "", "torn_tail_ignored", NULL, err) < 0)
            goto fail;
    }
    if (took_over && rb_journal_takeover(run, &stale, err) < 0)
        goto fail;
    text = rb_read_file(rb->path, &len, err);
    if (text == NULL)
        goto fail;
    rb_sha256_hex(text, len, hash);
    free(text);
    {
        const char *was = data_str(ctx->arena, started, "runbook_sha256");

        if (was != NULL && strcmp(was, hash) != 0) {
            rb_warn(ctx, "runbook '%s' changed since run '%s' started; resuming with the new text",
                    rb->path, run_id);
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "was", was);
            cJSON_AddStringToObject(d, "now", hash);
            if (rb_journal_append(&run->journal, "", "", "runbook_changed", d, err) < 0) {
                cJSON_Delete(d);
                goto fail;
            }
            cJSON_Delete(d);
        }
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "by", rb_initiated_by(ctx->arena));
    cJSON_AddNumberToObject(d, "pid", (double)getpid());
    if (rb_journal_append(&run->journal, "", "", "resumed", d, err) < 0) {
        cJSON_Delete(d);
        goto fail;
    }
    cJSON_Delete(d);
    cJSON_Delete(summary);
    rb_journal_log_release(&log);
    rb_info(ctx, "resuming run %s of '%s'", run_id, rb->name);
    return rb_runs_drive(run, &lock, err);
fail:
    cJSON_Delete(summary);
    rb_journal_log_release(&log);
    rb_journal_close(&run->journal);
    rb_lock_release(&lock);
    return -1;
}
