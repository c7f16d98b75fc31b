/*
 * execute.c - `rollbackctl execute`: the options, the plan hash made before the run begins (and
 * with --plan FILE the comparison with the reviewed plan), and the terminal side of the
 * operator's confirmation (run->confirm, asked by the approve action); the run itself is
 * lifecycle.h's (begin, drive) and the engine's.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/output.h"
#include "rollbackctl/plan_file.h"
#include "rollbackctl/plan_opts.h"
#include "rollbackctl/progress.h"

/*
 * The initiator's confirmation, called by the approve action once the assessment is known (so
 * the prompt can say the severity, the approvals needed and any point of no return): an operator
 * at a terminal types the runbook's name. Scripts say --yes (checked before the run begins).
 */
static int confirm(struct rb_run *run, const char *what, struct rb_err *err)
{
    struct rb_ctx *ctx = run->ctx;
    char line[512];
    size_t n;
    char *got;

    rb_progress_hold(ctx); /* the prompt and the answer, not the progress line */
    fprintf(ctx->diag, "%sType the runbook name to go on: ", what);
    fflush(ctx->diag);
    got = fgets(line, sizeof(line), stdin);
    rb_progress_release(ctx);
    if (got == NULL)
        return rb_errf(err, RB_E_DECLINED, "not confirmed");
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (strcmp(line, run->rb->name) != 0) {
        rb_errf(err, RB_E_DECLINED, "not confirmed: '%s' is not the runbook name '%s'", line,
                run->rb->name);
        return rb_err_hint(err, "nothing was changed; run execute again and type the name");
    }
    return 0;
}

/*
 * The plan this run will make, hashed before anything changes (run_started journals it and
 * approvers see it); with --plan FILE, compared with the reviewed plan first: any difference
 * refuses the run (exit 1) with nothing changed. A plan that cannot be made (a signals file
 * missing) is only a warning without --plan: the run fails where it would have anyway.
 */
static int plan_hash(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_plan_opts *o,
                     const struct rb_plan_file *pf, const char **sha, struct rb_err *err)
{
    struct rb_run *pre;
    struct rb_err perr = RB_ERR_INIT;

    *sha = NULL;
    if (rb_plan_prepass(ctx, rb, o->severity, o->signals_file, &pre, &perr) < 0) {
        if (pf == NULL) {
            rb_warn(ctx, "unable to make the plan hash of this run: %s", perr.msg);
            return 0;
        }
        *err = perr;
        rb_err_wrap(err, "unable to plan again to compare with the plan in '%s'", pf->path);
        return rb_err_hint(err, "nothing was changed");
    }
    if (pf != NULL && rb_plan_file_compare(ctx, pf, pre, err) < 0)
        return -1;
    if (pf != NULL)
        rb_info(ctx, "the plan in '%s' is what would run now (plan sha256 %s)", pf->path,
                pre->plan_sha256);
    *sha = pre->plan_sha256;
    return 0;
}

int rb_cmd_execute(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    struct rb_plan_opts o;
    struct rb_run_opts ro;
    struct rb_plan_file pf;
    const struct rb_runbook *rb;
    struct rb_run *run;
    const char *sha;

    if (rb_plan_opts_parse(argc, argv, &o, true, err) < 0)
        return -1;
    if (o.reason == NULL && !o.dry_run)
        return rb_errf(err, RB_E_USAGE, "execute needs --reason: why is this rollback happening?");
    /* checked before the runbook is read: standard input then holds it, not an answer */
    if (!o.yes && !o.dry_run && ctx->runbook_stdin) {
        rb_errf(err, RB_E_USAGE,
                "execute -f - needs --yes: standard input holds the runbook, so "
                "the confirmation prompt cannot read it");
        return rb_err_hint(err, "give --yes, or the runbook as a file with -f FILE to be asked");
    }
    /* the runbook first: its errors (exit 5) come before those of the plan file */
    rb = rb_cmd_load_runbook(ctx, o.dry_run ? 0 : 1, err);
    if (rb == NULL)
        return -1;
    if (o.plan_file != NULL) {
        if (rb_plan_file_read(ctx->arena, o.plan_file, &pf, err) < 0)
            return -1;
        /* the reviewed plan's options unless given again (then they must be the same) */
        if (o.severity == NULL)
            o.severity = pf.severity;
        if (o.signals_file == NULL)
            o.signals_file = pf.signals_file;
    }
    if (o.dry_run) {
        /* --dry-run --plan: compare, then show the plan as plan does; nothing runs */
        if (o.plan_file != NULL && plan_hash(ctx, rb, &o, &pf, &sha, err) < 0)
            return -1;
        return rb_plan_show(ctx, rb, &o, err);
    }
    /* Before any run begins: the confirmation is asked later, once the run is assessed. */
    if (!o.yes && !isatty(STDIN_FILENO)) {
        rb_errf(err, RB_E_USAGE, "execute needs --yes when standard input is not a terminal");
        return rb_err_hint(err, "run 'rollbackctl plan' first to see what execute will do");
    }
    if (plan_hash(ctx, rb, &o, o.plan_file != NULL ? &pf : NULL, &sha, err) < 0)
        return -1;
    ro = (struct rb_run_opts){ .reason = o.reason,
                               .severity = o.severity,
                               .signals_file = o.signals_file,
                               .yes = o.yes,
                               .force = o.force,
                               .plan_sha256 = sha,
                               .plan_file = o.plan_file };
    if (rb_run_begin(ctx, rb, &ro, &run, err) < 0)
        return -1;
    run->confirm = confirm;
    rb_info(ctx, "run %s started for '%s' (reason: %s)", run->run_id, rb->name, o.reason);
    if (sha != NULL)
        rb_info(ctx, "plan sha256 %s", sha);
    return rb_cmd_show_run(ctx, run, rb_run_drive(run, err), err);
}
