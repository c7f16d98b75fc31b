/*
 * prepare.c - `rollbackctl prepare [--junit FILE]`: the nightly readiness report.
 *
 * The checks and the assets are the prepare phase's (prepare.h), run on a check run: read-only
 * sessions, nothing journaled. This file renders what they found: one line per check (text), one
 * JSON document (-o json), JUnit XML for CI (--junit: one testcase per check, NOT_READY as a
 * failure), and the prepare metrics beside the run metrics (rb_metrics_publish_as "prepare").
 * Exit 0 only when every check is READY; 1 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/output.h"
#include "rollbackctl/prepare.h"
#include "rollbackctl/run_metrics.h"

static const char *status_word(const struct rb_prepare_check *c)
{
    return c->ready ? "READY" : "NOT_READY";
}

static const char *duration_text(struct rb_arena *a, int64_t ms)
{
    if (ms < 1000)
        return rb_sprintf(a, "%lldms", (long long)ms);
    if (ms < 60000)
        return rb_sprintf(a, "%.1fs", (double)ms / 1000.0);
    return rb_sprintf(a, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms % 60000 / 1000));
}

static void render_text(struct rb_ctx *ctx, const struct rb_runbook *rb,
                        const struct rb_prepare_report *r)
{
    const struct rb_prepare *p = &rb->prepare;
    size_t width = 0, nready = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (strlen(r->checks[i].name) > width)
            width = strlen(r->checks[i].name);
        nready += r->checks[i].ready;
    }
    fprintf(ctx->out, "%sReadiness of runbook '%s'%s\n\n", rb_c_bold(ctx), rb->name,
            rb_c_reset(ctx));
    for (size_t i = 0; i < r->n; i++) {
        const struct rb_prepare_check *c = &r->checks[i];

        fprintf(ctx->out, "  %-*s  %s%-9s%s  %s (%s)\n", (int)width, c->name,
                c->ready ? rb_c_green(ctx) : rb_c_red(ctx), status_word(c), rb_c_reset(ctx),
                c->reason, duration_text(ctx->arena, c->duration_ms));
    }
    fprintf(ctx->out, "\nassets: %s\n", r->assets_dir != NULL ? r->assets_dir : "(none written)");
    if (p->n_contacts > 0) {
        fprintf(ctx->out, "contacts:\n");
        for (size_t i = 0; i < p->n_contacts; i++) {
            const struct rb_contact *ct = &p->contacts[i];

            fprintf(ctx->out, "  %s", ct->role);
            if (ct->name != NULL)
                fprintf(ctx->out, ": %s", ct->name);
            if (ct->email != NULL)
                fprintf(ctx->out, "%s%s", ct->name != NULL ? ", " : ": ", ct->email);
            if (ct->phone != NULL)
                fprintf(ctx->out, "%s%s", ct->name != NULL || ct->email != NULL ? ", " : ": ",
                        ct->phone);
            fputc('\n', ctx->out);
        }
    }
    fprintf(ctx->out, "\n%s%s%s: %zu of %zu checks READY\n",
            rb_prepare_ready(r) ? rb_c_green(ctx) : rb_c_red(ctx),
            rb_prepare_ready(r) ? "ready" : "NOT READY", rb_c_reset(ctx), nready, r->n);
}

static cJSON *contacts_json(const struct rb_prepare *p)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; i < p->n_contacts; i++) {
        const struct rb_contact *ct = &p->contacts[i];
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "role", ct->role);
        if (ct->name != NULL)
            cJSON_AddStringToObject(o, "name", ct->name);
        if (ct->email != NULL)
            cJSON_AddStringToObject(o, "email", ct->email);
        if (ct->phone != NULL)
            cJSON_AddStringToObject(o, "phone", ct->phone);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *report_json(const struct rb_runbook *rb, const struct rb_prepare_report *r)
{
    cJSON *doc = cJSON_CreateObject(), *checks = cJSON_CreateArray();

    cJSON_AddStringToObject(doc, "runbook", rb->name);
    cJSON_AddBoolToObject(doc, "ready", rb_prepare_ready(r));
    for (size_t i = 0; i < r->n; i++) {
        cJSON *c = cJSON_CreateObject();

        cJSON_AddStringToObject(c, "name", r->checks[i].name);
        cJSON_AddStringToObject(c, "status", status_word(&r->checks[i]));
        cJSON_AddStringToObject(c, "reason", r->checks[i].reason);
        cJSON_AddNumberToObject(c, "duration_ms", (double)r->checks[i].duration_ms);
        cJSON_AddItemToArray(checks, c);
    }
    cJSON_AddItemToObject(doc, "checks", checks);
    if (r->assets_dir != NULL)
        cJSON_AddStringToObject(doc, "assets", r->assets_dir);
    else
        cJSON_AddNullToObject(doc, "assets");
    cJSON_AddItemToObject(doc, "contacts", contacts_json(&rb->prepare));
    if (r->backup_age_s >= 0)
        cJSON_AddNumberToObject(doc, "backup_age_seconds", (double)r->backup_age_s);
    else
        cJSON_AddNullToObject(doc, "backup_age_seconds");
    if (r->rows_at_risk >= 0)
        cJSON_AddNumberToObject(doc, "rows_at_risk", (double)r->rows_at_risk);
    else
        cJSON_AddNullToObject(doc, "rows_at_risk");
    return doc;
}

/*
 * Text as XML character data or an attribute value: the five markup characters escaped, and the
 * characters XML 1.0 does not allow (controls other than tab, newline, carriage return; bytes that
 * are not UTF-8) replaced by '?', so that a server's odd message never makes the file unreadable.
 */
static void xml_escape(struct rb_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        size_t len = 1;

        if (*p >= 0x80) {
            len = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
            for (size_t i = 1; i < len; i++)
                if ((p[i] & 0xC0) != 0x80)
                    len = 0;
            if (len == 0 || (len == 2 && *p < 0xC2)) {
                rb_buf_addc(b, '?');
                p++;
                continue;
            }
            rb_buf_add(b, (const char *)p, len);
            p += len;
            continue;
        }
        switch (*p) {
        case '&': rb_buf_adds(b, "&amp;"); break;
        case '<': rb_buf_adds(b, "&lt;"); break;
        case '>': rb_buf_adds(b, "&gt;"); break;
        case '"': rb_buf_adds(b, "&quot;"); break;
        case '\'': rb_buf_adds(b, "&apos;"); break;
        default:
            rb_buf_addc(b, *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r' ? '?' : (char)*p);
        }
        p++;
    }
}

/* JUnit XML as Jenkins and GitLab read it: one suite, one testcase per check (classname = group). */
static void junit_text(struct rb_buf *b, struct rb_arena *a, const struct rb_runbook *rb,
                       const struct rb_prepare_report *r, time_t started, int64_t total_ms)
{
    size_t failures = 0;
    char ts[32], host[256] = "localhost";

    for (size_t i = 0; i < r->n; i++)
        failures += !r->checks[i].ready;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime(&started));
    if (gethostname(host, sizeof(host) - 1) < 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    rb_buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    rb_buf_addf(b, "<testsuites name=\"rollbackctl prepare\" tests=\"%zu\" failures=\"%zu\" "
                   "errors=\"0\" time=\"%.3f\">\n",
                r->n, failures, (double)total_ms / 1000.0);
    rb_buf_adds(b, "  <testsuite name=\"");
    xml_escape(b, rb_sprintf(a, "prepare: %s", rb->name));
    rb_buf_addf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\" "
                   "timestamp=\"%s\" hostname=\"",
                r->n, failures, (double)total_ms / 1000.0, ts);
    xml_escape(b, host);
    rb_buf_adds(b, "\">\n");
    for (size_t i = 0; i < r->n; i++) {
        const struct rb_prepare_check *c = &r->checks[i];
        const char *dot = strchr(c->name, '.');

        rb_buf_adds(b, "    <testcase classname=\"");
        xml_escape(b, rb_sprintf(a, "rollbackctl.prepare.%.*s",
                                 (int)(dot != NULL ? (size_t)(dot - c->name) : strlen(c->name)),
                                 c->name));
        rb_buf_adds(b, "\" name=\"");
        xml_escape(b, c->name);
        rb_buf_addf(b, "\" time=\"%.3f\"", (double)c->duration_ms / 1000.0);
        if (c->ready) {
            rb_buf_adds(b, ">\n      <system-out>");
            xml_escape(b, c->reason);
            rb_buf_adds(b, "</system-out>\n    </testcase>\n");
            continue;
        }
        rb_buf_adds(b, ">\n      <failure type=\"NOT_READY\" message=\"");
        xml_escape(b, c->reason);
        rb_buf_adds(b, "\">");
        xml_escape(b, rb_sprintf(a, "%s is NOT_READY: %s", c->name, c->reason));
        rb_buf_adds(b, "</failure>\n    </testcase>\n");
    }
    rb_buf_adds(b, "    <system-out>");
    xml_escape(b, rb_sprintf(a, "assets: %s", r->assets_dir != NULL ? r->assets_dir : "(none)"));
    rb_buf_adds(b, "</system-out>\n  </testsuite>\n</testsuites>\n");
}

static void gauge(struct rb_buf *b, const char *name, const char *help)
{
    rb_buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void sample(struct rb_buf *b, const char *name, const char *runbook, const char *check,
                   double v)
{
    rb_buf_addf(b, "%s{runbook=\"", name);
    rb_prom_label_escape(b, runbook);
    if (check != NULL) {
        rb_buf_adds(b, "\",check=\"");
        rb_prom_label_escape(b, check);
    }
    rb_buf_addf(b, "\"} %.17g\n", v);
}

/* The prepare metrics (Prometheus text format), named in docs/report.md. */
static void metrics_text(struct rb_buf *b, const struct rb_runbook *rb,
                         const struct rb_prepare_report *r, time_t started, int64_t total_ms)
{
    gauge(b, "rollbackctl_prepare_ready", "1 when every check of the last prepare was READY.");
    sample(b, "rollbackctl_prepare_ready", rb->name, NULL, rb_prepare_ready(r) ? 1 : 0);
    gauge(b, "rollbackctl_prepare_check_ready", "1 when the check was READY at the last prepare.");
    for (size_t i = 0; i < r->n; i++)
        sample(b, "rollbackctl_prepare_check_ready", rb->name, r->checks[i].name,
               r->checks[i].ready ? 1 : 0);
    if (r->backup_age_s >= 0) {
        gauge(b, "rollbackctl_prepare_backup_age_seconds",
              "Age of the backup file prepare checked, when it ran.");
        sample(b, "rollbackctl_prepare_backup_age_seconds", rb->name, NULL,
               (double)r->backup_age_s);
    }
    if (r->rows_at_risk >= 0) {
        gauge(b, "rollbackctl_prepare_rows_at_risk",
              "Rows the sync would copy today (changed in the new system since cutover).");
        sample(b, "rollbackctl_prepare_rows_at_risk", rb->name, NULL, (double)r->rows_at_risk);
    }
    gauge(b, "rollbackctl_prepare_duration_seconds", "How long the last prepare took.");
    sample(b, "rollbackctl_prepare_duration_seconds", rb->name, NULL, (double)total_ms / 1000.0);
    gauge(b, "rollbackctl_prepare_last_run_timestamp_seconds", "When the last prepare ran.");
    sample(b, "rollbackctl_prepare_last_run_timestamp_seconds", rb->name, NULL, (double)started);
}

int rb_cmd_prepare(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    static const struct option longopts[] = {
        { "junit", required_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    const char *junit = NULL;
    const struct rb_runbook *rb;
    struct rb_prepare_report r;
    struct rb_buf body = RB_BUF_INIT;
    struct rb_err werr = RB_ERR_INIT;
    struct rb_run *run;
    time_t started = time(NULL);
    int64_t t0 = rb_now_ms(), total_ms;
    size_t nfailed = 0;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            junit = optarg;
            break;
        case ':':
            return rb_errf(err, RB_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
        default:
            return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return rb_errf(err, RB_E_USAGE, "unexpected argument '%s'", argv[optind]);
    if ((rb = rb_cmd_load_runbook(ctx, 0, err)) == NULL)
        return -1;
    run = rb_run_new_check(ctx, rb);
    if (rb_prepare(run, &r, err) < 0)
        return -1;
    total_ms = rb_now_ms() - t0;

    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *doc = report_json(rb, &r);

        rb_out_json(ctx, doc);
        cJSON_Delete(doc);
    } else {
        render_text(ctx, rb, &r);
    }
    if (junit != NULL) {
        struct rb_buf x = RB_BUF_INIT;

        junit_text(&x, ctx->arena, rb, &r, started, total_ms);
        if (rb_write_file_atomic(junit, x.data, x.len, 0644, &werr) < 0) {
            rb_buf_release(&x);
            return rb_errf(err, RB_E_FAILED, "JUnit report not written: %s", werr.msg);
        }
        rb_buf_release(&x);
    }
    /* the metrics go beside the runs' (state_dir may be new on a CI machine) */
    rb_err_clear(&werr);
    if (rb_mkdir_p(rb->state_dir, 0700, &werr) < 0) {
        rb_warn(ctx, "prepare metrics not written: %s", werr.msg);
    } else {
        metrics_text(&body, rb, &r, started, total_ms);
        rb_metrics_publish_as(ctx, rb, "prepare", body.data, NULL);
        rb_buf_release(&body);
    }
    if (rb_prepare_ready(&r))
        return 0;
    for (size_t i = 0; i < r.n; i++)
        nfailed += !r.checks[i].ready;
    rb_errf(err, RB_E_FAILED, "not ready: %zu of %zu checks NOT_READY", nfailed, r.n);
    return rb_err_hint(err, "fix each NOT_READY check above (its reason says what), then run "
                            "'rollbackctl prepare' again");
}
