/*
 * run_metrics.c - the run's metrics as Prometheus text and where they go (see run_metrics.h),
 * and what a finished run leaves behind besides its journal: report.md, report.json and the
 * metrics. The figures are the report model's, so metrics and report never disagree.
 */
#include "rollbackctl/run_metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/fsutil.h"
#include "rollbackctl/output.h"
#include "rollbackctl/report.h"
#include "rollbackctl/run_figures.h"

void rb_prom_label_escape(struct rb_buf *out, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\\')
            rb_buf_adds(out, "\\\\");
        else if (*s == '"')
            rb_buf_adds(out, "\\\"");
        else if (*s == '\n')
            rb_buf_adds(out, "\\n");
        else
            rb_buf_addc(out, *s);
    }
}

static void family(struct rb_buf *out, const char *name, const char *help)
{
    rb_buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* One sample: name{runbook="...",<extra_label>="<extra_value>"} value. */
static void sample(struct rb_buf *out, const char *name, const char *runbook,
                   const char *extra_label, const char *extra_value, double v)
{
    rb_buf_addf(out, "%s{runbook=\"", name);
    rb_prom_label_escape(out, runbook);
    rb_buf_addc(out, '"');
    if (extra_label != NULL) {
        rb_buf_addf(out, ",%s=\"", extra_label);
        rb_prom_label_escape(out, extra_value);
        rb_buf_addc(out, '"');
    }
    /* whole numbers without a fraction; others with the digits a millisecond or a ratio needs */
    if (v == floor(v) && fabs(v) < 1e15)
        rb_buf_addf(out, "} %.0f\n", v);
    else
        rb_buf_addf(out, "} %.15g\n", v);
}

static void number_metric(struct rb_buf *out, const char *name, const char *help,
                          const char *runbook, const cJSON *v, double scale)
{
    family(out, name, help);
    if (cJSON_IsNumber(v))
        sample(out, name, runbook, NULL, NULL, v->valuedouble * scale);
}

/* One sample per sync table of the report whose `field` is a number (tables whose policy looked). */
static void table_metric(struct rb_buf *out, const cJSON *r, const char *field, const char *name,
                         const char *help, const char *runbook)
{
    const cJSON *t;

    family(out, name, help);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "sync_tables")) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, field);
        const cJSON *table = cJSON_GetObjectItemCaseSensitive(t, "table");

        if (cJSON_IsNumber(v) && cJSON_IsString(table))
            sample(out, name, runbook, "table", table->valuestring, v->valuedouble);
    }
}

void rb_run_metrics_text(struct rb_buf *out, const char *runbook, const cJSON *r)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(r, "outcome");
    const cJSON *p, *end;
    int64_t end_ms;

    if (runbook == NULL)
        runbook = "";
    number_metric(out, "rollbackctl_records_at_risk",
                  "Rows changed in the new system since cutover that the last run had to carry "
                  "back, and rows deleted there that a table's deletions policy looked for.",
                  runbook, cJSON_GetObjectItemCaseSensitive(m, "records_at_risk"), 1);
    number_metric(out, "rollbackctl_records_recovered",
                  "Rows the last run's sync committed to legacy.", runbook,
                  cJSON_GetObjectItemCaseSensitive(m, "records_recovered"), 1);
    number_metric(out, "rollbackctl_records_lost",
                  "Rows at risk that the last run did not carry back.", runbook,
                  cJSON_GetObjectItemCaseSensitive(m, "records_lost"), 1);
    table_metric(out, r, "deleted", "rollbackctl_sync_rows_deleted",
                 "Legacy rows the last run's sync deleted or marked void because new had deleted "
                 "them since cutover, per table (deletions.policy delete or soft_delete).",
                 runbook);
    table_metric(out, r, "deletions_not_applied", "rollbackctl_sync_deletions_not_applied",
                 "Rows deleted in new since cutover that the last run found but did not apply to "
                 "legacy (deletions.policy report), per table: counted in records lost.",
                 runbook);
    number_metric(out, "rollbackctl_recovery_ratio",
                  "Records recovered over records at risk in the last run (0 to 1).", runbook,
                  cJSON_GetObjectItemCaseSensitive(m, "recovery_ratio"), 1);
    number_metric(out, "rollbackctl_run_duration_seconds",
                  "Execution time of the last run, from run_started to run_finished.", runbook,
                  cJSON_GetObjectItemCaseSensitive(m, "execution_ms"), 0.001);
    family(out, "rollbackctl_phase_duration_seconds", "How long each phase of the last run took.");
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "phases")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "duration_ms");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");

        if (cJSON_IsNumber(d) && cJSON_IsString(name))
            sample(out, "rollbackctl_phase_duration_seconds", runbook, "phase", name->valuestring,
                   d->valuedouble / 1000.0);
    }
    number_metric(out, "rollbackctl_downtime_seconds",
                  "Downtime of the last run: its first freeze action to the end of restore.",
                  runbook, cJSON_GetObjectItemCaseSensitive(m, "downtime_ms"), 0.001);
    family(out, "rollbackctl_last_run_timestamp_seconds",
           "When the last run finished (Unix time; its last journal line while unfinished).");
    end = cJSON_GetObjectItemCaseSensitive(r, "finished_at");
    end_ms = cJSON_IsString(end) ? rb_time_parse_ms(end->valuestring) : -1;
    if (end_ms < 0) {
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(r, "timeline");
        const cJSON *last = cJSON_GetArrayItem(tl, cJSON_GetArraySize(tl) - 1);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "started_at");

        end_ms =
            last != NULL && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(last, "started_at"))
                ? rb_time_parse_ms(
                      cJSON_GetObjectItemCaseSensitive(last, "started_at")->valuestring)
            : cJSON_IsString(st) ? rb_time_parse_ms(st->valuestring)
                                 : -1;
    }
    if (end_ms >= 0)
        sample(out, "rollbackctl_last_run_timestamp_seconds", runbook, NULL, NULL,
               (double)end_ms / 1000.0);
    family(out, "rollbackctl_run_success", "1 when the last run succeeded, else 0.");
    sample(out, "rollbackctl_run_success", runbook, NULL, NULL,
           cJSON_IsString(outcome) && strcmp(outcome->valuestring, "succeeded") == 0 ? 1 : 0);
}

/* ---- where they go ---------------------------------------------------------------------------- */

static int push_all(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *job,
                    const char *body, const struct rb_metrics_ops *ops)
{
    int warnings = 0;
    size_t i;

    for (i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];
        const struct rb_metrics_ops *o = ops;
        struct rb_err err = RB_ERR_INIT;

        if (t->kind != RB_TARGET_METRICS || rb_target_opt(t, "pushgateway") == NULL)
            continue;
        if (o == NULL)
            o = rb_metrics_ops_for(t, &err);
        if (o != NULL && o->push == NULL)
            rb_errf(&err, RB_E_FAILED, "metrics driver '%s' of target '%s' cannot push", t->driver,
                    t->name);
        if (o == NULL || o->push == NULL ||
            o->push(ctx->arena, t, job, "runbook", rb->name, body, &err) < 0) {
            rb_warn(ctx, "metrics not pushed: %s", err.msg);
            warnings++;
        } else {
            rb_verbose(ctx, "metrics pushed to the pushgateway of '%s'", t->name);
        }
    }
    return warnings;
}

int rb_metrics_publish_as(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *what,
                          const char *body, const struct rb_metrics_ops *ops)
{
    struct rb_err err = RB_ERR_INIT;
    int warnings = 0;
    size_t len = strlen(body);
    const char *suffix = what != NULL ? rb_sprintf(ctx->arena, "-%s", what) : "";

    if (rb_write_file_atomic(rb_sprintf(ctx->arena, "%s/%s.prom", rb->state_dir,
                                        what != NULL ? what : "metrics"),
                             body, len, 0644, &err) < 0) {
        rb_warn(ctx, "metrics not written: %s", err.msg);
        warnings++;
    }
    if (rb->metrics_textfile_dir != NULL) {
        const char *path =
            rb_sprintf(ctx->arena, "%s/rollbackctl-%s%s.prom", rb->metrics_textfile_dir,
                       rb_name_slug(ctx->arena, rb->name), suffix);

        rb_err_clear(&err);
        if (rb_write_file_atomic(path, body, len, 0644, &err) < 0) {
            rb_warn(ctx, "metrics not written to the textfile folder: %s", err.msg);
            warnings++;
        }
    }
    return warnings +
           push_all(ctx, rb,
                    what != NULL ? rb_sprintf(ctx->arena, "%s_%s", RB_METRICS_JOB, what)
                                 : RB_METRICS_JOB,
                    body, ops);
}

int rb_metrics_publish(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *body,
                       const struct rb_metrics_ops *ops)
{
    return rb_metrics_publish_as(ctx, rb, NULL, body, ops);
}

int rb_run_publish_results(struct rb_run *run)
{
    struct rb_ctx *ctx = run->ctx;
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_buf body = RB_BUF_INIT;
    cJSON *report;
    int warnings;

    if (run->run_dir == NULL)
        return 0;
    if (rb_journal_read(rb_sprintf(ctx->arena, "%s/journal.jsonl", run->run_dir), &log, &err) < 0) {
        rb_warn(ctx, "no report or metrics for run '%s': %s", run->run_id, err.msg);
        return 1;
    }
    report = rb_report_build(&log);
    rb_journal_log_release(&log);
    warnings = 0;
    if (rb_report_write_files(run->run_dir, report, &err) < 0) {
        rb_warn(ctx, "report of run '%s' not written: %s", run->run_id, err.msg);
        warnings++;
    }
    rb_run_metrics_text(&body, run->rb->name, report);
    cJSON_Delete(report);
    warnings += rb_metrics_publish(ctx, run->rb, body.data, NULL);
    rb_buf_release(&body);
    return warnings;
}
