/*
 * http.h - one small HTTP request through libcurl, always with a deadline.
 *
 * Used by restore/verify probes (`http:` with expect_status) and by HTTP-API adapters such as
 * powerdns. It reports what the server answered (any status) and leaves policy to the caller:
 * only a failure to get an answer at all (refused, DNS, TLS, deadline) is an error.
 */
#ifndef ROLLBACKCTL_HTTP_H
#define ROLLBACKCTL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"

#define RB_HTTP_TIMEOUT_MS 30000         /* whole request, when the caller gives 0 */
#define RB_HTTP_BODY_MAX   (1024 * 1024) /* bytes of response body kept; the rest is dropped */

struct rb_http_request {
    const char *method; /* NULL = GET (POST when body is set) */
    const char *url;
    const char *body;           /* NULL = no body */
    size_t body_len;            /* 0 = strlen(body) */
    const char *const *headers; /* "Name: value", NULL-terminated; may hold secrets: never logged */
    int64_t timeout_ms;         /* 0 = RB_HTTP_TIMEOUT_MS */
};

struct rb_http_response {
    long status; /* HTTP status code */
    char *body;  /* arena-owned, NUL-terminated, at most RB_HTTP_BODY_MAX bytes */
    size_t body_len;
    int64_t duration_ms;
};

/*
 * Perform the request. Returns 0 when an HTTP response arrived (whatever its status), -1 with err
 * when none did: "unable to reach 'URL': Connection refused", "... timed out after 5s".
 */
int rb_http_do(struct rb_arena *a, const struct rb_http_request *req, struct rb_http_response *res,
               struct rb_err *err);

/*
 * s percent-encoded by libcurl (curl_easy_escape: every byte but RFC 3986's unreserved
 * A-Z a-z 0-9 - . _ ~), fit for one URL path segment or one query value. Arena-owned. The one
 * escaper of the tree: PowerDNS zones and rrset names, Kubernetes names, PromQL queries.
 */
const char *rb_http_escape(struct rb_arena *a, const char *s);

/* The URL without userinfo and query string, for messages and plan output. Arena-owned. */
const char *rb_http_redact_url(struct rb_arena *a, const char *url);

#endif
