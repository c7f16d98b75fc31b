/*
 * sync_snapshot.c - the sync phase's one snapshot of the source, read by every table.
 *
 * The first table to need it exports it (rb_db_snapshot_export: pg_export_snapshot() in a
 * REPEATABLE READ READ ONLY transaction) on a session of its own, which stays idle in that
 * transaction until the phase ends; each table's source read then begins its own transaction on
 * that snapshot (rb_db_snapshot_begin: SET TRANSACTION SNAPSHOT), as pgcopydb and pg_dump -j do.
 * So a transaction committed in the source while the phase runs is in no table, and one committed
 * before it is in every table it touched: the tables agree with each other, whatever order and
 * however many at once they are read in.
 *
 * A snapshot lives only as long as the session that exported it. If that session is lost mid-
 * phase (the source restarted), or in a resumed run (the process that exported it is gone), the
 * tables not yet read take a new one; each table's result names the snapshot it read (xmin, lsn,
 * taken_at). Exactly-once does not depend on it: a table's ledger row commits with its rows, so a
 * table read in the first snapshot is never applied again, and one that did not commit left
 * nothing and is read whole in the new one.
 *
 * A driver without the two slots cannot share a snapshot: each table then reads its own, as
 * before. The streams of a parallel sync (sync_jobs.c) share this state: all of it under mu.
 */
#include <string.h>

#include "rollbackctl/db.h"
#include "rollbackctl/output.h"
#include "sync_priv.h"

/* The exporting session is asked whether it still answers before each table takes it up. */
#define SNAPSHOT_ALIVE_MS 5000

static void snapshot_free(void *arg)
{
    struct sync_snapshot *s = arg;

    pthread_mutex_destroy(&s->mu);
    if (s->arena != NULL)
        rb_arena_free(s->arena);
}

void rb_sync_snapshot_init(struct rb_run *run, struct sync_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    rb_arena_on_free(run->arena, snapshot_free, s);
}

/* End the exporting session's transaction and close it. Under s->mu. */
static void drop_session(struct sync_snapshot *s, const char *from)
{
    if (s->db == NULL)
        return;
    rb_db_rollback(s->db, 10000, NULL);
    rb_db_target_close(s->view, from);
    s->db = NULL;
}

/*
 * The current snapshot, exported now when there is none or its session no longer answers.
 * Under s->mu.
 */
static int current(struct rb_run *run, struct sync_snapshot *s, const char *from,
                   struct rb_err *err)
{
    struct rb_err ignored = RB_ERR_INIT;
    bool had = s->snap.id != NULL;

    if (s->db != NULL && had &&
        rb_db_exec(s->db, SNAPSHOT_ALIVE_MS, "SELECT 1", 0, NULL, &ignored) == 0)
        return 0;
    drop_session(s, from);
    if (s->view == NULL) {
        /* the run's own connection to `from` is a table's; this one only holds the snapshot */
        s->arena = rb_arena_new();
        s->view = rb_run_worker(run, s->arena);
    }
    if ((s->db = rb_db_target(s->view, from, err)) == NULL)
        return -1;
    if (rb_db_snapshot_export(s->db, s->arena, &s->snap, err) < 0) {
        drop_session(s, from);
        s->snap.id = NULL;
        return -1;
    }
    s->taken++;
    if (had)
        rb_warn(run->ctx,
                "sync: the session holding the snapshot of '%s' was lost; the tables not read "
                "yet read a new one (xmin %s, taken %s)",
                from, s->snap.xmin, s->snap.taken_at);
    return 0;
}

int rb_sync_snapshot_begin(struct rb_run *run, struct sync_phase *ph, struct rb_db *src,
                           struct rb_db_snapshot *used, struct rb_err *err)
{
    struct sync_snapshot *s = &ph->snapshot;
    int rc = -1;

    memset(used, 0, sizeof(*used));
    /* the table's own connection says what the driver can: no session is opened in vain */
    if (!rb_db_can_share_snapshot(src))
        return 0;
    pthread_mutex_lock(&s->mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (current(run, s, ph->from, err) < 0)
            break;
        /* under mu: the exporting transaction cannot end while this session takes it up */
        if (rb_db_snapshot_begin(src, s->snap.id, err) == 0) {
            *used = s->snap;
            rc = 0;
            break;
        }
        /* 22023 invalid_parameter_value: the id names no live snapshot; its exporter is gone */
        if (attempt > 0 || !rb_err_is(err, RB_K_SQL) || strcmp(err->sqlstate, "22023") != 0)
            break;
        drop_session(s, ph->from);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void rb_sync_snapshot_release(struct sync_phase *ph)
{
    struct sync_snapshot *s = &ph->snapshot;

    pthread_mutex_lock(&s->mu);
    drop_session(s, ph->from);
    s->snap.id = NULL;
    pthread_mutex_unlock(&s->mu);
}
