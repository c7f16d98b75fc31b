/*
 * break_glass.c - (being built: issue 13) rb_break_glass_script() of prepare.h.
 */
#include "rollbackctl/prepare.h"

const char *rb_break_glass_script(struct rb_run *run, struct rb_err *err)
{
    (void)run;
    rb_errf(err, RB_E_FAILED, "break-glass.sh is not built yet");
    return NULL;
}
