/*
 * postgres_priv.h - what the PostgreSQL driver's files share (src/adapters/postgres*.c); the only
 * header that includes libpq.
 *
 *   postgres.c       connections, statements with deadlines, cancel, results and server errors
 *                    turned into plain data, streams, the two-connection pair runner,
 *                    transactions, quoting
 *   postgres_copy.c  the COPY pump between two connections
 */
#ifndef ROLLBACKCTL_POSTGRES_PRIV_H
#define ROLLBACKCTL_POSTGRES_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"

/* A connection: the handle phases hold, and libpq's. */
struct pg_db {
    struct rb_db base; /* first: rb_db_*() find the ops through it */
    PGconn *c;
    void *cleanup; /* the arena handle that closes c early */
};

static inline PGconn *pg_conn(struct rb_db *db)
{
    return db != NULL ? ((struct pg_db *)db)->c : NULL;
}

static inline bool pg_lost(PGconn *c)
{
    return c == NULL || PQstatus(c) != CONNECTION_OK;
}

/*
 * The one wait: until c is readable (or writable) or the deadline (monotonic ms) passes;
 * RB_K_TIMEOUT then, RB_K_CONN_LOST when c has no socket.
 */
int pg_wait(PGconn *c, bool for_write, int64_t deadline_ms, struct rb_err *err);
/*
 * The one drain: consume input on each c[i] with want[i] until none is busy. interruptible:
 * SIGINT/SIGTERM stop the wait (RB_E_INTERRUPTED). *failed (optional) gets the side whose
 * connection broke.
 */
int pg_wait_idle(PGconn *const c[], const bool want[], int n, int64_t deadline_ms,
                 bool interruptible, int *failed, struct rb_err *err);
/* Flush a nonblocking connection's pending output before the deadline. */
int pg_flush(PGconn *c, int64_t deadline_ms, struct rb_err *err);
/* Cancel what runs on c and drain its results; -1 when the connection is unusable afterwards. */
int pg_cancel(PGconn *c);
/* A failed result's message ("primary (detail)") into err (RB_K_SQL); the connection's when NULL. */
int pg_result_err(struct rb_err *err, const PGresult *res, PGconn *c);
/* The server's error fields of a failed result, in arena a. */
void pg_server_error(struct rb_arena *a, const PGresult *res, struct rb_db_error *out);
/*
 * Send a COPY statement and wait (deadline) for the server to enter COPY mode. Returns the
 * PGRES_COPY_IN/PGRES_COPY_OUT result, or the failed result (err filled, connection idle again),
 * or NULL (err filled). Caller PQclear()s it.
 */
PGresult *pg_copy_start(PGconn *c, int64_t timeout_ms, const char *sql, struct rb_err *err);
/* Collect a statement's results until the connection is idle; the first one (caller clears). */
int pg_last_result(PGconn *c, int64_t deadline_ms, PGresult **res, struct rb_err *err);

int pg_copy(struct rb_db_copy *cp, struct rb_err *err);

#endif
