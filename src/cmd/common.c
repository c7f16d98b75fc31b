/*
 * common.c - what several commands share: loading the runbook named by the context.
 */
#include "rollbackctl/cmd.h"
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
