/*
 * execute.c - `rollbackctl execute`: the options and the operator's confirmation of a rollback;
 * the run itself is lifecycle.h's (begin, drive) and the engine's.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/output.h"
#include "rollbackctl/plan_opts.h"

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

int rb_cmd_execute(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    struct rb_plan_opts o;
    struct rb_run_opts ro;
    const struct rb_runbook *rb;
    struct rb_run *run;

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
    ro = (struct rb_run_opts){ .reason = o.reason,
                               .severity = o.severity,
                               .signals_file = o.signals_file,
                               .yes = o.yes,
                               .force = o.force };
    if (rb_run_begin(ctx, rb, &ro, &run, err) < 0)
        return -1;
    rb_info(ctx, "run %s started for '%s' (reason: %s)", run->run_id, rb->name, o.reason);
    return rb_cmd_show_run(ctx, run, rb_run_drive(run, err), err);
}
