/*
 * cluster.c - what every cluster driver shares: finding a target's ops in the registry.
 */
#include "rollbackctl/cluster.h"

#include "rollbackctl/adapter.h"

const struct rb_cluster_ops *rb_cluster_ops_for(const struct rb_target *t, struct rb_err *err)
{
    const struct rb_driver *d = rb_driver_lookup(t->driver);

    if (d == NULL || d->kind != RB_TARGET_CLUSTER) {
        rb_errf(err, RB_E_FAILED, "target '%s' is not a kubernetes cluster (driver '%s')", t->name,
                t->driver);
        return NULL;
    }
    if (d->ops == NULL) {
        rb_errf(err, RB_E_FAILED, "cluster driver '%s' of target '%s' is not built yet", t->driver,
                t->name);
        return NULL;
    }
    return d->ops;
}
