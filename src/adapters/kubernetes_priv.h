/*
 * kubernetes_priv.h - what the two halves of the Kubernetes adapter share: the client struct
 * (kubernetes_http.c owns its transport, kubernetes.c reads its arena, label and counters); and
 * the reading of the server's JSON answers, apart from the transport so
 * tests/fuzz/fuzz_kube_json.c can feed them any bytes.
 */
#ifndef ROLLBACKCTL_KUBERNETES_PRIV_H
#define ROLLBACKCTL_KUBERNETES_PRIV_H

#include <time.h>

#include <curl/curl.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/http.h"
#include "rollbackctl/kubernetes.h"

/* A credential an exec plugin printed (kubernetes_exec.c); owned by the process's cache. */
struct rb_k8s_cred {
    char *token;      /* bearer token, or NULL */
    char *cert, *key; /* PEM client certificate and key, or NULL */
    size_t cert_len, key_len;
    time_t expires;   /* expirationTimestamp; 0: until the server refuses it */
    unsigned long id; /* a new number for every run of a plugin */
};

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
    const char *const *env_drop; /* kept from an exec plugin's environment */
    int n_exec_runs;
    unsigned long cred_id;   /* the exec credential the last request carried (0: none) */
    unsigned long cert_id;   /* the exec credential whose client certificate the handle holds */
    bool fresh_connect;      /* the next request opens a new connection (a new client cert) */
    const char *base_url;    /* cfg.server, its host replaced by cfg.tls_server_name when set */
    const char *host_header; /* "Host: <server's host[:port]>" then, else NULL */
    struct curl_slist *connect_to; /* tls_server_name:port -> the server's host:port */
    /* per request */
    struct rb_buf resp;
    bool resp_too_big;
    long retry_after_s; /* from the Retry-After header; -1 when absent */
};

/* names and query values are escaped with rb_http_escape (http.h), the tree's one escaper */

/*
 * The exec plugin's credential for k (k->cfg.exec set): the cached one while unexpired, else the
 * plugin is run now. stale: the id of a credential the server refused (401), not to be handed out
 * again; 0 for none. *out stays valid until the next call. kubernetes_exec.c.
 */
int rb_k8s_exec_credential(struct rb_k8s *k, unsigned long stale, const struct rb_k8s_cred **out,
                           struct rb_err *err);

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
void rb_k8s_review_parse(struct rb_arena *a, const cJSON *resp, bool *allowed, const char **reason);

#endif
