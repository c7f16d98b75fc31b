/*
 * common.c - what several commands share: loading the runbook named by the context, and showing
 * how a run ended.
 */
#include "rollbackctl/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/output.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/runs.h"

int rb_cmd_runbook_readable(const struct rb_ctx *ctx, struct rb_err *err)
{
    FILE *f;
    int e;

    if (ctx->runbook_stdin)
        return 0;
    f = fopen(ctx->runbook_path, "rb");
    e = errno;
    if (f != NULL) {
        fclose(f);
        return 0;
    }
    /* Say where we looked: asking to validate a file that is not there would go round in a
     * circle. */
    if (ctx->runbook_from == NULL) {
        if (e == ENOENT) {
            rb_errf(err, RB_E_RUNBOOK,
                    "no runbook: none given with -f, $ROLLBACKCTL_RUNBOOK is not set, and there "
                    "is no './%s'",
                    ctx->runbook_path);
        } else {
            rb_errf(err, RB_E_RUNBOOK, "unable to open runbook './%s' (the default): %s",
                    ctx->runbook_path, strerror(e));
        }
        return rb_err_hint(err, "give the runbook with -f FILE, or set ROLLBACKCTL_RUNBOOK");
    }
    rb_errf(err, RB_E_RUNBOOK, "%s runbook '%s' (from %s)%s%s",
            e == ENOENT ? "no" : "unable to open", ctx->runbook_path, ctx->runbook_from,
            e == ENOENT ? "" : ": ", e == ENOENT ? "" : strerror(e));
    if (strcmp(ctx->runbook_from, "-f") == 0)
        return rb_err_hint(err, "check the path given with -f");
    return rb_err_hint(err, "check ROLLBACKCTL_RUNBOOK, or give the runbook with -f FILE "
                            "(which wins over it)");
}

struct rb_runbook *rb_cmd_parse_runbook(struct rb_ctx *ctx, struct rb_diags *diags)
{
    /* `-f -`: relative paths in it resolve against the current folder (its folder is ".") */
    if (ctx->runbook_stdin)
        return rb_runbook_load_stream(ctx->arena, stdin, ctx->runbook_path, diags);
    return rb_runbook_load(ctx->arena, ctx->runbook_path, diags);
}

const struct rb_runbook *rb_cmd_load_runbook(struct rb_ctx *ctx, int need_env, struct rb_err *err)
{
    struct rb_diags diags, envd;
    struct rb_runbook *rb;

    if (rb_cmd_runbook_readable(ctx, err) < 0)
        return NULL;
    rb_diags_init(&diags, ctx->arena, ctx->runbook_path);
    rb_diags_init(&envd, ctx->arena, ctx->runbook_path);
    rb = rb_cmd_parse_runbook(ctx, &diags);
    if (rb != NULL) {
        rb_runbook_check_templates(rb, &diags, need_env != 0);
        rb_runbook_check_env_vars(rb, &envd, need_env != 0);
    }
    rb_diags_print(&diags, ctx->diag);
    if (rb == NULL || diags.n_errors > 0) {
        rb_errf(err, RB_E_RUNBOOK, "runbook '%s' is invalid: %zu error%s", ctx->runbook_path,
                diags.n_errors, diags.n_errors == 1 ? "" : "s");
        rb_err_hint(err, "'rollbackctl -f %s validate' lists every problem",
                    ctx->runbook_stdin ? "-" : ctx->runbook_path);
        return NULL;
    }
    rb_diags_print(&envd, ctx->diag);
    /* The runbook is fine; this machine's environment is not: a failure (exit 1), not exit 5. */
    if (envd.n_errors > 0) {
        const struct rb_diag **v = rb_diags_sorted(&envd);

        rb_errf(err, RB_E_FAILED, "%s%s", v[0]->msg,
                envd.n_errors > 1
                    ? rb_sprintf(ctx->arena, " (and %zu more, listed above)", envd.n_errors - 1)
                    : "");
        rb_err_hint(err, "export the variables the runbook's *_env keys name before running");
        return NULL;
    }
    return rb;
}

/* An action's keys as status and execute show them (docs/json.md), in this order. */
static const char *const action_keys[] = { "phase",   "name",     "summary",     "state",
                                           "started", "finished", "duration_ms", "message",
                                           "error",   "hint",     "result" };

cJSON *rb_cmd_action_json(const cJSON *journaled, const char *phase, const char *name,
                          const char *summary)
{
    cJSON *a = cJSON_CreateObject();
    const cJSON *it;
    size_t k;

    for (k = 0; k < sizeof(action_keys) / sizeof(action_keys[0]); k++) {
        const char *key = action_keys[k];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(journaled, key);

        if (strcmp(key, "phase") == 0 && phase != NULL)
            cJSON_AddStringToObject(a, key, phase);
        else if (strcmp(key, "name") == 0 && name != NULL)
            cJSON_AddStringToObject(a, key, name);
        else if (strcmp(key, "state") == 0 && journaled == NULL)
            cJSON_AddStringToObject(a, key, "pending"); /* never reached: not in the journal */
        else if (v != NULL)
            cJSON_AddItemToObject(a, key, cJSON_Duplicate(v, 1));
        else if (strcmp(key, "summary") == 0 && summary != NULL)
            cJSON_AddStringToObject(a, key, summary); /* a done line without its started one */
        else
            cJSON_AddNullToObject(a, key);
    }
    /* what a later version of the summary adds is kept, after the documented keys */
    cJSON_ArrayForEach(it, journaled)
        if (cJSON_GetObjectItemCaseSensitive(a, it->string) == NULL)
            cJSON_AddItemToObject(a, it->string, cJSON_Duplicate(it, 1));
    return a;
}

static const cJSON *journaled_action(const cJSON *actions, const char *name)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, actions) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name"));

        if (n != NULL && strcmp(n, name) == 0)
            return a;
    }
    return NULL;
}

/*
 * The run's actions for its JSON document: each planned action, in plan order, with its state
 * as the journal has it now (status's words: "done", "failed", "in flight"; "pending" when never
 * reached), then those the journal has and this plan does not (a step renamed or removed between
 * attempts). A phase plans when the run reaches it, so a phase not reached has no actions to
 * list. The journal is read back (summary) rather than kept in memory twice: it is what status
 * will say of the run. A journal that could not be read (summary NULL) leaves them "unknown".
 */
static cJSON *run_actions_json(const struct rb_run *run, const cJSON *summary)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *journaled = cJSON_GetObjectItemCaseSensitive(summary, "actions"), *it;
    size_t i;

    for (i = 0; i < run->n_actions; i++) {
        const struct rb_action *act = run->actions[i];
        cJSON *a = rb_cmd_action_json(journaled_action(journaled, act->name), act->phase, act->name,
                                      act->summary);

        if (summary == NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(a, "state", cJSON_CreateString("unknown"));
        cJSON_AddItemToArray(arr, a);
    }
    cJSON_ArrayForEach(it, journaled) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));

        if (name != NULL && !rb_run_planned(run, name))
            cJSON_AddItemToArray(arr, rb_cmd_action_json(it, NULL, NULL, NULL));
    }
    return arr;
}

/* The run's journal read back and summarised (runs.h), or NULL when it cannot be read. */
static cJSON *journal_summary(const struct rb_run *run)
{
    struct rb_err jerr = RB_ERR_INIT;
    struct rb_journal_log log;
    cJSON *s;

    if (run->run_dir == NULL ||
        rb_journal_read(rb_sprintf(run->arena, "%s/journal.jsonl", run->run_dir), &log, &jerr) < 0)
        return NULL;
    s = rb_runs_summarize(&log);
    rb_journal_log_release(&log);
    return s;
}

int rb_cmd_show_run(struct rb_ctx *ctx, const struct rb_run *run, int rc, const struct rb_err *err)
{
    (void)err; /* -o json: main.c adds the error object; text: main.c prints it */
    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *doc = cJSON_CreateObject(), *summary = journal_summary(run);
        const cJSON *phases = cJSON_GetObjectItemCaseSensitive(summary, "phases");

        cJSON_AddStringToObject(doc, "run_id", run->run_id);
        cJSON_AddStringToObject(doc, "runbook", run->rb->name);
        if (run->outcome != NULL)
            cJSON_AddStringToObject(doc, "outcome", run->outcome);
        else
            cJSON_AddNullToObject(doc, "outcome");
        cJSON_AddStringToObject(doc, "run_dir", run->run_dir);
        cJSON_AddItemToObject(doc, "phases",
                              phases != NULL ? cJSON_Duplicate(phases, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(doc, "actions", run_actions_json(run, summary));
        cJSON_AddItemToObject(doc, "facts", cJSON_Duplicate(run->facts, 1));
        rb_out_json(ctx, doc);
        cJSON_Delete(doc);
        cJSON_Delete(summary);
    } else {
        fprintf(ctx->out, "\nrun %s %s%s%s (journal: %s/journal.jsonl)\n", run->run_id,
                rc == 0 ? rb_c_green(ctx) : rb_c_red(ctx), run->outcome, rb_c_reset(ctx),
                run->run_dir);
    }
    return rc;
}
