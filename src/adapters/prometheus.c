/*
 * prometheus.c - the `prometheus` metrics driver: instant queries (/api/v1/query) for the assess
 * phase's `query:` signals, and the readiness check (/-/ready, and the Pushgateway's when the
 * target has one).
 *
 * One GET through http.c with the target's deadline. The bearer token comes from the variable
 * named by `bearer_token_env` and travels only in the Authorization header (never in URLs,
 * messages or the journal). The answer is read by rb_prometheus_parse(), kept apart from the
 * request so it is unit-tested on the server's own JSON.
 */
#include "rollbackctl/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rollbackctl/http.h"

struct prom_req {
    const char *base;  /* url without trailing '/' */
    const char *shown; /* for messages: no userinfo, no query string */
    const char *headers[2];
    int64_t timeout_ms;
};

static int prom_open(struct rb_arena *a, const struct rb_target *t, struct prom_req *p,
                     struct rb_err *err)
{
    const char *url = rb_target_opt(t, "url"), *env = rb_target_opt(t, "bearer_token_env");
    size_t n;

    memset(p, 0, sizeof(*p));
    if (url == NULL)
        return rb_errf(err, RB_E_FAILED, "metrics target '%s' needs 'url'", t->name);
    if (env != NULL) {
        const char *tok = getenv(env);

        if (tok == NULL || tok[0] == '\0') {
            rb_errf(err, RB_E_FAILED,
                    "environment variable '%s' (bearer_token_env of target '%s') is not set", env,
                    t->name);
            return rb_err_hint(err, "export the token in '%s' or remove bearer_token_env", env);
        }
        p->headers[0] = rb_sprintf(a, "Authorization: Bearer %s", tok);
    }
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    p->base = rb_sprintf(a, "%.*s", (int)n, url);
    p->shown = rb_http_redact_url(a, p->base);
    p->timeout_ms = rb_metrics_target_timeout(t);
    return 0;
}

/* [timestamp, "value"]: the value string, or NULL. */
static const char *sample_value(const cJSON *pair)
{
    const cJSON *v = cJSON_GetArrayItem(pair, 1);

    return cJSON_IsArray(pair) && cJSON_GetArraySize(pair) == 2 && cJSON_IsString(v)
               ? v->valuestring
               : NULL;
}

int rb_prometheus_parse(struct rb_arena *a, const char *promql, long http_status, const char *body,
                        size_t len, const char **value, struct rb_err *err)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *rtype = cJSON_GetObjectItemCaseSensitive(data, "resultType");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(data, "result");
    const char *v = NULL;
    int rc = -1;

    *value = NULL;
    if (!cJSON_IsString(st)) {
        /* the first bytes of the body, never past len: body need not be terminated */
        const char *shown = len > 0 ? body : "(empty body)";
        int shown_len = len > 0 ? (int)(len < 120 ? len : 120) : (int)strlen(shown);

        rb_errf(err, RB_E_FAILED,
                "query '%s': the server answered %ld without a Prometheus "
                "API result: %.*s",
                promql, http_status, shown_len, shown);
        goto out;
    }
    if (strcmp(st->valuestring, "success") != 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(j, "errorType");

        rb_errf(err, RB_E_FAILED, "query '%s' failed: %s%s%s", promql,
                cJSON_IsString(et) ? et->valuestring : "", cJSON_IsString(et) ? ": " : "",
                cJSON_IsString(e) ? e->valuestring : "(no error text)");
        if (http_status == 401 || http_status == 403)
            rb_err_kind(err, RB_K_REFUSED);
        goto out;
    }
    if (!cJSON_IsString(rtype)) {
        rb_errf(err, RB_E_FAILED, "query '%s': the answer has no resultType", promql);
        goto out;
    }
    if (strcmp(rtype->valuestring, "vector") == 0 && cJSON_IsArray(res)) {
        int n = cJSON_GetArraySize(res);

        if (n == 0) {
            v = "0"; /* nothing matched: a count of nothing */
        } else if (n == 1) {
            v = sample_value(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "value"));
        } else {
            rb_errf(err, RB_E_FAILED, "query '%s' returned %d series; a signal needs one number",
                    promql, n);
            rb_err_hint(err, "aggregate it, e.g. with sum() or count()");
            goto out;
        }
    } else if (strcmp(rtype->valuestring, "scalar") == 0) {
        v = sample_value(res);
    } else {
        rb_errf(err, RB_E_FAILED, "query '%s' returned a %s; a signal needs a vector or a scalar",
                promql, rtype->valuestring);
        rb_err_hint(err, "aggregate it, e.g. with sum()");
        goto out;
    }
    if (v == NULL) {
        rb_errf(err, RB_E_FAILED, "query '%s': a sample without a value in the answer", promql);
        goto out;
    }
    *value = rb_strdup(a, v);
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static int prom_query(struct rb_arena *a, const struct rb_target *t, const char *promql,
                      const char **value, struct rb_err *err)
{
    struct rb_http_request req;
    struct rb_http_response res;
    struct prom_req p;

    *value = NULL;
    if (prom_open(a, t, &p, err) < 0)
        return -1;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = rb_sprintf(a, "%s/api/v1/query?query=%s", p.base, rb_http_escape(a, promql));
    req.headers = p.headers;
    req.timeout_ms = p.timeout_ms;
    if (rb_http_do(a, &req, &res, err) < 0)
        return rb_err_wrap(err, "query '%s' on metrics target '%s'", promql, t->name);
    if (rb_prometheus_parse(a, promql, res.status, res.body, res.body_len, value, err) < 0)
        return rb_err_wrap(err, "metrics target '%s' (%s)", t->name, p.shown);
    return 0;
}

/*
 * The target's Pushgateway, when it has one, answers its own /-/ready (the run's metrics go there
 * at the end of every run). Sent without the bearer token, as pushgateway.c pushes.
 */
static int pushgateway_ready(struct rb_arena *a, const struct rb_target *t, struct rb_err *err)
{
    const char *base = rb_target_opt(t, "pushgateway");
    struct rb_http_request req;
    struct rb_http_response res;
    size_t n;

    if (base == NULL)
        return 0;
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = rb_sprintf(a, "%.*s/-/ready", (int)n, base);
    req.timeout_ms = rb_metrics_target_timeout(t);
    if (rb_http_do(a, &req, &res, err) < 0)
        return rb_err_wrap(err, "the pushgateway of metrics target '%s'", t->name);
    if (res.status != 200)
        return rb_errf(err, RB_E_FAILED,
                       "the pushgateway of metrics target '%s' (%s) is not ready: %ld %.120s",
                       t->name, rb_http_redact_url(a, base), res.status,
                       res.body_len > 0 ? res.body : "");
    return 0;
}

static int prom_ready(struct rb_arena *a, const struct rb_target *t, struct rb_err *err)
{
    struct rb_http_request req;
    struct rb_http_response res;
    struct prom_req p;

    if (prom_open(a, t, &p, err) < 0)
        return -1;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = rb_sprintf(a, "%s/-/ready", p.base);
    req.headers = p.headers;
    req.timeout_ms = p.timeout_ms;
    if (rb_http_do(a, &req, &res, err) < 0)
        return rb_err_wrap(err, "metrics target '%s'", t->name);
    if (res.status != 200) {
        rb_errf(err, RB_E_FAILED, "metrics target '%s' (%s) is not ready: %ld %.120s", t->name,
                p.shown, res.status, res.body_len > 0 ? res.body : "");
        if (res.status == 401 || res.status == 403) {
            rb_err_kind(err, RB_K_REFUSED);
            return rb_err_hint(err, "check the token in the variable named by bearer_token_env");
        }
        return -1;
    }
    return pushgateway_ready(a, t, err);
}

const struct rb_metrics_ops rb_prometheus_ops = {
    .driver = "prometheus",
    .query = prom_query,
    .push = rb_pushgateway_push, /* src/adapters/pushgateway.c */
    .ready = prom_ready,
};
