/*
 * gaps.c - `rollbackctl gaps`. Not built yet (issue 4).
 */
#include "rollbackctl/cmd.h"

int rb_cmd_gaps(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    return rb_errf(err, RB_E_FAILED, "'gaps' is not built yet");
}
