/*
 * db.c - what every database driver shares: finding a target's ops in the registry, the run's
 * connection to a target, and the calls phases make (db.h), each reaching the driver that opened
 * the connection. Optional ops are checked here, so a driver without them fails with a message
 * instead of a NULL call.
 */
#include "rollbackctl/db.h"

#include <string.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/run.h"

const struct rb_db_ops *rb_db_ops_for(const struct rb_target *t, struct rb_err *err)
{
    return rb_driver_ops_for(t, RB_TARGET_DB, err);
}

/* The target and its ops, or NULL with err naming the target. */
static const struct rb_target *db_target(struct rb_run *run, const char *target,
                                         const struct rb_db_ops **ops, struct rb_err *err)
{
    const struct rb_target *t = rb_runbook_target(run->rb, target);

    if (t == NULL)
        return rb_errf(err, RB_E_RUNBOOK, "no target named '%s'", target), NULL;
    if ((*ops = rb_db_ops_for(t, err)) == NULL)
        return NULL;
    return t;
}

struct rb_db *rb_db_target(struct rb_run *run, const char *target, struct rb_err *err)
{
    const struct rb_db_ops *ops;
    const struct rb_target *t = db_target(run, target, &ops, err);

    return t != NULL ? ops->open(run, t, err) : NULL;
}

void rb_db_target_close(struct rb_run *run, const char *target)
{
    struct rb_err ignored = RB_ERR_INIT;
    const struct rb_db_ops *ops;
    const struct rb_target *t = db_target(run, target, &ops, &ignored);

    if (t != NULL && ops->close != NULL)
        ops->close(run, t);
}

int rb_db_run(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
              struct rb_db_result **out, struct rb_err *err)
{
    if (db == NULL) {
        if (out != NULL)
            *out = NULL;
        return rb_errf(err, RB_E_FAILED, "connection lost"), rb_err_kind(err, RB_K_CONN_LOST);
    }
    return db->ops->query(db, a, st, out, err);
}

struct rb_db_result *rb_db_query(struct rb_db *db, struct rb_arena *a, int64_t timeout_ms,
                                 const char *sql, int nparams, const char *const *params,
                                 struct rb_err *err)
{
    struct rb_db_stmt st = { sql, nparams, params, timeout_ms, NULL };
    struct rb_db_result *r = NULL;

    if (rb_db_run(db, a, &st, &r, err) < 0)
        return NULL;
    return r;
}

int rb_db_exec(struct rb_db *db, int64_t timeout_ms, const char *sql, int nparams,
               const char *const *params, struct rb_err *err)
{
    struct rb_db_stmt st = { sql, nparams, params, timeout_ms, NULL };

    return rb_db_run(db, NULL, &st, NULL, err);
}

int rb_db_result_scalar(const struct rb_db_result *r, struct rb_arena *a, const char **out,
                        bool *is_null, struct rb_err *err)
{
    if (r->nrows < 1 || r->ncols < 1)
        return rb_errf(err, RB_E_FAILED, "query returned no rows");
    if (is_null != NULL)
        *is_null = rb_db_isnull(r, 0, 0);
    *out = rb_db_isnull(r, 0, 0) ? NULL : rb_strdup(a, rb_db_value(r, 0, 0));
    return 0;
}

int rb_db_scalar(struct rb_db *db, struct rb_arena *a, int64_t timeout_ms, const char *sql,
                 const char **out, bool *is_null, struct rb_err *err)
{
    struct rb_arena *scratch = rb_arena_new();
    struct rb_db_result *r = rb_db_query(db, scratch, timeout_ms, sql, 0, NULL, err);
    int rc = r != NULL ? rb_db_result_scalar(r, a, out, is_null, err) : -1;

    rb_arena_free(scratch);
    return rc;
}

bool rb_db_lost(const struct rb_db *db)
{
    return db == NULL || db->ops->lost(db);
}

int rb_db_cancel(struct rb_db *db)
{
    return db != NULL ? db->ops->cancel(db) : -1;
}

static int tx(struct rb_db *db, enum rb_db_tx op, const char *savepoint, int64_t timeout_ms,
              struct rb_err *err)
{
    if (db == NULL)
        return rb_errf(err, RB_E_FAILED, "connection lost"), rb_err_kind(err, RB_K_CONN_LOST);
    return db->ops->tx(db, op, savepoint, timeout_ms, err);
}

int rb_db_begin(struct rb_db *db, struct rb_err *err)
{
    return tx(db, RB_DB_BEGIN, NULL, 0, err);
}

int rb_db_commit(struct rb_db *db, int64_t timeout_ms, struct rb_err *err)
{
    return tx(db, RB_DB_COMMIT, NULL, timeout_ms, err);
}

int rb_db_rollback(struct rb_db *db, int64_t timeout_ms, struct rb_err *err)
{
    if (rb_db_lost(db))
        return 0;
    return tx(db, RB_DB_ROLLBACK, NULL, timeout_ms, err);
}

int rb_db_savepoint(struct rb_db *db, const char *name, struct rb_err *err)
{
    return tx(db, RB_DB_SAVEPOINT, name, 0, err);
}

int rb_db_release(struct rb_db *db, const char *name, struct rb_err *err)
{
    return tx(db, RB_DB_RELEASE, name, 0, err);
}

int rb_db_rollback_to(struct rb_db *db, const char *name, struct rb_err *err)
{
    return tx(db, RB_DB_ROLLBACK_TO, name, 0, err);
}

bool rb_db_in_transaction(const struct rb_db *db)
{
    return db != NULL && db->ops->in_transaction(db);
}

/* An optional op the connection's driver lacks. */
static int lacks(const struct rb_db *db, const char *what, struct rb_err *err)
{
    return rb_errf(err, RB_E_FAILED, "database driver '%s' cannot %s",
                   db != NULL ? db->ops->driver : "?", what);
}

int rb_db_stream(struct rb_db *db, const struct rb_db_stmt *st, int64_t deadline_ms,
                 struct rb_db_stream **out, struct rb_err *err)
{
    *out = NULL;
    if (db == NULL || db->ops->stream == NULL)
        return lacks(db, "stream rows", err);
    return db->ops->stream(db, st, deadline_ms, out, err);
}

int rb_db_stream_next(struct rb_db *db, struct rb_db_stream *s, const char *const **row,
                      struct rb_err *err)
{
    *row = NULL;
    return s != NULL ? db->ops->stream_next(s, row, err) : 0;
}

int rb_db_stream_end(struct rb_db *db, struct rb_db_stream *s, struct rb_err *err)
{
    return s != NULL ? db->ops->stream_end(s, err) : 0;
}

bool rb_db_can_pair(const struct rb_db *a, const struct rb_db *b)
{
    return a != NULL && b != NULL && a != b && a->ops == b->ops && a->ops->pair != NULL;
}

int rb_db_pair(struct rb_db *const db[2], struct rb_arena *a, const char *const sql[2],
               int64_t deadline_ms, struct rb_db_result *out[2], struct rb_err *err)
{
    out[0] = out[1] = NULL;
    if (db[0] == NULL || db[1] == NULL || db[0]->ops != db[1]->ops || db[0]->ops->pair == NULL)
        return lacks(db[0], "run statements on two connections at once", err);
    return db[0]->ops->pair(db, a, sql, deadline_ms, out, err);
}

int rb_db_copy(struct rb_db_copy *cp, struct rb_err *err)
{
    if (cp->src == NULL || cp->dst == NULL || cp->src->ops != cp->dst->ops ||
        cp->dst->ops->copy == NULL)
        return lacks(cp->dst, "COPY between two connections", err);
    return cp->dst->ops->copy(cp, err);
}

bool rb_db_can_share_snapshot(const struct rb_db *db)
{
    return db != NULL && db->ops->snapshot_export != NULL && db->ops->snapshot_begin != NULL;
}

int rb_db_snapshot_export(struct rb_db *db, struct rb_arena *a, struct rb_db_snapshot *out,
                          struct rb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!rb_db_can_share_snapshot(db))
        return lacks(db, "share a snapshot between sessions", err);
    return db->ops->snapshot_export(db, a, out, err);
}

int rb_db_snapshot_begin(struct rb_db *db, const char *id, struct rb_err *err)
{
    if (!rb_db_can_share_snapshot(db))
        return lacks(db, "share a snapshot between sessions", err);
    return db->ops->snapshot_begin(db, id, err);
}

int rb_db_client(struct rb_arena *a, const struct rb_target *t, struct rb_db_client *out,
                 struct rb_err *err)
{
    const struct rb_db_ops *ops = rb_db_ops_for(t, err);

    memset(out, 0, sizeof(*out));
    if (ops == NULL)
        return -1;
    if (ops->client == NULL)
        return rb_errf(err, RB_E_FAILED,
                       "database driver '%s' of target '%s' has no client programs to run",
                       ops->driver, t->name);
    return ops->client(a, t, out, err);
}
