/*
 * verify.c - `rollbackctl verify`: the runbook's verify checks, now, outside any run.
 *
 * For an operator who fixed something by hand, or did a rollback by hand: the same checks the
 * verify phase runs, through the engine in a check run (read-only sessions, nothing journaled),
 * with the same report (text, or -o json). Exit 0 when every check passes, 1 when any fails;
 * nothing is written anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/output.h"
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
    rb_signals_announce("cancelling the queries in flight; verify stops with exit 1",
                        "still stopping: the queries in flight are being cancelled");
    if ((rb = rb_cmd_load_runbook(ctx, 1, err)) == NULL)
        return -1;
    if (rb->n_checks == 0) {
        rb_errf(err, RB_E_FAILED, "runbook '%s' has no verify checks; nothing was verified",
                rb->name);
        return rb_err_hint(err, "add checks under 'verify:' (see docs/runbook.md)");
    }
    run = rb_run_new_check(ctx, rb);
    /* the engine's loop, in a check run: nothing journaled, the report below is the result */
    if (rb_engine_check(run, "verify", err) < 0)
        return -1;
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
