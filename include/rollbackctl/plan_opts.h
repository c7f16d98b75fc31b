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
    const char *out;       /* plan --out FILE: the plan file written (plan_file.h) */
    const char *plan_file; /* execute --plan FILE: the reviewed plan execute must match */
    bool dry_run, yes, force, offline;
};

/* argv[0] is the command; execute accepts --dry-run/--yes/--force/--plan, plan --out. */
int rb_plan_opts_parse(int argc, char **argv, struct rb_plan_opts *o, bool execute,
                       struct rb_err *err);
/*
 * Plan every phase read-only and print it; with o->out, then write the plan file (not when the
 * plan failed: a plan that could not read a target is not one to review).
 */
int rb_plan_show(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_plan_opts *o,
                 struct rb_err *err);

#endif
