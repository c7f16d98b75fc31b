/*
 * kubernetes_priv.h - what the two halves of the Kubernetes adapter share: the client struct
 * (kubernetes_http.c owns its transport, kubernetes.c reads its arena, label and counters) and the
 * escaping of path segments and query values.
 */
#ifndef ROLLBACKCTL_KUBERNETES_PRIV_H
#define ROLLBACKCTL_KUBERNETES_PRIV_H

#include <curl/curl.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/kubernetes.h"

struct rb_k8s {
    struct rb_arena *arena;
    CURL *curl;
    struct rb_k8s_config cfg;
    bool read_only;
    int64_t timeout_ms, connect_timeout_ms, backoff_ms;
    int attempts;
    const char *label;
    const char *namespace_;
    int n_requests, n_retries;
    /* per request */
    struct rb_buf resp;
    bool resp_too_big;
    long retry_after_s; /* from the Retry-After header; -1 when absent */
};

/* s percent-encoded for a path segment or a query value (RFC 3986 unreserved kept); arena-owned. */
char *rb_k8s_escape(struct rb_arena *a, const char *s);

#endif
