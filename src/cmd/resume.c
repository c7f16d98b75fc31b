/*
 * resume.c - `rollbackctl resume [RUN_ID]`: continue an interrupted or failed run.
 *
 * The run is re-planned with the options it was started with (from its run_started record);
 * the engine skips what the journal says is done. The runbook may have been fixed in between
 * (a wrong command, say): that is allowed, warned about and journaled (lifecycle.h). A run that
 * already succeeded is reported as such, exit 0, with nothing done.
 */
#include "rollbackctl/cmd.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/output.h"

int rb_cmd_resume(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    struct rb_run *run;
    int rc;

    if (argc > 2)
        return rb_errf(err, RB_E_USAGE, "resume takes at most one RUN_ID");
    if (argc == 2 && argv[1][0] == '-')
        return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[1]);
    rb = rb_cmd_load_runbook(ctx, 1, err);
    if (rb == NULL)
        return -1;
    rc = rb_run_resume(ctx, rb, argc == 2 ? argv[1] : NULL, &run, err);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        /* the end was reached already (killed after its last journal line, perhaps): say so */
        rb_info(ctx, "run %s of '%s' already finished (succeeded); nothing to resume", run->run_id,
                rb->name);
        return rb_cmd_show_run(ctx, run, 0, err);
    }
    rb_info(ctx, "resuming run %s of '%s'", run->run_id, rb->name);
    return rb_cmd_show_run(ctx, run, rb_run_drive(run, err), err);
}
