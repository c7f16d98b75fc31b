/*
 * postgres_copy.c - the COPY pump (rb_db_ops.copy): COPY (SELECT ...) TO STDOUT on one
 * connection streamed into COPY ... FROM STDIN on another, the way pgcopydb does it.
 *
 * Rows pass verbatim in COPY text format (same server major version, both sessions UTF8): we never
 * parse them, we only gather them into 64 KiB batches (fewer PQputCopyData calls, one SHA-256
 * update per batch) and count them. The target connection is nonblocking so every wait has a
 * deadline: the stream fails when no byte has moved for stall_ms. Memory stays flat: at most one
 * batch plus libpq's buffers, whatever the row count. When the source fails mid-stream the target
 * COPY is aborted with PQputCopyEnd(dst, message), so the target's transaction is left failed,
 * never half-loaded; both connections are idle afterwards (unless lost).
 */
#include "postgres_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"

#define BATCH_BYTES       (64 * 1024)
#define PROGRESS_EVERY_MS 250
/* No byte moved for this long (when the caller names no stall time): the stream is stuck. */
#define STALL_MS (5 * 60 * 1000)

struct stream {
    struct rb_db_copy *cp;
    PGconn *src, *dst;
    EVP_MD_CTX *md;
    struct rb_buf batch;
    int64_t last_move_ms, last_progress_ms;
    PGresult *dst_fail; /* the target's failed COPY result, for cp->dst_fail */
};

/* Tell the caller how far the rows are, at most every PROGRESS_EVERY_MS. */
static void progress(struct stream *s)
{
    int64_t now = rb_now_ms();

    if (s->cp->progress == NULL || now - s->last_progress_ms < PROGRESS_EVERY_MS)
        return;
    s->last_progress_ms = now;
    s->cp->progress(s->cp->progress_ctx, s->cp->rows, false);
}

/* Hand the gathered batch to the target and wait until libpq has passed it to the kernel. */
static int send_batch(struct stream *s, struct rb_err *err)
{
    struct rb_db_copy *cp = s->cp;
    int64_t deadline = rb_now_ms() + cp->stall_ms;
    int rc;

    if (s->batch.len == 0)
        return 0;
    EVP_DigestUpdate(s->md, s->batch.data, s->batch.len);
    while ((rc = PQputCopyData(s->dst, s->batch.data, (int)s->batch.len)) == 0) {
        /* Not queued (buffers full): wait until the target takes more. */
        if (pg_wait(s->dst, true, deadline, err) < 0 || pg_flush(s->dst, deadline, err) < 0)
            return rb_err_wrap(err, "target stopped taking rows");
    }
    if (rc < 0)
        return rb_errf(err, RB_E_FAILED, "target: %s", PQerrorMessage(s->dst));
    if (pg_flush(s->dst, deadline, err) < 0)
        return rb_err_wrap(err, "target stopped taking rows");
    cp->bytes += (int64_t)s->batch.len;
    s->last_move_ms = rb_now_ms();
    rb_buf_reset(&s->batch);
    progress(s);
    return 0;
}

/* Collect the final result of a COPY; ok when it is COMMAND_OK. *res gets it (caller clears). */
static int copy_result(PGconn *c, int64_t deadline, PGresult **res, struct rb_err *err)
{
    if (pg_last_result(c, deadline, res, err) < 0)
        return -1;
    if (*res == NULL)
        return pg_result_err(err, NULL, c);
    if (PQresultStatus(*res) != PGRES_COMMAND_OK)
        return pg_result_err(err, *res, c);
    return 0;
}

/* End the target COPY (aborted when why != NULL) and collect its result. */
static int end_target(struct stream *s, const char *why, struct rb_err *err)
{
    struct rb_db_copy *cp = s->cp;
    int64_t deadline = rb_now_ms() + cp->stall_ms;
    PGresult *r = NULL;
    int rc;

    while ((rc = PQputCopyEnd(s->dst, why)) == 0) {
        if (pg_wait(s->dst, true, deadline, err) < 0)
            return -1;
    }
    if (rc < 0 || pg_flush(s->dst, deadline, err) < 0)
        return pg_result_err(err, NULL, s->dst);
    if (copy_result(s->dst, deadline, &r, err) < 0) {
        if (why == NULL && r != NULL)
            s->dst_fail = r;
        else
            PQclear(r);
        return -1;
    }
    cp->rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* The source failed: abort the target COPY with the source's message and report the source. */
static int source_failed(struct stream *s, struct rb_err *err)
{
    struct rb_err ignored = RB_ERR_INIT;
    char why[600];

    s->cp->src_failed = true;
    snprintf(why, sizeof(why), "rollbackctl: source query failed: %.500s", err->msg);
    if (PQstatus(s->dst) == CONNECTION_OK)
        end_target(s, why, &ignored);
    return rb_err_wrap(err, "source query failed");
}

static int stream_rows(struct stream *s, struct rb_err *err)
{
    struct rb_db_copy *cp = s->cp;
    PGresult *r = NULL;
    char *row;
    int n;

    for (;;) {
        n = PQgetCopyData(s->src, &row, 1);
        if (n > 0) {
            if (s->batch.len + (size_t)n > BATCH_BYTES && send_batch(s, err) < 0) {
                PQfreemem(row);
                return -1;
            }
            rb_buf_add(&s->batch, row, (size_t)n);
            PQfreemem(row);
            cp->rows++;
            continue;
        }
        if (n == 0) {
            /* Nothing buffered: pass on what we have, then wait for the source. */
            if (send_batch(s, err) < 0)
                return -1;
            progress(s);
            if (pg_wait(s->src, false, s->last_move_ms + cp->stall_ms, err) < 0) {
                rb_errf(err, RB_E_FAILED, "no rows from the source for %lld ms",
                        (long long)cp->stall_ms);
                pg_cancel(s->src);
                return source_failed(s, err);
            }
            if (!PQconsumeInput(s->src)) {
                pg_result_err(err, NULL, s->src);
                return source_failed(s, err);
            }
            s->last_move_ms = rb_now_ms();
            continue;
        }
        if (n == -2) {
            pg_result_err(err, NULL, s->src);
            return source_failed(s, err);
        }
        break; /* -1: the source's COPY is over; its result says how it went */
    }
    if (copy_result(s->src, rb_now_ms() + cp->stall_ms, &r, err) < 0) {
        PQclear(r);
        return source_failed(s, err);
    }
    PQclear(r);
    return send_batch(s, err);
}

int pg_copy(struct rb_db_copy *cp, struct rb_err *err)
{
    struct stream s;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    int64_t src_rows;
    PGresult *r;
    int rc = -1;

    memset(&s, 0, sizeof(s));
    s.cp = cp;
    s.src = pg_conn(cp->src);
    s.dst = pg_conn(cp->dst);
    rb_buf_init(&s.batch);
    cp->rows = cp->bytes = 0;
    cp->src_failed = false;
    cp->dst_fail = NULL;
    cp->checksum[0] = '\0';
    if (cp->stall_ms <= 0)
        cp->stall_ms = STALL_MS;
    if (cp->src == NULL || cp->dst == NULL || cp->src->ops != &rb_pg_ops ||
        cp->dst->ops != &rb_pg_ops)
        return rb_errf(err, RB_E_FAILED, "COPY needs two postgres connections");

    r = pg_copy_start(s.dst, cp->stall_ms, cp->in_sql, err);
    if (r == NULL || PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        return rb_err_wrap(err, "target COPY failed");
    }
    PQclear(r);
    r = pg_copy_start(s.src, cp->stall_ms, cp->out_sql, err);
    if (r == NULL || PQresultStatus(r) != PGRES_COPY_OUT) {
        PQclear(r);
        return source_failed(&s, err);
    }
    PQclear(r);

    s.md = EVP_MD_CTX_new();
    if (s.md == NULL || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
        rb_errf(err, RB_E_FAILED, "unable to start a SHA-256 digest");
        goto out;
    }
    rb_buf_grow(&s.batch, BATCH_BYTES);
    s.last_move_ms = rb_now_ms();
    PQsetnonblocking(s.dst, 1);
    if (stream_rows(&s, err) < 0)
        goto out;
    src_rows = cp->rows;
    if (end_target(&s, NULL, err) < 0) {
        rb_err_wrap(err, "target COPY failed");
        goto out;
    }
    if (cp->rows != src_rows) {
        rb_errf(err, RB_E_FAILED, "target COPY took %lld rows but the source sent %lld",
                (long long)cp->rows, (long long)src_rows);
        goto out;
    }
    EVP_DigestFinal_ex(s.md, md, &mdlen);
    for (i = 0; i < mdlen && i < 32; i++)
        snprintf(cp->checksum + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    if (cp->progress != NULL)
        cp->progress(cp->progress_ctx, cp->rows, true);
    if (!pg_lost(s.dst))
        PQsetnonblocking(s.dst, 0);
    if (rc < 0) {
        /* Leave no COPY running on either side: the caller rolls back next. */
        if (!pg_lost(s.src) && PQtransactionStatus(s.src) == PQTRANS_ACTIVE)
            pg_cancel(s.src);
        if (!pg_lost(s.dst) && PQtransactionStatus(s.dst) == PQTRANS_ACTIVE)
            pg_cancel(s.dst);
        if (s.dst_fail != NULL) {
            cp->dst_fail = rb_new(cp->arena, struct rb_db_error);
            pg_server_error(cp->arena, s.dst_fail, cp->dst_fail);
        }
        /* whatever the last message was, a side that is gone makes this a lost connection */
        if (pg_lost(s.src) || pg_lost(s.dst))
            rb_err_kind(err, RB_K_CONN_LOST);
    }
    PQclear(s.dst_fail);
    EVP_MD_CTX_free(s.md);
    rb_buf_release(&s.batch);
    return rc;
}
