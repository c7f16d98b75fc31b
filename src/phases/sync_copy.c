/*
 * sync_copy.c - moves one sync table's rows: COPY (SELECT ...) TO STDOUT on the source, streamed
 * into COPY ... FROM STDIN on the target, the way pgcopydb does it.
 *
 * Rows pass verbatim in COPY text format (same server major version, both sessions UTF8): we never
 * parse them, we only gather them into 64 KiB batches (fewer PQputCopyData calls, one SHA-256
 * update per batch) and count them. The target connection is nonblocking so every wait has a
 * deadline: the stream fails when no byte has moved for stall_ms. Memory stays flat: at most one
 * batch plus libpq's buffers, whatever the row count.
 */
#include "rollbackctl/sync.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/pg.h"

#define BATCH_BYTES       (64 * 1024)
#define PROGRESS_EVERY_MS 250

struct stream {
    struct rb_sync_copy *cp;
    EVP_MD_CTX *md;
    struct rb_buf batch;
    int64_t started_ms, last_move_ms, last_progress_ms;
    bool progress_shown;
};

static void human_duration(int64_t s, char *out, size_t len)
{
    if (s >= 3600)
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, len, "%llds", (long long)s);
}

/* "sync/x: 120000 of 1000000 rows, 250000 rows/s, ETA 4s" on one refreshed stderr line. */
static void progress(struct stream *s)
{
    const struct rb_sync_copy *cp = s->cp;
    int64_t now = rb_now_ms(), ms = now - s->started_ms, rate;
    char eta[32] = "";

    if (cp->ctx == NULL || !cp->ctx->progress || now - s->last_progress_ms < PROGRESS_EVERY_MS)
        return;
    s->last_progress_ms = now;
    rate = ms > 0 ? cp->rows * 1000 / ms : 0;
    if (cp->expected_rows > cp->rows && rate > 0) {
        memcpy(eta, ", ETA ", 7);
        human_duration((cp->expected_rows - cp->rows) / rate + 1, eta + 6, sizeof(eta) - 6);
    }
    if (cp->expected_rows >= 0)
        fprintf(cp->ctx->diag, "\r\033[K%s: %lld of %lld rows, %lld rows/s%s", cp->label,
                (long long)cp->rows, (long long)cp->expected_rows, (long long)rate, eta);
    else
        fprintf(cp->ctx->diag, "\r\033[K%s: %lld rows, %lld rows/s", cp->label, (long long)cp->rows,
                (long long)rate);
    fflush(cp->ctx->diag);
    s->progress_shown = true;
}

/* Hand the gathered batch to the target and wait until libpq has passed it to the kernel. */
static int send_batch(struct stream *s, struct rb_err *err)
{
    struct rb_sync_copy *cp = s->cp;
    int64_t deadline = rb_now_ms() + cp->stall_ms;
    int rc;

    if (s->batch.len == 0)
        return 0;
    EVP_DigestUpdate(s->md, s->batch.data, s->batch.len);
    while ((rc = PQputCopyData(cp->dst, s->batch.data, (int)s->batch.len)) == 0) {
        /* Not queued (buffers full): wait until the target takes more. */
        if (rb_pg_wait(cp->dst, true, deadline, err) < 0 || rb_pg_flush(cp->dst, deadline, err) < 0)
            return rb_err_wrap(err, "target stopped taking rows");
    }
    if (rc < 0)
        return rb_errf(err, RB_E_FAILED, "target: %s", PQerrorMessage(cp->dst));
    if (rb_pg_flush(cp->dst, deadline, err) < 0)
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
    PGresult *r, *keep = NULL;

    for (;;) {
        while (PQisBusy(c)) {
            if (rb_pg_wait(c, false, deadline, err) < 0) {
                PQclear(keep);
                return -1;
            }
            if (!PQconsumeInput(c)) {
                PQclear(keep);
                return rb_pg_result_err(err, NULL, c);
            }
        }
        r = PQgetResult(c);
        if (r == NULL)
            break;
        if (keep == NULL)
            keep = r;
        else
            PQclear(r);
    }
    *res = keep;
    if (keep == NULL)
        return rb_pg_result_err(err, NULL, c);
    if (PQresultStatus(keep) != PGRES_COMMAND_OK)
        return rb_pg_result_err(err, keep, c);
    return 0;
}

/* End the target COPY (aborted when why != NULL) and collect its result. */
static int end_target(struct stream *s, const char *why, struct rb_err *err)
{
    struct rb_sync_copy *cp = s->cp;
    int64_t deadline = rb_now_ms() + cp->stall_ms;
    PGresult *r = NULL;
    int rc;

    while ((rc = PQputCopyEnd(cp->dst, why)) == 0) {
        if (rb_pg_wait(cp->dst, true, deadline, err) < 0)
            return -1;
    }
    if (rc < 0 || rb_pg_flush(cp->dst, deadline, err) < 0)
        return rb_pg_result_err(err, NULL, cp->dst);
    if (copy_result(cp->dst, deadline, &r, err) < 0) {
        if (why == NULL && r != NULL)
            cp->dst_fail = r;
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
    if (PQstatus(s->cp->dst) == CONNECTION_OK)
        end_target(s, why, &ignored);
    return rb_err_wrap(err, "source query failed");
}

static int stream_rows(struct stream *s, struct rb_err *err)
{
    struct rb_sync_copy *cp = s->cp;
    PGresult *r = NULL;
    char *row;
    int n;

    for (;;) {
        n = PQgetCopyData(cp->src, &row, 1);
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
            if (rb_pg_wait(cp->src, false, s->last_move_ms + cp->stall_ms, err) < 0) {
                rb_errf(err, RB_E_FAILED, "no rows from the source for %lld ms",
                        (long long)cp->stall_ms);
                rb_pg_cancel(cp->src);
                return source_failed(s, err);
            }
            if (!PQconsumeInput(cp->src)) {
                rb_pg_result_err(err, NULL, cp->src);
                return source_failed(s, err);
            }
            s->last_move_ms = rb_now_ms();
            continue;
        }
        if (n == -2) {
            rb_pg_result_err(err, NULL, cp->src);
            return source_failed(s, err);
        }
        break; /* -1: the source's COPY is over; its result says how it went */
    }
    if (copy_result(cp->src, rb_now_ms() + cp->stall_ms, &r, err) < 0) {
        PQclear(r);
        return source_failed(s, err);
    }
    PQclear(r);
    return send_batch(s, err);
}

int rb_sync_copy_run(struct rb_sync_copy *cp, struct rb_err *err)
{
    struct stream s;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    int64_t src_rows;
    PGresult *r;
    int rc = -1;

    memset(&s, 0, sizeof(s));
    s.cp = cp;
    rb_buf_init(&s.batch);
    cp->rows = cp->bytes = 0;
    cp->src_failed = false;
    cp->dst_fail = NULL;
    cp->checksum[0] = '\0';
    if (cp->stall_ms <= 0)
        cp->stall_ms = RB_SYNC_STALL_MS;

    r = rb_pg_copy_start(cp->dst, cp->stall_ms, cp->in_sql, err);
    if (r == NULL || PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        return rb_err_wrap(err, "target COPY failed");
    }
    PQclear(r);
    r = rb_pg_copy_start(cp->src, cp->stall_ms, cp->out_sql, err);
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
    s.started_ms = s.last_move_ms = rb_now_ms();
    PQsetnonblocking(cp->dst, 1);
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
    if (s.progress_shown) {
        fputs("\r\033[K", cp->ctx->diag); /* the result line replaces the progress line */
        fflush(cp->ctx->diag);
    }
    if (PQstatus(cp->dst) == CONNECTION_OK)
        PQsetnonblocking(cp->dst, 0);
    if (rc < 0) {
        /* Leave no COPY running on either side: the caller rolls back next. */
        if (PQstatus(cp->src) == CONNECTION_OK && PQtransactionStatus(cp->src) == PQTRANS_ACTIVE)
            rb_pg_cancel(cp->src);
        if (PQstatus(cp->dst) == CONNECTION_OK && PQtransactionStatus(cp->dst) == PQTRANS_ACTIVE)
            rb_pg_cancel(cp->dst);
    }
    EVP_MD_CTX_free(s.md);
    rb_buf_release(&s.batch);
    return rc;
}
