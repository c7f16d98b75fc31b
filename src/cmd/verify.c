/*
 * verify.c - `rollbackctl verify`: the runbook's verify checks, now, outside any run.
 *
 * For an operator who fixed something by hand, or did a rollback by hand: the same checks the
 * verify phase runs, on read-only sessions, with the same report (text, or -o json). Exit 0 when
 * every check passes, 1 when any fails; nothing is written anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/output.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/run.h"
#include "rollbackctl/verify.h"

int rb_cmd_verify(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    struct rb_run *run;
    const cJSON *rep;
    double failed;

    if (argc > 1)
        return rb_errf(err, RB_E_USAGE,
                       argv[1][0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'",
                       argv[1]);
    /* Ctrl-C cancels the queries in flight instead of leaving them running on the servers */
    rb_signals_install();
    if ((rb = rb_cmd_load_runbook(ctx, 1, err)) == NULL)
        return -1;
    if (rb->n_checks == 0) {
        rb_errf(err, RB_E_FAILED, "runbook '%s' has no verify checks; nothing was verified",
                rb->name);
        return rb_err_hint(err, "add checks under 'verify:' (see docs/runbook.md)");
    }
    run = rb_run_new_check(ctx, rb);
    if (rb_verify_plan(run, err) < 0)
        return -1;
    for (size_t i = 0; i < run->n_actions; i++) {
        struct rb_action *act = run->actions[i];
        struct rb_err aerr = RB_ERR_INIT;

        if (rb_interrupted())
            return rb_errf(err, RB_E_INTERRUPTED, "interrupted before '%s'", act->name);
        rb_info(ctx, "%s: %s", act->name, act->summary);
        if (act->apply(run, act, &aerr) < 0) {
            if (act->critical || aerr.cls == RB_E_INTERRUPTED) {
                *err = aerr;
                return -1;
            }
            rb_verbose(ctx, "  %s", aerr.msg);
        }
    }
    if ((rep = rb_verify_report(run)) == NULL)
        return rb_errf(err, RB_E_FAILED, "no verification report was built");
    if (ctx->output == RB_OUTPUT_JSON) {
        rb_out_json(ctx, rep);
    } else {
        struct rb_buf txt = RB_BUF_INIT;

        rb_verify_report_text(&txt, rep);
        fputs(txt.data, ctx->out);
        rb_buf_release(&txt);
    }
    failed = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rep, "failed"));
    if (failed > 0)
        return rb_errf(err, RB_E_FAILED, "verification failed: %.0f of %zu checks failed", failed,
                       rb->n_checks);
    return 0;
}
