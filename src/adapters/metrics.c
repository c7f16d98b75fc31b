/*
 * metrics.c - what every metrics driver shares: finding a target's ops in the registry and the
 * per-target timeout (as dns.c does for DNS targets).
 */
#include "rollbackctl/metrics.h"

#include "rollbackctl/adapter.h"

const struct rb_metrics_ops *rb_metrics_ops_for(const struct rb_target *t, struct rb_err *err)
{
    return rb_driver_ops_for(t, RB_TARGET_METRICS, err);
}

int64_t rb_metrics_target_timeout(const struct rb_target *t)
{
    return rb_target_timeout(t, RB_METRICS_TIMEOUT_MS);
}
