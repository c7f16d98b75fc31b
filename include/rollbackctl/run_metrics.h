/*
 * run_metrics.h - rollbackctl's own metrics in the Prometheus text format, and where they go at
 * the end of a run (or of prepare): state_dir/metrics.prom, the runbook's node_exporter
 * textfile folder (`metrics.textfile_dir`), and the Pushgateway of every prometheus target with
 * a `pushgateway` key. None of it can fail a rollback: every problem is a warning.
 *
 * Names (each sample labelled runbook="<name>"): rollbackctl_records_at_risk,
 * rollbackctl_records_recovered, rollbackctl_records_lost, rollbackctl_recovery_ratio,
 * rollbackctl_run_duration_seconds, rollbackctl_phase_duration_seconds{phase},
 * rollbackctl_downtime_seconds, rollbackctl_last_run_timestamp_seconds, rollbackctl_run_success.
 */
#ifndef ROLLBACKCTL_RUN_METRICS_H
#define ROLLBACKCTL_RUN_METRICS_H

#include <cjson/cJSON.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/metrics.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

#define RB_METRICS_JOB "rollbackctl" /* the Pushgateway job; the grouping key is runbook */

/* s as a label value of the text format: backslash, double quote and newline escaped. */
void rb_prom_label_escape(struct rb_buf *out, const char *s);

/*
 * The metrics of a report model (report.h) as text: HELP and TYPE for every name, a sample for
 * every figure the report knows (an unknown figure, e.g. records at risk of a run that never
 * reached sync, has no sample). rollbackctl_last_run_timestamp_seconds is the run's end, or
 * its last journal line while it has none.
 */
void rb_run_metrics_text(struct rb_buf *out, const char *runbook, const cJSON *report);

/*
 * Write body to state_dir/metrics.prom and, when the runbook names one, to
 * textfile_dir/rollbackctl-<slug>.prom (each atomically), then push it to every prometheus
 * target with a `pushgateway` key (job RB_METRICS_JOB, grouping key runbook) through ops, or
 * through each target's driver ops from the registry when ops is NULL (a driver without a push
 * slot is a warning). Each failure is one warning on ctx; returns how many there were.
 */
int rb_metrics_publish(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *body,
                       const struct rb_metrics_ops *ops);
/*
 * The same for metrics of another kind than a run's (what = "prepare"), beside them and never in
 * their place: state_dir/<what>.prom, textfile_dir/rollbackctl-<slug>-<what>.prom, Pushgateway
 * job rollbackctl_<what> (a PUT replaces its whole group). what NULL: rb_metrics_publish.
 */
int rb_metrics_publish_as(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *what,
                          const char *body, const struct rb_metrics_ops *ops);

/*
 * At the end of a run (rb_run_finish, after run_finished is journaled): read the journal back,
 * write report.md and report.json into the run folder, and publish the metrics. Warnings only;
 * returns how many there were.
 */
int rb_run_publish_results(struct rb_run *run);

#endif
