/*
 * db.h - the database seam: what phases and checks may ask of a database target, with no driver
 * library in sight.
 *
 * A target's driver (the runbook's `driver:`) is found in the registry (adapter.h) and its
 * struct rb_db_ops does the work: rb_db_target() opens the run's connection through it, and the
 * rb_db_*() calls below reach the driver that opened the connection. Results are plain
 * arena-owned text (NULL is NULL); a statement the server refused fills err with kind RB_K_SQL
 * and err->sqlstate and, when asked, a struct rb_db_error with the fields the server sent, so
 * callers decide on SQLSTATE and fields, never on message text. A connection that broke (or could
 * not be made) is RB_K_CONN_LOST, a deadline that passed RB_K_TIMEOUT: retries read the kind.
 *
 * Phases keep their SQL (that is policy); the driver moves it, waits with deadlines and cancels.
 */
#ifndef ROLLBACKCTL_DB_H
#define ROLLBACKCTL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

struct rb_run;
struct rb_db_ops;

#define RB_DB_QUERY_TIMEOUT_MS 300000

/*
 * A connection. A driver embeds it as the first member of its own connection struct (as SQLite's
 * sqlite3_file carries its methods), so the rb_db_*() calls reach the driver that opened it; what
 * follows it is the driver's own.
 */
struct rb_db {
    const struct rb_db_ops *ops;
    const char *label; /* the target's name, for messages */
};

/* A server error, field by field as the server sent it (NULL when it sent none). */
struct rb_db_error {
    char sqlstate[6];
    const char *message; /* primary message */
    const char *detail, *hint;
    const char *schema, *table, *column, *datatype, *constraint;
    /* COPY FROM input the error is about (the driver reads it from the error's context) */
    const char *copy_relation; /* table the COPY was loading, NULL when not a COPY error */
    int64_t copy_line;         /* input line (1 = first row); 0 = unknown */
    const char *copy_column;   /* column the value was for, NULL when not named */
    const char *copy_value;    /* the value as the server quoted it; NULL when absent or cut */
    bool copy_value_null;      /* the input value was NULL */
};

/* A statement's result: rows x columns of text, row-major. */
struct rb_db_result {
    size_t nrows, ncols;
    const char **names;    /* column names */
    const uint32_t *types; /* type oid of each column */
    const int *typmods;    /* type modifier of each column (-1: none) */
    const char **values;   /* nrows * ncols; NULL = SQL NULL */
    const char *command;   /* command status: "INSERT 0 3", "SELECT 2" */
    int64_t rows_affected; /* rows the command processed; -1 when it reports none */
};

/* One statement: text parameters $1..; timeout_ms 0 = RB_DB_QUERY_TIMEOUT_MS. */
struct rb_db_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
    int64_t timeout_ms;
    struct rb_db_error *server; /* optional: filled (arena strings) when the server refuses */
};

enum rb_db_tx {
    RB_DB_BEGIN,
    RB_DB_COMMIT,
    RB_DB_ROLLBACK,
    RB_DB_SAVEPOINT,
    RB_DB_RELEASE,
    RB_DB_ROLLBACK_TO,
};

struct rb_db_stream; /* one statement's rows coming one at a time (driver-owned) */

/*
 * A snapshot of a database that other sessions can read as well (pg_export_snapshot): every
 * session that begins with it sees exactly the transactions committed when it was taken, all or
 * nothing of each. Arena strings, as the server wrote them.
 */
struct rb_db_snapshot {
    const char *id;       /* what rb_db_snapshot_begin() takes */
    const char *xmin;     /* the oldest transaction still running then (txid, text) */
    const char *lsn;      /* the WAL position then (on a standby: the position replayed) */
    const char *taken_at; /* the server's clock then, RFC 3339 UTC with milliseconds */
};

/*
 * How a client program of the driver's own (pg_dump, pg_restore, psql) reaches a target, for
 * argv-vector children and generated scripts: the connection string less any password (safe on
 * a command line and in a file), and the password apart, for a private password file the child
 * is pointed at (never its argv, never its environment: /proc/PID/environ is readable by the
 * child's user and lives as long as the child).
 */
struct rb_db_client {
    const char *conninfo;     /* the target's conninfo without a password keyword */
    const char *password;     /* the password (password_env's value or the conninfo's), or NULL */
    const char *password_env; /* the variable the password comes from, NULL when none or inline */
    const char *passfile_var; /* the variable naming a password file for them: "PGPASSFILE" */
    const char *passfile;     /* that file's text for `password` (any server), NULL when none */
};

/*
 * A COPY pump: out_sql (COPY ... TO STDOUT) on src streamed, verbatim and in constant memory,
 * into in_sql (COPY ... FROM STDIN) on dst, which is inside its caller's transaction.
 */
struct rb_db_copy {
    /* in */
    struct rb_db *src, *dst; /* both idle, of the same driver */
    const char *out_sql, *in_sql;
    int64_t stall_ms;       /* no byte moved for this long: both sides are cancelled; 0 = 5 min */
    struct rb_arena *arena; /* dst_fail's strings */
    /* called at most every 250 ms while rows move, and once with done set at the end */
    void (*progress)(void *ctx, int64_t rows, bool done);
    void *progress_ctx;

    /* out */
    int64_t rows; /* rows moved (as the target's COPY counted them when it succeeded) */
    int64_t bytes;
    char checksum[65];            /* SHA-256 (hex) of the COPY text stream */
    bool src_failed;              /* the error came from the source side */
    struct rb_db_error *dst_fail; /* the target refused the rows: its error (cast errors) */
};

struct rb_db_ops {
    const char *driver;
    /* The run's connection to target t, opened once per run (read-only when run->read_only). */
    struct rb_db *(*open)(struct rb_run *run, const struct rb_target *t, struct rb_err *err);
    /* Forget the run's connection to t (after it broke); the next open reconnects. */
    void (*close)(struct rb_run *run, const struct rb_target *t);
    /* True when db can no longer be used. */
    bool (*lost)(const struct rb_db *db);
    /* Run one statement; *out (may be NULL: discarded) gets its last result, in arena a. */
    int (*query)(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
                 struct rb_db_result **out, struct rb_err *err);
    /* Cancel what runs on db and drain it; -1 when the connection is unusable afterwards. */
    int (*cancel)(struct rb_db *db);
    /* True while db is inside a transaction (also a failed one). */
    bool (*in_transaction)(const struct rb_db *db);
    /* begin, commit, rollback; savepoint, release or rollback to `savepoint` (rb_db_begin() ...) */
    int (*tx)(struct rb_db *db, enum rb_db_tx op, const char *savepoint, int64_t timeout_ms,
              struct rb_err *err);

    /* Optional (NULL: the driver cannot). */
    /* Start st, its rows to come one at a time (rb_db_stream_next); SIGINT/SIGTERM stop it. */
    int (*stream)(struct rb_db *db, const struct rb_db_stmt *st, int64_t deadline_ms,
                  struct rb_db_stream **out, struct rb_err *err);
    int (*stream_next)(struct rb_db_stream *s, const char *const **row, struct rb_err *err);
    /* Stop s (cancelled when not read to its end) and free it; -1 when that broke the link. */
    int (*stream_end)(struct rb_db_stream *s, struct rb_err *err);
    /*
     * Run sql[0] on db[0] and sql[1] on db[1] (either may be NULL) at the same time, both by
     * deadline_ms, and hand back both results (arena a). Errors say which side ("on 'label'").
     * SIGINT/SIGTERM stop the wait (RB_E_INTERRUPTED).
     */
    int (*pair)(struct rb_db *const db[2], struct rb_arena *a, const char *const sql[2],
                int64_t deadline_ms, struct rb_db_result *out[2], struct rb_err *err);
    int (*copy)(struct rb_db_copy *cp, struct rb_err *err);
    /*
     * Optional, together: one snapshot read by several sessions. snapshot_export begins a
     * REPEATABLE READ READ ONLY transaction on db and exports its snapshot (out, arena a); the
     * transaction must stay open, idle, while others take it up (the session is exempted from
     * idle-in-transaction timeouts) and ends with rb_db_rollback. snapshot_begin begins a
     * REPEATABLE READ READ ONLY transaction on another idle session that reads snapshot id; a
     * failure leaves that session idle again (an id whose exporter is gone: RB_K_SQL, 22023).
     */
    int (*snapshot_export)(struct rb_db *db, struct rb_arena *a, struct rb_db_snapshot *out,
                           struct rb_err *err);
    int (*snapshot_begin)(struct rb_db *db, const char *id, struct rb_err *err);
    /* Optional: how the driver's own client programs reach t (struct rb_db_client), offline. */
    int (*client)(struct rb_arena *a, const struct rb_target *t, struct rb_db_client *out,
                  struct rb_err *err);
    /*
     * Optional: t's settings read as the driver's library reads them, offline (validate): each
     * problem an error or warning in diags at its runbook position. Contacts nothing.
     */
    void (*check)(const struct rb_target *t, struct rb_diags *diags);
};

/* The ops of a database target's driver, through the registry. */
const struct rb_db_ops *rb_db_ops_for(const struct rb_target *t, struct rb_err *err);
/* The run's connection to the database target named `target` (errors name it). */
struct rb_db *rb_db_target(struct rb_run *run, const char *target, struct rb_err *err);
/* Close the run's connection to `target`; the next rb_db_target() reconnects. */
void rb_db_target_close(struct rb_run *run, const char *target);

/* The statement helpers: timeout_ms 0 = RB_DB_QUERY_TIMEOUT_MS. */
int rb_db_run(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
              struct rb_db_result **out, struct rb_err *err);
struct rb_db_result *rb_db_query(struct rb_db *db, struct rb_arena *a, int64_t timeout_ms,
                                 const char *sql, int nparams, const char *const *params,
                                 struct rb_err *err);
int rb_db_exec(struct rb_db *db, int64_t timeout_ms, const char *sql, int nparams,
               const char *const *params, struct rb_err *err);
/* r's first value copied into a (NULL for SQL NULL, *is_null said so); -1 when r has no row. */
int rb_db_result_scalar(const struct rb_db_result *r, struct rb_arena *a, const char **out,
                        bool *is_null, struct rb_err *err);
/* First column of the first row as an arena string (NULL value: NULL with *is_null set). */
int rb_db_scalar(struct rb_db *db, struct rb_arena *a, int64_t timeout_ms, const char *sql,
                 const char **out, bool *is_null, struct rb_err *err);
bool rb_db_lost(const struct rb_db *db);
int rb_db_cancel(struct rb_db *db);

/* Transactions (timeout_ms 0 = RB_DB_QUERY_TIMEOUT_MS). */
int rb_db_begin(struct rb_db *db, struct rb_err *err);
int rb_db_commit(struct rb_db *db, int64_t timeout_ms, struct rb_err *err);
/* Roll back when inside a transaction; a no-op otherwise (or on a lost connection). */
int rb_db_rollback(struct rb_db *db, int64_t timeout_ms, struct rb_err *err);
int rb_db_savepoint(struct rb_db *db, const char *name, struct rb_err *err);
int rb_db_release(struct rb_db *db, const char *name, struct rb_err *err);
int rb_db_rollback_to(struct rb_db *db, const char *name, struct rb_err *err);
bool rb_db_in_transaction(const struct rb_db *db);

/* Optional ops, checked: a driver without them fails with a message naming it. */
int rb_db_stream(struct rb_db *db, const struct rb_db_stmt *st, int64_t deadline_ms,
                 struct rb_db_stream **out, struct rb_err *err);
/* Next row (values as text, NULL = SQL NULL, valid until the next call); *row NULL at the end. */
int rb_db_stream_next(struct rb_db *db, struct rb_db_stream *s, const char *const **row,
                      struct rb_err *err);
/* Stop a stream (cancelled when not read to its end) and free it; -1 when that failed. */
int rb_db_stream_end(struct rb_db *db, struct rb_db_stream *s, struct rb_err *err);
int rb_db_pair(struct rb_db *const db[2], struct rb_arena *a, const char *const sql[2],
               int64_t deadline_ms, struct rb_db_result *out[2], struct rb_err *err);
int rb_db_copy(struct rb_db_copy *cp, struct rb_err *err);
/* True when a and b are two connections of one driver that runs a statement on each at once. */
bool rb_db_can_pair(const struct rb_db *a, const struct rb_db *b);
/* True when db's driver can export and share a snapshot (both slots set). */
bool rb_db_can_share_snapshot(const struct rb_db *db);
int rb_db_snapshot_export(struct rb_db *db, struct rb_arena *a, struct rb_db_snapshot *out,
                          struct rb_err *err);
int rb_db_snapshot_begin(struct rb_db *db, const char *id, struct rb_err *err);
/* The client slot of t's driver (a driver without one: an error naming it). */
int rb_db_client(struct rb_arena *a, const struct rb_target *t, struct rb_db_client *out,
                 struct rb_err *err);

/* A value of a result: NULL for SQL NULL. */
static inline const char *rb_db_value(const struct rb_db_result *r, size_t row, size_t col)
{
    return r->values[row * r->ncols + col];
}
/* A value of a result, "" for SQL NULL (for messages). */
static inline const char *rb_db_text(const struct rb_db_result *r, size_t row, size_t col)
{
    const char *v = r->values[row * r->ncols + col];

    return v != NULL ? v : "";
}
static inline bool rb_db_isnull(const struct rb_db_result *r, size_t row, size_t col)
{
    return r->values[row * r->ncols + col] == NULL;
}

#endif
