/*
 * sync.h - what the sync phase shares with other phases and checks: which rows are at risk.
 *
 * src/phases/sync.c plans and applies one action per runbook sync table (validation, staging,
 * upsert, ledger, retries, results); the database driver's COPY pump (rb_db_copy in db.h) moves
 * the rows. Its catalog checks are shared with the pre-flight (preflight.h).
 */
#ifndef ROLLBACKCTL_SYNC_H
#define ROLLBACKCTL_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/runbook.h"

/*
 * The rows of a sync table that are at risk: "<changed_since> >= '<cutover>'::timestamptz
 * [AND (<where>)]", on the source. One definition for sync, compare, gaps and freeze's count, so
 * they all agree on which rows a rollback must bring back. A row stamped exactly at the cutover
 * counts: legacy was frozen by then, and re-sending a row it holds changes nothing.
 */
const char *rb_sync_changed_filter(struct rb_arena *a, const struct rb_sync_table *t,
                                   const char *cutover);

struct rb_run;
struct rb_db;

/*
 * The checks sync runs on a table before copying it (sync_check.c): both tables and every named
 * column exist, the source expressions parse and run, the key has a unique index on the target;
 * and what applying it will need on the target: INSERT and UPDATE on the table, TEMP (the stage),
 * the ledger's privileges (or CREATE where it would be created). Only reads the catalogs; src and dst are the run's connections to `from` and `to`. Errors name
 * the runbook line ("FILE:LINE:COL: sync table 'x': ..."). The pre-flight runs it for every table
 * still to sync, before anything changes.
 */
int rb_sync_check_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                        struct rb_db *dst, struct rb_err *err);
/* The same checks, then the rows the table would sync today (prepare's sync.dry), read-only. */
int rb_sync_dry_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                      struct rb_db *dst, int64_t *at_risk, struct rb_err *err);

/* No byte moved for this long: the stream is stuck, both sides are cancelled. */
#define RB_SYNC_STALL_MS (5 * 60 * 1000)

#endif
