/*
 * pushgateway.c - the `push` operation of metrics targets (metrics.h): replace one group of
 * metrics on a Prometheus Pushgateway with a PUT of the text format, through http.c, with the
 * target's deadline.
 *
 * The group is the URL path /metrics/job/<job>/<label>/<value>. A value that is empty or holds a
 * '/' cannot be a path segment, so it goes in the Pushgateway's base64 form
 * (<label>@base64/<base64url of the value>); other values are percent-escaped (rb_http_escape).
 * The lead wires rb_pushgateway_push into rb_prometheus_ops (.push); nothing here reads a
 * runbook section.
 */
#include "rollbackctl/metrics.h"

#include <stdio.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/http.h"

/* base64url (RFC 4648 section 5), with padding: the Pushgateway accepts both. */
static void base64url(struct rb_buf *b, const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i;

    for (i = 0; i + 2 < n; i += 3) {
        rb_buf_addc(b, tbl[p[i] >> 2]);
        rb_buf_addc(b, tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
        rb_buf_addc(b, tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)]);
        rb_buf_addc(b, tbl[p[i + 2] & 63]);
    }
    if (n - i == 1) {
        rb_buf_addc(b, tbl[p[i] >> 2]);
        rb_buf_addc(b, tbl[(p[i] & 3) << 4]);
        rb_buf_adds(b, "==");
    } else if (n - i == 2) {
        rb_buf_addc(b, tbl[p[i] >> 2]);
        rb_buf_addc(b, tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
        rb_buf_addc(b, tbl[(p[i + 1] & 15) << 2]);
        rb_buf_addc(b, '=');
    }
}

const char *rb_pushgateway_url(struct rb_arena *a, const char *base, const char *job,
                               const char *label, const char *value)
{
    struct rb_buf b = RB_BUF_INIT;
    size_t n = strlen(base);
    const char *url;

    while (n > 0 && base[n - 1] == '/')
        n--;
    rb_buf_add(&b, base, n);
    rb_buf_adds(&b, "/metrics/job/");
    rb_buf_adds(&b, rb_http_escape(a, job));
    rb_buf_addc(&b, '/');
    rb_buf_adds(&b, rb_http_escape(a, label));
    if (value[0] == '\0' || strchr(value, '/') != NULL) {
        rb_buf_adds(&b, "@base64/");
        if (value[0] == '\0')
            rb_buf_addc(&b, '='); /* the Pushgateway's spelling of an empty value */
        else
            base64url(&b, value);
    } else {
        rb_buf_addc(&b, '/');
        rb_buf_adds(&b, rb_http_escape(a, value));
    }
    url = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return url;
}

int rb_pushgateway_push(struct rb_arena *a, const struct rb_target *t, const char *job,
                        const char *label, const char *value, const char *body, struct rb_err *err)
{
    static const char *const headers[] = { "Content-Type: text/plain; version=0.0.4", NULL };
    const char *gw = rb_target_opt(t, "pushgateway");
    struct rb_http_request req = { 0 };
    struct rb_http_response res;
    const char *url;

    if (gw == NULL || gw[0] == '\0')
        return rb_errf(err, RB_E_FAILED, "metrics target '%s' has no 'pushgateway'", t->name);
    url = rb_pushgateway_url(a, gw, job, label, value);
    req.method = "PUT";
    req.url = url;
    req.body = body;
    req.body_len = strlen(body);
    req.headers = headers;
    req.timeout_ms = rb_metrics_target_timeout(t);
    if (rb_http_do(a, &req, &res, err) < 0)
        return rb_err_wrap(err, "unable to push metrics to the pushgateway of '%s'", t->name);
    if (res.status != 200 && res.status != 202) {
        size_t n = res.body_len < 200 ? res.body_len : 200;

        rb_errf(err, RB_E_FAILED, "pushgateway of '%s' answered %ld to PUT '%s': %.*s", t->name,
                res.status, rb_http_redact_url(a, url), (int)n, res.body != NULL ? res.body : "");
        return rb_err_kind(err, res.status >= 400 && res.status < 500 ? RB_K_REFUSED : RB_K_OTHER);
    }
    return 0;
}
