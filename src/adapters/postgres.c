/*
 * postgres.c - the PostgreSQL driver (struct rb_db_ops): connections with deadlines, pinned
 * session settings, read-only sessions, asynchronous statements that are cancelled past their
 * deadline, results and server errors turned into plain data, row streams, the two-connection
 * pair runner, transactions, quoting. The COPY pump is in postgres_copy.c.
 *
 * Nothing here blocks without a deadline: connections are made with PQconnectStartParams and
 * PQconnectPoll, statements are sent with PQsendQueryParams and their results collected while
 * waiting on the socket with poll() (pg_wait and pg_wait_idle: the one wait loop). A statement
 * past its deadline is cancelled (PQcancel) and its results drained so the connection stays
 * usable.
 *
 * Every session gets the same settings (TimeZone=UTC, DateStyle='ISO, MDY', extra_float_digits=1,
 * client_encoding=UTF8, application_name=rollbackctl unless the conninfo names one) so the text
 * forms of values agree on both sides of a sync or a comparison. Sessions of plan/validate/check
 * runs also get default_transaction_read_only=on: a planning bug cannot write.
 *
 * Errors carry a kind: a broken connection (or one that could not be made) is RB_K_CONN_LOST,
 * whatever the last message said; a deadline RB_K_TIMEOUT; a refused statement RB_K_SQL with its
 * SQLSTATE. A connection the server refused on purpose (a wrong password, pg_hba.conf, no such
 * database or role: SQLSTATE class 28 and 3D000, or a password it asked for and we lacked) is
 * RB_K_REFUSED with that SQLSTATE: trying again would be refused the same way.
 */
#include "postgres_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/near.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

/* Settings every session runs right after connecting (one round trip). */
static const char session_sql[] =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 1";
static const char read_only_sql[] = "SET default_transaction_read_only = on";

/* How long we keep draining a cancelled query before giving the connection up. */
#define RB_PG_CANCEL_GRACE_MS 5000

/* libpq messages end with a newline and may span lines; make them one line for our messages. */
static void one_line(char *dst, size_t dstlen, const char *src)
{
    size_t n = 0;

    if (src == NULL)
        src = "";
    while (*src == ' ' || *src == '\n')
        src++;
    for (; *src != '\0' && n + 1 < dstlen; src++) {
        if (*src == '\n') {
            while (src[1] == '\n' || src[1] == ' ' || src[1] == '\t')
                src++;
            if (src[1] == '\0')
                break;
            if (n + 2 < dstlen) {
                dst[n++] = ';';
                dst[n++] = ' ';
            }
            continue;
        }
        dst[n++] = *src;
    }
    dst[n] = '\0';
}

/* The connection's last error as one line (without "ERROR:  " noise). */
static const char *conn_msg(PGconn *c, char *buf, size_t len)
{
    one_line(buf, len, c != NULL ? PQerrorMessage(c) : "out of memory");
    if (buf[0] == '\0')
        snprintf(buf, len, "connection lost");
    return buf;
}

/* err describes a failure on c: a connection that is gone makes it RB_K_CONN_LOST. Returns -1. */
static int lost_kind(struct rb_err *err, PGconn *c)
{
    if (pg_lost(c))
        rb_err_kind(err, RB_K_CONN_LOST);
    return -1;
}

/* The connection's own message (no result to read), its kind from its state. */
static int conn_err(struct rb_err *err, PGconn *c)
{
    char msg[RB_ERR_MSG_MAX];

    rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg)));
    return lost_kind(err, c);
}

int pg_result_err(struct rb_err *err, const PGresult *res, PGconn *c)
{
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char line[RB_ERR_MSG_MAX];

    if (primary == NULL)
        return conn_err(err, c);
    if (detail != NULL) {
        one_line(line, sizeof(line), detail);
        rb_errf(err, RB_E_FAILED, "%s (%s)", primary, line);
    } else {
        rb_errf(err, RB_E_FAILED, "%s", primary);
    }
    if (err != NULL) {
        rb_err_kind(err, RB_K_SQL);
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state != NULL ? state : "");
    }
    /* "terminating connection due to administrator command": a server error and a lost link */
    return lost_kind(err, c);
}

static const char *field(struct rb_arena *a, const PGresult *res, int code)
{
    const char *v = PQresultErrorField(res, code);

    return v != NULL ? rb_strdup(a, v) : NULL;
}

/*
 * COPY FROM names the input it choked on in the error's context, in English only:
 * `COPY <table>, line N, column C: "value"` (or `: null input`, or the whole line without a
 * column). Reading it is protocol knowledge, so it stays here; callers get the fields.
 */
static void copy_context(struct rb_arena *a, const char *ctx, struct rb_db_error *out)
{
    const char *p = ctx != NULL ? strstr(ctx, "COPY ") : NULL, *rel, *colstart, *colend, *val;

    if (p == NULL)
        return;
    rel = p + strlen("COPY ");
    p = strstr(rel, ", line ");
    if (p == NULL)
        return;
    out->copy_relation = rb_strndup(a, rel, (size_t)(p - rel));
    p += strlen(", line ");
    out->copy_line = strtoll(p, NULL, 10);
    colstart = strstr(p, ", column ");
    if (colstart == NULL)
        return;
    colstart += strlen(", column ");
    colend = strstr(colstart, ": ");
    if (colend == NULL)
        return;
    out->copy_column = rb_strndup(a, colstart, (size_t)(colend - colstart));
    val = colend + 2;
    if (strncmp(val, "null input", 10) == 0) {
        out->copy_value_null = true;
    } else if (*val == '"') {
        const char *end = strrchr(val + 1, '"');
        size_t n = end != NULL ? (size_t)(end - val - 1) : 0;

        /* PostgreSQL cuts long values and appends "...": then the value is unknown. */
        if (end != NULL && !(n >= 3 && strncmp(end - 3, "...", 3) == 0))
            out->copy_value = rb_strndup(a, val + 1, n);
    }
}

void pg_server_error(struct rb_arena *a, const PGresult *res, struct rb_db_error *out)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return;
    snprintf(out->sqlstate, sizeof(out->sqlstate), "%s", state != NULL ? state : "");
    out->message = field(a, res, PG_DIAG_MESSAGE_PRIMARY);
    out->detail = field(a, res, PG_DIAG_MESSAGE_DETAIL);
    out->hint = field(a, res, PG_DIAG_MESSAGE_HINT);
    out->schema = field(a, res, PG_DIAG_SCHEMA_NAME);
    out->table = field(a, res, PG_DIAG_TABLE_NAME);
    out->column = field(a, res, PG_DIAG_COLUMN_NAME);
    out->datatype = field(a, res, PG_DIAG_DATATYPE_NAME);
    out->constraint = field(a, res, PG_DIAG_CONSTRAINT_NAME);
    copy_context(a, PQresultErrorField(res, PG_DIAG_CONTEXT), out);
}

/* --- the one wait loop -------------------------------------------------------------------- */

static int poll_sockets(struct pollfd *p, int n, int64_t deadline_ms, bool interruptible,
                        struct rb_err *err)
{
    for (;;) {
        int64_t left;
        int rc;

        if (interruptible && rb_interrupted())
            return rb_errf(err, RB_E_INTERRUPTED, "interrupted"),
                   rb_err_kind(err, RB_K_INTERRUPTED);
        left = deadline_ms - rb_now_ms();
        if (left <= 0)
            return rb_errf(err, RB_E_FAILED, "timed out"), rb_err_kind(err, RB_K_TIMEOUT);
        rc = poll(p, (nfds_t)n, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return rb_errf(err, RB_E_FAILED, "poll failed: %s", strerror(errno));
        /* EINTR: a signal; an interruptible wait looks at the flag again */
    }
}

int pg_wait(PGconn *c, bool for_write, int64_t deadline_ms, struct rb_err *err)
{
    struct pollfd p;

    p.fd = PQsocket(c);
    p.events = for_write ? POLLOUT : POLLIN;
    p.revents = 0;
    if (p.fd < 0)
        return rb_errf(err, RB_E_FAILED, "connection lost"), rb_err_kind(err, RB_K_CONN_LOST);
    return poll_sockets(&p, 1, deadline_ms, false, err);
}

int pg_wait_idle(PGconn *const c[], const bool want[], int n, int64_t deadline_ms,
                 bool interruptible, int *failed, struct rb_err *err)
{
    for (;;) {
        struct pollfd p[2];
        int np = 0;

        for (int s = 0; s < n && s < 2; s++) {
            if (!want[s])
                continue;
            if (!PQconsumeInput(c[s])) {
                if (failed != NULL)
                    *failed = s;
                return conn_err(err, c[s]);
            }
            if (PQisBusy(c[s])) {
                p[np].fd = PQsocket(c[s]);
                p[np].events = POLLIN;
                p[np].revents = 0;
                np++;
            }
        }
        if (np == 0)
            return 0;
        if (poll_sockets(p, np, deadline_ms, interruptible, err) < 0)
            return -1;
    }
}

static int wait_idle1(PGconn *c, int64_t deadline_ms, bool interruptible, struct rb_err *err)
{
    PGconn *cs[1] = { c };
    bool want[1] = { true };

    return pg_wait_idle(cs, want, 1, deadline_ms, interruptible, NULL, err);
}

/* --- connections -------------------------------------------------------------------------- */

static int query_exec(struct pg_db *db, int64_t timeout_ms, const char *sql, struct rb_err *err);

/* Apply the session settings; a failure here is a failed connection. */
static int session_setup(struct pg_db *db, bool read_only, int64_t deadline_ms, struct rb_err *err)
{
    int64_t left = deadline_ms - rb_now_ms();

    if (left < 1000)
        left = 1000;
    if (query_exec(db, left, session_sql, err) < 0)
        return -1;
    if (read_only && query_exec(db, left, read_only_sql, err) < 0)
        return -1;
    return 0;
}

/*
 * Server notices ("relation already exists, skipping") would go to stderr through libpq's default
 * processor, between our own lines; they tell an operator nothing, so they are dropped.
 */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pq_finish(void *c)
{
    PQfinish(c);
}

static bool sqlstate_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
}

/*
 * libpq keeps no result for an error the server sent while we connected, only its message; in
 * verbose mode that message carries the SQLSTATE ("FATAL:  28P01: password ..."), plus a
 * LOCATION line. Take the code (the last one: libpq tries each host in turn) into sqlstate and
 * give the message back as the default verbosity shows it. The code is protocol data, never
 * translated, so reading it does not depend on the server's language.
 */
static void connect_sqlstate(const char *verbose, char *msg, size_t len, char sqlstate[6])
{
    size_t n = 0;
    const char *p = verbose != NULL ? verbose : "";

    sqlstate[0] = '\0';
    while (*p != '\0' && n + 1 < len) {
        if (strncmp(p, ":  ", 3) == 0 && sqlstate_char(p[3]) && sqlstate_char(p[4]) &&
            sqlstate_char(p[5]) && sqlstate_char(p[6]) && sqlstate_char(p[7]) && p[8] == ':' &&
            p[9] == ' ') {
            memcpy(sqlstate, p + 3, 5);
            sqlstate[5] = '\0';
            for (int i = 0; i < 3 && n + 1 < len; i++)
                msg[n++] = p[i];
            p += 10;
            continue;
        }
        if ((p == verbose || p[-1] == '\n') && strncmp(p, "LOCATION:  ", 11) == 0) {
            while (*p != '\0' && *p != '\n')
                p++;
            if (*p == '\n')
                p++;
            continue;
        }
        msg[n++] = *p++;
    }
    msg[n] = '\0';
}

/*
 * The kind of a connection that could not be made: refused on purpose (authentication, a
 * database or role that does not exist) or just not made (down, unreachable, starting up, too
 * many connections: those may pass on a second try).
 */
static enum rb_err_kind connect_kind(PGconn *c, const char *sqlstate)
{
    if (strncmp(sqlstate, "28", 2) == 0 || strcmp(sqlstate, "3D000") == 0)
        return RB_K_REFUSED;
    if (c != NULL && PQconnectionNeedsPassword(c))
        return RB_K_REFUSED; /* the server asked for a password and we had none */
    return RB_K_CONN_LOST;
}

/*
 * libpq's connect_timeout as libpq reads it: whole seconds, 1 taken as 2 (libpq's minimum). NULL,
 * garbage or <= 0 (libpq: wait for ever) give 0: not set, the next source decides, since every
 * connection here keeps a deadline. Garbage is then refused by libpq itself while connecting.
 */
static int64_t libpq_timeout_ms(const char *v)
{
    char *end;
    long long n;

    if (v == NULL || *v == '\0')
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    while (*end == ' ')
        end++;
    if (errno != 0 || *end != '\0' || n <= 0 || n > 86400)
        return 0;
    return (n < 2 ? 2 : n) * 1000;
}

/*
 * The connect deadline, as psql would have it: connect_timeout in the conninfo, then
 * PGCONNECT_TIMEOUT, then the runbook's connect_timeout, then RB_PG_CONNECT_TIMEOUT_MS. *from
 * says which (for the message of a server that does not answer).
 */
static int64_t connect_deadline_ms(struct rb_arena *a, const struct rb_pg_opts *o,
                                   const char **from)
{
    PQconninfoOption *opts = PQconninfoParse(o->conninfo != NULL ? o->conninfo : "", NULL);
    const char *env = getenv("PGCONNECT_TIMEOUT");
    int64_t ms = 0;
    char dur[32];

    for (const PQconninfoOption *p = opts; p != NULL && p->keyword != NULL; p++)
        if (strcmp(p->keyword, "connect_timeout") == 0 && (ms = libpq_timeout_ms(p->val)) > 0) {
            *from = rb_sprintf(a, "connect_timeout=%s in the conninfo", p->val);
            break;
        }
    PQconninfoFree(opts);
    if (ms > 0)
        return ms;
    if ((ms = libpq_timeout_ms(env)) > 0) {
        *from = rb_sprintf(a, "PGCONNECT_TIMEOUT=%s in the environment", env);
        return ms;
    }
    if (o->connect_timeout_ms > 0) {
        *from = rb_sprintf(a, "connect_timeout: %s in the runbook",
                           rb_duration_format(o->connect_timeout_ms, dur, sizeof(dur)));
        return o->connect_timeout_ms;
    }
    *from = "the default";
    return RB_PG_CONNECT_TIMEOUT_MS;
}

/* Connect into db (db->c, db->cleanup); the connection is closed with the arena. */
static int pg_open(struct rb_arena *a, const struct rb_pg_opts *o, struct pg_db *db,
                   struct rb_err *err)
{
    const char *keys[8], *vals[8];
    const char *label = o->label != NULL ? o->label : "postgres", *timeout_from = NULL;
    int64_t timeout = connect_deadline_ms(a, o, &timeout_from);
    int64_t deadline = rb_now_ms() + timeout;
    char msg[RB_ERR_MSG_MAX];
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    enum rb_err_kind kind = RB_K_CONN_LOST;
    char sqlstate[6] = "";
    PGconn *c;
    int n = 0;

    db->base.ops = &rb_pg_ops;
    db->base.label = rb_strdup(a, label);
    db->c = NULL;
    db->cleanup = NULL;
    /*
     * dbname is expanded as a whole conninfo (expand_dbname = 1): keywords after it override what
     * the conninfo says (encoding, the password from password_env), fallback_application_name
     * only applies when the conninfo names no application.
     */
    keys[n] = "fallback_application_name";
    vals[n++] = "rollbackctl";
    keys[n] = "dbname";
    vals[n++] = o->conninfo != NULL ? o->conninfo : "";
    keys[n] = "client_encoding";
    vals[n++] = "UTF8";
    if (o->password != NULL) {
        keys[n] = "password";
        vals[n++] = o->password;
    }
    keys[n] = NULL;
    vals[n] = NULL;

    c = PQconnectStartParams(keys, vals, 1);
    if (c == NULL) {
        rb_errf(err, RB_E_FAILED, "unable to connect to '%s': out of memory", label);
        return -1;
    }
    db->cleanup = rb_arena_on_free(a, pq_finish, c);
    db->c = c;
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    /* verbose while connecting, so that an error the server sends names its SQLSTATE */
    PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED || PQstatus(c) == CONNECTION_BAD) {
            char plain[RB_ERR_MSG_MAX];

            connect_sqlstate(PQerrorMessage(c), plain, sizeof(plain), sqlstate);
            one_line(msg, sizeof(msg), plain);
            rb_errf(err, RB_E_FAILED, "unable to connect to '%s': %s", label,
                    msg[0] != '\0' ? msg : "connection lost");
            kind = connect_kind(c, sqlstate);
            if (kind == RB_K_REFUSED)
                rb_err_hint(err,
                            "check the user, password and database of target '%s' (conninfo, "
                            "password_env) and the server's pg_hba.conf",
                            label);
            goto fail;
        }
        if (pg_wait(c, st == PGRES_POLLING_WRITING, deadline, err) < 0) {
            rb_errf(err, RB_E_FAILED, "unable to connect to '%s': no answer within %lld ms (%s)",
                    label, (long long)timeout, timeout_from);
            goto fail;
        }
        st = PQconnectPoll(c);
    }
    PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
    if (session_setup(db, o->read_only, deadline, err) < 0) {
        rb_err_wrap(err, "unable to set up the session on '%s'", label);
        goto fail;
    }
    return 0;
fail:
    rb_arena_run_cleanup(a, db->cleanup);
    db->cleanup = NULL;
    db->c = NULL;
    /* a connection that could not be made is one the run does not have */
    rb_err_kind(err, kind);
    if (err != NULL && kind == RB_K_REFUSED)
        memcpy(err->sqlstate, sqlstate, sizeof(err->sqlstate));
    return -1;
}

struct rb_db *rb_pg_connect(struct rb_arena *a, const struct rb_pg_opts *o, struct rb_err *err)
{
    struct pg_db *db = rb_new(a, struct pg_db);

    if (pg_open(a, o, db, err) < 0)
        return NULL;
    return &db->base;
}

/* What the run's handle cache holds for one postgres target. */
#define PG_HANDLE_KIND "postgres"

static void pg_target_close(struct rb_run *run, const struct rb_target *t)
{
    struct pg_db *h = rb_run_handle_get(run, PG_HANDLE_KIND, t->name);

    if (h == NULL || h->c == NULL)
        return;
    rb_arena_run_cleanup(run->arena, h->cleanup);
    h->c = NULL;
    h->cleanup = NULL;
}

/*
 * Whether a cached connection can still be used. PQstatus alone says CONNECTION_OK for a session
 * the server closed while it sat idle (a restart, pg_terminate_backend): libpq learns of it only
 * when it next reads, which would be in the middle of the caller's first statement. An idle
 * session has nothing to read, so anything waiting on its socket (the server's FATAL, EOF) is
 * read now without blocking, and a session that then still looks fine but had something to say
 * answers a SELECT 1 within a few seconds. A session in a transaction is the caller's and
 * is left alone: reconnecting would lose its work.
 */
static bool pg_cached_alive(struct pg_db *h)
{
    struct rb_err ignored = RB_ERR_INIT;
    struct pollfd p;

    if (PQstatus(h->c) != CONNECTION_OK)
        return false;
    if (PQtransactionStatus(h->c) != PQTRANS_IDLE)
        return true;
    p.fd = PQsocket(h->c);
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd < 0)
        return false;
    if (poll(&p, 1, 0) <= 0)
        return true; /* nothing waiting: as alive as a connection can be known without a trip */
    if (!PQconsumeInput(h->c) || PQstatus(h->c) != CONNECTION_OK)
        return false;
    return query_exec(h, 5000, "SELECT 1", &ignored) == 0 && PQstatus(h->c) == CONNECTION_OK;
}

static struct rb_db *pg_target_open(struct rb_run *run, const struct rb_target *t,
                                    struct rb_err *err)
{
    struct pg_db *h = rb_run_handle_get(run, PG_HANDLE_KIND, t->name);
    struct rb_pg_opts o;
    const char *env, *timeout;

    if (h != NULL && h->c != NULL) {
        if (pg_cached_alive(h))
            return &h->base;
        pg_target_close(run, t); /* broken: reconnect below */
    }
    memset(&o, 0, sizeof(o));
    o.conninfo = rb_target_opt(t, "conninfo");
    o.read_only = run->read_only;
    o.label = t->name;
    env = rb_target_opt(t, "password_env");
    if (env != NULL) {
        o.password = getenv(env);
        if (o.password == NULL) {
            rb_errf(err, RB_E_FAILED,
                    "environment variable '%s' (password_env of target '%s') is not set", env,
                    t->name);
            return NULL;
        }
    }
    timeout = rb_target_opt(t, "connect_timeout");
    if (timeout != NULL) {
        o.connect_timeout_ms = rb_duration_parse(timeout);
        if (o.connect_timeout_ms <= 0)
            o.connect_timeout_ms = 0;
    }
    if (h == NULL) {
        h = rb_new(run->arena, struct pg_db);
        rb_run_handle_put(run, PG_HANDLE_KIND, t->name, h);
    }
    if (pg_open(run->arena, &o, h, err) < 0)
        return NULL;
    return &h->base;
}

static bool pg_db_lost(const struct rb_db *db)
{
    return pg_lost(db != NULL ? ((const struct pg_db *)db)->c : NULL);
}

/*
 * Cancel the query in flight and drain its results, so the connection can be used again.
 * Returns 0 when drained, -1 when the connection is lost or keeps not answering.
 * (PQcancel opens its own short connection and has no timeout of its own before PostgreSQL 17's
 * PQcancelPoll; the draining that follows is bounded by RB_PG_CANCEL_GRACE_MS.)
 */
int pg_cancel(PGconn *c)
{
    char buf[256];
    PGcancel *cn = PQgetCancel(c);
    int64_t deadline = rb_now_ms() + RB_PG_CANCEL_GRACE_MS;
    PGresult *r;

    if (cn != NULL) {
        PQcancel(cn, buf, sizeof(buf));
        PQfreeCancel(cn);
    }
    for (;;) {
        while (PQisBusy(c)) {
            if (pg_wait(c, false, deadline, NULL) < 0 || !PQconsumeInput(c))
                return -1;
        }
        r = PQgetResult(c);
        if (r == NULL)
            return 0;
        if (PQresultStatus(r) == PGRES_COPY_IN) {
            PQputCopyEnd(c, "cancelled");
        } else if (PQresultStatus(r) == PGRES_COPY_OUT) {
            char *row;
            int n;

            /* Drop the rows still coming until the server stops the COPY (it was cancelled). */
            while ((n = PQgetCopyData(c, &row, 1)) >= 0) {
                if (n > 0) {
                    PQfreemem(row);
                } else if (pg_wait(c, false, deadline, NULL) < 0 || !PQconsumeInput(c)) {
                    PQclear(r);
                    return -1;
                }
            }
        }
        PQclear(r);
    }
}

static int pg_db_cancel(struct rb_db *db)
{
    PGconn *c = pg_conn(db);

    return pg_lost(c) ? -1 : pg_cancel(c);
}

/* Flush a nonblocking connection's output within the deadline. */
int pg_flush(PGconn *c, int64_t deadline_ms, struct rb_err *err)
{
    int rc;

    while ((rc = PQflush(c)) == 1) {
        if (pg_wait(c, true, deadline_ms, err) < 0)
            return -1;
        /* The server may be sending (notices, an error) while we wait to write. */
        if (!PQconsumeInput(c))
            return conn_err(err, c);
    }
    if (rc < 0)
        return conn_err(err, c);
    return 0;
}

/*
 * Send a query within the deadline. In blocking mode libpq writes a query bigger than the socket
 * buffers with no deadline at all (a backend or network that stopped reading hangs us), so the
 * send happens in nonblocking mode and pg_flush pushes the rest out; the mode is given back
 * after a complete send (a connection with output still pending stays nonblocking).
 * single_row: the rows are to come one at a time (streams).
 * Returns 0 when sent, -1 when libpq refused the query, -2 when it was not all sent in time.
 */
static int send_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                      bool single_row, int64_t deadline_ms, struct rb_err *err)
{
    bool was_nonblocking = PQisnonblocking(c);
    int ok;

    if (!was_nonblocking)
        PQsetnonblocking(c, 1);
    /* PQsendQuery allows several statements in one string (session setup uses that). */
    ok = nparams > 0 || single_row ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                                   : PQsendQuery(c, sql);
    if (!ok) {
        conn_err(err, c);
        if (!was_nonblocking)
            PQsetnonblocking(c, 0);
        return -1;
    }
    if (pg_flush(c, deadline_ms, err) < 0)
        return -2;
    if (!was_nonblocking)
        PQsetnonblocking(c, 0);
    if (single_row && !PQsetSingleRowMode(c))
        return conn_err(err, c);
    return 0;
}

/* Wait for the next result within the deadline; NULL result means the query is done. */
static int next_result(PGconn *c, int64_t deadline_ms, PGresult **out, struct rb_err *err)
{
    *out = NULL; /* also on failure: callers at -O3 must not see an unset result */
    if (PQisBusy(c) && wait_idle1(c, deadline_ms, false, err) < 0)
        return -1;
    *out = PQgetResult(c);
    return 0;
}

int pg_last_result(PGconn *c, int64_t deadline_ms, PGresult **res, struct rb_err *err)
{
    PGresult *r, *keep = NULL;

    *res = NULL;
    for (;;) {
        if (next_result(c, deadline_ms, &r, err) < 0) {
            PQclear(keep);
            return -1;
        }
        if (r == NULL)
            break;
        if (keep == NULL)
            keep = r;
        else
            PQclear(r);
    }
    *res = keep;
    return 0;
}

/* A deadline passed on c: cancel what runs and say so (TIMEOUT, or CONN_LOST if c broke). */
static int timed_out(PGconn *c, int64_t timeout_ms, bool sent, struct rb_err *err)
{
    if (pg_lost(c))
        return lost_kind(err, c);
    pg_cancel(c);
    if (sent)
        rb_errf(err, RB_E_FAILED, "query cancelled after %lld ms", (long long)timeout_ms);
    else
        rb_errf(err, RB_E_FAILED,
                "query cancelled after %lld ms (not sent: the server does not read)",
                (long long)timeout_ms);
    rb_err_kind(err, RB_K_TIMEOUT);
    return lost_kind(err, c);
}

/* A result as plain arena data. */
static struct rb_db_result *copy_result(struct rb_arena *a, const PGresult *r)
{
    struct rb_db_result *out = rb_new(a, struct rb_db_result);
    size_t nr = (size_t)PQntuples(r), nc = (size_t)PQnfields(r);
    const char **names = rb_new_array(a, const char *, nc + 1);
    uint32_t *types = rb_new_array(a, uint32_t, nc + 1);
    int *mods = rb_new_array(a, int, nc + 1);
    const char **vals = rb_new_array(a, const char *, nr *nc + 1);
    const char *tuples = PQcmdTuples((PGresult *)r);

    for (size_t j = 0; j < nc; j++) {
        names[j] = rb_strdup(a, PQfname(r, (int)j));
        types[j] = (uint32_t)PQftype(r, (int)j);
        mods[j] = PQfmod(r, (int)j);
    }
    for (size_t i = 0; i < nr; i++)
        for (size_t j = 0; j < nc; j++)
            vals[i * nc + j] = PQgetisnull(r, (int)i, (int)j)
                                   ? NULL
                                   : rb_strndup(a, PQgetvalue(r, (int)i, (int)j),
                                                (size_t)PQgetlength(r, (int)i, (int)j));
    out->nrows = nr;
    out->ncols = nc;
    out->names = names;
    out->types = types;
    out->typmods = mods;
    out->values = vals;
    out->command = rb_strdup(a, PQcmdStatus((PGresult *)r));
    out->rows_affected = tuples[0] != '\0' ? strtoll(tuples, NULL, 10) : -1;
    return out;
}

/*
 * Run one statement and return its first failed result, or else its last one (caller clears).
 * NULL only when there is no result: connection lost or deadline passed (the query is cancelled).
 */
static PGresult *run_stmt(PGconn *c, const struct rb_db_stmt *st, struct rb_err *err)
{
    int64_t timeout = st->timeout_ms > 0 ? st->timeout_ms : RB_DB_QUERY_TIMEOUT_MS;
    int64_t deadline = rb_now_ms() + timeout;
    PGresult *keep = NULL, *r;
    int rc;

    if (pg_lost(c))
        return rb_errf(err, RB_E_FAILED, "connection lost"), rb_err_kind(err, RB_K_CONN_LOST), NULL;
    if ((rc = send_query(c, st->sql, st->nparams, st->params, false, deadline, err)) < 0) {
        /* Not even sent in time: stop what the server may have started, as for a late result. */
        if (rc == -2)
            timed_out(c, timeout, false, err);
        return NULL;
    }
    for (;;) {
        if (next_result(c, deadline, &r, err) < 0) {
            timed_out(c, timeout, true, err);
            PQclear(keep);
            return NULL;
        }
        if (r == NULL)
            break;
        switch (PQresultStatus(r)) {
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
            /* Not expected here: end it so the connection stays usable. */
            PQclear(r);
            pg_cancel(c);
            PQclear(keep);
            rb_errf(err, RB_E_FAILED, "unexpected COPY in query");
            lost_kind(err, c);
            return NULL;
        case PGRES_FATAL_ERROR:
            /* Keep the first error: later results are consequences of it. */
            if (keep == NULL || PQresultStatus(keep) != PGRES_FATAL_ERROR) {
                PQclear(keep);
                keep = r;
            } else {
                PQclear(r);
            }
            break;
        default:
            if (keep != NULL && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
                PQclear(r);
            } else {
                PQclear(keep);
                keep = r; /* the last statement's result wins */
            }
            break;
        }
    }
    if (keep == NULL)
        return conn_err(err, c), NULL;
    return keep;
}

static int pg_query(struct rb_db *db, struct rb_arena *a, const struct rb_db_stmt *st,
                    struct rb_db_result **out, struct rb_err *err)
{
    PGconn *c = pg_conn(db);
    PGresult *r = run_stmt(c, st, err);

    if (out != NULL)
        *out = NULL;
    if (r == NULL)
        return -1;
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        if (out != NULL)
            *out = copy_result(a, r);
        PQclear(r);
        return 0;
    case PGRES_FATAL_ERROR:
        pg_result_err(err, r, c);
        if (st->server != NULL)
            pg_server_error(a, r, st->server);
        break;
    default:
        rb_errf(err, RB_E_FAILED, "unexpected result %s", PQresStatus(PQresultStatus(r)));
        break;
    }
    PQclear(r);
    return -1;
}

/* A statement whose result nobody reads (session setup, transactions). */
static int query_exec(struct pg_db *db, int64_t timeout_ms, const char *sql, struct rb_err *err)
{
    struct rb_db_stmt st = { .sql = sql, .timeout_ms = timeout_ms };

    return pg_query(&db->base, NULL, &st, NULL, err);
}

PGresult *pg_copy_start(PGconn *c, int64_t timeout_ms, const char *sql, struct rb_err *err)
{
    int64_t timeout = timeout_ms > 0 ? timeout_ms : RB_DB_QUERY_TIMEOUT_MS;
    int64_t deadline = rb_now_ms() + timeout;
    PGresult *r, *rest;
    int rc;

    if (pg_lost(c))
        return rb_errf(err, RB_E_FAILED, "connection lost"), rb_err_kind(err, RB_K_CONN_LOST), NULL;
    if ((rc = send_query(c, sql, 0, NULL, false, deadline, err)) < 0) {
        if (rc == -2 && !pg_lost(c))
            pg_cancel(c);
        lost_kind(err, c);
        return NULL;
    }
    if (next_result(c, deadline, &r, err) < 0) {
        if (!pg_lost(c))
            pg_cancel(c);
        lost_kind(err, c);
        return NULL;
    }
    if (r == NULL)
        return conn_err(err, c), NULL;
    if (PQresultStatus(r) == PGRES_COPY_IN || PQresultStatus(r) == PGRES_COPY_OUT)
        return r;
    pg_result_err(err, r, c);
    /* Collect what remains so the connection is idle again. */
    while (next_result(c, deadline, &rest, NULL) == 0 && rest != NULL)
        PQclear(rest);
    return r;
}

/* --- transactions ------------------------------------------------------------------------- */

static bool pg_in_transaction(const struct rb_db *db)
{
    PGconn *c = db != NULL ? ((const struct pg_db *)db)->c : NULL;

    return !pg_lost(c) && PQtransactionStatus(c) != PQTRANS_IDLE;
}

static int pg_tx(struct rb_db *db, enum rb_db_tx op, const char *savepoint, int64_t timeout_ms,
                 struct rb_err *err)
{
    struct pg_db *p = (struct pg_db *)db;
    struct rb_arena *scratch;
    const char *sql;
    int rc;

    switch (op) {
    case RB_DB_BEGIN:
        return query_exec(p, timeout_ms, "BEGIN", err);
    case RB_DB_COMMIT:
        return query_exec(p, timeout_ms, "COMMIT", err);
    case RB_DB_ROLLBACK:
        if (pg_lost(p->c))
            return 0;
        /* a statement still running (a failed COPY) is stopped first */
        if (PQtransactionStatus(p->c) == PQTRANS_ACTIVE && pg_cancel(p->c) < 0)
            return conn_err(err, p->c);
        if (PQtransactionStatus(p->c) == PQTRANS_IDLE)
            return 0;
        return query_exec(p, timeout_ms, "ROLLBACK", err);
    case RB_DB_SAVEPOINT:
    case RB_DB_RELEASE:
    case RB_DB_ROLLBACK_TO:
        break;
    }
    scratch = rb_arena_new();
    sql = rb_sprintf(scratch, "%s %s",
                     op == RB_DB_SAVEPOINT ? "SAVEPOINT"
                     : op == RB_DB_RELEASE ? "RELEASE SAVEPOINT"
                                           : "ROLLBACK TO SAVEPOINT",
                     rb_pg_quote_ident(scratch, savepoint));
    rc = query_exec(p, timeout_ms, sql, err);
    rb_arena_free(scratch);
    return rc;
}

/* --- one snapshot, several sessions (pg_export_snapshot, as pgcopydb and pg_dump -j do) ----- */

/*
 * REPEATABLE READ, not SERIALIZABLE READ ONLY DEFERRABLE: a deferrable transaction may wait for
 * a safe snapshot for as long as serializable writers keep running, which a rollback with a
 * deadline cannot afford, and REPEATABLE READ already gives what sync needs: every transaction
 * committed before the snapshot is seen whole, every later one not at all. The exporting session
 * sits idle in its transaction while the tables are read, so an idle-in-transaction timeout set
 * on the server would end it: it is lifted for this transaction only.
 */
static const char snapshot_export_sql[] =
    "SELECT pg_export_snapshot(), txid_snapshot_xmin(txid_current_snapshot())::text, "
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() "
    "END)::text, to_char(statement_timestamp() AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "set_config('idle_in_transaction_session_timeout', '0', true)";

static int pg_snapshot_export(struct rb_db *db, struct rb_arena *a, struct rb_db_snapshot *out,
                              struct rb_err *err)
{
    struct pg_db *p = (struct pg_db *)db;
    struct rb_db_result *r = NULL;
    struct rb_db_stmt st = { .sql = snapshot_export_sql, .timeout_ms = 30000 };

    memset(out, 0, sizeof(*out));
    if (query_exec(p, 30000, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) < 0)
        return rb_err_wrap(err, "unable to take a snapshot of '%s'", db->label);
    if (pg_query(db, a, &st, &r, err) < 0 || r->nrows != 1 || r->ncols < 4) {
        if (r != NULL)
            rb_errf(err, RB_E_FAILED, "pg_export_snapshot() returned %zu rows", r->nrows);
        pg_tx(db, RB_DB_ROLLBACK, NULL, 10000, NULL);
        return rb_err_wrap(err, "unable to export a snapshot of '%s'", db->label);
    }
    out->id = rb_db_text(r, 0, 0);
    out->xmin = rb_db_text(r, 0, 1);
    out->lsn = rb_db_text(r, 0, 2);
    out->taken_at = rb_db_text(r, 0, 3);
    return 0;
}

static int pg_snapshot_begin(struct rb_db *db, const char *id, struct rb_err *err)
{
    struct pg_db *p = (struct pg_db *)db;
    struct rb_arena *scratch = rb_arena_new();
    /* SET TRANSACTION SNAPSHOT must come first in its transaction, before any query */
    const char *sql = rb_sprintf(
        scratch, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT %s",
        rb_pg_quote_literal(scratch, id));
    int rc = query_exec(p, 30000, sql, err);

    rb_arena_free(scratch);
    if (rc < 0) {
        pg_tx(db, RB_DB_ROLLBACK, NULL, 10000, NULL);
        return rb_err_wrap(err, "unable to read the shared snapshot '%s' on '%s'", id, db->label);
    }
    return 0;
}

/* --- streams: one statement's rows one at a time ------------------------------------------ */

struct rb_db_stream {
    struct pg_db *db;
    int64_t deadline;
    PGresult *row; /* the current row (a single-row result) */
    const char **vals;
    size_t nvals;
    bool done;
};

static int side_err(struct pg_db *db, const PGresult *r, struct rb_err *err)
{
    pg_result_err(err, r, db->c);
    return rb_err_wrap(err, "on '%s'", db->base.label);
}

static int pg_stream(struct rb_db *db, const struct rb_db_stmt *st, int64_t deadline_ms,
                     struct rb_db_stream **out, struct rb_err *err)
{
    struct pg_db *p = (struct pg_db *)db;
    struct rb_db_stream *s;

    *out = NULL;
    if (pg_lost(p->c))
        return side_err(p, NULL, err);
    if (send_query(p->c, st->sql, st->nparams, st->params, true, deadline_ms, err) < 0)
        return rb_err_wrap(err, "on '%s'", p->base.label);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->db = p;
    s->deadline = deadline_ms;
    *out = s;
    return 0;
}

static int pg_stream_next(struct rb_db_stream *s, const char *const **row, struct rb_err *err)
{
    PGconn *c = s->db->c;

    PQclear(s->row);
    s->row = NULL;
    *row = NULL;
    while (!s->done) {
        PGresult *r;

        if (PQisBusy(c) && wait_idle1(c, s->deadline, true, err) < 0) {
            if (rb_err_is(err, RB_K_CONN_LOST))
                rb_err_wrap(err, "on '%s'", s->db->base.label);
            return -1;
        }
        r = PQgetResult(c);
        if (r == NULL) {
            s->done = true;
            break;
        }
        switch (PQresultStatus(r)) {
        case PGRES_SINGLE_TUPLE: {
            size_t n = (size_t)PQnfields(r);

            if (n > s->nvals) {
                free(s->vals);
                s->vals = calloc(n, sizeof(*s->vals));
                if (s->vals == NULL)
                    abort();
                s->nvals = n;
            }
            for (size_t j = 0; j < n; j++)
                s->vals[j] = PQgetisnull(r, 0, (int)j) ? NULL : PQgetvalue(r, 0, (int)j);
            s->row = r;
            *row = s->vals;
            return 0;
        }
        case PGRES_TUPLES_OK:
            PQclear(r);
            break;
        default:
            side_err(s->db, r, err);
            PQclear(r);
            return -1;
        }
    }
    return 0;
}

static int pg_stream_end(struct rb_db_stream *s, struct rb_err *err)
{
    PGconn *c;
    int rc = 0;

    if (s == NULL)
        return 0;
    c = s->db->c;
    PQclear(s->row);
    /* the rest of the stream is not needed: cancel it rather than read it */
    if (!s->done && !pg_lost(c) && PQtransactionStatus(c) == PQTRANS_ACTIVE && pg_cancel(c) < 0)
        rc = side_err(s->db, NULL, err);
    free(s->vals);
    free(s);
    return rc;
}

/* --- the pair runner: one statement on each of two connections at once -------------------- */

static int pg_pair(struct rb_db *const db[2], struct rb_arena *a, const char *const sql[2],
                   int64_t deadline_ms, struct rb_db_result *out[2], struct rb_err *err)
{
    struct pg_db *p[2] = { (struct pg_db *)db[0], (struct pg_db *)db[1] };
    PGconn *c[2] = { p[0] != NULL ? p[0]->c : NULL, p[1] != NULL ? p[1]->c : NULL };
    bool want[2] = { sql[0] != NULL, sql[1] != NULL };
    int rc = 0, failed = -1;

    out[0] = out[1] = NULL;
    for (int s = 0; s < 2; s++) {
        if (!want[s])
            continue;
        if (pg_lost(c[s]))
            return side_err(p[s], NULL, err);
        /* a connection someone left nonblocking may hold part of a long query (a bucket list) */
        if (send_query(c[s], sql[s], 0, NULL, false, deadline_ms, err) < 0)
            return rb_err_wrap(err, "on '%s'", p[s]->base.label);
    }
    if (pg_wait_idle(c, want, 2, deadline_ms, true, &failed, err) < 0) {
        if (failed >= 0)
            rb_err_wrap(err, "on '%s'", p[failed]->base.label);
        return -1;
    }
    for (int s = 0; s < 2; s++) {
        PGresult *r, *keep = NULL;

        if (!want[s])
            continue;
        /* idle: every result is there already */
        while ((r = PQgetResult(c[s])) != NULL) {
            if (keep == NULL)
                keep = r;
            else
                PQclear(r);
        }
        if (keep == NULL) {
            if (rc == 0)
                side_err(p[s], NULL, err);
            rc = -1;
        } else if (PQresultStatus(keep) != PGRES_TUPLES_OK &&
                   PQresultStatus(keep) != PGRES_COMMAND_OK) {
            if (rc == 0)
                side_err(p[s], keep, err);
            rc = -1;
        } else if (rc == 0) {
            out[s] = copy_result(a, keep);
        }
        PQclear(keep);
    }
    if (rc < 0)
        out[0] = out[1] = NULL;
    return rc;
}

/*
 * The client slot: the conninfo rebuilt from libpq's own parse of it (URI or key=value), every
 * keyword it sets but the password, each value quoted as libpq reads it back; the password
 * apart, from password_env (which wins, as it does for the run's connections) or the conninfo.
 */
static int pg_client(struct rb_arena *a, const struct rb_target *t, struct rb_db_client *out,
                     struct rb_err *err)
{
    const char *conninfo = rb_target_opt(t, "conninfo");
    const char *env = rb_target_opt(t, "password_env");
    struct rb_buf b = RB_BUF_INIT;
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &msg);

    memset(out, 0, sizeof(*out));
    if (opts == NULL) {
        rb_errf(err, RB_E_RUNBOOK, "conninfo of target '%s' does not parse: %s", t->name,
                msg != NULL ? rb_sprintf(a, "%.*s", (int)strcspn(msg, "\n"), msg)
                            : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            out->password = rb_strdup(a, o->val);
            continue;
        }
        rb_buf_addf(&b, "%s%s='", b.len > 0 ? " " : "", o->keyword);
        for (const char *c = o->val; *c != '\0'; c++) {
            if (*c == '\'' || *c == '\\')
                rb_buf_addc(&b, '\\');
            rb_buf_addc(&b, *c);
        }
        rb_buf_addc(&b, '\'');
    }
    PQconninfoFree(opts);
    out->conninfo = rb_strdup(a, b.len > 0 ? b.data : "");
    rb_buf_release(&b);
    if (env != NULL) {
        const char *v = getenv(env);

        out->password_env = env;
        out->password = v != NULL ? rb_strdup(a, v) : NULL;
    }
    out->passfile_var = "PGPASSFILE";
    if (out->password != NULL) {
        /* one line for any host, port, database and user; ':' and '\\' escaped as libpq reads */
        rb_buf_adds(&b, "*:*:*:*:");
        for (const char *c = out->password; *c != '\0'; c++) {
            if (*c == ':' || *c == '\\')
                rb_buf_addc(&b, '\\');
            rb_buf_addc(&b, *c);
        }
        rb_buf_addc(&b, '\n');
        out->passfile = rb_strndup(a, b.data, b.len);
        rb_buf_release(&b);
    }
    return 0;
}

/*
 * The check slot: the conninfo parsed offline as libpq will parse it when connecting
 * (PQconninfoParse: key=value or URI, no environment, no server), so a typo is an error at the
 * conninfo's line instead of a failed connection during a rollback. A password written in it is
 * a warning: it would sit in the runbook, in plain text.
 */
static void pg_check(const struct rb_target *t, struct rb_diags *diags)
{
    const struct rb_opt *o = NULL;
    char *msg = NULL;
    PQconninfoOption *opts;

    for (size_t i = 0; i < t->n_opts && o == NULL; i++)
        if (strcmp(t->opts[i].key, "conninfo") == 0 && t->opts[i].value != NULL)
            o = &t->opts[i];
    if (o == NULL)
        return; /* the loader reports a missing conninfo */
    opts = PQconninfoParse(o->value, &msg);
    if (opts == NULL) {
        char line[RB_ERR_MSG_MAX], *cut;
        const char *bad = msg != NULL ? strstr(msg, "invalid connection option \"") : NULL;

        one_line(line, sizeof(line), msg != NULL ? msg : "out of memory");
        /* libpq quotes the whole URI at the end, password and all: the position says where */
        if (o->value[0] != '\0' && (cut = strstr(line, o->value)) != NULL && cut - line >= 3 &&
            strncmp(cut - 3, ": \"", 3) == 0)
            cut[-3] = '\0';
        if (bad != NULL) {
            /* suggest the keyword meant: the keywords are those of an empty conninfo */
            PQconninfoOption *all = PQconninfoParse("", NULL);
            const char *kw = bad + strlen("invalid connection option \"");
            char word[64];
            struct rb_near near;

            snprintf(word, sizeof(word), "%.*s", (int)strcspn(kw, "\""), kw);
            rb_near_init(&near, word);
            for (const PQconninfoOption *p = all; p != NULL && p->keyword != NULL; p++)
                rb_near_try(&near, p->keyword);
            if (near.best != NULL)
                rb_diag_add(diags, RB_DIAG_ERROR, o->value_pos,
                            "conninfo of target '%s': unknown keyword '%s'; did you mean '%s'?",
                            t->name, word, near.best);
            else
                rb_diag_add(diags, RB_DIAG_ERROR, o->value_pos,
                            "conninfo of target '%s': unknown keyword '%s'", t->name, word);
            PQconninfoFree(all);
        } else {
            rb_diag_add(diags, RB_DIAG_ERROR, o->value_pos,
                        "conninfo of target '%s' does not parse: %s", t->name, line);
        }
        PQfreemem(msg);
        return;
    }
    for (const PQconninfoOption *p = opts; p->keyword != NULL; p++) {
        if (p->val == NULL)
            continue;
        if (strcmp(p->keyword, "password") == 0)
            rb_diag_add(diags, RB_DIAG_WARNING, o->value_pos,
                        "conninfo of target '%s' holds a password in plain text: name the "
                        "variable that holds it in password_env, or put it in ~/.pgpass",
                        t->name);
        else if (strcmp(p->keyword, "connect_timeout") == 0 && p->val[0] != '\0' &&
                 p->val[strspn(p->val, "0123456789")] != '\0')
            rb_diag_add(diags, RB_DIAG_ERROR, o->value_pos,
                        "conninfo of target '%s': connect_timeout '%s' is not a whole number "
                        "of seconds",
                        t->name, p->val);
    }
    PQconninfoFree(opts);
}

const struct rb_db_ops rb_pg_ops = {
    .driver = "postgres",
    .open = pg_target_open,
    .close = pg_target_close,
    .lost = pg_db_lost,
    .query = pg_query,
    .cancel = pg_db_cancel,
    .in_transaction = pg_in_transaction,
    .tx = pg_tx,
    .stream = pg_stream,
    .stream_next = pg_stream_next,
    .stream_end = pg_stream_end,
    .pair = pg_pair,
    .copy = pg_copy,
    .snapshot_export = pg_snapshot_export,
    .snapshot_begin = pg_snapshot_begin,
    .client = pg_client,
    .check = pg_check,
};

/* --- quoting ------------------------------------------------------------------------------ */

/* Quote one identifier part: double quotes doubled, the whole wrapped in double quotes. */
static void quote_part(char *dst, size_t *n, const char *s, size_t len)
{
    size_t i;

    dst[(*n)++] = '"';
    for (i = 0; i < len; i++) {
        if (s[i] == '"')
            dst[(*n)++] = '"';
        dst[(*n)++] = s[i];
    }
    dst[(*n)++] = '"';
}

const char *rb_pg_quote_ident(struct rb_arena *a, const char *name)
{
    size_t len = strlen(name), n = 0;
    char *out = rb_alloc(a, 2 * len + 3);

    quote_part(out, &n, name, len);
    out[n] = '\0';
    return out;
}

/*
 * Split "schema.table" on the first dot outside double quotes. A part written in double quotes
 * ("My.Schema") is taken as written (with "" meaning one "); other parts are taken literally,
 * case kept, because runbooks name tables as the catalog spells them.
 */
const char *rb_pg_quote_qualified(struct rb_arena *a, const char *name)
{
    size_t len = strlen(name), n = 0, i = 0;
    char *out = rb_alloc(a, 2 * len + 6);
    char *part = rb_alloc(a, len + 1);
    int parts = 0;

    while (parts < 2) {
        size_t plen = 0;

        if (name[i] == '"') {
            i++;
            while (name[i] != '\0') {
                if (name[i] == '"') {
                    if (name[i + 1] != '"')
                        break;
                    i++;
                }
                part[plen++] = name[i++];
            }
            if (name[i] == '"')
                i++;
            /* Anything between the closing quote and the dot is kept as part of the name. */
            while (name[i] != '\0' && name[i] != '.')
                part[plen++] = name[i++];
        } else {
            while (name[i] != '\0' && (name[i] != '.' || parts == 1))
                part[plen++] = name[i++];
        }
        if (parts > 0)
            out[n++] = '.';
        quote_part(out, &n, part, plen);
        parts++;
        if (name[i] != '.')
            break;
        i++;
    }
    out[n] = '\0';
    return out;
}

const char *rb_pg_quote_literal(struct rb_arena *a, const char *s)
{
    size_t len = strlen(s), n = 0, i;
    bool backslash = strchr(s, '\\') != NULL;
    char *out = rb_alloc(a, 2 * len + 4);

    /* E'' only when needed, so the common case reads like plain SQL. */
    if (backslash)
        out[n++] = 'E';
    out[n++] = '\'';
    for (i = 0; i < len; i++) {
        if (s[i] == '\'' || (backslash && s[i] == '\\'))
            out[n++] = s[i];
        out[n++] = s[i];
    }
    out[n++] = '\'';
    out[n] = '\0';
    return out;
}
