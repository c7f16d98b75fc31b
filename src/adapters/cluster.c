/*
 * cluster.c - what every cluster driver shares: finding a target's ops in the registry.
 */
#include "rollbackctl/cluster.h"

#include "rollbackctl/adapter.h"

const struct rb_cluster_ops *rb_cluster_ops_for(const struct rb_target *t, struct rb_err *err)
{
    return rb_driver_ops_for(t, RB_TARGET_CLUSTER, err);
}
