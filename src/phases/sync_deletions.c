/*
 * sync_deletions.c - a sync table's deletions since cutover (issue 14): counted as records at risk
 * for plan and the freeze phase, and, when the table's `deletions.policy` says so, found again
 * inside the table's own target transaction and applied there after the upsert.
 *
 * The finding itself is rb_deletions_find (src/checks/deletions.c, in the databases); this file
 * keeps what sync needs of it as the keys stream past: the counts, the first few keys for
 * messages, and (delete/soft_delete) the keys themselves as JSON batches for the statement that
 * applies them, never more than deletions.max + 1, so a wrong key mapping that finds every legacy
 * row costs a refusal, not memory. Applying in the table's transaction, with the ledger row, is
 * what keeps deletions exactly once: a killed run left nothing, a committed one is in the ledger.
 */
#include "rollbackctl/sync.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/run.h"
#include "sync_priv.h"

struct sample {
    struct rb_buf text;
    size_t n;
};

#define DELETIONS_HANDLE "sync-deletions"

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
        rb_buf_add_quoted_value(&s->text, row->key[i]);
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

/* --- applying them (policy delete, soft_delete) ---------------------------------------------- */

struct collect {
    struct sample sample;
    struct sync_deletions *d;
    int64_t keep;           /* keys worth keeping: deletions.max + 1 (one more says "over") */
    int64_t kept;
    struct rb_buf batch;    /* the JSON array being filled */
    size_t in_batch;
    const char **batches;   /* grown in d->keys_arena */
    size_t cap_batches;
};

static void close_batch(struct collect *c)
{
    struct sync_deletions *d = c->d;

    if (c->in_batch == 0)
        return;
    rb_buf_addc(&c->batch, ']');
    rb_arena_push(d->keys_arena, c->batches, d->n_batches, c->cap_batches, 16);
    c->batches[d->n_batches++] = rb_strdup(d->keys_arena, c->batch.data);
    d->batches = c->batches;
    rb_buf_reset(&c->batch);
    c->in_batch = 0;
}

static void on_found(void *ctx, const struct rb_deletions_result *res,
                     const struct rb_deleted_row *row)
{
    struct collect *c = ctx;
    cJSON *key;
    char *text;

    on_deleted(&c->sample, res, row);
    if ((res->exact && row->never_migrated) || c->kept >= c->keep)
        return;
    key = cJSON_CreateObject();
    for (size_t i = 0; i < res->key_columns->n; i++)
        cJSON_AddStringToObject(key, res->key_columns->items[i], row->key[i]);
    text = cJSON_PrintUnformatted(key);
    cJSON_Delete(key);
    if (text == NULL)
        abort();
    rb_buf_addc(&c->batch, c->in_batch == 0 ? '[' : ',');
    rb_buf_adds(&c->batch, text);
    free(text);
    c->kept++;
    if (++c->in_batch == SYNC_DELETE_BATCH)
        close_batch(c);
}

const char *rb_sync_deletions_policy_name(const struct rb_sync_table *t)
{
    return rb_deletions_policy_names[t->deletions.policy];
}

const char *rb_sync_deletions_verb(const struct rb_sync_table *t)
{
    switch (t->deletions.policy) {
    case RB_DELETIONS_DELETE:
        return "deleted";
    case RB_DELETIONS_SOFT_DELETE:
        return "marked void";
    case RB_DELETIONS_REPORT:
        return "reported, not applied";
    case RB_DELETIONS_IGNORE:
        break;
    }
    return "ignored";
}

int rb_sync_deletions_find(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                           struct rb_db *dst, struct sync_deletions *d, struct rb_err *err)
{
    const struct rb_sync_table *t = st->t;
    const struct rb_runbook *rb = run->rb;
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to,
                                 /* a stream's progress is drawn by the runner */
                                 .progress = run->worker ? NULL : run->ctx,
                                 .dst_in_tx = true,
                                 /* src reads the phase's snapshot in the table's own read */
                                 .src_in_tx = rb_db_in_transaction(src) };
    struct collect c = { .sample = { .text = RB_BUF_INIT }, .batch = RB_BUF_INIT };
    struct rb_deletions_result res;
    int rc;

    memset(d, 0, sizeof(*d));
    d->sample = "";
    if (t->deletions.policy == RB_DELETIONS_IGNORE)
        return 0;
    d->looked = true;
    d->keys_arena = rb_arena_new();
    c.d = d;
    c.keep = st->delete_sql != NULL ? t->deletions.max + 1 : 0;
    rc = rb_deletions_find(run->arena, src, dst, t, &o, on_found, &c, &res, err);
    close_batch(&c);
    d->sample = rb_strdup(run->arena, c.sample.text.len > 0 ? c.sample.text.data : "");
    rb_buf_release(&c.sample.text);
    rb_buf_release(&c.batch);
    if (rc < 0)
        return rb_err_wrap(err, "unable to find the rows of '%s' deleted in '%s'",
                           t->target_table, rb->sync.from);
    d->exact = res.exact;
    d->found = (int64_t)res.deleted_in_new;
    d->never_migrated = (int64_t)res.never_migrated;
    if (st->delete_sql != NULL && d->found > t->deletions.max) {
        rb_errf(err, RB_E_FAILED,
                "%" PRId64 " legacy rows of '%s' are deleted in '%s', more than deletions.max "
                "(%" PRId64 "): refusing the table before changing anything (first keys: %s)",
                d->found, t->target_table, rb->sync.from, t->deletions.max, d->sample);
        rb_err_hint(err, "a wrong key mapping or scope finds rows that are not deleted: "
                         "`rollbackctl gaps` lists them; raise deletions.max only if they are real");
        return -1;
    }
    return 0;
}

int rb_sync_deletions_apply(struct rb_run *run, struct sync_table *st, struct rb_db *dst,
                            struct sync_deletions *d, struct rb_err *err)
{
    int64_t done = 0;

    d->applied = 0;
    if (st->delete_sql == NULL || d->n_batches == 0)
        return 0;
    for (size_t i = 0; i < d->n_batches; i++) {
        const char *params[1] = { d->batches[i] };
        struct rb_arena *scratch = rb_arena_new();
        struct rb_db_result *r;

        if (!run->worker)
            rb_progress_note(run->ctx, "%s %" PRId64 " of %" PRId64 " rows deleted in '%s'",
                             st->t->deletions.policy == RB_DELETIONS_DELETE ? "deleting"
                                                                             : "marking void",
                             done, d->found, st->ph->from);
        r = rb_db_query(dst, scratch, SYNC_STATEMENT_TIMEOUT_MS, st->delete_sql, 1, params, err);
        if (r == NULL || r->nrows != 1) {
            if (r != NULL)
                rb_errf(err, RB_E_FAILED, "applying deletions to '%s' returned no count",
                        st->t->target_table);
            rb_arena_free(scratch);
            return rb_err_wrap(err, "unable to apply the deletions to '%s'",
                               st->t->target_table);
        }
        done += strtoll(rb_db_text(r, 0, 0), NULL, 10);
        rb_arena_free(scratch);
    }
    d->applied = done;
    return 0;
}

/*
 * policy report leaves a deletion in legacy, so the pass after a pre-sync finds again each key
 * its presync/<table> found (its entry of the fact sync_tables: "deletions_not_applied"). The
 * keys are the pre-sync's still, unless new inserted one again meanwhile (then it is a changed
 * row of this pass, and the count here errs by it, low).
 */
int64_t rb_sync_deletions_counted_before(struct rb_run *run, const struct sync_table *st,
                                         int64_t not_applied)
{
    const cJSON *tables = rb_run_fact(run, "sync_tables");
    const cJSON *pre, *n;

    if (st->ph->pass != SYNC_PASS_FINAL || st->since == NULL || not_applied <= 0)
        return 0;
    pre = cJSON_GetObjectItemCaseSensitive(tables,
                                           rb_sprintf(run->arena, "presync/%s", st->t->name));
    n = cJSON_GetObjectItemCaseSensitive(pre, "deletions_not_applied");
    if (!cJSON_IsNumber(n) || n->valuedouble <= 0)
        return 0;
    return (int64_t)n->valuedouble < not_applied ? (int64_t)n->valuedouble : not_applied;
}

void rb_sync_deletions_release(struct sync_deletions *d)
{
    if (d->keys_arena != NULL)
        rb_arena_free(d->keys_arena);
    d->keys_arena = NULL;
    d->batches = NULL;
    d->n_batches = 0;
}
