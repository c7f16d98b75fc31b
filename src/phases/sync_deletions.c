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

#include "rollbackctl/compare.h"
#include "rollbackctl/run.h"

struct sample {
    struct rb_arena *a;
    size_t max, n;
    const char *text;
};

static const char *quoted(struct rb_arena *a, const char *v)
{
    const char *out = "'";

    if (v == NULL)
        return "NULL";
    /* '' doubled, as the verification report writes values, so "x'" and "x" stay apart */
    for (const char *p = v; *p != '\0'; p++)
        out = rb_sprintf(a, "%s%s", out, *p == '\'' ? "''" : rb_sprintf(a, "%c", *p));
    return rb_sprintf(a, "%s'", out);
}

static void on_deleted(void *ctx, const struct rb_deletions_result *res,
                       const struct rb_deleted_row *row)
{
    struct sample *s = ctx;
    const char *k = "";

    /* never migrated: legacy's own history, not a record at risk, so not in the sample */
    if ((res->exact && row->never_migrated) || s->n >= s->max)
        return;
    for (size_t i = 0; i < res->key_columns->n; i++)
        k = rb_sprintf(s->a, "%s%s%s=%s", k, i > 0 ? " " : "", res->key_columns->items[i],
                       quoted(s->a, row->key[i]));
    s->text = rb_sprintf(s->a, "%s%s%s", s->text, s->n > 0 ? "; " : "", k);
    s->n++;
}

int rb_sync_find_deletions(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                           struct rb_db *dst, size_t sample_max, struct rb_sync_deleted *out,
                           struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to,
                                 .progress = run->ctx };
    struct sample s = { .a = run->arena, .max = sample_max, .text = "" };
    struct rb_deletions_result res;

    memset(out, 0, sizeof(*out));
    out->sample = "";
    if (rb_deletions_find(run->arena, src, dst, t, &o, on_deleted, &s, &res, err) < 0)
        return rb_err_wrap(err, "unable to find the rows of sync table '%s' deleted in '%s'",
                           t->name, rb->sync.from);
    out->exact = res.exact;
    out->deleted = res.deleted_in_new;
    out->never_migrated = res.never_migrated;
    out->sample = s.text;
    out->n_sample = s.n;
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
