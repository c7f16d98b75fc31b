/*
 * kubernetes.h - the Kubernetes adapter: a small REST client (libcurl + cJSON), no kubectl needed.
 *
 * Configuration comes from a kubeconfig (the file the runbook names, else $KUBECONFIG, else
 * ~/.kube/config) or, when none exists, from the in-cluster service account. Every request has a
 * deadline (connect and total). Errors are read from the API's Status object and shown as the API
 * says them. Retries happen only where they are safe: 429 honours Retry-After, 500/502/503/504
 * and dropped connections back off exponentially (bounded), 409 Conflict is handled by the
 * callers that can re-read and re-apply (scale, patch); 400/401/403/404/422 are never retried.
 * Every request this adapter sends is idempotent (absolute merge patches, deletes by selector,
 * reads, access reviews), which is what makes those retries safe.
 *
 * A handle opened read-only (plan, check) refuses every write verb: only GET and the
 * SelfSubjectAccessReview POST go out.
 *
 * Two halves: kubernetes_http.c is the transport (the client, requests, retries, Status errors,
 * paths, lists, patches, deletes), kubernetes.c the resources freeze and restore use (scale,
 * CronJobs, Jobs, snapshots, access reviews) and the driver's ops (struct rb_cluster_ops in
 * cluster.h), which is how phases reach them.
 */
#ifndef ROLLBACKCTL_KUBERNETES_H
#define ROLLBACKCTL_KUBERNETES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/cluster.h"
#include "rollbackctl/err.h"

struct rb_run;
struct rb_target;
struct rb_diags;

#define RB_K8S_CONNECT_TIMEOUT_MS 5000
#define RB_K8S_TIMEOUT_MS         30000 /* per attempt; the target's `timeout:` overrides it */
#define RB_K8S_ATTEMPTS           5     /* tries of one request, first included */
#define RB_K8S_BACKOFF_MS         200 /* first backoff; doubles, capped at RB_K8S_BACKOFF_MAX_MS */
#define RB_K8S_BACKOFF_MAX_MS     5000
#define RB_K8S_RETRY_AFTER_MAX_MS 30000 /* and at most the target's `timeout:` */
#define RB_K8S_PAGE_LIMIT         500
/* Pages of one list at most (a million objects): a server that never ends a list, or answers the
   same continue token again, is refused instead of looping until the run's deadline. */
#define RB_K8S_MAX_PAGES 2000
#define RB_K8S_SA_DIR    "/var/run/secrets/kubernetes.io/serviceaccount"

/*
 * A kubeconfig user's exec credential plugin (users[].user.exec), run as kubectl runs it:
 * argv = command + args (no shell), env added to ours, KUBERNETES_EXEC_INFO set, a deadline, its
 * stdout read as an ExecCredential (kubernetes_exec.c). Arena-owned.
 */
struct rb_k8s_exec {
    const char *user;          /* the kubeconfig user, for messages */
    const char *api_version;   /* client.authentication.k8s.io/v1 or /v1beta1 */
    const char *command;       /* a relative path with a '/' resolved against the file */
    const char *const *argv;   /* command, then args; NULL-terminated */
    const char *const *env;    /* "NAME=value" of its env list; NULL-terminated */
    const char *install_hint;  /* installHint, or NULL */
    bool provide_cluster_info; /* provideClusterInfo: spec.cluster in KUBERNETES_EXEC_INFO */
};

/* Where to reach a cluster and how to authenticate; all strings arena-owned. */
struct rb_k8s_config {
    const char *server;     /* https://host:port, no trailing slash */
    const char *namespace_; /* the context's (or service account's) namespace, or NULL */
    const char *context;    /* context name, "in-cluster" for the service account */
    const char *source;     /* the kubeconfig file, or the service account folder */
    const char *ca_file;    /* PEM file, or NULL */
    const char *ca_data;    /* PEM bytes (decoded certificate-authority-data), or NULL */
    size_t ca_len;
    const char *cert_file, *key_file; /* client certificate and key files */
    const char *cert_data, *key_data; /* ... or their PEM bytes */
    size_t cert_len, key_len;
    const char *token;      /* bearer token, or NULL (never printed) */
    const char *token_file; /* bearer token re-read for every request (projected tokens rotate) */
    bool insecure;          /* insecure-skip-tls-verify: true */
    const char *tls_server_name;    /* the name the server's certificate is checked for (SNI too) */
    const char *proxy_url;          /* proxy-url: http, https or socks5 */
    const struct rb_k8s_exec *exec; /* the credential comes from this plugin, or NULL */
    /*
     * Credentials rollbackctl cannot use (auth-provider, basic authentication): why, refused by
     * rb_k8s_new(), so that a token from the runbook (rb_k8s_config_use_token) can replace them
     * first. NULL when none.
     */
    const char *refusal;
};

/*
 * Load a kubeconfig. path: the file named by the runbook (NULL: $KUBECONFIG, a colon-separated list
 * searched in order, first definition wins; then ~/.kube/config). context NULL: current-context.
 * When path is NULL and no file exists but KUBERNETES_SERVICE_HOST is set, falls back to the
 * in-cluster service account. Relative file names resolve against the kubeconfig's folder.
 */
int rb_k8s_config_load(struct rb_arena *a, const char *path, const char *context,
                       struct rb_k8s_config *cfg, struct rb_err *err);

/*
 * validate, offline: the kubeconfig of cluster target t read and its `context:` looked up: an
 * error naming the contexts there ('did you mean') when it is not; a warning when the kubeconfig
 * is not on this machine.
 */
void rb_k8s_check_target(struct rb_arena *a, const struct rb_target *t, struct rb_diags *diags);

/*
 * Authenticate with this bearer token instead of whatever the kubeconfig user has (token, token
 * file, client certificate, exec plugin, an unusable auth-provider): the runbook's token_env wins
 * over everything in the kubeconfig. token is copied into a.
 */
void rb_k8s_config_use_token(struct rb_arena *a, struct rb_k8s_config *cfg, const char *token);

/*
 * The in-cluster service account: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, token
 * and CA from sa_dir (NULL: $ROLLBACKCTL_SERVICEACCOUNT_DIR, else RB_K8S_SA_DIR). The token file is
 * re-read for every request.
 */
int rb_k8s_config_incluster(struct rb_arena *a, const char *sa_dir, struct rb_k8s_config *cfg,
                            struct rb_err *err);

struct rb_k8s_opts {
    bool read_only;
    int64_t timeout_ms;          /* 0: RB_K8S_TIMEOUT_MS */
    int64_t connect_timeout_ms;  /* 0: RB_K8S_CONNECT_TIMEOUT_MS */
    int attempts;                /* 0: RB_K8S_ATTEMPTS */
    int64_t backoff_ms;          /* 0: RB_K8S_BACKOFF_MS */
    const char *label;           /* the target's name, for messages */
    const char *const *env_drop; /* not passed to an exec plugin: the runbook's secrets (NULL) */
};

/* A client; its CURL handle is cleaned up with the arena. cfg is copied. */
struct rb_k8s *rb_k8s_new(struct rb_arena *a, const struct rb_k8s_config *cfg,
                          const struct rb_k8s_opts *o, struct rb_err *err);

/*
 * The client for a runbook target, opened once per run: read-only unless the run executes. Reads
 * kubeconfig/context/namespace/token_env/timeout of the target.
 */
struct rb_k8s *rb_k8s_target(struct rb_run *run, const char *target, struct rb_err *err);

const char *rb_k8s_namespace(const struct rb_k8s *k); /* target's, context's, or "default" */
const char *rb_k8s_server(const struct rb_k8s *k);
/* Requests sent and retries made so far (tests, results). */
void rb_k8s_stats(const struct rb_k8s *k, int *requests, int *retries);
/* How many times this client ran its exec credential plugin (tests). */
int rb_k8s_exec_runs(const struct rb_k8s *k);
/*
 * Forget every cached exec credential (the cache is the process's, as kubectl's is: every client
 * of the same plugin shares one credential until it expires). Their memory is wiped.
 */
void rb_k8s_exec_cache_clear(void);

/*
 * One request with the retries described above. path starts with "/" (query included). body may be
 * NULL. On 2xx returns 0 and *out (may be NULL) gets the parsed body (caller cJSON_Delete()s it).
 * Otherwise -1 with err "<code> <reason>: <the API's message>" and *http_status (may be NULL) set
 * to the final HTTP status (0 when no answer came).
 */
int rb_k8s_request(struct rb_k8s *k, const char *method, const char *path, const char *content_type,
                   const cJSON *body, cJSON **out, long *http_status, struct rb_err *err);

/* GET one object. */
int rb_k8s_get(struct rb_k8s *k, const char *path, cJSON **out, long *http_status,
               struct rb_err *err);

/*
 * List a collection (path without query) with an optional label selector, following continue
 * tokens page by page (restarting once the token expires, 410). *items: a new array (caller
 * deletes) whose items have kind and apiVersion filled in.
 */
int rb_k8s_list(struct rb_k8s *k, const char *path, const char *selector, cJSON **items,
                struct rb_err *err);

/*
 * Merge patch (RFC 7386). A 409 answer is met by reading the object again and re-applying.
 * *http_status (may be NULL) as for rb_k8s_request.
 */
int rb_k8s_patch_merge(struct rb_k8s *k, const char *path, const cJSON *patch, cJSON **out,
                       long *http_status, struct rb_err *err);

/* DELETE a collection by selector with propagationPolicy; *names (may be NULL) the deleted names. */
int rb_k8s_delete_collection(struct rb_k8s *k, const char *path, const char *selector,
                             const char *propagation, cJSON **names, struct rb_err *err);

/* Paths of the API, arena-owned: resource is "deployments", "cronjobs", ... (group inferred). */
const char *rb_k8s_path(struct rb_arena *a, const char *ns, const char *resource, const char *name,
                        const char *subresource);
/* API group of a resource this adapter knows ("apps", "batch", "" for core); NULL if unknown. */
const char *rb_k8s_group(const char *resource);

/* Replica count of a Deployment/StatefulSet through the scale subresource. */
int rb_k8s_scale_get(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int *replicas, struct rb_err *err);
/* Set it: merge patch with the read resourceVersion; 409 -> re-read and re-apply (bounded). */
int rb_k8s_scale_set(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int replicas, struct rb_err *err);

/* SelfSubjectAccessReview. *reason (may be NULL) gets the API's reason, arena-owned. */
int rb_k8s_can_i(struct rb_k8s *k, const char *verb, const char *group, const char *resource,
                 const char *subresource, const char *ns, const char *name, bool *allowed,
                 const char **reason, struct rb_err *err);

/* The ops of the `kubernetes` driver row (adapter.h, cluster.h). */
extern const struct rb_cluster_ops rb_k8s_ops;

#endif
