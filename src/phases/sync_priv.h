/*
 * sync_priv.h - what the sync phase's files share (src/phases/sync*.c); not an interface.
 *
 *   sync.c        plans one action per sync table and applies it: lock, ledger, COPY, upsert,
 *                 retries, results and run totals
 *   sync_sql.c    builds every statement of a table from the runbook, quoted
 *   sync_check.c  checks a table against both catalogs before copying, and turns server errors
 *                 (a cast that fails mid-COPY, a duplicate key) into messages naming rows and lines
 *   sync_snapshot.c  the phase's one snapshot of the source, exported once, read by every table
 *   sync_split.c  split: N, a table's key ranges: their bounds, read once and journaled
 *   sync_jobs.c   the runner of the phase's tables: their order (`after:`, foreign keys), up to
 *                 sync.jobs of them at once on streams of their own, the progress of each
 *   presync.c     sync.presync: the same tables synced once before the freeze (phase presync),
 *                 the instant the sync phase's own pass then starts from
 * The rows move through the database driver's COPY pump (rb_db_copy, db.h).
 */
#ifndef ROLLBACKCTL_SYNC_PRIV_H
#define ROLLBACKCTL_SYNC_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rollbackctl/db.h"
#include "rollbackctl/run.h"

/* pg_advisory_lock(classid, objid): 'RBCT' and 1 = "a rollbackctl sync writes this database". */
#define SYNC_LOCK_CLASS 1380074324
#define SYNC_LOCK_OBJ   1
#define SYNC_LOCK_WAIT  "10s"
/* The target connection dropping mid-table: tried this many times in all, waiting 1s, 2s, 4s... */
#define SYNC_ATTEMPTS   3
#define SYNC_BACKOFF_MS 1000
/* Upserts of very large tables take a while; this is a deadline, not an expectation. */
#define SYNC_STATEMENT_TIMEOUT_MS (6LL * 3600 * 1000)
#define SYNC_STAGE                "rollbackctl_stage"
/* The staged keys key_present_sql looks up first, one index probe each (sync_sql.c). */
#define SYNC_KEY_SAMPLE 1000

/*
 * The phase's one snapshot of the source (sync_snapshot.c). The streams of a parallel sync share
 * it: every field under mu.
 */
struct sync_snapshot {
    pthread_mutex_t mu;
    struct rb_arena *arena;     /* the view's, and the snapshots' strings; freed with the run */
    struct rb_run *view;        /* the run, with a connection to `from` of its own */
    struct rb_db *db;           /* that session, idle in the exporting transaction; or NULL */
    struct rb_db_snapshot snap; /* the current one; snap.id NULL before the first */
    int taken;                  /* exported in this process (more than 1: a session was lost) */
};

struct sync_table;

/*
 * Which pass a sync phase is (sync.presync, presync.c): the only one (no pre-sync), the
 * pre-sync before the freeze (phase presync, actions presync/<table>), or the sync phase's pass
 * after a pre-sync (only what changed from the pre-sync's snapshot on).
 */
enum sync_pass { SYNC_PASS_ONLY = 0, SYNC_PASS_PRE, SYNC_PASS_FINAL };

/* Shared by the run's sync actions. */
struct sync_phase {
    enum sync_pass pass;
    const char *from, *to;
    const char *lock_sql;       /* the sync advisory lock (every table's lock_sql is this one) */
    int jobs;                   /* sync.jobs: tables in flight at once */
    struct sync_table **tables; /* in runbook order, as their actions are planned */
    size_t n_tables;
    struct rb_action_group group; /* the runner of all of them (sync_jobs.c) */
    struct sync_snapshot snapshot;
};

/* Set up s (its cleanup on the run's arena); nothing is contacted before a table needs it. */
void rb_sync_snapshot_init(struct rb_run *run, struct sync_snapshot *s);
/*
 * Begin src's transaction on the phase's snapshot (exporting it first when there is none, or a
 * new one when the session holding it was lost). *used gets the snapshot read (strings live as
 * long as the run), or an all-NULL one when the driver cannot share a snapshot: src then stays
 * outside a transaction and the table reads its own.
 */
int rb_sync_snapshot_begin(struct rb_run *run, struct sync_phase *ph, struct rb_db *src,
                           struct rb_db_snapshot *used, struct rb_err *err);
/* The phase is over: end the exporting transaction and close its session. */
void rb_sync_snapshot_release(struct sync_phase *ph);

/* One sync table: its SQL, built once at plan time, and what the plan learnt. */
struct sync_table {
    struct sync_phase *ph;
    const struct rb_sync_table *t;
    /*
     * The pass's names for the table: its ledger row's table_name and its entry in the fact
     * sync_tables (t->name; "presync/<name>" in the pre-sync, so the two passes commit apart).
     */
    const char *ledger_name;
    /*
     * The lower bound of changed_since (RFC 3339; NULL: the cutover): after a pre-sync, the
     * instant it recorded (presync.c), or its placeholder in a plan made before it ran.
     */
    const char *since;
    const char *src_q, *tgt_q; /* quoted, qualified table names */
    const char *filter;        /* changed_since > cutover [AND (where)] */
    const char *copy_out_sql;
    const char *count_sql;
    const char
        *null_count_sql;   /* source rows whose changed_since is NULL: never synced, reported */
    const char *probe_sql; /* the source SELECT with LIMIT 0: do the expressions parse? */
    const char *stage_sql;
    const char
        *stage_keys_sql; /* key columns NOT NULL in the stage: ON CONFLICT never matches a NULL */
    const char *copy_in_sql;
    const char *upsert_sql;
    /*
     * The apply step's fast path: key_present_sql (one boolean: is any staged key already in the
     * target?) and, when it says false, insert_sql (the upsert's INSERT ... SELECT without ON
     * CONFLICT: inserted = its rows, updated = 0) instead of upsert_sql. A unique violation
     * (23505) there rolls back to the savepoint and runs upsert_sql.
     */
    const char *key_present_sql;
    const char *insert_sql;
    const char *dup_sql;
    const char *lock_sql;
    int64_t at_risk;       /* counted at plan time; -1 unknown */
    bool changed_nullable; /* changed_since may be NULL (set by rb_sync_validate) */
    /*
     * Set by rb_sync_validate when a NUMERIC(p,s) target column may get more decimals than s
     * from its source expression (NULL otherwise): the stage takes those columns unconstrained,
     * and before the upsert round_check_sql finds a value the target would silently round.
     */
    const char *stage_widen_sql;
    /*
     * Policy delete/soft_delete: the statement applying one batch of deleted keys ($1: a JSON
     * array of {key column: text}), returning the rows it changed; NULL for ignore and report.
     */
    const char *delete_sql;
    const char *round_check_sql; /* key texts, then one column per round_cols entry */
    const char **round_cols;     /* target columns checked */
    const char **round_types;    /* and their types, "numeric(12,2)" */

    /*
     * `split: N` (N > 1): this entry is range `range` (1..N) of the table, an action of its own
     * (sync/<name>#<range>, ledger row <name>#<range>); range 0 when the table is not split.
     * bounds are the N-1 integer bounds between the ranges (decimal text, shared by the table's
     * ranges; NULL until known); range 1 is open below (and takes NULL keys, which the stage then
     * refuses), range N open above. They are computed once per run and pass (sync.c) and
     * journaled as the fact sync_split before any range starts (sync_jobs.c), so a resumed run
     * redoes an uncommitted range over the very same keys. split_err: why they could not be had
     * (the ranges fail with it when they would start).
     */
    int range, n_ranges;
    const char *split_base; /* the fact sync_split's and sync_tables' name: the ledger name */
    const char *label;      /* <name>#<range>, or <name>: for progress and messages */
    const char **bounds;
    bool bounds_journaled;
    const char *split_err;

    size_t index; /* in ph->tables */
    size_t *deps; /* the tables (indexes) it starts after: its `after:`, then foreign keys */
    const char **dep_why; /* for each: "after:" or "foreign key 'fk' on 'legacy'" */
    size_t n_deps;
};

/*
 * A table's deletions in one attempt at it (sync_deletions.c): found inside the table's target
 * transaction, capped, then applied in the same transaction after the upsert. The keys wait in
 * their own arena as JSON batches for delete_sql; never more than deletions.max + 1 of them.
 */
struct sync_deletions {
    bool looked;            /* the policy is not ignore: they were searched for */
    bool exact;             /* tombstones told deleted_in_new from never_migrated */
    int64_t found;          /* legacy rows deleted in new (never_migrated ones not included) */
    int64_t never_migrated; /* exact only */
    int64_t applied;        /* rows delete_sql deleted or marked */
    const char *sample;     /* the first RB_SYNC_DELETED_SAMPLE keys, "" when none (run arena) */
    struct rb_arena *keys_arena;
    const char **batches; /* JSON arrays of key objects, in key order */
    size_t n_batches;
};
/* One attempt's outcome at a table (the last attempt's), for its result and the run's facts. */
struct sync_result {
    int64_t at_risk, inserted, updated, unchanged, duration_ms;
    int64_t no_change_time; /* source rows left out because changed_since is NULL */
    char checksum[65];
    bool already_applied;
    int attempts;
    struct sync_deletions del; /* deletions found and applied (del.looked: policy not ignore) */
    struct rb_db_snapshot snapshot; /* the source snapshot read (id NULL: the table's own) */
};

/*
 * A table in flight on a stream of a parallel sync (sync_jobs.c): what the runner draws on the
 * progress line for it. The worker writes, the runner's thread reads, both under *mu.
 */
struct sync_stream {
    pthread_mutex_t *mu;
    int64_t rows;   /* copied so far */
    char doing[96]; /* "" while copying; "upsert of ...", "recording in the ledger ..." */
};
void rb_sync_stream_rows(struct sync_stream *s, int64_t rows);
void rb_sync_stream_doing(struct sync_stream *s, const char *what);

/*
 * A table, tried up to SYNC_ATTEMPTS times (only a lost connection is tried again, from
 * scratch): res gets the last attempt, err its error. stream NULL: on run's own connections and
 * progress line, taking the sync lock itself; else run is the stream's view (rb_run_worker),
 * on another thread, and the runner's connection holds the lock. Touches nothing shared but st.
 */
int rb_sync_table_work(struct rb_run *run, struct sync_table *st, struct sync_stream *stream,
                       struct sync_result *res, struct rb_err *err);
/* On the engine's thread: the table's result (act->result), warnings and the run's facts. */
int rb_sync_table_finish(struct rb_run *run, struct rb_action *act, int rc,
                         struct sync_result *res);
/* Name dst's session 'rollbackctl <run id>' (how an orphan of this run is recognised). */
int rb_sync_name_session(struct rb_run *run, struct rb_db *dst, struct rb_err *err);
/*
 * Name dst's session and take the sync advisory lock there (re-entrant), ending a holder left
 * by this run's killed process; RB_E_LOCKED naming the holder when another rollback has it.
 */
int rb_sync_take_lock(struct rb_run *run, const struct sync_phase *ph, struct rb_db *dst,
                      struct rb_err *err);

/*
 * Create rollbackctl_ledger where missing, and give one made by an older version the deletion
 * columns. Each table does it in its transaction; a parallel sync does it first, on its own, so
 * that two streams never race to create it.
 */
int rb_sync_ledger_ready(struct rb_run *run, struct rb_db *dst, struct rb_err *err);

/*
 * `split:` (sync_split.c), on the engine's thread before any range starts: every split table's bounds
 * known (computed now when the plan could not) and journaled as the fact sync_split, its ranges'
 * SQL built on them. A table whose bounds cannot be had gets split_err on its ranges.
 */
void rb_sync_split_ready(struct rb_run *run, struct sync_phase *ph);
/*
 * sync_split.c, at plan time: table t's bounds in pass ph, journaled by an earlier process of
 * this run (*journaled), read now when plan or the progress line needs them, else NULL (left to
 * rb_sync_split_ready); *why says why none can be had (a split changed mid-run, a key not of an
 * integer type).
 */
const char **rb_sync_split_plan_bounds(struct rb_run *run, struct sync_phase *ph,
                                       const struct rb_sync_table *t, bool *journaled,
                                       const char **why);
/* The predicate of range st->range on st->bounds (or placeholders when NULL); "" unsplit. */
const char *rb_sync_range_sql(struct rb_arena *a, const struct sync_table *st);

/* The runner of the phase's tables: the rb_action_group run() of ph->group (sync_jobs.c). */
int rb_sync_run_tables(struct rb_run *run, struct rb_action *const *acts, size_t n,
                       const struct rb_group_hooks *h, struct rb_err *err);
/*
 * Each table's dependencies (st->deps): its `after:`, then the foreign keys between the target
 * tables that dst's catalog holds (dst NULL: offline, `after:` alone). A foreign key that would
 * close a cycle is left out and warned about. sync_jobs.c.
 */
void rb_sync_order(struct rb_run *run, struct sync_phase *ph, struct rb_db *dst);

/* Keys per delete_sql statement: a bounded parameter, few round trips. */
#define SYNC_DELETE_BATCH 5000

/*
 * Find the table's deletions with dst inside its open transaction (d zeroed first). More than
 * deletions.max under delete/soft_delete refuses the table (RB_E_FAILED naming the count) before
 * anything is changed. Nothing to do for policy ignore.
 */
int rb_sync_deletions_find(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                           struct rb_db *dst, struct sync_deletions *d, struct rb_err *err);
/* Apply what find kept (delete/soft_delete), in the same transaction; d->applied. */
int rb_sync_deletions_apply(struct rb_run *run, struct sync_table *st, struct rb_db *dst,
                            struct sync_deletions *d, struct rb_err *err);
void rb_sync_deletions_release(struct sync_deletions *d);
/*
 * Of the not_applied deletions the sync phase's pass after a pre-sync found and left in legacy,
 * how many its presync/<table> already counted (found and left there too): the records at risk
 * count each deleted key once. 0 for any other pass.
 */
int64_t rb_sync_deletions_counted_before(struct rb_run *run, const struct sync_table *st,
                                         int64_t not_applied);
/* "ignore", "report", "delete", "soft_delete": the runbook's word */
const char *rb_sync_deletions_policy_name(const struct rb_sync_table *t);
/* "deleted", "marked void" ...: what the policy does to a row, for messages */
const char *rb_sync_deletions_verb(const struct rb_sync_table *t);

/* Prefix err with "FILE:LINE:COL: sync table 'name'" (pos, or the table's own line when unknown). */
int rb_sync_table_err(struct rb_run *run, const struct sync_table *st, struct rb_pos pos,
                      struct rb_err *err);
/* The column map entry of a target column, or NULL. */
const struct rb_column_map *rb_sync_column_of(const struct rb_sync_table *t, const char *col);
/* A source expression ready for a SELECT list: bare names as they are, anything else in parentheses. */
const char *rb_sync_expr_sql(struct rb_arena *a, const char *expr);
/*
 * Build every statement of st (arena strings) from st->t and its lower bound (st->since, else
 * the runbook's cutover); the expressions' probe always reads from the cutover.
 */
void rb_sync_build_sql(struct rb_run *run, struct sync_table *st);

/*
 * Plan the tables of one pass (sync.c): rb_sync_plan's SYNC_PASS_ONLY or SYNC_PASS_FINAL, or the
 * pre-sync's SYNC_PASS_PRE (presync.c).
 */
int rb_sync_plan_pass(struct rb_run *run, enum sync_pass pass, struct rb_err *err);

/*
 * presync.c, for the pass after it: where table's changed_since starts. The instant the pre-sync
 * recorded when its presync/<table> committed (*known true); NULL when it did not (the table is
 * synced from the cutover); in a plan made before the pre-sync ran, a placeholder (*known false,
 * nothing to count).
 */
const char *rb_presync_since(struct rb_run *run, const char *table, bool *known);
/*
 * presync.c, on the engine's thread when a presync/<table> committed: the fact saying so, which
 * the sync phase's pass reads. Best effort: a table the fact does not name is synced again from
 * the cutover, which is slower, never wrong.
 */
void rb_presync_table_done(struct rb_run *run, const struct sync_table *st);
/* presync.c: make ph the pre-sync's (its runner). */
void rb_presync_setup(struct sync_phase *ph);
/* presync.c: the pre-sync's runner (ph->group.run): the instant recorded, then sync_jobs.c's. */
int rb_presync_run_tables(struct rb_run *run, struct rb_action *const *acts, size_t n,
                          const struct rb_group_hooks *h, struct rb_err *err);

/* Tables, columns, expressions and the key's unique index, checked before anything is copied. */
int rb_sync_validate(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                     struct rb_db *dst, struct rb_err *err);
/* A failed target COPY: name the row, the column, its expression and the source row's key (*pos set). */
void rb_sync_explain_copy_error(struct rb_run *run, struct sync_table *st, struct rb_db *src,
                                const struct rb_db_error *fail, struct rb_err *err,
                                struct rb_pos *pos);
/* round_check_sql found a row: name the column, its value and the row's key (*pos set). */
void rb_sync_explain_rounding(struct rb_run *run, const struct sync_table *st,
                              const struct rb_db_result *r, struct rb_err *err, struct rb_pos *pos);
/* The upsert met a key twice (SQLSTATE 21000): name it. Runs inside the upsert's savepoint. */
void rb_sync_explain_duplicate(struct rb_run *run, const struct sync_table *st, struct rb_db *dst,
                               struct rb_err *err);

#endif
