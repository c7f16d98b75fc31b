/*
 * pg.h - the PostgreSQL adapter: connections with deadlines, read-only sessions, queries.
 *
 * Every session pins TimeZone=UTC, DateStyle=ISO, extra_float_digits=1 so text forms agree on
 * both sides. Sessions opened for plan/validate/check set default_transaction_read_only=on.
 * Queries are sent asynchronously and waited for with a deadline; past it the query is
 * cancelled and the call fails.
 */
#ifndef ROLLBACKCTL_PG_H
#define ROLLBACKCTL_PG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/err.h"

struct rb_run;

#define RB_PG_CONNECT_TIMEOUT_MS 10000
#define RB_PG_QUERY_TIMEOUT_MS   300000

struct rb_db_ops {
    const char *driver;
};
extern const struct rb_db_ops rb_pg_ops;

struct rb_pg_opts {
    const char *conninfo;
    const char *password; /* from *_env; NULL: libpq's own means (PGPASSWORD, .pgpass) */
    bool read_only;
    int64_t connect_timeout_ms; /* 0 = default */
    const char *label;          /* target name, for messages */
};

/* Connect and apply session settings. The connection is closed with the arena. */
PGconn *rb_pg_connect(struct rb_arena *a, const struct rb_pg_opts *o, struct rb_err *err);

/*
 * The connection for a runbook target, opened once per run (read-only when run->read_only).
 * Reads password_env. Errors name the target.
 */
PGconn *rb_pg_target(struct rb_run *run, const char *target, struct rb_err *err);

/*
 * Run one statement with text parameters ($1..), wait up to timeout_ms (0 = default).
 * Returns a result with status TUPLES_OK or COMMAND_OK (caller PQclear()s it), or NULL with err.
 */
PGresult *rb_pg_query(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
                      const char *const *params, struct rb_err *err);
/* Same, discarding the result. */
int rb_pg_exec(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
               const char *const *params, struct rb_err *err);
/* First column of the first row as an arena string (NULL value -> NULL with *is_null set). */
int rb_pg_scalar(struct rb_arena *a, PGconn *c, int64_t timeout_ms, const char *sql,
                 const char **out, bool *is_null, struct rb_err *err);

/*
 * Like rb_pg_query() but a statement that failed in the server still hands back its result
 * (status PGRES_FATAL_ERROR, err filled) so the caller can read its SQLSTATE and fields.
 * NULL only when there is no result: connection lost or deadline passed (the query is cancelled).
 */
PGresult *rb_pg_query_keep(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
                           const char *const *params, struct rb_err *err);
/*
 * Send a COPY statement and wait (deadline) for the server to enter COPY mode. Returns the
 * PGRES_COPY_IN/PGRES_COPY_OUT result, or the failed result (err filled, connection idle again),
 * or NULL (err filled). Caller PQclear()s it.
 */
PGresult *rb_pg_copy_start(PGconn *c, int64_t timeout_ms, const char *sql, struct rb_err *err);
/* A failed result's message ("primary (detail)") into err; the connection's when res is NULL. */
int rb_pg_result_err(struct rb_err *err, const PGresult *res, PGconn *c);
/* Flush a nonblocking connection's pending output before the deadline. */
int rb_pg_flush(PGconn *c, int64_t deadline_ms, struct rb_err *err);
/* Cancel what runs on c and drain its results; -1 when the connection is unusable afterwards. */
int rb_pg_cancel(PGconn *c);
/* True when the target has no usable connection in the run (never opened, or broken). */
bool rb_pg_target_lost(struct rb_run *run, const char *target);
/* Close a target's cached connection (e.g. after it broke); the next rb_pg_target() reconnects. */
void rb_pg_target_close(struct rb_run *run, const char *target);

/* Wait until the socket is readable/writable or the deadline (monotonic ms) passes. */
int rb_pg_wait(PGconn *c, bool for_write, int64_t deadline_ms, struct rb_err *err);

/* "Identifier" quoting for a possibly schema-qualified name ("Pay"."History"); arena-owned. */
const char *rb_pg_quote_ident(struct rb_arena *a, const char *name);
/* Qualified name: "schema.table" split on the first unquoted dot and each part quoted. */
const char *rb_pg_quote_qualified(struct rb_arena *a, const char *name);
const char *rb_pg_quote_literal(struct rb_arena *a, const char *s);

#endif
