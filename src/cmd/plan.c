/*
 * plan.c - `rollbackctl plan`: every action execute would take, with nothing changed anywhere,
 * and with --out FILE the plan file a reviewer approves and `execute --plan FILE` must match.
 *
 * The run gets read-only handles (RB_MODE_PLAN), so a planning bug cannot change a server. A
 * target the plan needed to read and could not reach is warned about once and fails the plan
 * (exit 1) after it is shown; --offline reads nothing.
 */
#include <getopt.h>
#include <string.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/output.h"
#include "rollbackctl/plan_file.h"
#include "rollbackctl/plan_opts.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/runbook.h"

int rb_plan_opts_parse(int argc, char **argv, struct rb_plan_opts *o, bool execute,
                       struct rb_err *err)
{
    static const struct option longopts[] = {
        { "reason", required_argument, NULL, 'r' },  { "severity", required_argument, NULL, 's' },
        { "signals", required_argument, NULL, 'S' }, { "dry-run", no_argument, NULL, 'n' },
        { "yes", no_argument, NULL, 'y' },           { "force", no_argument, NULL, 'F' },
        { "offline", no_argument, NULL, 'O' },       { "out", required_argument, NULL, 'o' },
        { "plan", required_argument, NULL, 'P' },    { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof(*o));
    optind = 0;
    opterr = 0;
    /* "+:": stop at the first non-option; a missing value comes back as ':', not '?'. */
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->reason = optarg;
            break;
        case 's':
            if (rb_severity_parse(optarg) == RB_SEV_NONE)
                return rb_errf(err, RB_E_USAGE,
                               "unknown severity '%s' (critical, high, medium or low)", optarg);
            o->severity = optarg;
            break;
        case 'S':
            o->signals_file = optarg;
            break;
        case 'n':
        case 'y':
        case 'F':
            if (!execute)
                return rb_errf(err, RB_E_USAGE, "option '%s' belongs to execute", argv[optind - 1]);
            if (c == 'n')
                o->dry_run = true;
            else if (c == 'y')
                o->yes = true;
            else
                o->force = true;
            break;
        case 'O':
            o->offline = true;
            break;
        case 'o':
            if (execute)
                return rb_errf(err, RB_E_USAGE, "option '--out' belongs to plan");
            if (optarg[0] == '\0')
                return rb_errf(err, RB_E_USAGE, "--out needs a file name");
            o->out = optarg;
            break;
        case 'P':
            if (!execute)
                return rb_errf(err, RB_E_USAGE, "option '--plan' belongs to execute");
            if (optarg[0] == '\0')
                return rb_errf(err, RB_E_USAGE, "--plan needs a file name");
            o->plan_file = optarg;
            break;
        case ':':
            return rb_errf(err, RB_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
        default:
            return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return rb_errf(err, RB_E_USAGE, "unexpected argument '%s'", argv[optind]);
    if (o->offline && execute && !o->dry_run)
        return rb_errf(err, RB_E_USAGE, "--offline only goes with --dry-run");
    if (o->offline && o->plan_file != NULL)
        return rb_errf(err, RB_E_USAGE, "--offline does not go with --plan: the comparison "
                                        "contacts nothing already");
    if (o->reason != NULL && o->reason[0] == '\0')
        return rb_errf(err, RB_E_USAGE, "--reason must not be empty");
    return 0;
}

int rb_plan_show(struct rb_ctx *ctx, const struct rb_runbook *rb, const struct rb_plan_opts *o,
                 struct rb_err *err)
{
    struct rb_run *run = rb_run_new(ctx, rb, RB_MODE_PLAN);

    run->reason = o->reason;
    run->severity_opt = o->severity;
    run->signals_file = o->signals_file;
    run->offline = o->offline;
    run->force = o->force;
    if (rb_engine_plan(run, err) < 0)
        return -1;
    /* a plan that could not read a target is incomplete: say which, exit 1 */
    if (rb_plan_unreachable_check(run, err) < 0)
        return -1;
    if (o->out == NULL)
        return 0;
    if (rb_plan_file_write(o->out, run, err) < 0)
        return -1;
    rb_info(ctx, "plan written to '%s' (plan sha256 %s); after review: rollbackctl execute "
                 "--plan %s --reason ...",
            o->out, run->plan_sha256, o->out);
    return 0;
}

int rb_cmd_plan(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    struct rb_plan_opts o;
    const struct rb_runbook *rb;

    if (rb_plan_opts_parse(argc, argv, &o, false, err) < 0)
        return -1;
    rb = rb_cmd_load_runbook(ctx, 0, err);
    if (rb == NULL)
        return -1;
    return rb_plan_show(ctx, rb, &o, err);
}
