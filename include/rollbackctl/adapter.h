/*
 * adapter.h - the driver registry: runbook `driver:` names to adapter kinds and operations.
 *
 * One row per driver in src/adapters/registry.c. The loader uses the row to check a target's
 * keys (required and allowed) and its kind; phases use the row's ops pointer, cast to the ops
 * struct of the kind (struct rb_db_ops in db.h, rb_cluster_ops in cluster.h, rb_dns_ops in
 * dns.h, ...). Adding a driver = one file + one row.
 */
#ifndef ROLLBACKCTL_ADAPTER_H
#define ROLLBACKCTL_ADAPTER_H

#include <stddef.h>

#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

struct rb_driver {
    const char *name; /* the runbook's `driver:` value */
    enum rb_target_kind kind;
    const char *const *required; /* keys that must be present (NULL-terminated) */
    const char *const *optional; /* other keys allowed (NULL-terminated) */
    const char *const *one_of;   /* at least one of these must be present, or NULL */
    const void *ops;             /* kind-specific ops struct, NULL while not built */
};

const struct rb_driver *rb_driver_lookup(const char *name);
/* "postgres, kubernetes, rfc2136, ..." for "did you mean"/known-list messages. */
const char *rb_driver_names(void);
const struct rb_driver *rb_driver_at(size_t i); /* NULL past the end */
const char *rb_target_kind_name(enum rb_target_kind k);

/*
 * The ops of target t's driver, which must be of the given kind: NULL with err when the driver is
 * of another kind (RB_E_RUNBOOK) or not built yet. rb_db_ops_for(), rb_cluster_ops_for() and
 * rb_dns_ops_for() are this with the ops struct's type.
 */
const void *rb_driver_ops_for(const struct rb_target *t, enum rb_target_kind kind,
                              struct rb_err *err);

/*
 * Unit tests only: put ops (fakes) in the row of driver name, so phases reach them through the
 * same lookup as the real adapter. Returns the ops that were there (to put back), NULL when no
 * such driver.
 */
const void *rb_driver_override_ops(const char *name, const void *ops);

#endif
