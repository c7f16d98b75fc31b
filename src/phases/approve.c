/*
 * approve.c - the approve phase. Not built yet: plans nothing, so a run passes through it unchanged.
 */
#include "rollbackctl/phases.h"

int rb_approve_plan(struct rb_run *run, struct rb_err *err)
{
    (void)run;
    (void)err;
    return 0;
}
