/*
 * deletions.c - (being built: issue 14) rb_deletions_find() of compare.h.
 */
#include "rollbackctl/compare.h"

#include <string.h>

int rb_deletions_find(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                      const struct rb_sync_table *t, const struct rb_compare_opts *o,
                      rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                      struct rb_deletions_result *res, struct rb_err *err)
{
    (void)a, (void)src, (void)dst, (void)o, (void)on_deleted, (void)on_deleted_ctx;
    memset(res, 0, sizeof(*res));
    res->table = t->name;
    return rb_errf(err, RB_E_FAILED, "finding deletions is not built yet");
}

cJSON *rb_deletions_result_json(const struct rb_deletions_result *res)
{
    (void)res;
    return cJSON_CreateObject();
}
