/*
 * phases.h - the plan functions of each phase (src/phases/<name>.c).
 */
#ifndef ROLLBACKCTL_PHASES_H
#define ROLLBACKCTL_PHASES_H

#include "rollbackctl/run.h"

int rb_assess_plan(struct rb_run *run, struct rb_err *err);
int rb_approve_plan(struct rb_run *run, struct rb_err *err);
int rb_freeze_plan(struct rb_run *run, struct rb_err *err);
int rb_sync_plan(struct rb_run *run, struct rb_err *err);
int rb_restore_plan(struct rb_run *run, struct rb_err *err);
int rb_verify_plan(struct rb_run *run, struct rb_err *err);
int rb_communicate_plan(struct rb_run *run, struct rb_err *err);

#endif
