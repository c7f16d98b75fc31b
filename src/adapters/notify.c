/*
 * notify.c - what the notification drivers share: finding a target's ops in the registry and
 * the per-target timeout.
 */
#include "rollbackctl/notify.h"

#include "rollbackctl/adapter.h"

const struct rb_notify_ops *rb_notify_ops_for(const struct rb_target *t, struct rb_err *err)
{
    return rb_driver_ops_for(t, RB_TARGET_NOTIFY, err);
}

int64_t rb_notify_target_timeout(const struct rb_target *t)
{
    return rb_target_timeout(t, RB_NOTIFY_TIMEOUT_MS);
}
