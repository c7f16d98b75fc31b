/*
 * driver_needs.c - what a runbook loses when the driver of a target it uses lacks an optional
 * operation, said by `validate` before anyone relies on it.
 *
 * The phases decide what they need (restore's dns steps read the old record, freeze and restore
 * ask cluster permissions first, plan shows cluster requests, freeze snapshots a namespace), so
 * the knowledge of what each missing slot costs lives here, beside them, not in the drivers. A
 * lack that only costs information is a warning, once per target at its position; one that makes
 * a step impossible (a snapshot with no snapshot operation) is an error at that step. Database
 * drivers with a check slot also read their targets' settings offline (a conninfo that libpq
 * would refuse is an error at its line).
 */
#include "rollbackctl/driver_needs.h"

#include <string.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/db.h"
#include "rollbackctl/dns.h"

/* The ops of a target's driver when it is of that kind and built, else NULL. */
static const void *built_ops(const struct rb_runbook *rb, const char *target,
                             enum rb_target_kind kind, const struct rb_target **tp)
{
    const struct rb_target *t = target != NULL ? rb_runbook_target(rb, target) : NULL;
    const struct rb_driver *d = t != NULL ? rb_driver_lookup(t->driver) : NULL;

    *tp = t;
    return d != NULL && d->kind == kind ? d->ops : NULL;
}

/* True the first time a target is seen, so each target is warned about once. */
static bool first_use(const struct rb_target **seen, size_t *n, const struct rb_target *t)
{
    for (size_t i = 0; i < *n; i++)
        if (seen[i] == t)
            return false;
    seen[(*n)++] = t;
    return true;
}

static void check_dns(const struct rb_runbook *rb, struct rb_diags *diags,
                      const struct rb_target **seen, size_t *n_seen)
{
    for (size_t i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *s = &rb->restore[i];
        const struct rb_target *t;
        const struct rb_dns_ops *ops;

        if (s->kind != RB_STEP_DNS)
            continue;
        ops = built_ops(rb, s->target, RB_TARGET_DNS, &t);
        if (ops == NULL || ops->read_record != NULL || !first_use(seen, n_seen, t))
            continue;
        rb_diag_add(diags, RB_DIAG_WARNING, t->pos,
                    "target '%s' (driver '%s') cannot read DNS records: plan cannot show the "
                    "current value of its dns steps, and the value a step replaces is not "
                    "journaled (put it back by hand if needed)",
                    t->name, t->driver);
    }
}

static void cluster_use(const struct rb_runbook *rb, struct rb_diags *diags,
                        const struct rb_target **seen, size_t *n_seen, const char *target)
{
    const struct rb_target *t;
    const struct rb_cluster_ops *ops = built_ops(rb, target, RB_TARGET_CLUSTER, &t);

    if (ops == NULL || !first_use(seen, n_seen, t))
        return;
    if (ops->can_i == NULL)
        rb_diag_add(diags, RB_DIAG_WARNING, t->pos,
                    "target '%s' (driver '%s') cannot check permissions: a missing one shows only "
                    "when the step that needs it fails, after earlier steps changed things",
                    t->name, t->driver);
    if (ops->describe == NULL)
        rb_diag_add(diags, RB_DIAG_WARNING, t->pos,
                    "target '%s' (driver '%s') cannot describe its requests: plan shows what each "
                    "step does, not the requests it sends",
                    t->name, t->driver);
}

static void check_cluster(const struct rb_runbook *rb, struct rb_diags *diags,
                          const struct rb_target **seen, size_t *n_seen)
{
    for (size_t i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];
        const struct rb_target *t;
        const struct rb_cluster_ops *ops = built_ops(rb, f->target, RB_TARGET_CLUSTER, &t);

        cluster_use(rb, diags, seen, n_seen, f->target);
        if (f->kind == RB_FREEZE_SNAPSHOT && ops != NULL && ops->snapshot == NULL)
            rb_diag_add(diags, RB_DIAG_ERROR, f->pos,
                        "snapshot: target '%s' (driver '%s') cannot take snapshots", t->name,
                        t->driver);
    }
    for (size_t i = 0; i < rb->n_restore; i++)
        if (rb->restore[i].kind == RB_STEP_SCALE)
            cluster_use(rb, diags, seen, n_seen, rb->restore[i].target);
}

/* Each database target's settings, as its driver reads them (the optional check slot). */
static void check_db(const struct rb_runbook *rb, struct rb_diags *diags)
{
    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t;
        const struct rb_db_ops *ops = built_ops(rb, rb->targets[i].name, RB_TARGET_DB, &t);

        if (ops != NULL && ops->check != NULL)
            ops->check(t, diags);
    }
}

void rb_runbook_check_drivers(const struct rb_runbook *rb, struct rb_diags *diags)
{
    const struct rb_target **seen;
    size_t n_seen = 0;

    if (rb == NULL || rb->n_targets == 0)
        return;
    seen = rb_new_array(diags->arena, const struct rb_target *, rb->n_targets);
    check_dns(rb, diags, seen, &n_seen);
    check_cluster(rb, diags, seen, &n_seen);
    check_db(rb, diags);
    /* every cluster target, used or not: its kubeconfig context (offline) */
    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];
        const struct rb_cluster_ops *ops;
        struct rb_err err = RB_ERR_INIT;

        if (t->kind == RB_TARGET_CLUSTER && (ops = rb_cluster_ops_for(t, &err)) != NULL &&
            ops->check_target != NULL)
            ops->check_target(diags->arena, t, diags);
    }
}
