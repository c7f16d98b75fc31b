/*
 * sync_deletions.c - a sync table's deletions since cutover counted as records at risk, for sync's
 * plan and the freeze phase's records-at-risk (issue 14, detection only: nothing is deleted).
 *
 * The finding itself is rb_deletions_find (src/checks/deletions.c, in the databases); this file
 * only keeps what the plan and the fact need: the counts and the first few deleted keys, copied as
 * they stream past, so a million deletions never sit in memory for a five-key sample.
 */
#include "rollbackctl/sync.h"

#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/run.h"

struct sample {
    struct rb_buf text;
    size_t n;
};

#define DELETIONS_HANDLE "sync-deletions"

/* v as the verification report writes values: quoted, '' doubled, so "x'" and "x" stay apart */
static void add_quoted(struct rb_buf *b, const char *v)
{
    if (v == NULL) {
        rb_buf_adds(b, "NULL");
        return;
    }
    rb_buf_addc(b, '\'');
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\'')
            rb_buf_addc(b, '\'');
        rb_buf_addc(b, *p);
    }
    rb_buf_addc(b, '\'');
}

static void on_deleted(void *ctx, const struct rb_deletions_result *res,
                       const struct rb_deleted_row *row)
{
    struct sample *s = ctx;

    /* never migrated: legacy's own history, not a record at risk, so not in the sample */
    if ((res->exact && row->never_migrated) || s->n >= RB_SYNC_DELETED_SAMPLE)
        return;
    if (s->n > 0)
        rb_buf_adds(&s->text, "; ");
    for (size_t i = 0; i < res->key_columns->n; i++) {
        rb_buf_addf(&s->text, "%s%s=", i > 0 ? " " : "", res->key_columns->items[i]);
        add_quoted(&s->text, row->key[i]);
    }
    s->n++;
}

int rb_sync_find_deletions(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                           struct rb_db *dst, struct rb_sync_deleted *out, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to,
                                 .progress = run->ctx };
    struct sample s = { .text = RB_BUF_INIT };
    struct rb_sync_deleted *found;
    struct rb_deletions_result res;
    int rc;

    memset(out, 0, sizeof(*out));
    out->sample = "";
    /* plan asks twice (freeze's count, then sync's rows at risk); the answer cannot differ */
    if (run->read_only &&
        (found = rb_run_handle_get(run, DELETIONS_HANDLE, t->name)) != NULL) {
        *out = *found;
        return 0;
    }
    rc = rb_deletions_find(run->arena, src, dst, t, &o, on_deleted, &s, &res, err);
    if (rc == 0) {
        out->exact = res.exact;
        out->deleted = res.deleted_in_new;
        out->never_migrated = res.never_migrated;
        out->sample = rb_strdup(run->arena, s.text.len > 0 ? s.text.data : "");
        out->n_sample = s.n;
    }
    rb_buf_release(&s.text);
    if (rc < 0)
        return rb_err_wrap(err, "unable to find the rows of sync table '%s' deleted in '%s'",
                           t->name, rb->sync.from);
    if (run->read_only) {
        found = rb_new(run->arena, struct rb_sync_deleted);
        *found = *out;
        rb_run_handle_put(run, DELETIONS_HANDLE, t->name, found);
    }
    return 0;
}

const char *rb_sync_at_risk_note(struct rb_arena *a, int64_t changed,
                                 const struct rb_sync_deleted *d)
{
    const char *note = rb_sprintf(a, "%lld changed since cutover + %llu deleted in new",
                                  (long long)changed, (unsigned long long)d->deleted);

    if (d->exact && d->never_migrated > 0)
        note = rb_sprintf(a, "%s (and %llu legacy %s never migrated, not at risk)", note,
                          (unsigned long long)d->never_migrated,
                          d->never_migrated == 1 ? "row" : "rows");
    return note;
}
