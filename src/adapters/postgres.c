/*
 * postgres.c - the PostgreSQL adapter: connections with deadlines, pinned session settings,
 * read-only sessions, asynchronous queries that are cancelled past their deadline, quoting.
 *
 * Nothing here blocks without a deadline: connections are made with PQconnectStartParams and
 * PQconnectPoll, queries are sent with PQsendQueryParams and their results collected while
 * waiting on the socket with poll(). A query past its deadline is cancelled (PQcancel) and its
 * results drained so the connection stays usable.
 *
 * Every session gets the same settings (TimeZone=UTC, DateStyle='ISO, MDY', extra_float_digits=1,
 * client_encoding=UTF8, application_name=rollbackctl unless the conninfo names one) so the text
 * forms of values agree on both sides of a sync or a comparison. Sessions of plan/validate/check
 * runs also get default_transaction_read_only=on: a planning bug cannot write.
 */
#include "rollbackctl/pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

const struct rb_db_ops rb_pg_ops = { "postgres" };

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

int rb_pg_result_err(struct rb_err *err, const PGresult *res, PGconn *c)
{
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    char line[RB_ERR_MSG_MAX];

    if (primary == NULL)
        return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, line, sizeof(line)));
    if (detail != NULL) {
        one_line(line, sizeof(line), detail);
        return rb_errf(err, RB_E_FAILED, "%s (%s)", primary, line);
    }
    return rb_errf(err, RB_E_FAILED, "%s", primary);
}

int rb_pg_wait(PGconn *c, bool for_write, int64_t deadline_ms, struct rb_err *err)
{
    struct pollfd p;
    int64_t left;
    int rc;

    p.fd = PQsocket(c);
    p.events = for_write ? POLLOUT : POLLIN;
    p.revents = 0;
    if (p.fd < 0)
        return rb_errf(err, RB_E_FAILED, "connection lost");
    for (;;) {
        left = deadline_ms - rb_now_ms();
        if (left <= 0)
            return rb_errf(err, RB_E_FAILED, "timed out");
        rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return rb_errf(err, RB_E_FAILED, "poll failed: %s", strerror(errno));
    }
}

/* Apply the session settings; a failure here is a failed connection. */
static int session_setup(PGconn *c, bool read_only, int64_t deadline_ms, struct rb_err *err)
{
    int64_t left = deadline_ms - rb_now_ms();

    if (left < 1000)
        left = 1000;
    if (rb_pg_exec(c, left, session_sql, 0, NULL, err) < 0)
        return -1;
    if (read_only && rb_pg_exec(c, left, read_only_sql, 0, NULL, err) < 0)
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

/* Connect; *cleanup (optional) receives the arena handle that closes the connection early. */
static PGconn *pg_connect(struct rb_arena *a, const struct rb_pg_opts *o, void **cleanup,
                          struct rb_err *err)
{
    const char *keys[8], *vals[8];
    const char *label = o->label != NULL ? o->label : "postgres";
    int64_t timeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : RB_PG_CONNECT_TIMEOUT_MS;
    int64_t deadline = rb_now_ms() + timeout;
    char msg[RB_ERR_MSG_MAX];
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PGconn *c;
    void *h;
    int n = 0;

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
    if (c == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to connect to '%s': out of memory", label), NULL;
    h = rb_arena_on_free(a, pq_finish, c);
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    if (cleanup != NULL)
        *cleanup = h;
    if (PQstatus(c) == CONNECTION_BAD) {
        rb_errf(err, RB_E_FAILED, "unable to connect to '%s': %s", label,
                conn_msg(c, msg, sizeof(msg)));
        goto fail;
    }
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            rb_errf(err, RB_E_FAILED, "unable to connect to '%s': %s", label,
                    conn_msg(c, msg, sizeof(msg)));
            goto fail;
        }
        if (rb_pg_wait(c, st == PGRES_POLLING_WRITING, deadline, err) < 0) {
            rb_errf(err, RB_E_FAILED, "unable to connect to '%s': no answer within %lld ms", label,
                    (long long)timeout);
            goto fail;
        }
        st = PQconnectPoll(c);
    }
    if (session_setup(c, o->read_only, deadline, err) < 0) {
        rb_err_wrap(err, "unable to set up the session on '%s'", label);
        goto fail;
    }
    return c;
fail:
    rb_arena_run_cleanup(a, h);
    if (cleanup != NULL)
        *cleanup = NULL;
    return NULL;
}

PGconn *rb_pg_connect(struct rb_arena *a, const struct rb_pg_opts *o, struct rb_err *err)
{
    return pg_connect(a, o, NULL, err);
}

/* What the run's handle cache holds for one postgres target. */
struct pg_handle {
    PGconn *conn;
    void *cleanup;
};

#define PG_HANDLE_KIND "postgres"

PGconn *rb_pg_target(struct rb_run *run, const char *target, struct rb_err *err)
{
    struct pg_handle *h = rb_run_handle_get(run, PG_HANDLE_KIND, target);
    const struct rb_target *t;
    struct rb_pg_opts o;
    const char *env, *timeout;

    if (h != NULL && h->conn != NULL) {
        if (PQstatus(h->conn) == CONNECTION_OK)
            return h->conn;
        rb_pg_target_close(run, target); /* broken: reconnect below */
    }
    t = rb_runbook_target(run->rb, target);
    if (t == NULL)
        return rb_errf(err, RB_E_RUNBOOK, "no target named '%s'", target), NULL;
    if (t->driver == NULL || strcmp(t->driver, "postgres") != 0)
        return rb_errf(err, RB_E_RUNBOOK, "target '%s' is not a postgres target", target), NULL;
    memset(&o, 0, sizeof(o));
    o.conninfo = rb_target_opt(t, "conninfo");
    o.read_only = run->read_only;
    o.label = target;
    env = rb_target_opt(t, "password_env");
    if (env != NULL) {
        o.password = getenv(env);
        if (o.password == NULL) {
            rb_errf(err, RB_E_FAILED,
                    "environment variable '%s' (password_env of target '%s') is not set", env,
                    target);
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
        h = rb_new(run->arena, struct pg_handle);
        rb_run_handle_put(run, PG_HANDLE_KIND, target, h);
    }
    h->conn = pg_connect(run->arena, &o, &h->cleanup, err);
    return h->conn;
}

bool rb_pg_target_lost(struct rb_run *run, const char *target)
{
    struct pg_handle *h = rb_run_handle_get(run, PG_HANDLE_KIND, target);

    return h == NULL || h->conn == NULL || PQstatus(h->conn) != CONNECTION_OK;
}

void rb_pg_target_close(struct rb_run *run, const char *target)
{
    struct pg_handle *h = rb_run_handle_get(run, PG_HANDLE_KIND, target);

    if (h == NULL || h->conn == NULL)
        return;
    rb_arena_run_cleanup(run->arena, h->cleanup);
    h->conn = NULL;
    h->cleanup = NULL;
}

/*
 * Cancel the query in flight and drain its results, so the connection can be used again.
 * Returns 0 when drained, -1 when the connection is lost or keeps not answering.
 * (PQcancel opens its own short connection and has no timeout of its own before PostgreSQL 17's
 * PQcancelPoll; the draining that follows is bounded by RB_PG_CANCEL_GRACE_MS.)
 */
int rb_pg_cancel(PGconn *c)
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
            if (rb_pg_wait(c, false, deadline, NULL) < 0 || !PQconsumeInput(c))
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
                } else if (rb_pg_wait(c, false, deadline, NULL) < 0 || !PQconsumeInput(c)) {
                    PQclear(r);
                    return -1;
                }
            }
        }
        PQclear(r);
    }
}

/* Flush a nonblocking connection's output within the deadline. */
int rb_pg_flush(PGconn *c, int64_t deadline_ms, struct rb_err *err)
{
    char msg[RB_ERR_MSG_MAX];
    int rc;

    while ((rc = PQflush(c)) == 1) {
        if (rb_pg_wait(c, true, deadline_ms, err) < 0)
            return -1;
        /* The server may be sending (notices, an error) while we wait to write. */
        if (!PQconsumeInput(c))
            return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg)));
    }
    if (rc < 0)
        return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg)));
    return 0;
}

/*
 * Send a query within the deadline. In blocking mode libpq writes a query bigger than the socket
 * buffers with no deadline at all (a backend or network that stopped reading hangs us), so the
 * send happens in nonblocking mode and rb_pg_flush pushes the rest out; the mode is given back
 * after a complete send (a connection with output still pending stays nonblocking).
 * Returns 0 when sent, -1 when libpq refused the query, -2 when it was not all sent in time.
 */
static int send_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                      int64_t deadline_ms, struct rb_err *err)
{
    char msg[RB_ERR_MSG_MAX];
    bool was_nonblocking = PQisnonblocking(c);
    int ok;

    if (!was_nonblocking)
        PQsetnonblocking(c, 1);
    /* PQsendQuery allows several statements in one string (session setup uses that). */
    ok = nparams > 0 ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                     : PQsendQuery(c, sql);
    if (!ok) {
        rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg)));
        if (!was_nonblocking)
            PQsetnonblocking(c, 0);
        return -1;
    }
    if (rb_pg_flush(c, deadline_ms, err) < 0)
        return -2;
    if (!was_nonblocking)
        PQsetnonblocking(c, 0);
    return 0;
}

/* Wait for the next result within the deadline; NULL result means the query is done. */
static int next_result(PGconn *c, int64_t deadline_ms, PGresult **out, struct rb_err *err)
{
    char msg[RB_ERR_MSG_MAX];

    *out = NULL; /* also on failure: callers at -O3 must not see an unset result */
    while (PQisBusy(c)) {
        if (rb_pg_wait(c, false, deadline_ms, err) < 0)
            return -1;
        if (!PQconsumeInput(c))
            return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg)));
    }
    *out = PQgetResult(c);
    return 0;
}

PGresult *rb_pg_query_keep(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
                           const char *const *params, struct rb_err *err)
{
    int64_t deadline = rb_now_ms() + (timeout_ms > 0 ? timeout_ms : RB_PG_QUERY_TIMEOUT_MS);
    PGresult *keep = NULL, *r;
    char msg[RB_ERR_MSG_MAX];
    int rc;

    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        return rb_errf(err, RB_E_FAILED, "connection lost"), NULL;
    if ((rc = send_query(c, sql, nparams, params, deadline, err)) < 0) {
        /* Not even sent in time: stop what the server may have started, as for a late result. */
        if (rc == -2 && PQstatus(c) == CONNECTION_OK) {
            rb_pg_cancel(c);
            rb_errf(err, RB_E_FAILED,
                    "query cancelled after %lld ms (not sent: the server does "
                    "not read)",
                    (long long)(timeout_ms > 0 ? timeout_ms : RB_PG_QUERY_TIMEOUT_MS));
        }
        return NULL;
    }
    for (;;) {
        if (next_result(c, deadline, &r, err) < 0) {
            if (PQstatus(c) == CONNECTION_OK) {
                rb_pg_cancel(c);
                rb_errf(err, RB_E_FAILED, "query cancelled after %lld ms",
                        (long long)(timeout_ms > 0 ? timeout_ms : RB_PG_QUERY_TIMEOUT_MS));
            }
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
            rb_pg_cancel(c);
            PQclear(keep);
            rb_errf(err, RB_E_FAILED, "unexpected COPY in query");
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
        return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg))), NULL;
    if (PQresultStatus(keep) == PGRES_FATAL_ERROR)
        rb_pg_result_err(err, keep, c);
    return keep;
}

PGresult *rb_pg_query(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
                      const char *const *params, struct rb_err *err)
{
    PGresult *r = rb_pg_query_keep(c, timeout_ms, sql, nparams, params, err);

    if (r != NULL && PQresultStatus(r) != PGRES_TUPLES_OK &&
        PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (PQresultStatus(r) != PGRES_FATAL_ERROR)
            rb_errf(err, RB_E_FAILED, "unexpected result %s", PQresStatus(PQresultStatus(r)));
        PQclear(r);
        return NULL;
    }
    return r;
}

int rb_pg_exec(PGconn *c, int64_t timeout_ms, const char *sql, int nparams,
               const char *const *params, struct rb_err *err)
{
    PGresult *r = rb_pg_query(c, timeout_ms, sql, nparams, params, err);

    if (r == NULL)
        return -1;
    PQclear(r);
    return 0;
}

int rb_pg_scalar(struct rb_arena *a, PGconn *c, int64_t timeout_ms, const char *sql,
                 const char **out, bool *is_null, struct rb_err *err)
{
    PGresult *r = rb_pg_query(c, timeout_ms, sql, 0, NULL, err);

    if (r == NULL)
        return -1;
    if (PQntuples(r) < 1 || PQnfields(r) < 1) {
        PQclear(r);
        return rb_errf(err, RB_E_FAILED, "query returned no rows");
    }
    if (is_null != NULL)
        *is_null = PQgetisnull(r, 0, 0);
    *out = PQgetisnull(r, 0, 0) ? NULL : rb_strdup(a, PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

PGresult *rb_pg_copy_start(PGconn *c, int64_t timeout_ms, const char *sql, struct rb_err *err)
{
    int64_t deadline = rb_now_ms() + (timeout_ms > 0 ? timeout_ms : RB_PG_QUERY_TIMEOUT_MS);
    char msg[RB_ERR_MSG_MAX];
    PGresult *r, *rest;
    int rc;

    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        return rb_errf(err, RB_E_FAILED, "connection lost"), NULL;
    if ((rc = send_query(c, sql, 0, NULL, deadline, err)) < 0) {
        if (rc == -2 && PQstatus(c) == CONNECTION_OK)
            rb_pg_cancel(c);
        return NULL;
    }
    if (next_result(c, deadline, &r, err) < 0) {
        if (PQstatus(c) == CONNECTION_OK)
            rb_pg_cancel(c);
        return NULL;
    }
    if (r == NULL)
        return rb_errf(err, RB_E_FAILED, "%s", conn_msg(c, msg, sizeof(msg))), NULL;
    if (PQresultStatus(r) == PGRES_COPY_IN || PQresultStatus(r) == PGRES_COPY_OUT)
        return r;
    rb_pg_result_err(err, r, c);
    /* Collect what remains so the connection is idle again. */
    while (next_result(c, deadline, &rest, NULL) == 0 && rest != NULL)
        PQclear(rest);
    return r;
}

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
