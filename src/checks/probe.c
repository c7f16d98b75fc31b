/*
 * probe.c - evaluating `verify:` probes: sql returning true, http status, run exiting 0, with
 * retry.
 *
 * A probe only looks; it never changes anything (sql probes run on the run's connection, which is
 * read-only in plan and check modes). The description of the last attempt is what people see in
 * the step's result and in failure messages, so it says what was observed, not just "failed".
 */
#include "rollbackctl/probe.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/child.h"
#include "rollbackctl/http.h"
#include "rollbackctl/db.h"
#include "rollbackctl/progress.h"

static int probe_sql(struct rb_run *run, const struct rb_probe *p, const char **why,
                     struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    const char *v = NULL;
    bool is_null = false;
    struct rb_db *c = rb_db_target(run, p->target, err);

    if (c == NULL || rb_db_scalar(c, a, p->timeout_ms, p->sql, &v, &is_null, err) < 0)
        return -1;
    if (!is_null && strcmp(v, "t") == 0) {
        *why = "returned true";
        return 1;
    }
    *why = is_null ? "returned NULL, not true" : rb_sprintf(a, "returned '%s', not true", v);
    return 0;
}

static int probe_http(struct rb_run *run, const struct rb_probe *p, const char **why,
                      struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    const char **hdr = rb_new_array(a, const char *, p->n_headers + 1);
    int want = p->expect_status > 0 ? p->expect_status : 200;
    struct rb_http_request req;
    struct rb_http_response res;

    for (size_t i = 0; i < p->n_headers; i++)
        hdr[i] = rb_sprintf(a, "%s: %s", p->headers[i].name, p->headers[i].value);
    memset(&req, 0, sizeof(req));
    req.method = p->method;
    req.url = p->url;
    req.body = p->body;
    req.headers = hdr;
    req.timeout_ms = p->timeout_ms;
    if (rb_http_do(a, &req, &res, err) < 0)
        return -1;
    if (res.status == want) {
        *why = rb_sprintf(a, "%s answered %ld", rb_http_redact_url(a, p->url), res.status);
        return 1;
    }
    *why = rb_sprintf(a, "%s answered %ld, expected %d", rb_http_redact_url(a, p->url), res.status,
                      want);
    return 0;
}

static int probe_run(struct rb_run *run, const struct rb_probe *p, const char **why,
                     struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    int64_t timeout = p->timeout_ms > 0 ? p->timeout_ms : RB_PROBE_RUN_TIMEOUT_MS;
    struct rb_child_result cr;
    size_t n;

    /* a probe only looks: it gets none of the runbook's secrets */
    if (rb_child_run_env(a, p->argv.items, NULL, rb_runbook_secret_env(a, run->rb), timeout, &cr,
                         err) < 0)
        return -1;
    *why = rb_sprintf(a, "'%s' %s", p->argv.items[0], rb_child_describe(a, &cr));
    if (cr.exited && cr.status == 0)
        return 1;
    /* The last line of stderr usually says why; keep it short. */
    n = strlen(cr.err_tail);
    while (n > 0 && (cr.err_tail[n - 1] == '\n' || cr.err_tail[n - 1] == ' '))
        cr.err_tail[--n] = '\0';
    if (n > 0) {
        const char *line = strrchr(cr.err_tail, '\n');

        line = line != NULL ? line + 1 : cr.err_tail;
        *why = rb_sprintf(a, "%s: %.200s", *why, line);
    }
    return 0;
}

int rb_probe_once(struct rb_run *run, const struct rb_probe *p, const char **why,
                  struct rb_err *err)
{
    *why = "";
    switch (p->kind) {
    case RB_PROBE_SQL:
        return probe_sql(run, p, why, err);
    case RB_PROBE_HTTP:
        return probe_http(run, p, why, err);
    case RB_PROBE_RUN:
        return probe_run(run, p, why, err);
    case RB_PROBE_NONE:
        break;
    }
    return rb_errf(err, RB_E_FAILED, "empty probe");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    /* A signal (SIGINT) cuts the wait short; the caller checks rb_interrupted(). */
    nanosleep(&ts, NULL);
}

int rb_probe_eval(struct rb_run *run, const struct rb_probe *p, int attempts_override,
                  struct rb_probe_result *res)
{
    int attempts =
        attempts_override > 0 ? attempts_override : (p->retry.attempts > 0 ? p->retry.attempts : 1);
    int64_t start = rb_now_ms();

    memset(res, 0, sizeof(*res));
    for (int k = 1; k <= attempts; k++) {
        struct rb_err err = RB_ERR_INIT;
        const char *why = "";
        int rc;

        if (attempts > 1)
            rb_progress_note(run->ctx, "probe, attempt %d of %d", k, attempts);
        rc = rb_probe_once(run, p, &why, &err);
        res->attempts = k;
        res->passed = rc == 1;
        res->description = rc < 0 ? rb_strdup(run->arena, err.msg) : why;
        if (res->passed || rb_interrupted())
            break;
        if (k < attempts && p->retry.interval_ms > 0) {
            char next[32];

            rb_human_duration((p->retry.interval_ms + 999) / 1000, next, sizeof(next));
            rb_progress_note(run->ctx, "probe attempt %d of %d did not pass (%s); next in %s", k,
                             attempts, res->description, next);
            sleep_ms(p->retry.interval_ms);
        }
    }
    res->duration_ms = rb_now_ms() - start;
    return 0;
}

const char *rb_probe_describe(struct rb_arena *a, const struct rb_probe *p)
{
    const char *s = "";
    char iv[32];

    switch (p->kind) {
    case RB_PROBE_SQL:
        s = rb_sprintf(a, "sql on '%s' returns true: %s", p->target, p->sql);
        break;
    case RB_PROBE_HTTP:
        s = rb_sprintf(
            a, "http %s %s answers %d", p->method != NULL ? p->method : (p->body ? "POST" : "GET"),
            rb_http_redact_url(a, p->url), p->expect_status > 0 ? p->expect_status : 200);
        break;
    case RB_PROBE_RUN:
        s = rb_sprintf(a, "run exits 0: %s", rb_argv_text(a, p->argv.items));
        break;
    case RB_PROBE_NONE:
        return "(none)";
    }
    if (p->retry.attempts > 1)
        s = rb_sprintf(a, "%s (up to %d attempts, %s apart)", s, p->retry.attempts,
                       rb_duration_format(p->retry.interval_ms, iv, sizeof(iv)));
    return s;
}
