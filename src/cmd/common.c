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

int rb_cmd_show_run(struct rb_ctx *ctx, const struct rb_run *run, int rc, const struct rb_err *err)
{
    size_t i;

    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(doc, "actions");

        cJSON_AddStringToObject(doc, "run_id", run->run_id);
        cJSON_AddStringToObject(doc, "runbook", run->rb->name);
        cJSON_AddStringToObject(doc, "outcome", run->outcome);
        if (rc < 0)
            cJSON_AddStringToObject(doc, "error", err->msg);
        for (i = 0; i < run->n_actions; i++) {
            cJSON *a = cJSON_CreateObject();

            cJSON_AddStringToObject(a, "phase", run->actions[i]->phase);
            cJSON_AddStringToObject(a, "name", run->actions[i]->name);
            if (run->actions[i]->result != NULL)
                cJSON_AddItemToObject(a, "result", cJSON_Duplicate(run->actions[i]->result, 1));
            cJSON_AddItemToArray(arr, a);
        }
        cJSON_AddItemToObject(doc, "facts", cJSON_Duplicate(run->facts, 1));
        rb_out_json(ctx, doc);
        cJSON_Delete(doc);
    } else {
        fprintf(ctx->out, "\nrun %s %s%s%s (journal: %s/journal.jsonl)\n", run->run_id,
                rc == 0 ? rb_c_green(ctx) : rb_c_red(ctx), run->outcome, rb_c_reset(ctx),
                run->run_dir);
    }
    return rc;
}
