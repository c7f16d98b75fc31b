/*
 * sync.h - the sync phase's moving part: one COPY stream from a source query into a target table.
 *
 * src/phases/sync.c plans and applies one action per runbook sync table (validation, staging,
 * upsert, ledger, retries, results); src/phases/sync_copy.c moves the rows. The rows pass through
 * verbatim in COPY text format: no parsing, constant memory, whatever the table's size.
 */
#ifndef ROLLBACKCTL_SYNC_H
#define ROLLBACKCTL_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

/*
 * The rows of a sync table that are at risk: "<changed_since> >= '<cutover>'::timestamptz
 * [AND (<where>)]", on the source. One definition for sync, compare, gaps and freeze's count, so
 * they all agree on which rows a rollback must bring back. A row stamped exactly at the cutover
 * counts: legacy was frozen by then, and re-sending a row it holds changes nothing.
 */
const char *rb_sync_changed_filter(struct rb_arena *a, const struct rb_sync_table *t,
                                   const char *cutover);

/* No byte moved for this long: the stream is stuck, both sides are cancelled. */
#define RB_SYNC_STALL_MS (5 * 60 * 1000)

struct rb_sync_copy {
    /* in */
    PGconn *src; /* idle; runs out_sql (COPY ... TO STDOUT) */
    PGconn *dst; /* inside the table's transaction; runs in_sql (COPY ... FROM STDIN) */
    const char *out_sql;
    const char *in_sql;
    int64_t expected_rows;    /* for the ETA; -1 unknown */
    const struct rb_ctx *ctx; /* progress on ctx->diag when ctx->progress */
    const char *label;        /* "sync/processed_payments" */
    int64_t stall_ms;         /* 0 = RB_SYNC_STALL_MS */

    /* out */
    int64_t rows; /* rows moved (as counted by the target's COPY when it succeeded) */
    int64_t bytes;
    char checksum[65];  /* SHA-256 (hex) of the COPY text stream */
    bool src_failed;    /* the error came from the source side */
    PGresult *dst_fail; /* the target's failed COPY result, for cast errors (caller clears) */
};

/*
 * Stream out_sql on src into in_sql on dst. On failure err says which side failed and why; when
 * the source fails mid-stream the target COPY is aborted with PQputCopyEnd(dst, message), so the
 * target's transaction is left failed, never half-loaded. Both connections are idle afterwards
 * (unless lost: check PQstatus).
 */
int rb_sync_copy_run(struct rb_sync_copy *cp, struct rb_err *err);

#endif
