/*
 * report.h - the post-rollback report of a run, read from its journal alone: the model (which is
 * report.json), its renderings (report.md with a Mermaid gantt, one self-contained HTML page),
 * the files a finished run leaves in its folder, and the evidence bundle for auditors.
 *
 * The report never contacts a target and never takes the lock, so it works for a finished,
 * failed or interrupted run and while a run is going on. Its times come from run_figures.h and
 * its counts from the run's facts, so they are the journal's figures, not a second opinion.
 * The keys of the model are an interface: docs/report.md documents them.
 */
#ifndef ROLLBACKCTL_REPORT_H
#define ROLLBACKCTL_REPORT_H

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/err.h"
#include "rollbackctl/journal.h"

#define RB_REPORT_VERSION 1

/*
 * The report model of the run log holds (report.json). Budgets: the fact `budget.budget_ms`,
 * else the upper bound of the assessment's recovery_time, shared per rb_phase_budget_share_pct().
 * Caller deletes it with cJSON_Delete().
 */
cJSON *rb_report_build(const struct rb_journal_log *log);

/* report.md: the model as Markdown, with a Mermaid gantt block of the phases and budgets. */
void rb_report_markdown(struct rb_buf *out, const cJSON *report);
/* report.html: one page, no external assets (inline CSS, the timeline as inline SVG). */
void rb_report_html(struct rb_buf *out, const cJSON *report);

/* Write report.md and report.json into run_dir, each atomically (temp, fsync, rename). */
int rb_report_write_files(const char *run_dir, const cJSON *report, struct rb_err *err);

/*
 * The evidence bundle: FILE.tar.gz holding one folder rollbackctl-<run_id>/ with the journal,
 * report.md/.json/.html, plan.txt (the actions as the journal's `started` lines have them), the
 * verification details, assessment.json, every notification copy the journal names, and
 * MANIFEST.sha256 (sha256sum format, plus a comment line with the journal's last chain hash).
 * Built in a private temp folder and packed by tar (argv, deadline) into FILE.partial, then
 * renamed to file. Only files the run wrote are copied: the journal and reports hold no secret.
 * env_drop (NULL-terminated, may be NULL) names the variables tar must not inherit: the
 * runbook's secrets (rb_runbook_secret_env).
 */
int rb_report_bundle(struct rb_arena *a, const char *run_dir, const struct rb_journal_log *log,
                     const cJSON *report, const char *file, const char *const *env_drop,
                     struct rb_err *err);

#endif
