/*
 * report.c - the report model of a run, built from its journal alone (see report.h): who, why,
 * the timeline of every action, phases against their budget shares, the seed's metrics, sync
 * tables, verification, gaps, notifications and a post-mortem skeleton prefilled with facts.
 * Rendering is report_render.c's, the bundle report_bundle.c's.
 */
#include "rollbackctl/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/run_figures.h"
#include "rollbackctl/runbook.h"

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void add_str(cJSON *o, const char *key, const char *val)
{
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
    else
        cJSON_AddNullToObject(o, key);
}

/* A copy of o[key] (null when absent) added to dst under key. */
static void add_copy(cJSON *dst, const char *key, const cJSON *o, const char *src_key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, src_key);

    cJSON_AddItemToObject(dst, key, v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

/* Epoch ms as the journal writes times ("2026-12-01T10:00:00.123Z"); null when unknown. */
static cJSON *time_json(int64_t ms)
{
    char buf[96];
    time_t s;
    struct tm tm;

    if (ms < 0)
        return cJSON_CreateNull();
    s = (time_t)(ms / 1000);
    gmtime_r(&s, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return cJSON_CreateString(buf);
}

static cJSON *ms_json(int64_t ms)
{
    return ms >= 0 ? cJSON_CreateNumber((double)ms) : cJSON_CreateNull();
}

/* ---- actions -------------------------------------------------------------------------------- */

/* One action's last attempt, as the timeline shows it. */
static cJSON *action_of(cJSON *actions, const char *id, const char *phase)
{
    cJSON *a;

    cJSON_ArrayForEach(a, actions) {
        if (strcmp(jstr(a, "action"), id) == 0)
            return a;
    }
    a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "action", id);
    cJSON_AddStringToObject(a, "phase", phase);
    cJSON_AddNullToObject(a, "summary");
    cJSON_AddStringToObject(a, "state", "running");
    cJSON_AddNullToObject(a, "started_at");
    cJSON_AddNullToObject(a, "finished_at");
    cJSON_AddNullToObject(a, "duration_ms");
    cJSON_AddNullToObject(a, "result");
    cJSON_AddNumberToObject(a, "attempts", 0);
    cJSON_AddItemToArray(actions, a);
    return a;
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

/* The data of the last done/failed line of each action, by id (borrowed from the log). */
struct last_data {
    const char *id;
    const struct rb_journal_entry *e;
};

static void read_actions(const struct rb_journal_log *log, cJSON *actions)
{
    size_t i;

    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];
        bool started = strcmp(e->event, "started") == 0;
        bool done = strcmp(e->event, "done") == 0;
        bool failed = strcmp(e->event, "failed") == 0;
        cJSON *a;
        const cJSON *ms;

        if (e->action[0] == '\0' || !(started || done || failed))
            continue;
        a = action_of(actions, e->action, e->phase);
        if (started) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "attempts");

            set_item(a, "attempts", cJSON_CreateNumber(n->valuedouble + 1));
            set_item(a, "summary",
                     cJSON_CreateString(jstr(e->data, "summary") != NULL ? jstr(e->data, "summary")
                                                                         : ""));
            set_item(a, "started_at", cJSON_CreateString(e->ts));
            set_item(a, "state", cJSON_CreateString("running"));
            set_item(a, "finished_at", cJSON_CreateNull());
            set_item(a, "duration_ms", cJSON_CreateNull());
            set_item(a, "result", cJSON_CreateNull());
            continue;
        }
        set_item(a, "state", cJSON_CreateString(done ? "done" : "failed"));
        set_item(a, "finished_at", cJSON_CreateString(e->ts));
        ms = cJSON_GetObjectItemCaseSensitive(e->data, "duration_ms");
        if (cJSON_IsNumber(ms)) {
            set_item(a, "duration_ms", cJSON_CreateNumber(ms->valuedouble));
        } else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(a, "started_at"))) {
            int64_t t0 = rb_time_parse_ms(jstr(a, "started_at")), t1 = rb_time_parse_ms(e->ts);

            set_item(a, "duration_ms",
                     t0 >= 0 && t1 >= t0 ? cJSON_CreateNumber((double)(t1 - t0))
                                         : cJSON_CreateNull());
        }
        if (failed && jstr(e->data, "error") != NULL)
            set_item(a, "result", cJSON_CreateString(jstr(e->data, "error")));
        else if (jstr(e->data, "message") != NULL)
            set_item(a, "result", cJSON_CreateString(jstr(e->data, "message")));
        if (failed && jstr(e->data, "error") != NULL)
            set_item(a, "error", cJSON_CreateString(jstr(e->data, "error")));
        else if (done && cJSON_GetObjectItemCaseSensitive(a, "error") != NULL)
            cJSON_DeleteItemFromObjectCaseSensitive(a, "error"); /* a retry that succeeded */
    }
}

/* The data of the last done or failed line of action id (and which it was), or NULL. */
static const cJSON *last_result(const struct rb_journal_log *log, const char *id, bool *failed)
{
    size_t i;

    for (i = log->n; i-- > 0;) {
        const struct rb_journal_entry *e = &log->entries[i];

        if (strcmp(e->action, id) != 0)
            continue;
        if (strcmp(e->event, "done") == 0 || strcmp(e->event, "failed") == 0) {
            if (failed != NULL)
                *failed = strcmp(e->event, "failed") == 0;
            return e->data;
        }
    }
    return NULL;
}

/* A failed line carries its result under "result" (engine.c); a done line is the result. */
static const cJSON *result_of(const cJSON *data, bool failed)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(data, "result");

    return failed && cJSON_IsObject(r) ? r : data;
}

/* ---- budgets -------------------------------------------------------------------------------- */

/* "2h-4h" -> 4h in ms; "30m" -> 30m; "n/a" or junk -> -1. */
static int64_t recovery_time_upper_ms(const char *rt)
{
    const char *dash;

    if (rt == NULL)
        return -1;
    dash = strrchr(rt, '-');
    return rb_duration_parse(dash != NULL ? dash + 1 : rt);
}

static void add_budget(cJSON *r, const cJSON *facts, const cJSON *assessment, int64_t *budget)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(facts, "budget");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "budget_ms");
    const char *source = NULL;

    *budget = -1;
    if (cJSON_IsNumber(ms) && ms->valuedouble > 0) {
        *budget = (int64_t)ms->valuedouble;
        source = "budget fact";
    } else if ((*budget = recovery_time_upper_ms(jstr(assessment, "recovery_time"))) > 0) {
        source = "recovery_time";
    } else {
        *budget = -1;
    }
    cJSON_AddItemToObject(r, "budget_ms", ms_json(*budget));
    add_str(r, "budget_source", source);
}

static cJSON *phases_json(const struct rb_run_figures *f, int64_t budget)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < f->n_phases; i++) {
        const struct rb_phase_span *sp = &f->phases[i];
        int pct = rb_phase_budget_share_pct(sp->phase);
        int64_t dur = sp->started_ms >= 0 && sp->finished_ms >= sp->started_ms
                          ? sp->finished_ms - sp->started_ms
                          : -1;
        int64_t pb = budget > 0 && pct > 0 ? budget * pct / 100 : -1;
        cJSON *p = cJSON_CreateObject();

        cJSON_AddStringToObject(p, "name", sp->phase);
        cJSON_AddStringToObject(p, "state", sp->state);
        cJSON_AddItemToObject(p, "started_at", time_json(sp->started_ms));
        cJSON_AddItemToObject(p, "finished_at", time_json(sp->finished_ms));
        cJSON_AddItemToObject(p, "duration_ms", ms_json(dur));
        cJSON_AddNumberToObject(p, "budget_share_pct", pct);
        cJSON_AddItemToObject(p, "budget_ms", ms_json(pb));
        if (pb >= 0 && dur >= 0)
            cJSON_AddBoolToObject(p, "over_budget", dur > pb);
        else
            cJSON_AddNullToObject(p, "over_budget");
        cJSON_AddItemToArray(arr, p);
    }
    return arr;
}

/* ---- sections ------------------------------------------------------------------------------- */

static cJSON *num_or_null(const cJSON *v)
{
    return cJSON_IsNumber(v) ? cJSON_CreateNumber(v->valuedouble) : cJSON_CreateNull();
}

static cJSON *metrics_json(const cJSON *facts, const struct rb_run_figures *f,
                           const cJSON *assessment)
{
    cJSON *m = cJSON_CreateObject();
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(facts, "records_at_risk");
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(facts, "records_recovered");
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(assessment, "signals"), "affected_users");
    char rate[32];

    cJSON_AddItemToObject(m, "records_at_risk", num_or_null(risk));
    cJSON_AddItemToObject(m, "records_recovered", num_or_null(rec));
    cJSON_AddItemToObject(m, "records_lost",
                          num_or_null(cJSON_GetObjectItemCaseSensitive(facts, "records_lost")));
    /* the ratio is a count over a count (never money), two decimals in the percentage */
    if (cJSON_IsNumber(risk) && cJSON_IsNumber(rec) && risk->valuedouble > 0) {
        double ratio = rec->valuedouble / risk->valuedouble;

        snprintf(rate, sizeof(rate), "%.2f%%", ratio * 100.0);
        cJSON_AddStringToObject(m, "recovery_rate", rate);
        cJSON_AddNumberToObject(m, "recovery_ratio", ratio);
    } else if (cJSON_IsNumber(risk) && cJSON_IsNumber(rec)) {
        cJSON_AddStringToObject(m, "recovery_rate", "100.00%"); /* nothing was at risk */
        cJSON_AddNumberToObject(m, "recovery_ratio", 1);
    } else {
        add_copy(m, "recovery_rate", facts, "recovery_rate");
        cJSON_AddNullToObject(m, "recovery_ratio");
    }
    cJSON_AddItemToObject(m, "downtime_ms", ms_json(f->downtime_ms));
    cJSON_AddBoolToObject(m, "downtime_open", f->downtime_open);
    cJSON_AddItemToObject(m, "downtime_started_at", time_json(f->downtime_started_ms));
    cJSON_AddItemToObject(m, "downtime_ended_at", time_json(f->downtime_ended_ms));
    cJSON_AddItemToObject(m, "execution_ms", ms_json(f->started_ms >= 0 ? f->execution_ms : -1));
    cJSON_AddItemToObject(m, "affected_users", num_or_null(users));
    return m;
}

/*
 * `split:` a table's ranges are actions sync/<table>#<n> (fact sync_tables keeps the table, with
 * its ranges under it): the base name when id is one of them, else NULL.
 */
static const char *range_base(const cJSON *per, const char *name, char *buf, size_t len)
{
    const char *hash = strrchr(name, '#');
    const cJSON *table;
    const char *p;

    if (hash == NULL || hash[1] == '\0' || (size_t)(hash - name) >= len)
        return NULL;
    for (p = hash + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return NULL;
    memcpy(buf, name, (size_t)(hash - name));
    buf[hash - name] = '\0';
    table = cJSON_GetObjectItemCaseSensitive(per, buf);
    return cJSON_GetObjectItemCaseSensitive(table, "ranges") != NULL ? buf : NULL;
}

/* Add range row t into its table's row: counts summed, the longest duration, the worst state. */
static void merge_range(cJSON *row, const cJSON *t)
{
    static const char *const sums[] = { "at_risk",   "inserted",        "updated",
                                        "unchanged", "deletions_found", NULL };
    const cJSON *v;
    cJSON *o;

    for (size_t k = 0; sums[k] != NULL; k++) {
        v = cJSON_GetObjectItemCaseSensitive(t, sums[k]);
        o = cJSON_GetObjectItemCaseSensitive(row, sums[k]);
        if (cJSON_IsNumber(v))
            cJSON_ReplaceItemInObjectCaseSensitive(
                row, sums[k],
                cJSON_CreateNumber(v->valuedouble + (cJSON_IsNumber(o) ? o->valuedouble : 0)));
    }
    v = cJSON_GetObjectItemCaseSensitive(t, "duration_ms");
    o = cJSON_GetObjectItemCaseSensitive(row, "duration_ms");
    if (cJSON_IsNumber(v) && (!cJSON_IsNumber(o) || v->valuedouble > o->valuedouble))
        cJSON_ReplaceItemInObjectCaseSensitive(row, "duration_ms",
                                               cJSON_CreateNumber(v->valuedouble));
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "deletions_policy")))
        cJSON_ReplaceItemInObjectCaseSensitive(
            row, "deletions_policy",
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "deletions_policy"), 1));
    /* each range's checksum, in range order, comma-separated */
    if (jstr(t, "checksum") != NULL) {
        struct rb_buf b = RB_BUF_INIT;

        if (jstr(row, "checksum") != NULL)
            rb_buf_addf(&b, "%s,", jstr(row, "checksum"));
        rb_buf_adds(&b, jstr(t, "checksum"));
        cJSON_ReplaceItemInObjectCaseSensitive(row, "checksum", cJSON_CreateString(b.data));
        rb_buf_release(&b);
    }
    if (jstr(t, "state") != NULL && strcmp(jstr(t, "state"), "done") != 0 &&
        (jstr(row, "state") == NULL || strcmp(jstr(row, "state"), "failed") != 0))
        cJSON_ReplaceItemInObjectCaseSensitive(row, "state", cJSON_CreateString(jstr(t, "state")));
    if (cJSON_GetObjectItemCaseSensitive(t, "error") != NULL &&
        cJSON_GetObjectItemCaseSensitive(row, "error") == NULL)
        cJSON_AddItemToObject(row, "error",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "error"), 1));
    o = cJSON_GetObjectItemCaseSensitive(row, "ranges");
    cJSON_ReplaceItemInObjectCaseSensitive(row, "ranges",
                                           cJSON_CreateNumber(cJSON_GetNumberValue(o) + 1));
}

static cJSON *sync_json(const struct rb_journal_log *log, const cJSON *actions, const cJSON *facts)
{
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(facts, "sync_tables");
    cJSON *arr = cJSON_CreateArray();
    const cJSON *a;

    cJSON_ArrayForEach(a, actions) {
        const char *id = jstr(a, "action");
        bool failed = false;
        const cJSON *d, *res, *tf;
        const char *base;
        char basebuf[512];
        cJSON *t;

        if (strcmp(jstr(a, "phase"), "sync") != 0 || strncmp(id, "sync/", 5) != 0)
            continue;
        d = last_result(log, id, &failed);
        res = result_of(d, failed);
        base = range_base(per, id + 5, basebuf, sizeof(basebuf));
        tf = cJSON_GetObjectItemCaseSensitive(per, base != NULL ? base : id + 5);
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "table", base != NULL ? base : id + 5);
        cJSON_AddStringToObject(t, "state", jstr(a, "state"));
        add_copy(t, "at_risk", res, "at_risk");
        add_copy(t, "inserted", res, "inserted");
        add_copy(t, "updated", res, "updated");
        add_copy(t, "unchanged", res, "unchanged");
        add_copy(t, "recovered", tf, "recovered");
        add_copy(t, "lost", tf, "lost");
        /* deletions since cutover, where the table's policy looked for them (else absent) */
        add_copy(t, "deletions_policy", cJSON_GetObjectItemCaseSensitive(res, "deletions"),
                 "policy");
        add_copy(t, "deletions_found", cJSON_GetObjectItemCaseSensitive(res, "deletions"),
                 "found");
        add_copy(t, "deleted", tf, "deleted");
        add_copy(t, "deletions_not_applied", tf, "deletions_not_applied");
        add_copy(t, "checksum", res, "checksum");
        add_copy(t, "duration_ms", a, "duration_ms");
        if (failed)
            add_str(t, "error", jstr(d, "error"));
        if (base != NULL) {
            cJSON *row = NULL, *it;

            cJSON_ArrayForEach(it, arr)
                if (jstr(it, "table") != NULL && strcmp(jstr(it, "table"), base) == 0)
                    row = it;
            if (row != NULL) {
                merge_range(row, t);
                cJSON_Delete(t);
                continue;
            }
            cJSON_AddNumberToObject(t, "ranges", 1);
        }
        cJSON_AddItemToArray(arr, t);
    }
    return arr;
}

/* Verification checks, and the gaps verify's compare checks counted (gaps' own two actions). */
static cJSON *verification_json(const struct rb_journal_log *log, const cJSON *actions,
                                const cJSON *facts, cJSON **gaps_out)
{
    cJSON *v = cJSON_CreateObject(), *checks = cJSON_CreateArray();
    cJSON *gaps = cJSON_CreateObject(), *by_table = cJSON_CreateArray();
    double manual = 0, review = 0;
    bool computed = false, report_done = false;
    int passed = 0, total = 0;
    const cJSON *a;

    cJSON_ArrayForEach(a, actions) {
        const char *id = jstr(a, "action");
        bool failed = false;
        const cJSON *d, *res, *cmp;
        cJSON *c;

        if (strcmp(jstr(a, "phase"), "verify") != 0)
            continue;
        if (strcmp(id, "verify/report") == 0) {
            report_done = strcmp(jstr(a, "state"), "done") == 0;
            continue;
        }
        d = last_result(log, id, &failed);
        res = result_of(d, failed);
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "action", id);
        add_str(c, "name", jstr(res, "name") != NULL ? jstr(res, "name") : id + 7);
        add_copy(c, "kind", res, "kind");
        if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(res, "passed")))
            add_copy(c, "passed", res, "passed");
        else if (d != NULL)
            cJSON_AddBoolToObject(c, "passed", !failed);
        else
            cJSON_AddNullToObject(c, "passed");
        add_str(c, "summary",
                jstr(res, "summary") != NULL ? jstr(res, "summary") : jstr(a, "result"));
        total++;
        passed += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed"));
        cJSON_AddItemToArray(checks, c);
        cmp = cJSON_GetObjectItemCaseSensitive(res, "compare");
        if (cJSON_IsObject(cmp)) {
            const cJSON *mi = cJSON_GetObjectItemCaseSensitive(cmp, "missing_in_legacy");
            const cJSON *df = cJSON_GetObjectItemCaseSensitive(cmp, "differing");
            cJSON *t = cJSON_CreateObject();

            computed = true;
            manual += cJSON_IsNumber(mi) ? mi->valuedouble : 0;
            review += cJSON_IsNumber(df) ? df->valuedouble : 0;
            add_copy(t, "table", cmp, "table");
            cJSON_AddItemToObject(t, "manual_entry", num_or_null(mi));
            cJSON_AddItemToObject(t, "review", num_or_null(df));
            cJSON_AddItemToArray(by_table, t);
        }
    }
    add_copy(v, "verdict", facts, "verification");
    cJSON_AddNumberToObject(v, "checks_passed", passed);
    cJSON_AddNumberToObject(v, "checks_total", total);
    cJSON_AddItemToObject(v, "checks", checks);
    add_str(v, "details", report_done ? "verification.json" : NULL);

    cJSON_AddBoolToObject(gaps, "computed", computed);
    cJSON_AddItemToObject(gaps, "manual_entry",
                          computed ? cJSON_CreateNumber(manual) : cJSON_CreateNull());
    cJSON_AddItemToObject(gaps, "review",
                          computed ? cJSON_CreateNumber(review) : cJSON_CreateNull());
    cJSON_AddItemToObject(gaps, "by_table", by_table);
    add_str(gaps, "note",
            computed ? "rows verify's compare checks found missing in legacy (manual_entry) or "
                       "different (review); 'rollbackctl gaps' lists them"
                     : "not computed: no compare check ran; 'rollbackctl gaps' computes them");
    *gaps_out = gaps;
    return v;
}

static cJSON *notifications_json(const struct rb_journal_log *log, const cJSON *actions)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *a;

    cJSON_ArrayForEach(a, actions) {
        const char *id = jstr(a, "action");
        bool failed = false;
        const cJSON *d, *res;
        cJSON *n;

        if (strncmp(id, "communicate/", 12) != 0)
            continue;
        d = last_result(log, id, &failed);
        res = result_of(d, failed);
        n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "action", id);
        cJSON_AddStringToObject(n, "name", id + 12);
        cJSON_AddStringToObject(n, "state", d == NULL ? "running" : failed ? "failed" : "sent");
        add_copy(n, "via", res, "via");
        add_copy(n, "driver", res, "driver");
        add_copy(n, "to", res, "to");
        add_copy(n, "subject", res, "subject");
        add_copy(n, "message_id", res, "message_id");
        add_copy(n, "attempts", res, "attempts");
        add_copy(n, "copy", res, "copy");
        add_str(n, "error", failed ? jstr(d, "error") : NULL);
        add_copy(n, "sent_at", a, "finished_at");
        cJSON_AddItemToArray(arr, n);
    }
    return arr;
}

/* approvals: the approve/quorum result, else the fact; denied_by from a failed quorum. */
static void add_approvals(cJSON *r, const struct rb_journal_log *log, const cJSON *facts)
{
    bool failed = false;
    const cJSON *d = last_result(log, "approve/quorum", &failed);
    const cJSON *res = result_of(d, failed);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(res, "approvals");

    if (!cJSON_IsArray(list))
        list = cJSON_GetObjectItemCaseSensitive(facts, "approvals");
    cJSON_AddItemToObject(r, "approvals",
                          cJSON_IsArray(list) ? cJSON_Duplicate(list, 1) : cJSON_CreateArray());
    add_copy(r, "approvals_needed", res, "needed");
    add_copy(r, "denied_by", res, "denied_by");
}

/* ---- post-mortem ---------------------------------------------------------------------------- */

static void addf(cJSON *arr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(cJSON *arr, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
}

static const char *secs(int64_t ms, char *buf, size_t n)
{
    if (ms < 0)
        snprintf(buf, n, "?");
    else if (ms < 60000)
        snprintf(buf, n, "%.1f s", (double)ms / 1000.0);
    else
        rb_duration_format(ms, buf, n);
    return buf;
}

static cJSON *postmortem_json(const cJSON *r)
{
    cJSON *pm = cJSON_CreateObject(), *whys = cJSON_CreateArray();
    cJSON *well = cJSON_CreateArray(), *wrong = cJSON_CreateArray(), *impr = cJSON_CreateArray();
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "verification");
    const cJSON *lost = cJSON_GetObjectItemCaseSensitive(m, "records_lost");
    const char *outcome = jstr(r, "outcome");
    const cJSON *x;
    char b1[32], b2[32];
    int i;

    for (i = 0; i < 5; i++) {
        cJSON *w = cJSON_CreateObject();

        cJSON_AddStringToObject(
            w, "why", i == 0 ? "why did payroll need a rollback?" : "why did that happen?");
        cJSON_AddStringToObject(w, "answer",
                                i == 0 && jstr(r, "reason") != NULL ? jstr(r, "reason") : "");
        cJSON_AddItemToArray(whys, w);
    }
    if (outcome != NULL && strcmp(outcome, "succeeded") == 0)
        addf(
            well, "the rollback succeeded in %s",
            secs((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "execution_ms")),
                 b1, sizeof(b1)));
    else
        addf(wrong, "the run ended %s%s%s", outcome != NULL ? outcome : "unfinished",
             jstr(r, "error") != NULL ? ": " : "",
             jstr(r, "error") != NULL ? jstr(r, "error") : "");
    if (cJSON_IsNumber(lost) && lost->valuedouble == 0)
        addf(well, "no record was lost (%s recovered)",
             jstr(m, "recovery_rate") != NULL ? jstr(m, "recovery_rate") : "all");
    else if (cJSON_IsNumber(lost)) {
        addf(wrong, "%.0f records were lost", lost->valuedouble);
        addf(impr, "enter or sync the %.0f lost records and find why sync did not carry them",
             lost->valuedouble);
    }
    if (jstr(v, "verdict") != NULL && strcmp(jstr(v, "verdict"), "passed") == 0)
        addf(well, "verification passed (%d of %d checks)",
             (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "checks_passed")),
             (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "checks_total")));
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(v, "checks")) {
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(x, "passed"))) {
            addf(wrong, "check '%s' failed: %s", jstr(x, "name"),
                 jstr(x, "summary") != NULL ? jstr(x, "summary") : "see the timeline");
            addf(impr, "fix what check '%s' found, then 'rollbackctl verify'", jstr(x, "name"));
        }
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "phases")) {
        const cJSON *over = cJSON_GetObjectItemCaseSensitive(x, "over_budget");
        int64_t dur =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "duration_ms"));
        int64_t pb =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "budget_ms"));

        if (cJSON_IsTrue(over)) {
            addf(wrong, "phase '%s' took %s, over its budget share of %s", jstr(x, "name"),
                 secs(dur, b1, sizeof(b1)), secs(pb, b2, sizeof(b2)));
            addf(impr, "make phase '%s' faster or give it a larger share (it took %s of %s)",
                 jstr(x, "name"), secs(dur, b1, sizeof(b1)), secs(pb, b2, sizeof(b2)));
        } else if (cJSON_IsFalse(over)) {
            addf(well, "phase '%s' stayed within its budget share (%s of %s)", jstr(x, "name"),
                 secs(dur, b1, sizeof(b1)), secs(pb, b2, sizeof(b2)));
        }
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "timeline")) {
        if (strcmp(jstr(x, "state"), "failed") == 0 &&
            strncmp(jstr(x, "action"), "verify/", 7) != 0)
            addf(wrong, "action '%s' failed: %s", jstr(x, "action"),
                 jstr(x, "result") != NULL ? jstr(x, "result") : "see the journal");
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "notifications")) {
        if (strcmp(jstr(x, "state"), "failed") == 0) {
            addf(wrong, "message '%s' was not sent: %s", jstr(x, "name"),
                 jstr(x, "error") != NULL ? jstr(x, "error") : "?");
            addf(impr, "check the '%s' channel before the next rollback (prepare's channels)",
                 jstr(x, "name"));
        }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "downtime_open")))
        addf(wrong, "restore did not finish: legacy is not known to serve again");
    if (cJSON_GetArraySize(impr) == 0)
        addf(impr, "(none found in the journal; add the team's)");
    cJSON_AddItemToObject(pm, "five_whys", whys);
    cJSON_AddItemToObject(pm, "went_well", well);
    cJSON_AddItemToObject(pm, "went_wrong", wrong);
    cJSON_AddItemToObject(pm, "improvements", impr);
    cJSON_AddItemToObject(pm, "remediation", cJSON_CreateArray());
    return pm;
}

/* ---- the whole model ------------------------------------------------------------------------ */

cJSON *rb_report_build(const struct rb_journal_log *log)
{
    struct rb_run_figures f;
    cJSON *r = cJSON_CreateObject(), *facts = cJSON_CreateObject(), *actions = cJSON_CreateArray();
    cJSON *gaps, *journal;
    const cJSON *started = NULL, *finished = NULL, *assessment = NULL;
    const char *run_id = NULL;
    int64_t budget;
    bool failed = false;
    size_t i;

    rb_run_figures_read(log, &f);
    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];

        if (run_id == NULL)
            run_id = jstr(e->line, "run_id");
        if (strcmp(e->event, "run_started") == 0 && started == NULL)
            started = e->data;
        else if (strcmp(e->event, "run_finished") == 0)
            finished = e->data;
        else if (strcmp(e->event, "fact") == 0 && jstr(e->data, "key") != NULL)
            set_item(facts, jstr(e->data, "key"),
                     cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e->data, "value"), 1));
    }
    read_actions(log, actions);
    assessment = result_of(last_result(log, "assess/verdict", &failed), failed);

    cJSON_AddNumberToObject(r, "report_version", RB_REPORT_VERSION);
    add_str(r, "run_id", run_id);
    add_str(r, "runbook", jstr(started, "runbook"));
    add_str(r, "outcome", f.outcome != NULL ? f.outcome : "unfinished");
    add_str(r, "error", jstr(finished, "error"));
    add_str(r, "hint", jstr(finished, "hint"));
    add_str(r, "reason", jstr(started, "reason"));
    add_str(r, "initiated_by", jstr(started, "initiated_by"));
    add_str(r, "severity",
            jstr(facts, "severity") != NULL ? jstr(facts, "severity") : jstr(started, "severity"));
    add_str(r, "scenario",
            jstr(facts, "scenario") != NULL ? jstr(facts, "scenario")
                                            : jstr(assessment, "scenario"));
    cJSON_AddBoolToObject(r, "forced",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(started, "force")));
    cJSON_AddItemToObject(r, "started_at", time_json(f.started_ms));
    cJSON_AddItemToObject(r, "finished_at", time_json(f.finished_ms));
    cJSON_AddItemToObject(r, "assessment",
                          assessment != NULL ? cJSON_Duplicate(assessment, 1) : cJSON_CreateNull());
    add_approvals(r, log, facts);
    add_budget(r, facts, assessment, &budget);
    cJSON_AddItemToObject(r, "phases", phases_json(&f, budget));
    cJSON_AddItemToObject(r, "metrics", metrics_json(facts, &f, assessment));
    cJSON_AddItemToObject(r, "sync_tables", sync_json(log, actions, facts));
    cJSON_AddItemToObject(r, "verification", verification_json(log, actions, facts, &gaps));
    cJSON_AddItemToObject(r, "gaps", gaps);
    cJSON_AddItemToObject(r, "notifications", notifications_json(log, actions));
    cJSON_AddItemToObject(r, "timeline", actions);
    cJSON_AddItemToObject(r, "facts", facts);
    journal = cJSON_CreateObject();
    cJSON_AddNumberToObject(journal, "lines", (double)log->n);
    cJSON_AddStringToObject(journal, "last_hash", log->last_hash);
    cJSON_AddBoolToObject(journal, "torn_tail", log->torn_tail);
    cJSON_AddItemToObject(r, "journal", journal);
    cJSON_AddItemToObject(r, "postmortem", postmortem_json(r));
    return r;
}
