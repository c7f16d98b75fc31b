/*
 * report_render.c - the report model (report.c) as Markdown and as one self-contained HTML page.
 *
 * Both renderings walk the same list of sections, built once from the model (a title, bullet
 * lines, a table), so report.md and report.html always say the same things; only the timeline
 * picture differs by medium: a Mermaid gantt block in Markdown, inline SVG in HTML.
 */
#include "rollbackctl/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/run_figures.h"
#include "rollbackctl/runbook.h"

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A value for a table cell or a line: strings as they are, numbers without a fraction when
 * whole, booleans yes/no, null and absent "-". */
static const char *val(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble)
            snprintf(buf, n, "%lld", (long long)v->valuedouble);
        else
            snprintf(buf, n, "%g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        char *s = cJSON_PrintUnformatted(v);

        snprintf(buf, n, "%s", s != NULL ? s : "?");
        cJSON_free(s);
        return buf;
    }
    return "-";
}

/* Milliseconds for people: "0.06 s", "2m30s", "-" when unknown. */
static const char *dur(const cJSON *v, char *buf, size_t n)
{
    if (!cJSON_IsNumber(v))
        return "-";
    if (v->valuedouble < 60000)
        snprintf(buf, n, "%.2f s", v->valuedouble / 1000.0);
    else
        rb_duration_format((int64_t)v->valuedouble, buf, n);
    return buf;
}

/* ---- sections: what both renderings show ------------------------------------------------------ */

struct doc {
    cJSON *sections; /* [{title, level, lines:[..], head:[..], rows:[[..]], picture}] */
    cJSON *cur;
};

static void section(struct doc *d, int level, const char *title)
{
    d->cur = cJSON_CreateObject();
    cJSON_AddStringToObject(d->cur, "title", title);
    cJSON_AddNumberToObject(d->cur, "level", level);
    cJSON_AddItemToObject(d->cur, "lines", cJSON_CreateArray());
    cJSON_AddItemToArray(d->sections, d->cur);
}

static void line(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct doc *d, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(d->cur, "lines"),
                         cJSON_CreateString(buf));
}

static void head(struct doc *d, const char *const *cols)
{
    cJSON *h = cJSON_CreateArray();

    for (; *cols != NULL; cols++)
        cJSON_AddItemToArray(h, cJSON_CreateString(*cols));
    cJSON_AddItemToObject(d->cur, "head", h);
    cJSON_AddItemToObject(d->cur, "rows", cJSON_CreateArray());
}

/* One row of n cells. */
static void row(struct doc *d, int n, ...)
{
    cJSON *r = cJSON_CreateArray();
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);

        cJSON_AddItemToArray(r, cJSON_CreateString(s != NULL ? s : "-"));
    }
    va_end(ap);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(d->cur, "rows"), r);
}

static void picture(struct doc *d)
{
    cJSON_AddTrueToObject(d->cur, "picture");
}

static void build_summary(struct doc *d, const cJSON *r)
{
    const cJSON *m = jget(r, "metrics");
    char b1[64], b2[64];

    line(d, "Outcome: **%s**%s%s", val(jget(r, "outcome"), b1, sizeof(b1)),
         jstr(r, "error") != NULL ? " - " : "", jstr(r, "error") != NULL ? jstr(r, "error") : "");
    line(d, "Started: %s; finished: %s", val(jget(r, "started_at"), b1, sizeof(b1)),
         val(jget(r, "finished_at"), b2, sizeof(b2)));
    line(d, "Execution time: %s; downtime: %s%s", dur(jget(m, "execution_ms"), b1, sizeof(b1)),
         dur(jget(m, "downtime_ms"), b2, sizeof(b2)),
         cJSON_IsTrue(jget(m, "downtime_open")) ? " (still open: restore has not finished)" : "");
    if (jstr(r, "hint") != NULL)
        line(d, "Hint: %s", jstr(r, "hint"));
}

static void build_assessment(struct doc *d, const cJSON *r)
{
    const cJSON *as = jget(r, "assessment"), *x;
    char b1[256], b2[256];

    section(d, 2, "Assessment and reason");
    line(d, "Reason: %s", val(jget(r, "reason"), b1, sizeof(b1)));
    line(d, "Severity: %s; scenario: %s", val(jget(r, "severity"), b1, sizeof(b1)),
         val(jget(r, "scenario"), b2, sizeof(b2)));
    if (!cJSON_IsObject(as)) {
        line(d, "No assessment was journaled for this run%s",
             cJSON_IsTrue(jget(r, "forced")) ? " (started with --force)" : "");
        return;
    }
    line(d, "Verdict: %s; impact: %s", val(jget(as, "verdict"), b1, sizeof(b1)),
         val(jget(as, "impact"), b2, sizeof(b2)));
    line(d, "Action: %s; recovery time: %s", val(jget(as, "action"), b1, sizeof(b1)),
         val(jget(as, "recovery_time"), b2, sizeof(b2)));
    if (cJSON_IsTrue(jget(as, "forced")))
        line(d, "Forced by %s against the assessment", val(jget(as, "forced_by"), b1, sizeof(b1)));
    if (cJSON_IsObject(jget(as, "signals"))) {
        static const char *const cols[] = { "signal", "value", NULL };

        head(d, cols);
        cJSON_ArrayForEach(x, jget(as, "signals"))
            row(d, 2, x->string, val(x, b1, sizeof(b1)));
    }
}

static void build_people(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "who", "host", "when", "as", "comment", NULL };
    const cJSON *x, *den = jget(r, "denied_by");
    char b1[64];

    section(d, 2, "Who initiated and approved");
    line(d, "Initiated by %s", val(jget(r, "initiated_by"), b1, sizeof(b1)));
    if (cJSON_IsNumber(jget(r, "approvals_needed")))
        line(d, "Approvals needed: %s", val(jget(r, "approvals_needed"), b1, sizeof(b1)));
    if (cJSON_IsObject(den))
        line(d, "Denied by %s at %s: %s", val(jget(den, "user"), b1, sizeof(b1)),
             jstr(den, "at") != NULL ? jstr(den, "at") : "-",
             jstr(den, "comment") != NULL ? jstr(den, "comment") : "");
    if (cJSON_GetArraySize(jget(r, "approvals")) == 0) {
        line(d, "No approval was journaled for this run");
        return;
    }
    head(d, cols);
    cJSON_ArrayForEach(x, jget(r, "approvals"))
        row(d, 5, jstr(x, "user"), jstr(x, "host"), jstr(x, "at"), jstr(x, "kind"),
            jstr(x, "comment"));
}

static void build_metrics(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "metric", "value", NULL };
    const cJSON *m = jget(r, "metrics");
    char b[64];

    section(d, 2, "Metrics");
    head(d, cols);
    row(d, 2, "records at risk", val(jget(m, "records_at_risk"), b, sizeof(b)));
    row(d, 2, "records recovered", val(jget(m, "records_recovered"), b, sizeof(b)));
    row(d, 2, "records lost", val(jget(m, "records_lost"), b, sizeof(b)));
    row(d, 2, "recovery rate", val(jget(m, "recovery_rate"), b, sizeof(b)));
    row(d, 2, "downtime",
        cJSON_IsNumber(jget(m, "downtime_ms")) ? dur(jget(m, "downtime_ms"), b, sizeof(b))
                                               : "none measured (no freeze action ran)");
    row(d, 2, "execution time", dur(jget(m, "execution_ms"), b, sizeof(b)));
    row(d, 2, "affected users",
        cJSON_IsNumber(jget(m, "affected_users")) ? val(jget(m, "affected_users"), b, sizeof(b))
                                                  : "not measured (no affected_users signal)");
}

static void build_phases(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "phase", "state",  "started",     "finished", "took",
                                        "share", "budget", "over budget", NULL };
    const cJSON *p;
    char b1[64], b2[64], b3[64], b4[64];

    section(d, 2, "Phases against their budget");
    if (cJSON_IsNumber(jget(r, "budget_ms")))
        line(d, "Budget: %s (from the %s)", dur(jget(r, "budget_ms"), b1, sizeof(b1)),
             val(jget(r, "budget_source"), b2, sizeof(b2)));
    else
        line(d, "Budget: not known (no budget fact and no recovery_time in the assessment)");
    picture(d);
    head(d, cols);
    cJSON_ArrayForEach(p, jget(r, "phases")) {
        snprintf(b3, sizeof(b3), "%s%%", val(jget(p, "budget_share_pct"), b4, sizeof(b4)));
        row(d, 8, jstr(p, "name"), jstr(p, "state"), jstr(p, "started_at"), jstr(p, "finished_at"),
            dur(jget(p, "duration_ms"), b1, sizeof(b1)), b3,
            dur(jget(p, "budget_ms"), b2, sizeof(b2)),
            cJSON_IsBool(jget(p, "over_budget"))
                ? (cJSON_IsTrue(jget(p, "over_budget")) ? "OVER" : "no")
                : "-");
    }
}

static void build_timeline(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "phase",    "action", "state",  "started",
                                        "finished", "took",   "result", NULL };
    const cJSON *a;
    char b1[64];

    section(d, 2, "Timeline");
    head(d, cols);
    cJSON_ArrayForEach(a, jget(r, "timeline"))
        row(d, 7, jstr(a, "phase"), jstr(a, "action"), jstr(a, "state"), jstr(a, "started_at"),
            jstr(a, "finished_at"), dur(jget(a, "duration_ms"), b1, sizeof(b1)), jstr(a, "result"));
}

static void build_sync(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "table",     "state",   "at risk",   "inserted",
                                        "updated",   "deleted", "unchanged", "recovered",
                                        "lost",      NULL };
    const cJSON *t;
    char b[9][32];

    section(d, 2, "Sync tables");
    if (cJSON_GetArraySize(jget(r, "sync_tables")) == 0) {
        line(d, "No table was synced in this run");
        return;
    }
    head(d, cols);
    cJSON_ArrayForEach(t, jget(r, "sync_tables")) {
        row(d, 9, jstr(t, "table"), jstr(t, "state"), val(jget(t, "at_risk"), b[0], 32),
            val(jget(t, "inserted"), b[1], 32), val(jget(t, "updated"), b[2], 32),
            val(jget(t, "deleted"), b[6], 32), val(jget(t, "unchanged"), b[3], 32),
            val(jget(t, "recovered"), b[4], 32), val(jget(t, "lost"), b[5], 32));
        if (cJSON_IsNumber(jget(t, "deletions_not_applied")) &&
            jget(t, "deletions_not_applied")->valuedouble > 0)
            line(d, "'%s': %s rows deleted in new were not applied to legacy (deletions.policy "
                    "%s): counted as lost",
                 jstr(t, "table"), val(jget(t, "deletions_not_applied"), b[7], 32),
                 jstr(t, "deletions_policy") != NULL ? jstr(t, "deletions_policy") : "report");
        if (jstr(t, "error") != NULL)
            line(d, "'%s' failed: %s", jstr(t, "table"), jstr(t, "error"));
    }
}

static void build_verification(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "check", "kind", "passed", "summary", NULL };
    const cJSON *v = jget(r, "verification"), *g = jget(r, "gaps"), *c;
    char b1[64], b2[64], b3[64];

    section(d, 2, "Verification");
    line(d, "Verdict: %s (%s of %s checks passed)%s%s", val(jget(v, "verdict"), b1, sizeof(b1)),
         val(jget(v, "checks_passed"), b2, sizeof(b2)),
         val(jget(v, "checks_total"), b3, sizeof(b3)),
         jstr(v, "details") != NULL ? "; details in " : "",
         jstr(v, "details") != NULL ? jstr(v, "details") : "");
    if (cJSON_GetArraySize(jget(v, "checks")) > 0) {
        head(d, cols);
        cJSON_ArrayForEach(c, jget(v, "checks"))
            row(d, 4, jstr(c, "name"), jstr(c, "kind"), val(jget(c, "passed"), b1, sizeof(b1)),
                jstr(c, "summary"));
    }
    section(d, 2, "Gaps left");
    if (cJSON_IsTrue(jget(g, "computed")))
        line(d, "%s rows to enter in legacy (manual_entry), %s to review",
             val(jget(g, "manual_entry"), b1, sizeof(b1)), val(jget(g, "review"), b2, sizeof(b2)));
    line(d, "%s", val(jget(g, "note"), b1, sizeof(b1)));
}

static void build_notifications(struct doc *d, const cJSON *r)
{
    static const char *const cols[] = { "message", "state", "via",  "to",
                                        "subject", "sent",  "copy", NULL };
    const cJSON *n;
    char b1[512];

    section(d, 2, "Notifications");
    if (cJSON_GetArraySize(jget(r, "notifications")) == 0) {
        line(d, "No message was sent in this run");
        return;
    }
    head(d, cols);
    cJSON_ArrayForEach(n, jget(r, "notifications")) {
        row(d, 7, jstr(n, "name"), jstr(n, "state"), jstr(n, "via"),
            val(jget(n, "to"), b1, sizeof(b1)), jstr(n, "subject"), jstr(n, "sent_at"),
            jstr(n, "copy"));
        if (jstr(n, "error") != NULL)
            line(d, "'%s' not sent: %s", jstr(n, "name"), jstr(n, "error"));
    }
}

static void build_postmortem(struct doc *d, const cJSON *r)
{
    static const char *const tcols[] = { "when", "what", NULL };
    static const char *const wcols[] = { "#", "why", "answer", NULL };
    static const char *const rcols[] = { "#", "action", "owner", "due", "status", NULL };
    const cJSON *pm = jget(r, "postmortem"), *x;
    char b1[64];
    int i = 0;

    section(d, 2, "Post-mortem");
    line(d, "A skeleton to complete with the team; the facts below come from the journal");
    section(d, 3, "Timeline of the incident");
    head(d, tcols);
    {
        char what[256];

        snprintf(what, sizeof(what), "run started by %s: %s",
                 jstr(r, "initiated_by") != NULL ? jstr(r, "initiated_by") : "?",
                 jstr(r, "reason") != NULL ? jstr(r, "reason") : "");
        row(d, 2, jstr(r, "started_at"), what);
    }
    cJSON_ArrayForEach(x, jget(r, "phases")) {
        char what[256];

        snprintf(what, sizeof(what), "phase %s started", jstr(x, "name"));
        row(d, 2, jstr(x, "started_at"), what);
        snprintf(what, sizeof(what), "phase %s ended %s", jstr(x, "name"), jstr(x, "state"));
        row(d, 2, jstr(x, "finished_at"), what);
    }
    {
        char what[256];

        snprintf(what, sizeof(what), "run finished: %s", val(jget(r, "outcome"), b1, sizeof(b1)));
        row(d, 2, jstr(r, "finished_at"), what);
    }
    section(d, 3, "5 whys");
    head(d, wcols);
    cJSON_ArrayForEach(x, jget(pm, "five_whys")) {
        snprintf(b1, sizeof(b1), "%d", ++i);
        row(d, 3, b1, jstr(x, "why"), jstr(x, "answer")[0] != '\0' ? jstr(x, "answer") : " ");
    }
    section(d, 3, "What went well");
    cJSON_ArrayForEach(x, jget(pm, "went_well"))
        line(d, "%s", x->valuestring);
    section(d, 3, "What went wrong");
    cJSON_ArrayForEach(x, jget(pm, "went_wrong"))
        line(d, "%s", x->valuestring);
    if (cJSON_GetArraySize(jget(pm, "went_wrong")) == 0)
        line(d, "(nothing in the journal; add what the team saw)");
    section(d, 3, "Improvements");
    cJSON_ArrayForEach(x, jget(pm, "improvements"))
        line(d, "%s", x->valuestring);
    section(d, 3, "Remediation plan");
    head(d, rcols);
    for (i = 1; i <= 3; i++) {
        snprintf(b1, sizeof(b1), "%d", i);
        row(d, 5, b1, " ", " ", " ", " ");
    }
}

static cJSON *build_doc(const cJSON *r)
{
    struct doc d = { cJSON_CreateArray(), NULL };
    char title[512];

    snprintf(title, sizeof(title), "Rollback report: %s, run %s",
             jstr(r, "runbook") != NULL ? jstr(r, "runbook") : "?",
             jstr(r, "run_id") != NULL ? jstr(r, "run_id") : "?");
    section(&d, 1, title);
    build_summary(&d, r);
    build_assessment(&d, r);
    build_people(&d, r);
    build_metrics(&d, r);
    build_phases(&d, r);
    build_timeline(&d, r);
    build_sync(&d, r);
    build_verification(&d, r);
    build_notifications(&d, r);
    build_postmortem(&d, r);
    return d.sections;
}

/* ---- Markdown --------------------------------------------------------------------------------- */

/* A table cell: '|' escaped, line breaks as spaces, so one row stays one line. */
static void md_cell(struct rb_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            rb_buf_adds(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            rb_buf_addc(b, ' ');
        else
            rb_buf_addc(b, *s);
    }
}

/* A gantt task name: Mermaid ends it at ':' and reads '#' and ';' as syntax. */
static void gantt_name(struct rb_buf *b, const char *s)
{
    for (; *s != '\0'; s++)
        rb_buf_addc(b, (*s == ':' || *s == '#' || *s == ';' || *s == '\n') ? ' ' : *s);
}

static void md_gantt(struct rb_buf *b, const cJSON *r)
{
    const cJSON *p;

    rb_buf_adds(b, "```mermaid\ngantt\n    title Phases (bars) against their budget shares\n");
    rb_buf_adds(b, "    dateFormat x\n    axisFormat %H:%M:%S\n");
    cJSON_ArrayForEach(p, jget(r, "phases")) {
        int64_t t0 = rb_time_parse_ms(jstr(p, "started_at"));
        int64_t t1 = rb_time_parse_ms(jstr(p, "finished_at"));
        const cJSON *pb = jget(p, "budget_ms");
        const char *name = jstr(p, "name");
        const char *state = jstr(p, "state");
        const char *tag = cJSON_IsTrue(jget(p, "over_budget")) || strcmp(state, "failed") == 0
                              ? "crit, "
                          : strcmp(state, "running") == 0 ? "active, "
                                                          : "done, ";
        char d1[32], d2[32];

        if (t0 < 0)
            continue;
        if (t1 < t0)
            t1 = t0;
        rb_buf_adds(b, "    section ");
        gantt_name(b, name);
        rb_buf_adds(b, "\n    ");
        gantt_name(b, name);
        rb_buf_addf(b, " %s %s :%s%s_took, %lld, %lld\n", state,
                    dur(jget(p, "duration_ms"), d1, sizeof(d1)), tag, name, (long long)t0,
                    (long long)(t1 > t0 ? t1 : t0 + 1));
        if (cJSON_IsNumber(pb))
            rb_buf_addf(b, "    budget %lld pct %s :%s_budget, %lld, %lld\n",
                        (long long)cJSON_GetNumberValue(jget(p, "budget_share_pct")),
                        dur(pb, d2, sizeof(d2)), name, (long long)t0,
                        (long long)(t0 + (int64_t)pb->valuedouble));
    }
    rb_buf_adds(b, "```\n\n");
}

void rb_report_markdown(struct rb_buf *b, const cJSON *r)
{
    cJSON *doc = build_doc(r);
    const cJSON *s, *x, *rw, *c;

    cJSON_ArrayForEach(s, doc) {
        int level = (int)cJSON_GetNumberValue(jget(s, "level"));

        rb_buf_addf(b, "%.*s %s\n\n", level, "####", jstr(s, "title"));
        cJSON_ArrayForEach(x, jget(s, "lines"))
            rb_buf_addf(b, "- %s\n", x->valuestring);
        if (cJSON_GetArraySize(jget(s, "lines")) > 0)
            rb_buf_addc(b, '\n');
        if (cJSON_IsTrue(jget(s, "picture")))
            md_gantt(b, r);
        if (jget(s, "head") == NULL)
            continue;
        rb_buf_adds(b, "|");
        cJSON_ArrayForEach(c, jget(s, "head")) {
            rb_buf_addc(b, ' ');
            md_cell(b, c->valuestring);
            rb_buf_adds(b, " |");
        }
        rb_buf_adds(b, "\n|");
        cJSON_ArrayForEach(c, jget(s, "head"))
            rb_buf_adds(b, "---|");
        rb_buf_addc(b, '\n');
        cJSON_ArrayForEach(rw, jget(s, "rows")) {
            rb_buf_adds(b, "|");
            cJSON_ArrayForEach(c, rw) {
                rb_buf_addc(b, ' ');
                md_cell(b, c->valuestring);
                rb_buf_adds(b, " |");
            }
            rb_buf_addc(b, '\n');
        }
        rb_buf_addc(b, '\n');
    }
    cJSON_Delete(doc);
}

/* ---- HTML ------------------------------------------------------------------------------------- */

static void html_esc(struct rb_buf *b, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            rb_buf_adds(b, "&amp;");
            break;
        case '<':
            rb_buf_adds(b, "&lt;");
            break;
        case '>':
            rb_buf_adds(b, "&gt;");
            break;
        case '"':
            rb_buf_adds(b, "&quot;");
            break;
        case '\'':
            rb_buf_adds(b, "&#39;");
            break;
        default:
            rb_buf_addc(b, *s);
        }
    }
}

/* Lines carry Markdown's **bold**; in HTML it becomes <strong>, the rest escaped. */
static void html_line(struct rb_buf *b, const char *s)
{
    bool bold = false;

    for (; *s != '\0'; s++) {
        if (s[0] == '*' && s[1] == '*') {
            rb_buf_adds(b, bold ? "</strong>" : "<strong>");
            bold = !bold;
            s++;
            continue;
        }
        html_esc(b, (char[]){ *s, '\0' });
    }
    if (bold)
        rb_buf_adds(b, "</strong>");
}

static const char *state_colour(const char *state, bool over)
{
    if (over || strcmp(state, "failed") == 0)
        return "#c0392b";
    if (strcmp(state, "partial") == 0 || strcmp(state, "interrupted") == 0)
        return "#e67e22";
    if (strcmp(state, "running") == 0)
        return "#2980b9";
    return "#27ae60";
}

/* The phases on one time axis: a solid bar for what each took, an outline for its budget. */
static void html_svg(struct rb_buf *b, const cJSON *r)
{
    const int width = 960, label = 110, row_h = 34, top = 24;
    int64_t t_min = -1, t_max = -1;
    const cJSON *p;
    int n = 0, i = 0;
    double scale;

    cJSON_ArrayForEach(p, jget(r, "phases")) {
        int64_t t0 = rb_time_parse_ms(jstr(p, "started_at"));
        int64_t t1 = rb_time_parse_ms(jstr(p, "finished_at"));
        const cJSON *pb = jget(p, "budget_ms");

        if (t0 < 0)
            continue;
        n++;
        if (t_min < 0 || t0 < t_min)
            t_min = t0;
        if (t1 > t_max)
            t_max = t1;
        if (cJSON_IsNumber(pb) && t0 + (int64_t)pb->valuedouble > t_max)
            t_max = t0 + (int64_t)pb->valuedouble;
    }
    if (n == 0) {
        rb_buf_adds(b, "<p>No phase started in this run.</p>\n");
        return;
    }
    if (t_max <= t_min)
        t_max = t_min + 1;
    scale = (double)(width - label - 20) / (double)(t_max - t_min);
    rb_buf_addf(b,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "role=\"img\" aria-label=\"phase timeline\">\n"
                "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fbfbfd\"/>\n"
                "<text x=\"%d\" y=\"16\" class=\"axis\">0 s</text>"
                "<text x=\"%d\" y=\"16\" class=\"axis\" text-anchor=\"end\">%.2f s</text>\n",
                width, top + n * row_h + 10, width, top + n * row_h + 10, label, width - 20,
                (double)(t_max - t_min) / 1000.0);
    cJSON_ArrayForEach(p, jget(r, "phases")) {
        int64_t t0 = rb_time_parse_ms(jstr(p, "started_at"));
        int64_t t1 = rb_time_parse_ms(jstr(p, "finished_at"));
        const cJSON *pb = jget(p, "budget_ms");
        int y = top + i * row_h;
        double x0, w;

        if (t0 < 0)
            continue;
        i++;
        if (t1 < t0)
            t1 = t0;
        x0 = label + (double)(t0 - t_min) * scale;
        w = (double)(t1 - t0) * scale;
        if (w < 3)
            w = 3; /* a phase of a few ms is still seen */
        rb_buf_adds(b, "<text x=\"4\" y=\"");
        rb_buf_addf(b, "%d\" class=\"lbl\">", y + 20);
        html_esc(b, jstr(p, "name"));
        rb_buf_adds(b, "</text>\n");
        if (cJSON_IsNumber(pb))
            rb_buf_addf(
                b,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"24\" fill=\"none\" "
                "stroke=\"#7f8c8d\" stroke-dasharray=\"4 3\"><title>budget</title></rect>\n",
                x0, y + 4, (double)(int64_t)pb->valuedouble * scale);
        rb_buf_addf(b,
                    "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"16\" rx=\"3\" "
                    "fill=\"%s\"><title>",
                    x0, y + 8, w,
                    state_colour(jstr(p, "state"), cJSON_IsTrue(jget(p, "over_budget"))));
        html_esc(b, jstr(p, "name"));
        rb_buf_adds(b, " ");
        html_esc(b, jstr(p, "state"));
        rb_buf_adds(b, "</title></rect>\n");
    }
    rb_buf_adds(b, "</svg>\n<p class=\"legend\">solid: what the phase took (green done, orange "
                   "partial, red failed or over budget, blue running); dashed: its budget "
                   "share</p>\n");
}

void rb_report_html(struct rb_buf *b, const cJSON *r)
{
    cJSON *doc = build_doc(r);
    const cJSON *s, *x, *rw, *c;

    rb_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>");
    html_esc(b, jstr(cJSON_GetArrayItem(doc, 0), "title"));
    rb_buf_adds(
        b, "</title>\n<style>\n"
           "body{font-family:sans-serif;margin:2em;color:#222;background:#fff;max-width:1100px}\n"
           "h1{font-size:1.5em;border-bottom:3px solid #2c3e50}h2{margin-top:1.6em;"
           "border-bottom:1px solid #ccc}\n"
           "table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #bbb;"
           "padding:.25em .6em;text-align:left;font-size:.9em}th{background:#ecf0f1}\n"
           "tr:nth-child(even) td{background:#f7f9fa}.axis,.lbl{font-size:12px;fill:#333}\n"
           ".legend{font-size:.8em;color:#555}\n</style>\n</head>\n<body>\n");
    cJSON_ArrayForEach(s, doc) {
        int level = (int)cJSON_GetNumberValue(jget(s, "level"));

        rb_buf_addf(b, "<h%d>", level);
        html_esc(b, jstr(s, "title"));
        rb_buf_addf(b, "</h%d>\n", level);
        if (cJSON_GetArraySize(jget(s, "lines")) > 0) {
            rb_buf_adds(b, "<ul>\n");
            cJSON_ArrayForEach(x, jget(s, "lines")) {
                rb_buf_adds(b, "<li>");
                html_line(b, x->valuestring);
                rb_buf_adds(b, "</li>\n");
            }
            rb_buf_adds(b, "</ul>\n");
        }
        if (cJSON_IsTrue(jget(s, "picture")))
            html_svg(b, r);
        if (jget(s, "head") == NULL)
            continue;
        rb_buf_adds(b, "<table>\n<tr>");
        cJSON_ArrayForEach(c, jget(s, "head")) {
            rb_buf_adds(b, "<th>");
            html_esc(b, c->valuestring);
            rb_buf_adds(b, "</th>");
        }
        rb_buf_adds(b, "</tr>\n");
        cJSON_ArrayForEach(rw, jget(s, "rows")) {
            rb_buf_adds(b, "<tr>");
            cJSON_ArrayForEach(c, rw) {
                rb_buf_adds(b, "<td>");
                html_esc(b, c->valuestring);
                rb_buf_adds(b, "</td>");
            }
            rb_buf_adds(b, "</tr>\n");
        }
        rb_buf_adds(b, "</table>\n");
    }
    rb_buf_adds(b, "</body>\n</html>\n");
    cJSON_Delete(doc);
}
