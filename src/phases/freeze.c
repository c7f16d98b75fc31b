/*
 * freeze.c - the freeze phase. Not built yet: plans nothing (its issue builds it).
 */
#include "rollbackctl/phases.h"

int rb_freeze_plan(struct rb_run *run, struct rb_err *err)
{
    (void)run;
    (void)err;
    return 0;
}
