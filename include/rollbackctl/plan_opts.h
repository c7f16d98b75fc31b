/*
 * plan_opts.h - the options plan and execute share, and showing a plan.
 */
#ifndef ROLLBACKCTL_PLAN_OPTS_H
#define ROLLBACKCTL_PLAN_OPTS_H

#include <stdbool.h>

#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

struct rb_plan_opts {
    const char *reason;
    const char *severity;
    const char *signals_file;
    bool dry_run, yes, force, offline;
};

/* argv[0] is the command; execute accepts --dry-run/--yes/--force too. */
int rb_plan_opts_parse(int argc, char **argv, struct rb_plan_opts *o, bool execute,
                       struct rb_err *err);
/* Plan every phase read-only and print it. */
int rb_plan_show(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_plan_opts *o,
                 struct rb_err *err);

#endif
