/*
 * driver_needs.h - what the phases need from their targets' drivers, decided in the phases:
 * opening a cluster target through its ops, the cluster permissions freeze and restore need
 * (cluster_access.c), and the diagnostics `validate` gives when a driver lacks an optional
 * operation a runbook would use (driver_needs.c).
 */
#ifndef ROLLBACKCTL_DRIVER_NEEDS_H
#define ROLLBACKCTL_DRIVER_NEEDS_H

#include <cjson/cJSON.h>

#include "rollbackctl/cluster.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

/*
 * The client of cluster target `target` (opened once per run by its driver) and, in *ops, the
 * driver's ops. NULL with err when there is no such target, it is no cluster, or it cannot be
 * opened.
 */
struct rb_k8s *rb_cluster_open(struct rb_run *run, const char *target,
                               const struct rb_cluster_ops **ops, struct rb_err *err);

/*
 * Ask each cluster target, through its driver's can_i, for every verb/resource the runbook needs
 * (freeze actions, restore scale steps). Fails with one message listing every permission missing
 * ("cannot patch deployments/scale 'x' in namespace 'y'; ..."), nothing changed. *report (may be
 * NULL) gets an array of {target, namespace, verb, resource, name, allowed} (caller deletes). A
 * driver without can_i is not asked (validate warns about it).
 */
int rb_cluster_check_access(struct rb_run *run, cJSON **report, struct rb_err *err);
/* The same for the needs of one cluster target (the pre-flight asks target by target). */
int rb_cluster_check_target_access(struct rb_run *run, const char *target, cJSON **report,
                                   struct rb_err *err);

/*
 * Warnings (errors, where a step could not run at all) for each target the runbook uses whose
 * driver lacks an optional operation the runbook needs, at the target's position; and what the
 * check slot of each database target's driver finds in its settings (a conninfo libpq would
 * refuse). Contacts nothing.
 */
void rb_runbook_check_drivers(const struct rb_runbook *rb, struct rb_diags *diags);

#endif
