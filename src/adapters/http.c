/*
 * http.c - one HTTP request through libcurl easy, with a connect timeout and an overall deadline.
 *
 * Kept deliberately small: probes and JSON APIs need a method, a body, a few headers and the
 * status. TLS verification stays on (libcurl's default); redirects are not followed, so a probe
 * that expects 200 and gets a 302 to a login page fails, as it should.
 */
#include "rollbackctl/http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/runbook.h"

struct sink {
    struct rb_buf buf;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb, room;

    room = s->buf.len < RB_HTTP_BODY_MAX ? RB_HTTP_BODY_MAX - s->buf.len : 0;
    rb_buf_add(&s->buf, data, n < room ? n : room);
    return n; /* keep reading (and dropping) so the status is still reported */
}

const char *rb_http_escape(struct rb_arena *a, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    const char *r;

    if (e == NULL)
        abort(); /* only out of memory; the arena aborts the same way */
    r = rb_strdup(a, e);
    curl_free(e);
    return r;
}

const char *rb_http_redact_url(struct rb_arena *a, const char *url)
{
    const char *scheme_end = strstr(url, "://"), *host, *at, *q;
    size_t end;

    if (scheme_end == NULL)
        return rb_strdup(a, url);
    host = scheme_end + 3;
    end = strcspn(host, "/?#");
    at = memchr(host, '@', end);
    q = host + strcspn(host, "?#");
    if (at == NULL)
        return rb_strndup(a, url, (size_t)(q - url));
    return rb_sprintf(a, "%.*s%.*s", (int)(host - url), url, (int)(q - (at + 1)), at + 1);
}

int rb_http_do(struct rb_arena *a, const struct rb_http_request *req, struct rb_http_response *res,
               struct rb_err *err)
{
    struct sink sink = { RB_BUF_INIT };
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    const char *method = req->method;
    int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : RB_HTTP_TIMEOUT_MS, start;
    CURLcode rc;
    CURL *h;
    size_t i;
    int ret = 0;

    memset(res, 0, sizeof(*res));
    if (req->url == NULL || req->url[0] == '\0')
        return rb_errf(err, RB_E_FAILED, "http request without a url");
    if (method == NULL)
        method = req->body != NULL ? "POST" : "GET";
    h = curl_easy_init();
    if (h == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to reach '%s': curl_easy_init failed",
                       rb_http_redact_url(a, req->url));

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rollbackctl/" RB_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (req->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body_len ? req->body_len : strlen(req->body)));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    }
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    /* No "Expect: 100-continue" round trip for small bodies. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    start = rb_now_ms();
    rc = curl_easy_perform(h);
    res->duration_ms = rb_now_ms() - start;
    if (rc != CURLE_OK) {
        const char *url = rb_http_redact_url(a, req->url);
        char dur[32];

        if (rc == CURLE_OPERATION_TIMEDOUT)
            ret = rb_errf(err, RB_E_FAILED, "%s '%s' timed out after %s", method, url,
                          rb_duration_format(timeout, dur, sizeof(dur)));
        else
            ret = rb_errf(err, RB_E_FAILED, "unable to reach '%s': %s", url,
                          errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        res->body = rb_strndup(a, sink.buf.data, sink.buf.len);
        res->body_len = sink.buf.len;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    rb_buf_release(&sink.buf);
    return ret;
}
