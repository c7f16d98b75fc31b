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
 * Unit tests only: put ops (fakes) in the row of driver name, so phases reach them through the
 * same lookup as the real adapter. Returns the ops that were there (to put back), NULL when no
 * such driver.
 */
const void *rb_driver_override_ops(const char *name, const void *ops);

#endif
