/*
 * report.c - `rollbackctl report [RUN_ID] [--format md|json|html] [--bundle FILE.tar.gz]`: the
 * post-rollback report of a run, read from its journal (src/core/report*.c), printed on stdout
 * in the chosen format; --bundle writes the evidence bundle instead. With -o json one document
 * {run_id, report, bundle, journal_last_hash} (docs/json.md). Read-only: no lock, no target
 * contacted, so it works during a run and for any run that stopped.
 */
#include <string.h>
#include <unistd.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/output.h"
#include "rollbackctl/report.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/runs.h"

static int parse(int argc, char **argv, const char **run_id, const char **format,
                 const char **bundle, struct rb_err *err)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--format") == 0 || strcmp(a, "--bundle") == 0) {
            if (i + 1 >= argc)
                return rb_errf(err, RB_E_USAGE, "'%s' needs a value", a);
            *(a[2] == 'f' ? format : bundle) = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            *format = a + 9;
        } else if (strncmp(a, "--bundle=", 9) == 0) {
            *bundle = a + 9;
        } else if (a[0] == '-') {
            return rb_errf(err, RB_E_USAGE, "unknown option '%s'", a);
        } else if (*run_id == NULL) {
            *run_id = a;
        } else {
            return rb_errf(err, RB_E_USAGE, "report takes at most one RUN_ID");
        }
    }
    if (*format != NULL && strcmp(*format, "md") != 0 && strcmp(*format, "json") != 0 &&
        strcmp(*format, "html") != 0) {
        rb_errf(err, RB_E_USAGE, "unknown report format '%s'", *format);
        return rb_err_hint(err, "use --format md, json or html");
    }
    if (*bundle != NULL && (*bundle)[0] == '\0')
        return rb_errf(err, RB_E_USAGE, "'--bundle' needs a file name");
    return 0;
}

int rb_cmd_report(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    const char *run_id = NULL, *format = NULL, *bundle = NULL, *run_dir;
    struct rb_journal_log log;
    struct rb_buf out = RB_BUF_INIT;
    cJSON *report;
    int rc = 0;

    if (parse(argc, argv, &run_id, &format, &bundle, err) < 0)
        return -1;
    if (format == NULL)
        format = ctx->output == RB_OUTPUT_JSON ? "json" : "md";
    /* -o json is one JSON document: the report's JSON inside it, never Markdown or HTML */
    if (ctx->output == RB_OUTPUT_JSON && strcmp(format, "json") != 0) {
        rb_errf(err, RB_E_USAGE, "--format %s and -o json exclude each other", format);
        return rb_err_hint(err, "-o json gives the report's JSON (docs/json.md); drop one");
    }
    rb = rb_cmd_load_runbook(ctx, 0, err);
    if (rb == NULL)
        return -1;
    if (run_id == NULL) {
        const char **ids;
        size_t n;

        if (rb_runs_list(ctx->arena, rb->state_dir, &ids, &n, err) < 0)
            return -1;
        if (n == 0) {
            rb_errf(err, RB_E_FAILED, "no runs yet in '%s'", rb->state_dir);
            return rb_err_hint(err, "a report is written for each 'rollbackctl execute'");
        }
        run_id = ids[n - 1];
    }
    run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, run_id);
    if (strchr(run_id, '/') != NULL || strcmp(run_id, ".") == 0 || strcmp(run_id, "..") == 0 ||
        access(run_dir, F_OK) != 0) {
        rb_errf(err, RB_E_FAILED, "no run '%s' in '%s'", run_id, rb->state_dir);
        return rb_err_hint(err, "'rollbackctl status' shows the latest run");
    }
    if (rb_journal_read(rb_sprintf(ctx->arena, "%s/journal.jsonl", run_dir), &log, err) < 0)
        return rb_err_wrap(err, "unable to read run '%s'", run_id);
    report = rb_report_build(&log);
    if (bundle != NULL)
        rc = rb_report_bundle(ctx->arena, run_dir, &log, report, bundle,
                              rb_runbook_secret_env(ctx->arena, rb), err);
    if (ctx->output == RB_OUTPUT_JSON) {
        /* the report nested, not merged: its own keys (error, hint: the run's) stay its own */
        cJSON *d = cJSON_CreateObject();

        cJSON_AddStringToObject(d, "run_id", run_id);
        cJSON_AddItemToObject(d, "report",
                              bundle == NULL ? cJSON_Duplicate(report, 1) : cJSON_CreateNull());
        if (bundle != NULL && rc == 0)
            cJSON_AddStringToObject(d, "bundle", bundle);
        else
            cJSON_AddNullToObject(d, "bundle");
        cJSON_AddStringToObject(d, "journal_last_hash", log.last_hash);
        rb_out_json(ctx, d);
        cJSON_Delete(d);
    } else if (bundle != NULL) {
        if (rc == 0)
            fprintf(ctx->out,
                    "bundle of run %s written to %s (check: tar -xzf %s && cd "
                    "rollbackctl-%s && sha256sum -c MANIFEST.sha256)\n",
                    run_id, bundle, bundle, run_id);
    } else {
        if (strcmp(format, "json") == 0) {
            char *text = cJSON_Print(report); /* report.json as the run folder has it */

            rb_buf_addf(&out, "%s\n", text != NULL ? text : "null");
            cJSON_free(text);
        } else if (strcmp(format, "html") == 0) {
            rb_report_html(&out, report);
        } else {
            rb_report_markdown(&out, report);
        }
        fwrite(out.data, 1, out.len, ctx->out);
        rb_buf_release(&out);
    }
    cJSON_Delete(report);
    rb_journal_log_release(&log);
    return rc;
}
