/*
 * prepare_assets.c - (being built: issue 13) rb_prepare_assets() of prepare.h.
 */
#include "rollbackctl/prepare.h"

void rb_prepare_assets(struct rb_run *run, struct rb_prepare_report *r)
{
    (void)run, (void)r;
}
