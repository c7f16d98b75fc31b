/*
 * compare.h - row-by-row comparison of a sync table's mapping between new and legacy.
 *
 * Every source row changed since cutover (and matching the table's `where`) is compared, on the
 * mapped columns, with the legacy row holding the same key. Both databases work in parallel and
 * do the hashing themselves: first one aggregate per key bucket on each side (count and a sum of
 * 60-bit md5 pieces of the canonical row text), then, only for buckets that differ, the rows of
 * those buckets, streamed in key order from both sides and merged here (data-diff's idea, with
 * buckets as the segments; docs/runbook.md, "## verify"). Legacy rows whose key is not among the
 * source rows are outside the check (pre-cutover history), so they never count as a difference.
 *
 * Canonical form: each source expression is cast to the legacy column's type and then to text,
 * so numeric scale, timestamp precision and char padding agree; sessions pin TimeZone, DateStyle
 * and extra_float_digits (the postgres driver, pg.h). NULL and '' stay distinct. A value the cast would change (rounded
 * scale or precision, a cut varchar) keeps its own text, so it never matches what legacy holds.
 */
#ifndef ROLLBACKCTL_COMPARE_H
#define ROLLBACKCTL_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/db.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

struct rb_ctx;

#define RB_COMPARE_LIST_MAX    100
#define RB_COMPARE_BUCKET_ROWS 256
/* The whole comparison's deadline when none is given: hashing 1M rows takes seconds, 1G an hour. */
#define RB_COMPARE_TIMEOUT_MS (60 * 60 * 1000)

struct rb_compare_result;
struct rb_compare_row;
/* Called for every row found (missing: absent in legacy; else differing); row lives for the call. */
typedef void (*rb_compare_row_fn)(void *ctx, const struct rb_compare_result *res, bool missing,
                                  const struct rb_compare_row *row);

struct rb_compare_opts {
    const char *cutover;   /* RFC 3339; rows with changed_since >= cutover (as sync) */
    size_t list_max;       /* rows listed per kind; 0 = RB_COMPARE_LIST_MAX, SIZE_MAX = all */
    int64_t timeout_ms;    /* deadline for the whole comparison; 0 = RB_COMPARE_TIMEOUT_MS */
    size_t bucket_rows;    /* average rows per bucket; 0 = RB_COMPARE_BUCKET_ROWS */
    const char *src_label; /* target names for messages; NULL = "new" / "legacy" */
    const char *dst_label;
    rb_compare_row_fn on_row; /* set: rows go here as found and none are listed in the result */
    void *on_row_ctx;
    const struct rb_ctx *progress; /* its steps as notes on this context's progress line, or NULL */
    /*
     * dst is inside the caller's open transaction (sync applying deletions in the table's own):
     * the scan reads what that transaction sees and never begins, commits or rolls it back; a
     * failure leaves it for the caller to roll back. Its set_config()s last until that ends.
     */
    bool dst_in_tx;
    /* The same for src: sync reading its table in the phase's shared snapshot of the source. */
    bool src_in_tx;
};

/* One column of a listed row: for a missing row its new value, for a differing one both. */
struct rb_compare_col {
    const char *column;       /* target column name */
    const char *new_value;    /* NULL = SQL NULL */
    const char *legacy_value; /* differing rows only */
};

struct rb_compare_row {
    const char **key; /* one text value per key column (table->key order) */
    /* missing: every mapped column; differing: the columns that differ */
    struct rb_compare_col *cols;
    size_t n_cols;
};

struct rb_compare_result {
    const char *table; /* sync table name */
    const char *source_table, *target_table;
    const struct rb_strlist *key_columns;
    uint64_t source_rows; /* rows changed in new since cutover */
    uint64_t missing;     /* of those, absent in legacy */
    uint64_t differing;   /* present in legacy with other mapped values */
    uint64_t null_keys; /* source rows whose key is (partly) NULL: counted as missing, not listed */
    struct rb_compare_row *missing_rows; /* first list_max of each kind, in key order (compare.c) */
    size_t n_missing_rows;
    struct rb_compare_row *differing_rows;
    size_t n_differing_rows;
    uint64_t buckets; /* segments hashed on both sides */
    uint64_t buckets_differing;
    uint64_t rows_fetched; /* rows streamed for drill-down, both sides */
    int64_t duration_ms;
};

/*
 * Compare sync table t between src (new) and dst (legacy). Both connections must be idle; each
 * runs in a REPEATABLE READ READ ONLY transaction that is ended before returning. res and the
 * rows it lists are arena-owned. Returns 0 whether or not differences were found (see res), -1
 * with err when the comparison could not be made (connection, SQL, timeout, unknown column), or
 * RB_E_INTERRUPTED when SIGINT/SIGTERM arrived meanwhile (the queries are cancelled).
 */
int rb_compare_table(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                     const struct rb_sync_table *t, const struct rb_compare_opts *o,
                     struct rb_compare_result *res, struct rb_err *err);

/*
 * Deletions since cutover (src/checks/deletions.c): keys legacy holds (within t->deletions.scope)
 * that new no longer has (no source row matching t's `where`, whenever it changed), by the table's
 * key mapping. Computed in the databases like the comparison: an aggregate of key hashes per
 * bucket on each side, keys streamed only for buckets that differ. With t->deletions' tombstones,
 * each such key is told apart: deleted_in_new (a tombstone with deleted_at >= cutover) or
 * never_migrated (no tombstone: legacy's own history outside the migrated set); without them
 * every such key is deleted_in_new as far as can be told (exact false).
 */
struct rb_deleted_row {
    const char **key;       /* one text value per key column (t->key order) */
    bool never_migrated;    /* only meaningful when the result is exact */
    const char *deleted_at; /* from the tombstone (text), or NULL */
};

struct rb_deletions_result {
    const char *table; /* sync table name */
    const char *target_table;
    const struct rb_strlist *key_columns;
    bool exact;               /* tombstones were read: deleted_in_new vs never_migrated is known */
    uint64_t legacy_rows;     /* legacy rows in scope */
    uint64_t deleted_in_new;  /* legacy keys new no longer has (exact: with a tombstone) */
    uint64_t never_migrated;  /* exact only: legacy keys new never had */
    struct rb_deleted_row *rows; /* first list_max (o->list_max) in key order; all with on_row NULL */
    size_t n_rows;
    uint64_t buckets, buckets_differing, keys_fetched;
    int64_t duration_ms;
};

/* Called for every key found (rows then are not kept in the result). */
typedef void (*rb_deleted_row_fn)(void *ctx, const struct rb_deletions_result *res,
                                  const struct rb_deleted_row *row);

/*
 * Find them. Same connection rules and errors as rb_compare_table (o->cutover, timeout_ms,
 * bucket_rows, list_max, labels and progress are read; on_row is not: pass on_deleted).
 */
int rb_deletions_find(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                      const struct rb_sync_table *t, const struct rb_compare_opts *o,
                      rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                      struct rb_deletions_result *res, struct rb_err *err);

/*
 * rb_compare_table and then rb_deletions_find of t, as one: both in one snapshot per side, their
 * bucket sums from one scan of each table instead of two (compare_check.c). The results are
 * theirs, to the row; res->duration_ms and del->duration_ms are both the whole.
 */
int rb_compare_with_deletions(struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                              const struct rb_sync_table *t, const struct rb_compare_opts *o,
                              rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                              struct rb_compare_result *res, struct rb_deletions_result *del,
                              struct rb_err *err);

/* res as JSON: {table, exact, legacy_rows, deleted_in_new, never_migrated, rows: [{key: {col:
   value}, action: "deleted_in_new"|"never_migrated", deleted_at}], buckets...}. Caller deletes. */
cJSON *rb_deletions_result_json(const struct rb_deletions_result *res);

/* res as JSON (caller owns the result; cJSON_Delete it). */
cJSON *rb_compare_result_json(const struct rb_compare_result *res);

/* The SQL the comparison runs on the source side (for plan output), arena-owned. */
const char *rb_compare_describe(struct rb_arena *a, const struct rb_sync_table *t,
                                const char *cutover);

#endif
