/*
 * common.c - what several commands share: loading the runbook named by the context, and showing
 * how a run ended.
 */
#include "rollbackctl/cmd.h"

#include "rollbackctl/output.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

const struct rb_runbook *rb_cmd_load_runbook(struct rb_ctx *ctx, int need_env, struct rb_err *err)
{
    struct rb_diags diags;
    struct rb_runbook *rb;

    rb_diags_init(&diags, ctx->arena, ctx->runbook_path);
    rb = rb_runbook_load(ctx->arena, ctx->runbook_path, &diags);
    if (rb != NULL)
        rb_runbook_check_env(rb, &diags, need_env != 0);
    rb_diags_print(&diags, ctx->diag);
    if (rb == NULL || diags.n_errors > 0) {
        rb_errf(err, RB_E_RUNBOOK, "runbook '%s' is invalid: %zu error%s", ctx->runbook_path,
                diags.n_errors, diags.n_errors == 1 ? "" : "s");
        rb_err_hint(err, "'rollbackctl -f %s validate' lists every problem", ctx->runbook_path);
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
