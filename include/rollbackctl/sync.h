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
 * and what applying it will need on the target: SELECT, INSERT and UPDATE on the table, TEMP
 * (the stage), the ledger's privileges (or CREATE where it would be created). Only reads the
 * catalogs; src and dst are the run's connections to `from` and `to`. Errors name
 * the runbook line ("FILE:LINE:COL: sync table 'x': ..."). The pre-flight runs it for every table
 * still to sync, before anything changes.
 */
int rb_sync_check_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                        struct rb_db *dst, struct rb_err *err);
/* The same checks, then the rows the table would sync today (prepare's sync.dry), read-only. */
int rb_sync_dry_table(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                      struct rb_db *dst, int64_t *at_risk, struct rb_err *err);

/* Table privileges, as bits (struct rb_sync_privileges.table, prepare's permission needs). */
#define RB_PRIV_SELECT   1u
#define RB_PRIV_INSERT   2u
#define RB_PRIV_UPDATE   4u
#define RB_PRIV_DELETE   8u
#define RB_PRIV_TRUNCATE 16u

/* What applying t needs on its target table: SELECT, INSERT, UPDATE, and DELETE under policy delete. */
unsigned rb_sync_target_privileges(const struct rb_sync_table *t);

/* What the session's role may do, as the catalogs say (has_*_privilege); arena strings. */
struct rb_sync_privileges {
    bool table_exists;   /* the table named exists (to_regclass, the session's search_path) */
    unsigned table;      /* the RB_PRIV_* the role holds on it (0 when it does not exist) */
    bool temp;           /* TEMP on the database: sync stages its rows in a temporary table */
    bool ledger_exists;  /* rollbackctl_ledger exists (where the session finds it) */
    bool ledger_ok;      /* INSERT and SELECT on it; when it does not exist, CREATE on schema */
    const char *schema;  /* current_schema(): where sync would create the ledger */
    const char *role;    /* current_user */
    const char *database;
};

/*
 * One read of the catalogs on db: the role's privileges on table_sql (an SQL name as a statement
 * would write it: quoted and qualified as needed, e.g. from rb_pg_quote_qualified), and what sync
 * needs of the database it writes (TEMP, the ledger). Sync's own check before copying and
 * prepare's permissions.<target> both ask it, so they agree on what a rollback needs.
 */
int rb_sync_privileges(struct rb_run *run, struct rb_db *db, const char *table_sql,
                       struct rb_sync_privileges *out, struct rb_err *err);

/*
 * A sync table's deletions since cutover as the records at risk count them (sync_deletions.c, over
 * rb_deletions_find of compare.h): legacy rows new no longer has. deleted is what is at risk (with
 * tombstones: deleted since cutover; without: every such row); never_migrated only when exact.
 * sample: the first RB_SYNC_DELETED_SAMPLE deleted keys in key order ("payment_id='3'; ..."), ""
 * when none. A read-only run (plan) finds each table's once: freeze's count and sync's plan share
 * it (the databases do not change under a plan).
 */
#define RB_SYNC_DELETED_SAMPLE 5

struct rb_sync_deleted {
    bool exact;
    uint64_t deleted, never_migrated;
    const char *sample;
    size_t n_sample;
};
int rb_sync_find_deletions(struct rb_run *run, const struct rb_sync_table *t, struct rb_db *src,
                           struct rb_db *dst, struct rb_sync_deleted *out, struct rb_err *err);
/* Plan/progress wording: "7 changed since cutover + 2 deleted in new" */
const char *rb_sync_at_risk_note(struct rb_arena *a, int64_t changed,
                                 const struct rb_sync_deleted *d);

/* No byte moved for this long: the stream is stuck, both sides are cancelled. */
#define RB_SYNC_STALL_MS (5 * 60 * 1000)

#endif
