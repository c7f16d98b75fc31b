/*
 * run_figures.c - a run's times from its journal (see run_figures.h). Reads only; every reporter
 * (templates, report, metrics) goes through here so "downtime" has one definition.
 */
#include "rollbackctl/run_figures.h"

#include <ctype.h>
#include <string.h>

#include "rollbackctl/runbook.h"

int64_t rb_time_parse_ms(const char *ts)
{
    time_t s;
    const char *dot;
    int64_t ms = 0;
    int digits = 0;

    if (ts == NULL || rb_time_parse_rfc3339(ts, &s) < 0)
        return -1;
    /* the fraction, to milliseconds (rb_time_parse_rfc3339 keeps whole seconds) */
    dot = strchr(ts, '.');
    if (dot != NULL && strchr(ts, 'T') != NULL && dot > strchr(ts, 'T')) {
        for (dot++; isdigit((unsigned char)*dot) && digits < 3; dot++, digits++)
            ms = ms * 10 + (*dot - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    return (int64_t)s * 1000 + ms;
}

int rb_phase_budget_share_pct(const char *phase)
{
    static const struct {
        const char *phase;
        int pct;
    } shares[] = {
        { "freeze", 5 }, { "sync", 25 }, { "restore", 20 }, { "verify", 20 }, { "communicate", 10 }
    };
    size_t i;

    for (i = 0; phase != NULL && i < sizeof(shares) / sizeof(shares[0]); i++)
        if (strcmp(shares[i].phase, phase) == 0)
            return shares[i].pct;
    return 0;
}

static struct rb_phase_span *span_of(struct rb_run_figures *f, const char *phase)
{
    size_t i;

    for (i = 0; i < f->n_phases; i++)
        if (strcmp(f->phases[i].phase, phase) == 0)
            return &f->phases[i];
    if (f->n_phases == RB_FIGURES_MAX_PHASES)
        return NULL;
    f->phases[f->n_phases] = (struct rb_phase_span){
        .phase = phase, .started_ms = -1, .finished_ms = -1, .state = "running"
    };
    return &f->phases[f->n_phases++];
}

void rb_run_figures_read(const struct rb_journal_log *log, struct rb_run_figures *f)
{
    int64_t restore_end = -1;
    size_t i;

    memset(f, 0, sizeof(*f));
    f->started_ms = f->finished_ms = f->last_ms = -1;
    f->downtime_started_ms = f->downtime_ended_ms = f->downtime_ms = -1;
    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];
        int64_t t = rb_time_parse_ms(e->ts);
        struct rb_phase_span *sp;

        if (t < 0)
            continue;
        f->last_ms = t;
        if (strcmp(e->event, "run_started") == 0 && f->started_ms < 0)
            f->started_ms = t;
        if (strcmp(e->event, "run_finished") == 0) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(e->data, "outcome");

            f->finished_ms = t;
            f->outcome = cJSON_IsString(o) ? o->valuestring : NULL;
        } else if (e->phase[0] != '\0' && (sp = span_of(f, e->phase)) != NULL) {
            if (strcmp(e->event, "phase_started") == 0) {
                if (sp->started_ms < 0)
                    sp->started_ms = t;
                sp->state = "running";
            } else if (strcmp(e->event, "phase_done") == 0) {
                sp->state = "done";
            } else if (strcmp(e->event, "phase_partial") == 0) {
                sp->state = "partial";
            } else if (strcmp(e->event, "phase_failed") == 0) {
                sp->state = "failed";
            }
            if (sp->started_ms < 0)
                sp->started_ms = t;
            sp->finished_ms = t;
            if (strcmp(e->phase, "restore") == 0 &&
                (strcmp(e->event, "phase_done") == 0 || strcmp(e->event, "phase_partial") == 0))
                restore_end = t;
        }
        if (strcmp(e->phase, "freeze") == 0 && strcmp(e->event, "started") == 0 &&
            f->downtime_started_ms < 0)
            f->downtime_started_ms = t;
    }
    /* a phase the run ended inside (an action failed, a stop) ended there, with the run */
    for (i = 0; i < f->n_phases; i++)
        if (strcmp(f->phases[i].state, "running") == 0 && f->finished_ms >= 0)
            f->phases[i].state = f->outcome != NULL && strcmp(f->outcome, "interrupted") == 0
                                     ? "interrupted"
                                     : "failed";
    if (f->started_ms >= 0)
        f->execution_ms = (f->finished_ms >= 0 ? f->finished_ms : f->last_ms) - f->started_ms;
    if (f->downtime_started_ms >= 0) {
        f->downtime_open = restore_end < 0;
        f->downtime_ended_ms = restore_end >= 0 ? restore_end : f->last_ms;
        f->downtime_ms = f->downtime_ended_ms - f->downtime_started_ms;
    }
}
