/*
 * assessment.c - the decision: every matrix row, rollback_if rule and point of no return
 * evaluated in three-valued logic over the signals, the verdict, and the run's time budget; the
 * assessment as JSON (assess -o json, the assess/verdict result) and as text.
 *
 * Severity: --severity when given, else the first matrix row whose `when` is true. The scenario,
 * impact, action and recovery_time are the first true row's either way (with --severity the rows
 * are still evaluated and shown). Verdict: warranted when any rollback_if rule is true, not
 * warranted when all are false, undetermined otherwise (a rule that reads an unknown signal).
 */
#include "rollbackctl/assess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lookup_ctx {
    const struct rb_signal_value *signals;
    size_t n;
    enum rb_severity severity;
    bool no_severity; /* every matrix row is false: it is known that no severity applies */
};

static int lookup(void *vctx, const char *name, struct rb_value *val)
{
    const struct lookup_ctx *c = vctx;

    memset(val, 0, sizeof(*val));
    if (strcmp(name, "severity") == 0) {
        if (c->severity != RB_SEV_NONE || c->no_severity) {
            val->type = RB_VAL_STRING;
            val->str = c->severity != RB_SEV_NONE ? rb_severity_name(c->severity) : "none";
        }
        return 0; /* no severity yet: NULL, so an expression reading it is unknown */
    }
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->signals[i].name, name) == 0) {
            *val = c->signals[i].value;
            return 0;
        }
    return -1;
}

static enum rb_tri eval(struct rb_arena *a, const struct rb_expr *e, struct lookup_ctx *c,
                        const char **why)
{
    struct rb_err w = RB_ERR_INIT;
    enum rb_tri t = rb_expr_eval3(e, lookup, c, &w);

    *why = NULL;
    if (t != RB_TRI_UNKNOWN)
        return t;
    *why = rb_strdup(a, w.msg);
    /* "'affected_users' is unknown" says why too: "(NULL)", "(connection refused ...)" */
    for (size_t i = 0; i < c->n; i++)
        if (c->signals[i].unknown != NULL &&
            strcmp(w.msg, rb_sprintf(a, "'%s' is unknown", c->signals[i].name)) == 0)
            *why = rb_sprintf(a, "%s: %s", w.msg, c->signals[i].unknown);
    return t;
}

int64_t rb_recovery_time_upper_ms(const char *s)
{
    const char *dash;

    if (s == NULL)
        return -1;
    dash = strrchr(s, '-');
    return rb_duration_parse(dash != NULL ? dash + 1 : s);
}

/* Hours (decimal text) to ms; -1 when not a number. A time already past is a budget of 0. */
static int64_t hours_ms(const char *s)
{
    char *end;
    double h;

    if (s == NULL)
        return -1;
    h = strtod(s, &end); /* a duration, not money: a double is exact enough for milliseconds */
    if (end == s || *end != '\0' || !isfinite(h))
        return -1;
    if (h <= 0)
        return 0;
    if (h > 24.0 * 365 * 100)
        h = 24.0 * 365 * 100;
    return (int64_t)(h * 3600000.0 + 0.5);
}

static const char *sev_or_none(struct rb_arena *a, const struct rb_assessment *as)
{
    const char *sc = as->matched != NULL ? as->matched->scenario : NULL;

    if (as->severity == RB_SEV_NONE && sc == NULL)
        return "no severity, no scenario matched";
    return rb_sprintf(a, "severity %s%s%s%s%s",
                      as->severity != RB_SEV_NONE ? rb_severity_name(as->severity) : "none",
                      as->severity_from_option ? " from --severity" : "",
                      sc != NULL ? ", scenario '" : "", sc != NULL ? sc : "",
                      sc != NULL ? "'" : "");
}

static void decide(struct rb_run *run, struct rb_assessment *as)
{
    const struct rb_decision *d = &run->rb->decision;
    size_t n_true = 0, n_unknown = 0, first_true = 0, first_unknown = 0;

    for (size_t i = 0; i < d->n_rollback_if; i++) {
        if (as->rules[i] == RB_TRI_TRUE && n_true++ == 0)
            first_true = i;
        if (as->rules[i] == RB_TRI_UNKNOWN && n_unknown++ == 0)
            first_unknown = i;
    }
    if (n_true > 0) {
        as->verdict = "warranted";
        as->why = rb_sprintf(
            run->arena, "rollback warranted: '%s' is true%s (%s)", d->rollback_if[first_true].src,
            n_true > 1 ? rb_sprintf(run->arena, " (and %zu more)", n_true - 1) : "",
            sev_or_none(run->arena, as));
    } else if (n_unknown == 0) {
        as->verdict = "not_warranted";
        as->why = rb_sprintf(run->arena, "rollback not warranted: %s (%s)",
                             d->n_rollback_if > 0 ? "no rollback_if rule is true"
                                                  : "the runbook has no rollback_if rules",
                             sev_or_none(run->arena, as));
    } else {
        as->verdict = "undetermined";
        as->why =
            rb_sprintf(run->arena,
                       "rollback undetermined: no rollback_if rule is true and %zu %s "
                       "unknown ('%s': %s) (%s)",
                       n_unknown, n_unknown == 1 ? "is" : "are", d->rollback_if[first_unknown].src,
                       as->rules_why[first_unknown], sev_or_none(run->arena, as));
    }
}

static void budget(struct rb_run *run, struct rb_assessment *as)
{
    int64_t rt = as->matched != NULL ? rb_recovery_time_upper_ms(as->matched->recovery_time) : -1;
    time_t start = run->started_at;

    as->budget_ms = -1;
    if (rt > 0) {
        as->budget_ms = rt;
        as->budget_from = rb_sprintf(run->arena, "recovery_time %s", as->matched->recovery_time);
    }
    for (size_t i = 0; i < as->n_signals; i++) {
        const struct rb_signal_value *sv = &as->signals[i];
        int64_t ms;

        if (strcmp(sv->name, "next_payroll_hours") != 0 || sv->unknown != NULL ||
            sv->value.type != RB_VAL_NUMBER || (ms = hours_ms(sv->value.str)) < 0)
            continue;
        if (as->budget_ms < 0 || ms < as->budget_ms) {
            as->budget_ms = ms;
            as->budget_from = rb_sprintf(run->arena, "next_payroll_hours %s", sv->value.str);
        }
    }
    if (as->budget_ms >= 0)
        as->deadline = start + (time_t)(as->budget_ms / 1000);
}

struct rb_assessment *rb_assessment_make(struct rb_run *run, struct rb_signal_value *signals,
                                         size_t n_signals)
{
    const struct rb_decision *d = &run->rb->decision;
    struct rb_assessment *as = rb_new(run->arena, struct rb_assessment);
    struct lookup_ctx c = { signals, n_signals, RB_SEV_NONE, false };

    memset(as, 0, sizeof(*as));
    /* plan and assess have no run start: the budget counts from now, the same for every use */
    if (run->started_at == 0)
        run->started_at = time(NULL);
    as->signals = signals;
    as->n_signals = n_signals;
    if (run->severity_opt != NULL) {
        as->severity = rb_severity_parse(run->severity_opt);
        as->severity_from_option = as->severity != RB_SEV_NONE;
    }
    /* the matrix reads `severity` only as --severity gave it: no row decides it yet */
    c.severity = as->severity;
    as->matrix = rb_new_array(run->arena, enum rb_tri, d->n_matrix + 1);
    as->matrix_why = rb_new_array(run->arena, const char *, d->n_matrix + 1);
    for (size_t i = 0; i < d->n_matrix; i++) {
        as->matrix[i] = d->matrix[i].when != NULL
                            ? eval(run->arena, d->matrix[i].when, &c, &as->matrix_why[i])
                            : RB_TRI_UNKNOWN;
        if (d->matrix[i].when == NULL)
            as->matrix_why[i] = "no expression";
        if (as->matrix[i] == RB_TRI_TRUE && as->matched == NULL)
            as->matched = &d->matrix[i];
    }
    if (!as->severity_from_option && as->matched != NULL)
        as->severity = as->matched->severity;
    c.severity = as->severity;
    /* no row true and none unknown: no severity applies, which a rule can compare with ("none") */
    c.no_severity = as->severity == RB_SEV_NONE && d->n_matrix > 0;
    for (size_t i = 0; i < d->n_matrix && c.no_severity; i++)
        c.no_severity = as->matrix[i] == RB_TRI_FALSE;
    as->rules = rb_new_array(run->arena, enum rb_tri, d->n_rollback_if + 1);
    as->rules_why = rb_new_array(run->arena, const char *, d->n_rollback_if + 1);
    for (size_t i = 0; i < d->n_rollback_if; i++)
        as->rules[i] = eval(run->arena, d->rollback_if[i].expr, &c, &as->rules_why[i]);
    as->ponr = rb_new_array(run->arena, enum rb_tri, d->n_ponr + 1);
    as->ponr_why = rb_new_array(run->arena, const char *, d->n_ponr + 1);
    for (size_t i = 0; i < d->n_ponr; i++)
        as->ponr[i] = eval(run->arena, d->ponr[i].when.expr, &c, &as->ponr_why[i]);
    decide(run, as);
    budget(run, as);
    return as;
}

/* ---- JSON and text -------------------------------------------------------------------------- */

static cJSON *tri_json(enum rb_tri t)
{
    return t == RB_TRI_UNKNOWN ? cJSON_CreateNull() : cJSON_CreateBool(t == RB_TRI_TRUE);
}

static cJSON *str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* A known signal's value as a string ("0.12", "true", "legacy"). */
static const char *value_text(const struct rb_signal_value *sv)
{
    if (sv->unknown != NULL || sv->value.type == RB_VAL_NULL)
        return NULL;
    if (sv->value.type == RB_VAL_BOOL)
        return sv->value.b ? "true" : "false";
    return sv->value.str;
}

cJSON *rb_assessment_json(const struct rb_run *run, const struct rb_assessment *as)
{
    const struct rb_decision *d = &run->rb->decision;
    const struct rb_matrix_row *m = as->matched;
    cJSON *o = cJSON_CreateObject(), *sig, *unk, *src, *arr;
    char when[40];

    cJSON_AddStringToObject(o, "verdict", as->verdict);
    cJSON_AddStringToObject(o, "why", as->why);
    cJSON_AddItemToObject(
        o, "severity",
        str_or_null(as->severity != RB_SEV_NONE ? rb_severity_name(as->severity) : NULL));
    cJSON_AddStringToObject(o, "severity_from",
                            as->severity_from_option ? "--severity"
                            : m != NULL              ? "matrix"
                                                     : "none");
    cJSON_AddItemToObject(o, "scenario", str_or_null(m != NULL ? m->scenario : NULL));
    cJSON_AddItemToObject(
        o, "impact",
        str_or_null(m != NULL && m->impact != RB_IMPACT_NONE ? rb_impact_name(m->impact) : NULL));
    cJSON_AddItemToObject(o, "action",
                          str_or_null(m != NULL && m->action != RB_ACT_NONE
                                          ? rb_decision_action_name(m->action)
                                          : NULL));
    cJSON_AddItemToObject(o, "recovery_time", str_or_null(m != NULL ? m->recovery_time : NULL));
    sig = cJSON_AddObjectToObject(o, "signals");
    unk = cJSON_AddObjectToObject(o, "unknown");
    src = cJSON_AddObjectToObject(o, "sources");
    for (size_t i = 0; i < as->n_signals; i++) {
        const struct rb_signal_value *sv = &as->signals[i];

        cJSON_AddItemToObject(sig, sv->name, str_or_null(value_text(sv)));
        if (sv->unknown != NULL)
            cJSON_AddStringToObject(unk, sv->name, sv->unknown);
        cJSON_AddItemToObject(src, sv->name, str_or_null(sv->source));
    }
    arr = cJSON_AddArrayToObject(o, "matrix");
    for (size_t i = 0; i < d->n_matrix; i++) {
        cJSON *r = cJSON_CreateObject();

        cJSON_AddStringToObject(r, "scenario", d->matrix[i].scenario);
        cJSON_AddItemToObject(r, "when", str_or_null(d->matrix[i].when_src));
        cJSON_AddItemToObject(r, "value", tri_json(as->matrix[i]));
        if (as->matrix_why[i] != NULL)
            cJSON_AddStringToObject(r, "unknown", as->matrix_why[i]);
        cJSON_AddBoolToObject(r, "matched", m == &d->matrix[i]);
        cJSON_AddItemToArray(arr, r);
    }
    arr = cJSON_AddArrayToObject(o, "rollback_if");
    for (size_t i = 0; i < d->n_rollback_if; i++) {
        cJSON *r = cJSON_CreateObject();

        cJSON_AddStringToObject(r, "expr", d->rollback_if[i].src);
        cJSON_AddItemToObject(r, "value", tri_json(as->rules[i]));
        if (as->rules_why[i] != NULL)
            cJSON_AddStringToObject(r, "unknown", as->rules_why[i]);
        cJSON_AddItemToArray(arr, r);
    }
    arr = cJSON_AddArrayToObject(o, "point_of_no_return");
    for (size_t i = 0; i < d->n_ponr; i++) {
        cJSON *r = cJSON_CreateObject();

        cJSON_AddStringToObject(r, "when", d->ponr[i].when.src);
        cJSON_AddStringToObject(r, "message", d->ponr[i].message);
        cJSON_AddItemToObject(r, "value", tri_json(as->ponr[i]));
        if (as->ponr_why[i] != NULL)
            cJSON_AddStringToObject(r, "unknown", as->ponr_why[i]);
        cJSON_AddItemToArray(arr, r);
    }
    if (as->budget_ms >= 0) {
        cJSON_AddNumberToObject(o, "budget_ms", (double)as->budget_ms);
        cJSON_AddStringToObject(o, "budget_from", as->budget_from);
        cJSON_AddStringToObject(o, "deadline",
                                rb_time_format_rfc3339(as->deadline, when, sizeof(when)));
    } else {
        cJSON_AddNullToObject(o, "budget_ms");
        cJSON_AddNullToObject(o, "budget_from");
        cJSON_AddNullToObject(o, "deadline");
    }
    return o;
}

static int width(const char *s)
{
    int n = 0;

    for (; s != NULL && *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* s padded to w columns (UTF-8 aware), at least one space after. */
static void pad(struct rb_buf *b, const char *s, int w)
{
    int n = width(s);

    rb_buf_adds(b, s);
    do
        rb_buf_addc(b, ' ');
    while (++n < w);
}

void rb_assessment_text(struct rb_buf *b, const struct rb_run *run, const struct rb_assessment *as,
                        const char *red, const char *reset)
{
    const struct rb_decision *d = &run->rb->decision;
    int wn = 6, wv = 5, ws = 8, ww = 4;

    for (size_t i = 0; i < as->n_signals; i++) {
        const struct rb_signal_value *sv = &as->signals[i];
        int v = sv->unknown != NULL ? 7 : width(value_text(sv));

        wn = width(sv->name) > wn ? width(sv->name) : wn;
        wv = v > wv ? v : wv;
    }
    wv = wv > 40 ? 40 : wv;
    rb_buf_addf(b, "signals\n  ");
    pad(b, "NAME", wn + 2);
    pad(b, "VALUE", wv + 2);
    rb_buf_adds(b, "SOURCE\n");
    for (size_t i = 0; i < as->n_signals; i++) {
        const struct rb_signal_value *sv = &as->signals[i];

        rb_buf_adds(b, "  ");
        pad(b, sv->name, wn + 2);
        if (sv->unknown != NULL) {
            pad(b, "unknown", wv + 2);
            rb_buf_addf(b, "%s\n      (%s)\n", sv->source != NULL ? sv->source : "-", sv->unknown);
        } else {
            pad(b, value_text(sv), wv + 2);
            rb_buf_addf(b, "%s\n", sv->source != NULL ? sv->source : "-");
        }
    }
    if (as->n_signals == 0)
        rb_buf_adds(b, "  (none)\n");
    for (size_t i = 0; i < d->n_matrix; i++) {
        ws = width(d->matrix[i].scenario) > ws ? width(d->matrix[i].scenario) : ws;
        ww = width(d->matrix[i].when_src) > ww ? width(d->matrix[i].when_src) : ww;
    }
    ws = ws > 50 ? 50 : ws;
    ww = ww > 50 ? 50 : ww;
    rb_buf_adds(b, "\ndecision matrix\n  ");
    pad(b, "SCENARIO", ws + 2);
    pad(b, "WHEN", ww + 2);
    rb_buf_adds(b, "VALUE\n");
    for (size_t i = 0; i < d->n_matrix; i++) {
        rb_buf_adds(b, "  ");
        pad(b, d->matrix[i].scenario, ws + 2);
        pad(b, d->matrix[i].when_src, ww + 2);
        rb_buf_addf(b, "%s%s%s%s\n", rb_tri_name(as->matrix[i]),
                    as->matched == &d->matrix[i] ? "  <- matched" : "",
                    as->matrix_why[i] != NULL ? "  " : "",
                    as->matrix_why[i] != NULL ? rb_sprintf(run->arena, "(%s)", as->matrix_why[i])
                                              : "");
    }
    if (d->n_matrix == 0)
        rb_buf_adds(b, "  (no rows)\n");
    rb_buf_addf(b, "  severity: %s%s",
                as->severity != RB_SEV_NONE ? rb_severity_name(as->severity) : "none",
                as->severity_from_option ? " (from --severity)\n" : "\n");
    rb_buf_adds(b, "\nrollback_if\n");
    for (size_t i = 0; i < d->n_rollback_if; i++)
        rb_buf_addf(b, "  %-*s  %s%s%s%s\n", ww, d->rollback_if[i].src, rb_tri_name(as->rules[i]),
                    as->rules_why[i] != NULL ? "  (" : "",
                    as->rules_why[i] != NULL ? as->rules_why[i] : "",
                    as->rules_why[i] != NULL ? ")" : "");
    if (d->n_rollback_if == 0)
        rb_buf_adds(b, "  (no rules)\n");
    if (d->n_ponr > 0) {
        rb_buf_adds(b, "\npoint of no return\n");
        for (size_t i = 0; i < d->n_ponr; i++) {
            if (as->ponr[i] == RB_TRI_TRUE)
                rb_buf_addf(b, "  %sPOINT OF NO RETURN: %s%s\n    (%s is true)\n", red,
                            d->ponr[i].message, reset, d->ponr[i].when.src);
            else
                rb_buf_addf(b, "  %-*s  %s%s%s%s\n", ww, d->ponr[i].when.src,
                            rb_tri_name(as->ponr[i]), as->ponr_why[i] != NULL ? "  (" : "",
                            as->ponr_why[i] != NULL ? as->ponr_why[i] : "",
                            as->ponr_why[i] != NULL ? ")" : "");
        }
    }
    if (as->budget_ms >= 0) {
        char dur[32], when[40];

        rb_buf_addf(b, "\nbudget: %s (%s), deadline %s\n",
                    rb_duration_format(as->budget_ms, dur, sizeof(dur)), as->budget_from,
                    rb_time_format_rfc3339(as->deadline, when, sizeof(when)));
    } else {
        rb_buf_adds(b, "\nbudget: none (no recovery_time bound, no next_payroll_hours)\n");
    }
    rb_buf_addf(b, "\nverdict: %s\n", as->why);
}
