/*
 * cluster.h - cluster targets as phases see them: one ops struct per driver, reached through the
 * driver registry (adapter.h) with rb_cluster_ops_for(target), as dns.h does for DNS targets.
 *
 * Each operation does one thing against the server and reports what happened; which operations a
 * runbook needs, in what order, and what to journal between them is the phases' business (freeze.c,
 * restore.c, cluster_access.c). The slots marked optional may be NULL: callers check, and
 * `validate` says what a runbook loses when its target's driver lacks one (driver_needs.c).
 */
#ifndef ROLLBACKCTL_CLUSTER_H
#define ROLLBACKCTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

struct rb_run;
struct rb_k8s; /* a driver's client for one target; phases only hand it back to the ops */

/* One listed object, as freeze needs it. */
struct rb_cluster_item {
    const char *name;
    bool suspended; /* CronJobs: suspended now; false for other kinds */
};

struct rb_cluster_list {
    struct rb_cluster_item *items; /* arena-owned; objects without a name are left out */
    size_t n;
    /* The whole objects as the server sent them (kind and apiVersion filled in), when asked for:
       what a phase saves before deleting. A JSON array the caller cJSON_Delete()s; else NULL. */
    cJSON *objects;
};

/* A resource one operation reads, for the phases' permission checks. */
struct rb_cluster_resource {
    const char *group; /* "" for the core group */
    const char *resource;
};

/* What a namespace snapshot read. */
struct rb_cluster_snapshot {
    cJSON *doc;    /* one List a person can `kubectl apply -f`; the caller deletes it */
    cJSON *counts; /* {resource: objects read}; the caller deletes it */
    int total;
};

/* The requests of one operation, for plan output (rb_cluster_ops.describe). */
enum rb_cluster_request {
    RB_CLUSTER_REQ_SCALE,           /* read and set the replicas of `what` */
    RB_CLUSTER_REQ_LIST_CRONJOBS,   /* list the CronJobs of selector `what` */
    RB_CLUSTER_REQ_SUSPEND_CRONJOB, /* suspend CronJob `what` (NULL: each one listed) */
    RB_CLUSTER_REQ_DELETE_JOBS,     /* list, then delete, the Jobs of selector `what` */
    RB_CLUSTER_REQ_SNAPSHOT,        /* read every resource of snapshot_reads */
};

struct rb_cluster_ops {
    const char *driver;
    /* The target's client, opened once per run (cached with the run's handles) and read-only
       unless the run executes. */
    struct rb_k8s *(*open)(struct rb_run *run, const char *target, struct rb_err *err);
    /* The target's namespace: the runbook's, the context's, or "default". */
    const char *(*namespace_of)(const struct rb_k8s *k);
    /* Where the cluster is, for plan output. */
    const char *(*server)(const struct rb_k8s *k);

    /* Replicas of a Deployment/StatefulSet (resource "deployments"/"statefulsets"). */
    int (*get_replicas)(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                        int *replicas, struct rb_err *err);
    /* Set them; returns once the server accepted the new count. */
    int (*scale)(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                 int replicas, struct rb_err *err);
    /* The objects of resource ("cronjobs", "jobs", ...) matching selector (NULL: all). */
    int (*list)(struct rb_k8s *k, const char *ns, const char *resource, const char *selector,
                bool keep_objects, struct rb_cluster_list *out, struct rb_err *err);
    /* Suspend (or resume) one CronJob. *not_found (may be NULL) is set when it does not exist. */
    int (*set_suspend)(struct rb_k8s *k, const char *ns, const char *name, bool suspend,
                       bool *not_found, struct rb_err *err);
    /* Delete the Jobs matching selector, their pods with them. */
    int (*delete_jobs)(struct rb_k8s *k, const char *ns, const char *selector, struct rb_err *err);

    /* Optional: read every resource of snapshot_reads in ns (never Secrets). */
    int (*snapshot)(struct rb_k8s *k, const char *ns, struct rb_cluster_snapshot *out,
                    struct rb_err *err);
    const struct rb_cluster_resource *snapshot_reads; /* ends with a NULL resource */
    /*
     * Optional: may this identity do verb on group/resource[/subresource] (name NULL: any) in ns?
     * Asks the server; *reason (may be NULL) gets its explanation or NULL, arena-owned.
     */
    int (*can_i)(struct rb_k8s *k, const char *verb, const char *group, const char *resource,
                 const char *subresource, const char *ns, const char *name, bool *allowed,
                 const char **reason, struct rb_err *err);
    /*
     * Optional: the server's version (GET /version for Kubernetes), asked with the target's
     * credentials, and the credentials proven: prepare's channel check. Kubernetes follows the
     * GET with one SelfSubjectAccessReview, since /version is often readable anonymously and
     * only an authenticated identity may create a review. *version gets e.g. "v1.32.0".
     */
    int (*version)(struct rb_k8s *k, struct rb_arena *a, const char **version, struct rb_err *err);
    /*
     * Optional: the exact requests of an operation, for plan output, as a JSON array the caller
     * cJSON_Delete()s: one {"method", "path"[, "content_type", "body"][, "paged": true]} per
     * request, the body a JSON value, values read at run time written "<read>".
     */
    cJSON *(*describe)(enum rb_cluster_request req, const char *ns, const char *what,
                       int replicas);
    /*
     * Optional: the namespace open() would give the target when the runbook names none, read
     * from local configuration only (a kubeconfig context, an in-cluster service account), never
     * the server: an offline plan resolves namespaces as execute does. Arena-owned, never NULL.
     */
    const char *(*namespace_local)(struct rb_arena *a, const struct rb_target *t);
    /* Optional, for validate: the target's own configuration checked offline (no network). */
    void (*check_target)(struct rb_arena *a, const struct rb_target *t, struct rb_diags *diags);
};

/* The ops of a cluster target's driver, or NULL with err when it is not a built cluster driver. */
const struct rb_cluster_ops *rb_cluster_ops_for(const struct rb_target *t, struct rb_err *err);

#endif
