/*
 * kubernetes_priv.h - what the two halves of the Kubernetes adapter share: the client struct
 * (kubernetes_http.c owns its transport, kubernetes.c reads its arena, label and counters); and
 * the reading of the server's JSON answers, apart from the transport so
 * tests/fuzz/fuzz_kube_json.c can feed them any bytes.
 */
#ifndef ROLLBACKCTL_KUBERNETES_PRIV_H
#define ROLLBACKCTL_KUBERNETES_PRIV_H

#include <curl/curl.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/http.h"
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

/* names and query values are escaped with rb_http_escape (http.h), the tree's one escaper */

/* ---- the answers' JSON (kubernetes_http.c, kubernetes.c); everything allocated is arena-owned ---- */

/* err for a non-2xx answer: from its Status object body, or from k->resp's text when not one. */
void rb_k8s_status_error(struct rb_k8s *k, long code, const cJSON *body, int tries,
                         struct rb_err *err);
/*
 * One page of a list answer: its items moved to all (kind and apiVersion filled in from the
 * list's when missing), *cont its continue token or NULL on the last page. -1 with err when
 * "items" is not a list. page stays the caller's.
 */
int rb_k8s_list_page(struct rb_arena *a, const char *path, cJSON *page, cJSON *all,
                     const char **cont, struct rb_err *err);
/* A Scale object: spec.replicas (0 when omitted) and metadata.resourceVersion (rv may be NULL). */
void rb_k8s_scale_parse(struct rb_arena *a, const cJSON *s, int *replicas, const char **rv);
/* Listed objects as names and suspend flags (out->items, out->n); objects without a name skipped. */
void rb_k8s_items_parse(struct rb_arena *a, const cJSON *items, struct rb_cluster_list *out);
/* A SelfSubjectAccessReview's answer: status.allowed, and the reason or evaluation error. */
void rb_k8s_review_parse(struct rb_arena *a, const cJSON *resp, bool *allowed,
                         const char **reason);

#endif
