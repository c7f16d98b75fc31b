/*
 * prepare_access.c - (being built: issue 13) rb_prepare_permissions() of prepare.h.
 */
#include "rollbackctl/prepare.h"

void rb_prepare_permissions(struct rb_run *run, struct rb_prepare_report *r)
{
    (void)run, (void)r;
}
