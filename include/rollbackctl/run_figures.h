/*
 * run_figures.h - the times of a run read back from its journal: when it started and ended, each
 * phase's span, and the downtime (the first freeze action started -> the restore phase ended: the
 * new system stops taking work, legacy serves again).
 *
 * One reading for everyone who reports on a run (templates, report, metrics, status), so a figure
 * means the same everywhere. Record counts live in the run's facts (records_at_risk, ...), not here.
 */
#ifndef ROLLBACKCTL_RUN_FIGURES_H
#define ROLLBACKCTL_RUN_FIGURES_H

#include <stdbool.h>
#include <stdint.h>

#include "rollbackctl/journal.h"

#define RB_FIGURES_MAX_PHASES 16

struct rb_phase_span {
    const char *phase;   /* borrowed from the log */
    int64_t started_ms;  /* epoch ms of phase_started */
    int64_t finished_ms; /* epoch ms of phase_done/phase_partial/phase_failed, or of the last
                            line of the phase when it never ended; -1 when unknown */
    const char *state;   /* "done", "partial", "failed", "running" (no end line), "interrupted" */
};

struct rb_run_figures {
    int64_t started_ms;   /* run_started; -1 when the journal has none */
    int64_t finished_ms;  /* the last run_finished; -1 while running or interrupted without one */
    int64_t last_ms;      /* the journal's last line */
    int64_t execution_ms; /* started -> finished (or -> last line) */
    /* downtime: -1 when no freeze action started */
    int64_t downtime_started_ms;
    int64_t downtime_ended_ms; /* end of the restore phase; else the last line (downtime_open) */
    int64_t downtime_ms;
    bool downtime_open;  /* restore has not ended: legacy is not known to serve again */
    const char *outcome; /* of the last run_finished, or NULL */
    struct rb_phase_span phases[RB_FIGURES_MAX_PHASES];
    size_t n_phases; /* in the order they first started; each phase once (its last attempt's end) */
};

/* Read the figures of log. Strings are borrowed from log. */
void rb_run_figures_read(const struct rb_journal_log *log, struct rb_run_figures *out);

/*
 * The share of the run's time budget (the fact `budget.budget_ms`, else the upper bound of the
 * matched scenario's recovery_time) that phase may take, in percent: freeze 5, sync 25, restore
 * 20, verify 20, communicate 10, from the seed procedure's own timings for a 4 h target
 * (execution 2 h: freeze, sync and restore 50%; verification 45 min: 20%; communication 30 min:
 * 10%). Assess and approve (detection and decision, 45 min) have no share of their own (0): they
 * live in the remaining 20%, inside the deadline. The one table: the engine's phase_over_budget,
 * the report and the metrics read it here (docs/runbook.md, "Time budget").
 */
int rb_phase_budget_share_pct(const char *phase);

/* "2026-11-01T00:00:00.123Z" (the journal's ts, or any RFC 3339 time) to epoch ms; -1 on error. */
int64_t rb_time_parse_ms(const char *ts);

#endif
