/*
 * prepare.c - the order of prepare's checks, and the two that belong to no adapter group:
 * sync.dry (the sync's own checks, read-only, with today's rows at risk) and contacts.
 *
 * Every group runs whatever the ones before found: one NOT_READY must never hide another, so
 * that one night's report names everything to fix by morning.
 */
#include "rollbackctl/prepare.h"

#include <stdarg.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/sync.h"

void rb_prepare_record(struct rb_run *run, struct rb_prepare_report *r, const char *name,
                       bool ready, int64_t t0_ms, const char *fmt, ...)
{
    struct rb_prepare_check *c;
    va_list ap;
    char *reason;

    rb_arena_push(run->arena, r->checks, r->n, r->cap, 16);
    va_start(ap, fmt);
    reason = rb_vsprintf(run->arena, fmt, ap);
    va_end(ap);
    /* one line: a server's multi-line message keeps its first line only */
    reason[strcspn(reason, "\r\n")] = '\0';
    c = &r->checks[r->n++];
    c->name = rb_strdup(run->arena, name);
    c->ready = ready;
    c->reason = reason;
    c->duration_ms = t0_ms > 0 ? rb_now_ms() - t0_ms : 0;
}

bool rb_prepare_ready(const struct rb_prepare_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (!r->checks[i].ready)
            return false;
    return r->n > 0;
}

/* sync.dry: each table passes the checks sync makes before copying; the rows at risk today. */
static void sync_dry(struct rb_run *run, struct rb_prepare_report *r)
{
    const struct rb_sync *sync = &run->rb->sync;
    int64_t t0 = rb_now_ms(), total = 0;
    struct rb_buf counts = RB_BUF_INIT, failed = RB_BUF_INIT;
    struct rb_err err = RB_ERR_INIT;
    struct rb_db *src, *dst;
    size_t nfailed = 0;

    if (sync->n_tables == 0) {
        rb_prepare_record(run, r, "sync.dry", true, t0, "the runbook syncs no table");
        return;
    }
    src = rb_db_target(run, sync->from, &err);
    dst = src != NULL ? rb_db_target(run, sync->to, &err) : NULL;
    if (dst == NULL) {
        rb_prepare_record(run, r, "sync.dry", false, t0, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < sync->n_tables; i++) {
        const struct rb_sync_table *t = &sync->tables[i];
        int64_t n;

        rb_err_clear(&err);
        if (rb_sync_dry_table(run, t, src, dst, &n, &err) < 0) {
            rb_buf_addf(&failed, "%s%s", nfailed > 0 ? "; " : "", err.msg);
            nfailed++;
            /* a failed statement may leave the read-only session unusable: start afresh */
            if (rb_db_lost(src) || rb_db_lost(dst)) {
                rb_db_target_close(run, sync->from);
                rb_db_target_close(run, sync->to);
                src = rb_db_target(run, sync->from, &err);
                dst = src != NULL ? rb_db_target(run, sync->to, &err) : NULL;
                if (dst == NULL)
                    break;
            }
            continue;
        }
        total += n;
        rb_buf_addf(&counts, "%s%s %lld", counts.len > 0 ? ", " : "", t->name, (long long)n);
    }
    if (nfailed > 0) {
        rb_prepare_record(run, r, "sync.dry", false, t0, "%zu of %zu tables would fail: %s",
                          nfailed, sync->n_tables, failed.data);
    } else {
        r->rows_at_risk = total;
        rb_prepare_record(run, r, "sync.dry", true, t0,
                          "%zu tables pass sync's checks; %lld rows at risk today (%s)",
                          sync->n_tables, (long long)total, counts.data);
    }
    rb_buf_release(&counts);
    rb_buf_release(&failed);
}

static void contacts(struct rb_run *run, struct rb_prepare_report *r)
{
    const struct rb_prepare *p = &run->rb->prepare;
    struct rb_buf who = RB_BUF_INIT;

    if (p->n_contacts == 0) {
        rb_prepare_record(run, r, "contacts", false, rb_now_ms(),
                          "the runbook lists no contacts: add prepare.contacts (role, name, "
                          "email or phone) so that operators know whom to call");
        return;
    }
    for (size_t i = 0; i < p->n_contacts; i++)
        rb_buf_addf(&who, "%s%s", i > 0 ? ", " : "", p->contacts[i].role);
    rb_prepare_record(run, r, "contacts", true, rb_now_ms(), "%zu listed (%s)", p->n_contacts,
                      who.data);
    rb_buf_release(&who);
}

int rb_prepare(struct rb_run *run, struct rb_prepare_report *r, struct rb_err *err)
{
    const struct rb_prepare *p = &run->rb->prepare;

    memset(r, 0, sizeof(*r));
    r->backup_age_s = -1;
    r->rows_at_risk = -1;
    if (!p->present) {
        rb_errf(err, RB_E_RUNBOOK, "the runbook has no 'prepare' section");
        return rb_err_hint(err, "add one (backup, snapshot, permissions, channels, contacts): see "
                                "docs/runbook.md, section prepare");
    }
    rb_prepare_backup(run, r);
    if (p->permissions)
        rb_prepare_permissions(run, r);
    if (p->channels)
        rb_prepare_channels(run, r);
    sync_dry(run, r);
    contacts(run, r);
    rb_prepare_assets(run, r);
    return 0;
}
