/*
 * assess.c - `rollbackctl assess [--severity S] [--signals FILE]`: read the signals now and say
 * whether a rollback is warranted, and why, with nothing changed anywhere.
 *
 * A check run (read-only sessions, nothing journaled) makes the same assessment the assess phase
 * of execute makes (assess.h). Exit 0 warranted, 3 not warranted or undetermined, 1 when the
 * runbook has no decision section.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/assess.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/output.h"

int rb_cmd_assess(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    static const struct option longopts[] = {
        { "severity", required_argument, NULL, 's' },
        { "signals", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    const char *severity = NULL, *signals_file = NULL;
    const struct rb_runbook *rb;
    struct rb_signal_value *sig;
    struct rb_assessment *as;
    struct rb_run *run;
    size_t n;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (rb_severity_parse(optarg) == RB_SEV_NONE)
                return rb_errf(err, RB_E_USAGE,
                               "unknown severity '%s' (critical, high, medium or low)", optarg);
            severity = optarg;
            break;
        case 'S':
            signals_file = optarg;
            break;
        case ':':
            return rb_errf(err, RB_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
        default:
            return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return rb_errf(err, RB_E_USAGE, "unexpected argument '%s'", argv[optind]);
    if ((rb = rb_cmd_load_runbook(ctx, 0, err)) == NULL)
        return -1;
    if (!rb->decision.present) {
        rb_errf(err, RB_E_FAILED, "runbook '%s' has no decision section; nothing was assessed",
                rb->name);
        return rb_err_hint(err, "add 'decision:' with a matrix and rollback_if rules "
                                "(see docs/runbook.md)");
    }
    run = rb_run_new_check(ctx, rb);
    run->severity_opt = severity;
    run->signals_file = signals_file;
    if (rb_signals_read(run, &sig, &n, err) < 0)
        return -1;
    as = rb_assessment_make(run, sig, n);
    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *obj = rb_assessment_json(run, as);

        rb_out_json(ctx, obj);
        cJSON_Delete(obj);
    } else {
        struct rb_buf txt = RB_BUF_INIT;

        fprintf(ctx->out, "%sAssessment for runbook '%s'%s\n\n", rb_c_bold(ctx), rb->name,
                rb_c_reset(ctx));
        rb_assessment_text(&txt, run, as, rb_c_red(ctx), rb_c_reset(ctx));
        fputs(txt.data, ctx->out);
        rb_buf_release(&txt);
    }
    if (strcmp(as->verdict, "warranted") == 0)
        return 0;
    rb_errf(err, RB_E_DECLINED, "%s", as->why);
    return rb_err_hint(err, "'rollbackctl execute' would stop before freeze (exit 3) unless "
                            "--force");
}
