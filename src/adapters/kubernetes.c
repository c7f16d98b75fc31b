/*
 * kubernetes.c - the resources half of the Kubernetes adapter, and the `kubernetes` driver's ops:
 * a target's client, the scale subresource, CronJobs (list, suspend), Jobs (list, delete with
 * their pods), a namespace snapshot, access reviews, and the exact requests of each for plan
 * output. Each operation does one thing and reports what happened; the phases decide what a
 * runbook needs (freeze.c, restore.c, cluster_access.c). Transport: kubernetes_http.c.
 */
#include "kubernetes_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

struct rb_k8s *rb_k8s_target(struct rb_run *run, const char *target, struct rb_err *err)
{
    const struct rb_target *t = rb_runbook_target(run->rb, target);
    struct rb_k8s_config cfg;
    struct rb_k8s_opts o;
    struct rb_k8s *k = rb_run_handle_get(run, "kubernetes", target);
    const char *v;

    if (k != NULL)
        return k;
    if (t == NULL || t->kind != RB_TARGET_CLUSTER) {
        rb_errf(err, RB_E_FAILED, "target '%s' is not a kubernetes cluster", target);
        return NULL;
    }
    if (rb_k8s_config_load(run->arena, rb_target_opt(t, "kubeconfig"), rb_target_opt(t, "context"),
                           &cfg, err) < 0) {
        rb_err_wrap(err, "target '%s'", target);
        return NULL;
    }
    if ((v = rb_target_opt(t, "token_env")) != NULL) {
        const char *tok = getenv(v);

        if (tok == NULL || tok[0] == '\0') {
            rb_errf(err, RB_E_FAILED,
                    "target '%s': environment variable '%s' (token_env) is not set", target, v);
            return NULL;
        }
        /* before anything refuses the kubeconfig's user: token_env wins over all of it */
        rb_k8s_config_use_token(run->arena, &cfg, tok);
    }
    if ((v = rb_target_opt(t, "namespace")) != NULL)
        cfg.namespace_ = v;
    memset(&o, 0, sizeof(o));
    o.read_only = run->read_only;
    o.label = target;
    o.env_drop = rb_runbook_secret_env(run->arena, run->rb);
    if ((v = rb_target_opt(t, "timeout")) != NULL) {
        o.timeout_ms = rb_duration_parse(v);
        if (o.timeout_ms <= 0) {
            rb_errf(err, RB_E_FAILED, "target '%s': timeout '%s' is not a duration", target, v);
            return NULL;
        }
    }
    k = rb_k8s_new(run->arena, &cfg, &o, err);
    if (k != NULL)
        rb_run_handle_put(run, "kubernetes", target, k);
    return k;
}

/* ---- scale ------------------------------------------------------------------------------------- */

void rb_k8s_scale_parse(struct rb_arena *a, const cJSON *s, int *replicas, const char **rv)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(s, "spec");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(s, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

    /* spec.replicas is omitted when 0 by some servers (omitempty) */
    *replicas = cJSON_IsNumber(r) ? r->valueint : 0;
    if (rv != NULL)
        *rv = cJSON_IsString(v) ? rb_strdup(a, v->valuestring) : NULL;
}

static int read_scale(struct rb_k8s *k, const char *path, int *replicas, const char **rv,
                      struct rb_err *err)
{
    cJSON *s = NULL;

    if (rb_k8s_get(k, path, &s, NULL, err) < 0)
        return -1;
    rb_k8s_scale_parse(k->arena, s, replicas, rv);
    cJSON_Delete(s);
    return 0;
}

int rb_k8s_scale_get(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int *replicas, struct rb_err *err)
{
    size_t n = strlen(resource);

    if (read_scale(k, rb_k8s_path(k->arena, ns, resource, name, "scale"), replicas, NULL, err) < 0)
        return rb_err_wrap(err, "unable to read the replicas of %.*s '%s' in namespace '%s'",
                           (int)(n > 1 && resource[n - 1] == 's' ? n - 1 : n), resource, name, ns);
    return 0;
}

int rb_k8s_scale_set(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int replicas, struct rb_err *err)
{
    const char *path = rb_k8s_path(k->arena, ns, resource, name, "scale");
    int i;

    for (i = 0; i < RB_K8S_ATTEMPTS; i++) {
        const char *rv;
        int cur;
        long code;
        cJSON *patch, *meta, *spec;
        int rc;

        if (read_scale(k, path, &cur, &rv, err) < 0)
            return rb_err_wrap(err, "unable to scale '%s' in namespace '%s'", name, ns);
        if (cur == replicas)
            return 0;
        patch = cJSON_CreateObject();
        if (rv != NULL) {
            meta = cJSON_AddObjectToObject(patch, "metadata");
            cJSON_AddStringToObject(meta, "resourceVersion",
                                    rv); /* optimistic lock: 409 if stale */
        }
        spec = cJSON_AddObjectToObject(patch, "spec");
        cJSON_AddNumberToObject(spec, "replicas", replicas);
        rc = rb_k8s_request(k, "PATCH", path, "application/merge-patch+json", patch, NULL, &code,
                            err);
        cJSON_Delete(patch);
        if (rc == 0)
            return 0;
        if (code != 409)
            return rb_err_wrap(err, "unable to scale '%s' in namespace '%s'", name, ns);
        k->n_retries++; /* conflict: read again, apply again */
    }
    /*
     * Every attempt lost the race: something else writes the object as fast as we read it. The
     * bare last 409 would read like a one-off; say how often it was tried and what kept winning.
     */
    rb_err_wrap(err,
                "unable to scale '%s' in namespace '%s': still conflicting after %d attempts "
                "(each read the scale again and re-applied it; another writer changed %.*s '%s' "
                "every time)",
                name, ns, RB_K8S_ATTEMPTS,
                (int)(strlen(resource) > 1 && resource[strlen(resource) - 1] == 's'
                          ? strlen(resource) - 1
                          : strlen(resource)),
                resource, name);
    return rb_err_hint(err,
                       "find what keeps changing '%s' (an autoscaler, a deployment tool, another "
                       "rollback: kubectl get events -n %s), stop it, then resume",
                       name, ns);
}

/* ---- cronjobs, jobs, snapshots ------------------------------------------------------------------ */

void rb_k8s_items_parse(struct rb_arena *a, const cJSON *items, struct rb_cluster_list *out)
{
    const cJSON *it;
    size_t n = 0;

    out->items = rb_new_array(a, struct rb_cluster_item, (size_t)cJSON_GetArraySize(items) + 1);
    cJSON_ArrayForEach(it, items) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");
        const cJSON *sus = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "spec"), "suspend");

        if (!cJSON_IsString(nm))
            continue;
        out->items[n].name = rb_strdup(a, nm->valuestring);
        out->items[n].suspended = cJSON_IsTrue(sus);
        n++;
    }
    out->n = n;
}

static int list_objects(struct rb_k8s *k, const char *ns, const char *resource,
                        const char *selector, bool keep_objects, struct rb_cluster_list *out,
                        struct rb_err *err)
{
    cJSON *items = NULL;

    memset(out, 0, sizeof(*out));
    if (rb_k8s_list(k, rb_k8s_path(k->arena, ns, resource, NULL, NULL), selector, &items, err) < 0)
        return -1;
    rb_k8s_items_parse(k->arena, items, out);
    if (keep_objects)
        out->objects = items;
    else
        cJSON_Delete(items);
    return 0;
}

static int set_suspend(struct rb_k8s *k, const char *ns, const char *name, bool suspend,
                       bool *not_found, struct rb_err *err)
{
    cJSON *patch = cJSON_CreateObject();
    long code = 0;
    int rc;

    cJSON_AddBoolToObject(cJSON_AddObjectToObject(patch, "spec"), "suspend", suspend);
    rc = rb_k8s_patch_merge(k, rb_k8s_path(k->arena, ns, "cronjobs", name, NULL), patch, NULL,
                            &code, err);
    cJSON_Delete(patch);
    if (not_found != NULL)
        *not_found = rc < 0 && code == 404;
    return rc;
}

static int delete_jobs(struct rb_k8s *k, const char *ns, const char *selector, struct rb_err *err)
{
    /* Background: the call returns at once and the garbage collector removes the Jobs' pods. */
    return rb_k8s_delete_collection(k, rb_k8s_path(k->arena, ns, "jobs", NULL, NULL), selector,
                                    "Background", NULL, err);
}

/* What a person needs to see or re-create a namespace's workloads; Secrets are never read. */
static const struct rb_cluster_resource snapshot_reads[] = {
    { "apps", "deployments" },
    { "apps", "statefulsets" },
    { "batch", "cronjobs" },
    { "batch", "jobs" },
    { "", "configmaps" },
    { "", "services" },
    { NULL, NULL },
};

static int snapshot(struct rb_k8s *k, const char *ns, struct rb_cluster_snapshot *out,
                    struct rb_err *err)
{
    cJSON *all;

    memset(out, 0, sizeof(*out));
    out->doc = cJSON_CreateObject();
    cJSON_AddStringToObject(out->doc, "apiVersion", "v1");
    cJSON_AddStringToObject(out->doc, "kind", "List");
    cJSON_AddItemToObject(out->doc, "metadata", cJSON_CreateObject());
    all = cJSON_AddArrayToObject(out->doc, "items");
    out->counts = cJSON_CreateObject();
    for (const struct rb_cluster_resource *r = snapshot_reads; r->resource != NULL; r++) {
        cJSON *items = NULL;
        int n = 0;

        if (rb_k8s_list(k, rb_k8s_path(k->arena, ns, r->resource, NULL, NULL), NULL, &items, err) <
            0) {
            cJSON_Delete(out->doc);
            cJSON_Delete(out->counts);
            memset(out, 0, sizeof(*out));
            return rb_err_wrap(err, "unable to snapshot %s in namespace '%s'", r->resource, ns);
        }
        while (cJSON_GetArraySize(items) > 0) {
            cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(items, 0));
            n++;
        }
        cJSON_Delete(items);
        cJSON_AddNumberToObject(out->counts, r->resource, n);
        out->total += n;
    }
    return 0;
}

/* ---- permissions ------------------------------------------------------------------------------- */

void rb_k8s_review_parse(struct rb_arena *a, const cJSON *resp, bool *allowed, const char **reason)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(st, "allowed");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(st, "reason");
    const cJSON *ee = cJSON_GetObjectItemCaseSensitive(st, "evaluationError");

    *allowed = cJSON_IsTrue(al);
    if (reason != NULL)
        *reason = cJSON_IsString(rs)   ? rb_strdup(a, rs->valuestring)
                  : cJSON_IsString(ee) ? rb_strdup(a, ee->valuestring)
                                       : NULL;
}

int rb_k8s_can_i(struct rb_k8s *k, const char *verb, const char *group, const char *resource,
                 const char *subresource, const char *ns, const char *name, bool *allowed,
                 const char **reason, struct rb_err *err)
{
    cJSON *rev = cJSON_CreateObject(), *spec, *ra, *resp = NULL;
    int rc;

    cJSON_AddStringToObject(rev, "apiVersion", "authorization.k8s.io/v1");
    cJSON_AddStringToObject(rev, "kind", "SelfSubjectAccessReview");
    spec = cJSON_AddObjectToObject(rev, "spec");
    ra = cJSON_AddObjectToObject(spec, "resourceAttributes");
    cJSON_AddStringToObject(ra, "namespace", ns != NULL ? ns : "");
    cJSON_AddStringToObject(ra, "verb", verb);
    cJSON_AddStringToObject(ra, "group", group != NULL ? group : "");
    cJSON_AddStringToObject(ra, "resource", resource);
    if (subresource != NULL)
        cJSON_AddStringToObject(ra, "subresource", subresource);
    if (name != NULL)
        cJSON_AddStringToObject(ra, "name", name);
    rc = rb_k8s_request(k, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        "application/json", rev, &resp, NULL, err);
    cJSON_Delete(rev);
    if (rc < 0)
        return rb_err_wrap(err, "unable to ask '%s' whether we may %s %s%s%s", k->label, verb,
                           resource, subresource != NULL ? "/" : "",
                           subresource != NULL ? subresource : "");
    rb_k8s_review_parse(k->arena, resp, allowed, reason);
    cJSON_Delete(resp);
    return 0;
}

/* ---- the channel check ------------------------------------------------------------------------ */

/*
 * GET /version, then one SelfSubjectAccessReview. /version is readable without credentials on
 * most clusters (system:public-info-viewer includes system:unauthenticated), so its answer proves
 * the server and the TLS trust, not the token or certificate: a bad token is refused (401) but a
 * missing one would not be. Creating a SelfSubjectAccessReview is granted to every authenticated
 * identity (system:basic-user) and to no anonymous one, whatever the answer says: its 201 proves
 * the credentials. Both are reads; neither changes anything.
 */
static int server_version(struct rb_k8s *k, struct rb_arena *a, const char **version,
                          struct rb_err *err)
{
    const cJSON *gv;
    cJSON *doc = NULL;
    bool allowed = false;

    *version = NULL;
    if (rb_k8s_get(k, "/version", &doc, NULL, err) < 0)
        return rb_err_wrap(err, "GET /version");
    gv = cJSON_GetObjectItemCaseSensitive(doc, "gitVersion");
    *version = rb_strdup(a, cJSON_IsString(gv) ? gv->valuestring : "(no gitVersion)");
    cJSON_Delete(doc);
    return rb_k8s_can_i(k, "get", "", "namespaces", NULL, NULL, k->namespace_, &allowed, NULL, err);
}

/* ---- plan text --------------------------------------------------------------------------------- */

static void request_add(cJSON *arr, const char *method, const char *path, const char *ctype,
                        const char *body)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "method", method);
    cJSON_AddStringToObject(r, "path", path);
    if (body != NULL) {
        cJSON_AddStringToObject(r, "content_type", ctype);
        cJSON_AddItemToObject(r, "body", cJSON_Parse(body));
    }
    cJSON_AddItemToArray(arr, r);
}

/* The requests exactly as the operations above send them (same paths, same escaping). */
static cJSON *describe(enum rb_cluster_request req, const char *ns, const char *what, int replicas)
{
    struct rb_arena *a = rb_arena_new();
    cJSON *arr = cJSON_CreateArray();
    const char *path;
    char body[128];

    switch (req) {
    case RB_CLUSTER_REQ_SCALE:
        path = rb_k8s_path(a, ns, "deployments", what, "scale");
        request_add(arr, "GET", path, NULL, NULL);
        snprintf(body, sizeof(body),
                 "{\"metadata\":{\"resourceVersion\":\"<read>\"},\"spec\":{\"replicas\":%d}}",
                 replicas);
        request_add(arr, "PATCH", path, "application/merge-patch+json", body);
        break;
    case RB_CLUSTER_REQ_LIST_CRONJOBS:
        request_add(arr, "GET",
                    rb_sprintf(a, "%s?limit=%d&labelSelector=%s",
                               rb_k8s_path(a, ns, "cronjobs", NULL, NULL), RB_K8S_PAGE_LIMIT,
                               rb_http_escape(a, what)),
                    NULL, NULL);
        break;
    case RB_CLUSTER_REQ_SUSPEND_CRONJOB:
        path = what != NULL ? rb_k8s_path(a, ns, "cronjobs", what, NULL)
                            : rb_sprintf(a, "%s/<each listed, not yet suspended>",
                                         rb_k8s_path(a, ns, "cronjobs", NULL, NULL));
        request_add(arr, "PATCH", path, "application/merge-patch+json",
                    "{\"spec\":{\"suspend\":true}}");
        break;
    case RB_CLUSTER_REQ_DELETE_JOBS:
        path = rb_k8s_path(a, ns, "jobs", NULL, NULL);
        request_add(arr, "GET",
                    rb_sprintf(a, "%s?limit=%d&labelSelector=%s", path, RB_K8S_PAGE_LIMIT,
                               rb_http_escape(a, what)),
                    NULL, NULL);
        request_add(arr, "DELETE",
                    rb_sprintf(a, "%s?propagationPolicy=Background&labelSelector=%s", path,
                               rb_http_escape(a, what)),
                    "application/json",
                    "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":"
                    "\"Background\"}");
        break;
    case RB_CLUSTER_REQ_SNAPSHOT:
        for (const struct rb_cluster_resource *r = snapshot_reads; r->resource != NULL; r++) {
            request_add(arr, "GET",
                        rb_sprintf(a, "%s?limit=%d", rb_k8s_path(a, ns, r->resource, NULL, NULL),
                                   RB_K8S_PAGE_LIMIT),
                        NULL, NULL);
            /* then &continue= until the server says done */
            cJSON_AddTrueToObject(cJSON_GetArrayItem(arr, cJSON_GetArraySize(arr) - 1), "paged");
        }
        break;
    }
    rb_arena_free(a);
    return arr;
}

/*
 * What rb_k8s_target would make the namespace, from the target and its kubeconfig context (or
 * service account) alone: nothing is asked of the server, no credential plugin is run. A
 * kubeconfig that cannot be read leaves the default, as it leaves open() failing.
 */
static const char *namespace_local(struct rb_arena *a, const struct rb_target *t)
{
    struct rb_k8s_config cfg;
    struct rb_err ignored = RB_ERR_INIT;
    const char *v = rb_target_opt(t, "namespace");

    if (v != NULL)
        return v;
    if (rb_k8s_config_load(a, rb_target_opt(t, "kubeconfig"), rb_target_opt(t, "context"), &cfg,
                           &ignored) == 0 &&
        cfg.namespace_ != NULL)
        return cfg.namespace_;
    return "default";
}

const struct rb_cluster_ops rb_k8s_ops = {
    .driver = "kubernetes",
    .open = rb_k8s_target,
    .namespace_of = rb_k8s_namespace,
    .server = rb_k8s_server,
    .get_replicas = rb_k8s_scale_get,
    .scale = rb_k8s_scale_set,
    .list = list_objects,
    .set_suspend = set_suspend,
    .delete_jobs = delete_jobs,
    .snapshot = snapshot,
    .snapshot_reads = snapshot_reads,
    .can_i = rb_k8s_can_i,
    .version = server_version,
    .describe = describe,
    .namespace_local = namespace_local,
    .check_target = rb_k8s_check_target,
};
