/*
 * pg.h - the PostgreSQL driver's own entry points, beside its ops (db.h is what phases use).
 *
 * Every session pins TimeZone=UTC, DateStyle=ISO, extra_float_digits=1 so text forms agree on
 * both sides. Sessions opened for plan/validate/check set default_transaction_read_only=on.
 * Statements are sent asynchronously and waited for with a deadline; past it the statement is
 * cancelled and the call fails. No libpq type appears here: it stays in src/adapters/.
 */
#ifndef ROLLBACKCTL_PG_H
#define ROLLBACKCTL_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/db.h"
#include "rollbackctl/err.h"

#define RB_PG_CONNECT_TIMEOUT_MS 10000

extern const struct rb_db_ops rb_pg_ops;

struct rb_pg_opts {
    const char *conninfo;
    const char *password; /* from *_env; NULL: libpq's own means (PGPASSWORD, .pgpass) */
    bool read_only;
    /* the runbook's connect_timeout (0: none). The conninfo's connect_timeout and then
     * PGCONNECT_TIMEOUT win over it, as with psql; RB_PG_CONNECT_TIMEOUT_MS when none is set. */
    int64_t connect_timeout_ms;
    const char *label; /* target name, for messages */
};

/* A connection outside any run (tests, tools): closed with the arena. */
struct rb_db *rb_pg_connect(struct rb_arena *a, const struct rb_pg_opts *o, struct rb_err *err);

/* "Identifier" quoting for a possibly schema-qualified name ("Pay"."History"); arena-owned. */
const char *rb_pg_quote_ident(struct rb_arena *a, const char *name);
/* Qualified name: "schema.table" split on the first unquoted dot and each part quoted. */
const char *rb_pg_quote_qualified(struct rb_arena *a, const char *name);
const char *rb_pg_quote_literal(struct rb_arena *a, const char *s);

#endif
