/*
 * cluster_access.c - which cluster permissions a runbook needs, and asking for them before anything
 * changes: freeze's scale/suspend/delete/snapshot entries and restore's scale steps, each turned
 * into verbs on resources, asked through the driver's can_i (SelfSubjectAccessReview for
 * Kubernetes). The policy (what each entry needs) lives here, in the phases; the driver only
 * answers one question at a time.
 */
#include "rollbackctl/driver_needs.h"

#include <string.h>

#include "rollbackctl/buf.h"

struct rb_k8s *rb_cluster_open(struct rb_run *run, const char *target,
                               const struct rb_cluster_ops **ops, struct rb_err *err)
{
    const struct rb_target *t = rb_runbook_target(run->rb, target);

    if (t == NULL) {
        rb_errf(err, RB_E_FAILED, "target '%s' is not a kubernetes cluster", target);
        return NULL;
    }
    if ((*ops = rb_cluster_ops_for(t, err)) == NULL)
        return NULL;
    return (*ops)->open(run, target, err);
}

struct need {
    const char *target, *ns, *verb, *group, *resource, *sub, *name;
};

struct needs {
    struct need *v;
    size_t n, cap;
    struct rb_arena *arena;
    const char *only; /* the needs of this cluster target alone; NULL: of every one */
};

static bool other_target(const struct needs *n, const char *target)
{
    return n->only != NULL && (target == NULL || strcmp(n->only, target) != 0);
}

static bool same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Each permission once, in the order first needed (the order the denials are listed in). */
static void need_add(struct needs *ns_, const char *target, const char *ns, const char *verb,
                     const char *group, const char *resource, const char *sub, const char *name)
{
    for (size_t i = 0; i < ns_->n; i++) {
        const struct need *x = &ns_->v[i];

        if (strcmp(x->target, target) == 0 && strcmp(x->ns, ns) == 0 &&
            strcmp(x->verb, verb) == 0 && strcmp(x->resource, resource) == 0 && same(x->sub, sub) &&
            same(x->name, name))
            return;
    }
    rb_arena_push(ns_->arena, ns_->v, ns_->n, ns_->cap, 16);
    ns_->v[ns_->n++] = (struct need){ target, ns, verb, group, resource, sub, name };
}

/* Scaling reads the count first (it is journaled) and then patches it. */
static void need_scale(struct needs *n, const char *target, const char *ns, const char *deployment)
{
    need_add(n, target, ns, "get", "apps", "deployments", "scale", deployment);
    need_add(n, target, ns, "patch", "apps", "deployments", "scale", deployment);
}

static int freeze_needs(struct rb_run *run, struct needs *n, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;

    for (size_t i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];
        const struct rb_cluster_ops *ops;
        struct rb_k8s *k;
        const char *ns;

        if (other_target(n, f->target))
            continue;
        if ((k = rb_cluster_open(run, f->target, &ops, err)) == NULL)
            return -1;
        ns = f->namespace_ != NULL ? f->namespace_ : ops->namespace_of(k);
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            need_scale(n, f->target, ns, f->deployment);
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            need_add(n, f->target, ns, "list", "batch", "cronjobs", NULL, NULL);
            need_add(n, f->target, ns, "patch", "batch", "cronjobs", NULL, NULL);
            break;
        case RB_FREEZE_DELETE_JOBS:
            need_add(n, f->target, ns, "list", "batch", "jobs", NULL, NULL);
            need_add(n, f->target, ns, "deletecollection", "batch", "jobs", NULL, NULL);
            break;
        case RB_FREEZE_SNAPSHOT:
            for (const struct rb_cluster_resource *r = ops->snapshot_reads;
                 r != NULL && r->resource != NULL; r++)
                need_add(n, f->target, ns, "list", r->group, r->resource, NULL, NULL);
            break;
        }
    }
    return 0;
}

static int restore_needs(struct rb_run *run, struct needs *n, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;

    for (size_t i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *st = &rb->restore[i];
        const struct rb_cluster_ops *ops;
        struct rb_k8s *k;

        if (st->kind != RB_STEP_SCALE || st->target == NULL || other_target(n, st->target))
            continue;
        if ((k = rb_cluster_open(run, st->target, &ops, err)) == NULL)
            return -1;
        need_scale(n, st->target, st->namespace_ != NULL ? st->namespace_ : ops->namespace_of(k),
                   st->deployment);
    }
    return 0;
}

static cJSON *report_entry(struct rb_arena *a, const struct need *x, bool allowed)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "target", x->target);
    cJSON_AddStringToObject(e, "namespace", x->ns);
    cJSON_AddStringToObject(e, "verb", x->verb);
    cJSON_AddStringToObject(
        e, "resource", x->sub != NULL ? rb_sprintf(a, "%s/%s", x->resource, x->sub) : x->resource);
    if (x->name != NULL)
        cJSON_AddStringToObject(e, "name", x->name);
    cJSON_AddBoolToObject(e, "allowed", allowed);
    return e;
}

/* The checks of rb_cluster_check_access, of one cluster target's needs (only_target) or all. */
static int check_access(struct rb_run *run, const char *only_target, cJSON **report,
                        struct rb_err *err)
{
    struct needs n = { .arena = run->arena, .only = only_target };
    struct rb_buf denied = RB_BUF_INIT;
    cJSON *rep;
    size_t ndenied = 0;

    if (report != NULL)
        *report = NULL;
    if (freeze_needs(run, &n, err) < 0 || restore_needs(run, &n, err) < 0)
        return -1;
    rep = cJSON_CreateArray();
    for (size_t i = 0; i < n.n; i++) {
        const struct need *x = &n.v[i];
        const struct rb_cluster_ops *ops;
        struct rb_k8s *k = rb_cluster_open(run, x->target, &ops, err);
        bool ok = false;

        if (k != NULL && ops->can_i == NULL)
            continue; /* this driver cannot be asked; validate says so */
        if (k == NULL || ops->can_i(k, x->verb, x->group, x->resource, x->sub, x->ns, x->name, &ok,
                                    NULL, err) < 0) {
            cJSON_Delete(rep);
            rb_buf_release(&denied);
            return -1;
        }
        cJSON_AddItemToArray(rep, report_entry(run->arena, x, ok));
        if (!ok) {
            rb_buf_addf(&denied, "%scannot %s %s%s%s%s%s%s in namespace '%s'",
                        ndenied > 0 ? "; " : "", x->verb, x->resource, x->sub != NULL ? "/" : "",
                        x->sub != NULL ? x->sub : "", x->name != NULL ? " '" : "",
                        x->name != NULL ? x->name : "", x->name != NULL ? "'" : "", x->ns);
            ndenied++;
        }
    }
    if (report != NULL)
        *report = rep;
    else
        cJSON_Delete(rep);
    if (ndenied > 0) {
        rb_errf(err, RB_E_FAILED, "%s", denied.data);
        rb_buf_release(&denied);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(
            err, "grant these to the identity the cluster target uses, then run again; nothing "
                 "was changed");
    }
    rb_buf_release(&denied);
    return 0;
}

int rb_cluster_check_access(struct rb_run *run, cJSON **report, struct rb_err *err)
{
    return check_access(run, NULL, report, err);
}

int rb_cluster_check_target_access(struct rb_run *run, const char *target, cJSON **report,
                                   struct rb_err *err)
{
    return check_access(run, target, report, err);
}
