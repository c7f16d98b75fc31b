/*
 * assess.c - the assess phase. Not built yet: plans nothing, so a run passes through it unchanged.
 */
#include "rollbackctl/phases.h"

int rb_assess_plan(struct rb_run *run, struct rb_err *err)
{
    (void)run;
    (void)err;
    return 0;
}
