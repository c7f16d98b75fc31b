/*
 * phases.h - the plan functions of each phase (src/phases/<name>.c).
 */
#ifndef ROLLBACKCTL_PHASES_H
#define ROLLBACKCTL_PHASES_H

#include "rollbackctl/run.h"

int rb_assess_plan(struct rb_run *run, struct rb_err *err);
int rb_approve_plan(struct rb_run *run, struct rb_err *err);
/*
 * approve.c's rule: how many approvals a run needs, the initiator's confirmation included:
 * approval.required[sev] (a severity not listed: 1), the strictest listed when sev is
 * RB_SEV_NONE (unknown), 1 without an approval section; never fewer than 1; one more when a
 * point of no return is true.
 */
int rb_approvals_needed(const struct rb_approval *ap, enum rb_severity sev,
                        bool point_of_no_return);
int rb_freeze_plan(struct rb_run *run, struct rb_err *err);
/*
 * freeze's snapshot of one cluster target's namespace, as its `snapshot` entries take it
 * (never Secrets): ns NULL = the target's namespace (runbook, kubeconfig context, "default"),
 * *ns_used (may be NULL) the one read. prepare's assets take the same. The caller deletes
 * snap->doc and snap->counts.
 */
struct rb_cluster_snapshot;
int rb_freeze_snapshot_take(struct rb_run *run, const char *target, const char *ns,
                            const char **ns_used, struct rb_cluster_snapshot *snap,
                            struct rb_err *err);
int rb_sync_plan(struct rb_run *run, struct rb_err *err);
/* sync.presync: the sync tables once before the freeze, as presync/<table> (presync.c). */
int rb_presync_plan(struct rb_run *run, struct rb_err *err);
/*
 * freeze.c, for rb_presync_plan: presync/records-at-risk, the freeze's count of the records at
 * risk and its deletion scan moved before the freeze (the freeze then counts only what changed
 * since). Nothing without sync.presync or without a freeze.
 */
int rb_presync_plan_at_risk(struct rb_run *run, struct rb_err *err);
/*
 * presync.c: the oldest start of a transaction open on database target `from` now (now() when
 * none), to the microsecond in UTC, as an RFC 3339 text in run's arena: a row a later snapshot
 * shows that an earlier one did not is stamped at or after it.
 */
int rb_presync_read_instant(struct rb_run *run, const char *from, const char **since,
                            struct rb_err *err);
int rb_restore_plan(struct rb_run *run, struct rb_err *err);
int rb_verify_plan(struct rb_run *run, struct rb_err *err);
int rb_communicate_plan(struct rb_run *run, struct rb_err *err);

#endif
