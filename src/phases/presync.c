/*
 * presync.c - sync.presync: the sync tables synced once before the freeze, while the new system
 * still runs, so that the downtime (first freeze action to the end of restore) holds only what
 * changed since.
 *
 * Phase presync (between approve and freeze) plans the same tables as the sync phase, through the
 * same code (rb_sync_plan_pass, SYNC_PASS_PRE), as actions presync/<table> with ledger rows
 * (run id, "presync/<table>"): the two passes commit apart and each is exactly once on its own,
 * and a resumed run finds a committed pre-sync table in the ledger (or done in the journal) and
 * does not apply it again.
 *
 * First, with a freeze, presync/records-at-risk (freeze.c): the records at risk counted and the
 * deletions scanned here, outside the downtime, from an instant of its own read the same way.
 *
 * The instant. Before any table starts, on the engine's thread, the pre-sync reads on `from` the
 * earliest start of a transaction open there (pg_stat_activity.xact_start, now() when none) and
 * journals it as the fact presync.since. Every table's snapshot is taken after that read, so a
 * transaction a snapshot does not show began at or after that instant, and a row it wrote is
 * stamped at or after it as long as changed_since comes from the writer's now() (or a later
 * clock: clock_timestamp(), a trigger). The sync phase's pass then copies, per table whose pre-sync
 * committed (fact presync.tables), the rows with changed_since >= that instant: some rows again
 * (found unchanged, not counted twice), none missed. A table whose pre-sync did not commit is
 * synced from the cutover, as without a pre-sync. A resumed run keeps the first instant: every
 * snapshot of its tables began after it.
 */
#include "rollbackctl/phases.h"

#include <stdlib.h>
#include <string.h>

#include "rollbackctl/db.h"
#include "rollbackctl/output.h"
#include "sync_priv.h"

/*
 * The oldest transaction open on the source now, to the microsecond (the sessions pin UTC).
 * Sessions of other roles show no xact_start without pg_read_all_stats: counted, and warned.
 */
static const char since_sql[] =
    "SELECT to_char(least(now(), min(xact_start)) AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "count(*) FILTER (WHERE query = '<insufficient privilege>') "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";

/* What a plan made before the pre-sync ran shows in the sync phase's SQL. */
#define SINCE_PLACEHOLDER "<the pre-sync's instant>"

int rb_presync_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_sync *sync = &run->rb->sync;

    if (!sync->present || !sync->presync || sync->n_tables == 0)
        return 0;
    /* first: its deletion scan must see legacy before a pre-sync table applies a deletion */
    if (rb_presync_plan_at_risk(run, err) < 0)
        return -1;
    return rb_sync_plan_pass(run, SYNC_PASS_PRE, err);
}

void rb_presync_setup(struct sync_phase *ph)
{
    ph->group.run = rb_presync_run_tables;
}

/* The fact presync {since, hidden_sessions, tables: {name: since}}, a copy to change. */
static cJSON *fact_copy(const struct rb_run *run)
{
    const cJSON *f = rb_run_fact(run, "presync");

    return f != NULL ? cJSON_Duplicate(f, 1) : cJSON_CreateObject();
}

static struct rb_db_result *read_instant(struct rb_run *run, const char *from, struct rb_err *err)
{
    struct rb_db *src = rb_db_target(run, from, err);
    struct rb_db_result *r;

    if (src == NULL)
        goto fail;
    r = rb_db_query(src, run->arena, 30000, since_sql, 0, NULL, err);
    if (r == NULL)
        goto fail;
    if (r->nrows != 1 || r->ncols < 2 || rb_db_isnull(r, 0, 0)) {
        rb_errf(err, RB_E_FAILED, "presync: the instant read on '%s' came back empty", from);
        return NULL;
    }
    return r;
fail:
    rb_err_wrap(err, "presync: unable to read the pre-sync's instant on '%s'", from);
    return NULL;
}

int rb_presync_read_instant(struct rb_run *run, const char *from, const char **since,
                            struct rb_err *err)
{
    struct rb_db_result *r = read_instant(run, from, err);

    if (r == NULL)
        return -1;
    *since = rb_db_text(r, 0, 0);
    return 0;
}

/* Read the instant on `from` and journal it, before any table's snapshot is taken. */
static int record_since(struct rb_run *run, const struct sync_phase *ph, struct rb_err *err)
{
    struct rb_db_result *r = read_instant(run, ph->from, err);
    const char *hidden;
    cJSON *f;

    if (r == NULL)
        return -1;
    hidden = rb_db_text(r, 0, 1);
    if (strcmp(hidden, "0") != 0)
        rb_warn(run->ctx,
                "presync: %s session%s on '%s' hidden from this role (pg_stat_activity): a "
                "transaction there that began before %s and commits after the pre-sync read "
                "would be missed by the sync phase; grant the role pg_read_all_stats",
                hidden, strcmp(hidden, "1") == 0 ? "" : "s", ph->from, rb_db_text(r, 0, 0));
    f = fact_copy(run);
    cJSON_DeleteItemFromObjectCaseSensitive(f, "since");
    cJSON_AddStringToObject(f, "since", rb_db_text(r, 0, 0));
    cJSON_DeleteItemFromObjectCaseSensitive(f, "hidden_sessions");
    cJSON_AddNumberToObject(f, "hidden_sessions", (double)strtoll(hidden, NULL, 10));
    if (cJSON_GetObjectItemCaseSensitive(f, "tables") == NULL)
        cJSON_AddObjectToObject(f, "tables");
    if (rb_run_fact_set(run, "presync", f, err) < 0)
        return rb_err_wrap(err, "presync: unable to journal the pre-sync's instant");
    rb_info(run->ctx, "  presync: the sync phase copies again what changed from %s on",
            rb_db_text(r, 0, 0));
    return 0;
}

int rb_presync_run_tables(struct rb_run *run, struct rb_action *const *acts, size_t n,
                          const struct rb_group_hooks *h, struct rb_err *err)
{
    struct sync_phase *ph = acts[0]->group->arg;
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(rb_run_fact(run, "presync"), "since");

    /* a resumed run keeps the first instant: every snapshot of its tables began after it */
    if (!cJSON_IsString(since) && record_since(run, ph, err) < 0)
        return -1;
    return rb_sync_run_tables(run, acts, n, h, err);
}

void rb_presync_table_done(struct rb_run *run, const struct sync_table *st)
{
    cJSON *f = fact_copy(run), *tables;
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(f, "since");

    if (!cJSON_IsString(since)) {
        cJSON_Delete(f);
        return;
    }
    if ((tables = cJSON_GetObjectItemCaseSensitive(f, "tables")) == NULL)
        tables = cJSON_AddObjectToObject(f, "tables");
    cJSON_DeleteItemFromObjectCaseSensitive(tables, st->t->name);
    cJSON_AddStringToObject(tables, st->t->name, since->valuestring);
    rb_run_fact_set(run, "presync", f, NULL);
}

const char *rb_presync_since(struct rb_run *run, const char *table, bool *known)
{
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(rb_run_fact(run, "presync"), "tables");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(tables, table);

    *known = true;
    if (cJSON_IsString(since))
        return rb_strdup(run->arena, since->valuestring);
    if (run->mode != RB_MODE_EXECUTE) {
        /* planned before the pre-sync ran: the instant is read when it runs */
        *known = false;
        return SINCE_PLACEHOLDER;
    }
    return NULL; /* its pre-sync did not commit: from the cutover */
}
