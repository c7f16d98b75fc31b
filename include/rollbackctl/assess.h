/*
 * assess.h - signals and the assessment: what the runbook's signals read now, what the decision
 * matrix and the rules make of them, and the run's time budget.
 *
 *   rb_signals_read()      src/phases/signals.c     every runbook signal, then --signals
 *   rb_assessment_make()   src/phases/assessment.c  matrix rows, rollback_if, points of no
 *                                                   return (three-valued), verdict, budget
 *   rb_assess_plan()       src/phases/assess.c      the assess phase: one action assess/verdict
 *
 * `rollbackctl assess` and the assess phase build the same assessment and the same JSON object
 * (rb_assessment_json), so what plan shows, what assess prints and what execute journals agree.
 */
#ifndef ROLLBACKCTL_ASSESS_H
#define ROLLBACKCTL_ASSESS_H

#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/expr.h"
#include "rollbackctl/run.h"

/* The statement timeout of a `sql:` signal. */
#define RB_SIGNAL_SQL_TIMEOUT_MS 30000

struct rb_signal_value {
    const char *name;
    struct rb_value value; /* RB_VAL_NULL when unknown */
    const char *source;    /* "sql on 'new'", "prometheus 'metrics'", "file F", "--signals F" */
    const char *unknown;   /* why it is unknown ("no row", "NULL", the error); NULL when known */
};

/*
 * Every runbook signal, then the --signals file (run->signals_file) overriding and adding. A
 * signal that cannot be read is unknown with the reason; run->offline reads none ("not read
 * (--offline)"). -1 with err only when the --signals file itself cannot be used (the operator
 * named it: it is not silently ignored). Arena-owned.
 */
int rb_signals_read(struct rb_run *run, struct rb_signal_value **out, size_t *n,
                    struct rb_err *err);

/*
 * The value a JSON object file holds under key: a number as its text exactly as written
 * (0.1000000000000000000001 stays so), a string, a boolean; null is RB_VAL_NULL. -1 with err
 * when the text is not a JSON object or has no such key. Pure (the file is read by the caller).
 */
int rb_signal_json_value(struct rb_arena *a, const char *json, size_t len, const char *key,
                         struct rb_value *out, struct rb_err *err);

struct rb_assessment {
    struct rb_signal_value *signals;
    size_t n_signals;
    enum rb_tri *matrix; /* one per decision.matrix row */
    const char **matrix_why;
    const struct rb_matrix_row *matched; /* the first true row, or NULL */
    enum rb_severity severity;           /* --severity, else the matched row's, else NONE */
    bool severity_from_option;
    enum rb_tri *rules; /* one per rollback_if */
    const char **rules_why;
    enum rb_tri *ponr; /* one per point_of_no_return */
    const char **ponr_why;
    const char *verdict; /* "warranted", "not_warranted", "undetermined" */
    const char *why;     /* one line: "rollback not warranted: no rollback_if rule is true (...)" */
    int64_t budget_ms;   /* -1: no budget */
    const char *budget_from; /* "recovery_time 2h-4h", "next_payroll_hours 20" */
    time_t deadline;         /* run start + budget; 0 without a budget */
};

/*
 * The assessment of run's runbook (which must have a decision section) from signals already
 * read. Never fails: what cannot be known is unknown.
 */
struct rb_assessment *rb_assessment_make(struct rb_run *run, struct rb_signal_value *signals,
                                         size_t n_signals);

/* The upper bound of a recovery_time ("2h-4h" -> 4h, "30m" -> 30m) in ms; -1 for "n/a" etc. */
int64_t rb_recovery_time_upper_ms(const char *s);

/*
 * The JSON object of `assess -o json` (documented in docs/runbook.md): verdict, severity,
 * scenario, impact, action, recovery_time, signals, unknown, sources, matrix, rollback_if,
 * point_of_no_return, budget_ms, deadline, why.
 */
cJSON *rb_assessment_json(const struct rb_run *run, const struct rb_assessment *as);

/* The assessment as text: signals table, matrix rows, rules, points of no return, budget, verdict
 * (the verdict line last). red/reset colour the true points of no return ("" when not a tty). */
void rb_assessment_text(struct rb_buf *b, const struct rb_run *run, const struct rb_assessment *as,
                        const char *red, const char *reset);

#endif
