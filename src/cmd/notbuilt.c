/*
 * notbuilt.c - commands whose work belongs to later issues. They say so and exit 1; no command
 * pretends to work.
 */
#include "rollbackctl/cmd.h"

static int not_built(const char *name, struct rb_err *err)
{
    rb_errf(err, RB_E_FAILED, "'%s' is not built yet", name);
    return rb_err_hint(err, "see 'rollbackctl --help' for the commands available in this version");
}

int rb_cmd_prepare(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    (void)ctx, (void)argc, (void)argv;
    return not_built("prepare", err);
}
