/*
 * compare_priv.h - what compare.c (the comparison) and deletions.c (deletions since cutover)
 * share: the state of one bucketed two-sided scan, the pair runner with the whole check's
 * deadline, the canonical key text and bucket expressions cast to the legacy column types, the
 * streamed cursors of the drill-down and their merge order. Private to src/checks.
 */
#ifndef ROLLBACKCTL_COMPARE_PRIV_H
#define ROLLBACKCTL_COMPARE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/compare.h"

#define MAX_BUCKETS 65536

enum side { SRC = 0, DST = 1 };

/* One mapped column, with the expressions that give its canonical form on each side. */
struct ccol {
    const char *name;     /* target column */
    const char *typed[2]; /* value of the target column's type (or text for non-catalog types) */
    const char *canon[2]; /* what is hashed and compared: typed, or text when the cast may lose */
    const char *type;     /* format_type() of the legacy column */
    bool is_int;          /* int2/int4/int8: bucket by key mod N */
    bool collatable;      /* ranges on it compare with COLLATE "C" */
    bool as_text;         /* a legacy type new may not know (enum, domain): compared as text */
};

struct cmp {
    struct rb_arena *a;
    struct rb_db *c[2];
    const char *label[2];
    const struct rb_sync_table *t;
    const struct rb_compare_opts *o;
    int64_t deadline;
    size_t list_max;

    struct ccol *cols;
    size_t ncols;
    size_t *keyidx; /* cols index of each key column */
    size_t nkeys;

    bool int_order;         /* a single integer key: ordered and merged as numbers */
    const char *from[2];    /* "FROM ... WHERE ..." selecting the rows to compare on each side */
    const char *keytext[2]; /* the key's text form (merge order) */
    const char *bucket[2];  /* bucket number, given nbuckets */
    uint64_t nbuckets;
    /*
     * A single integer key with known bounds (rb_cmp_set_key_range): buckets are key ranges of
     * range_width keys from range_lo, so a drill-down reads its buckets through the key's index
     * instead of scanning the table for `key mod N IN (...)`. Keys in a few clusters far apart
     * crowd into a few ranges: a difference there drills more rows, slower, never wrong.
     */
    bool by_range;
    int64_t range_lo, range_hi, range_width;
    size_t cap_missing, cap_differing; /* allocated room in the result's row lists */
};

/* A streamed, ordered row source: the drill-down of one side. */
struct cursor {
    struct cmp *st;
    enum side s;
    struct rb_db_stream *stream;
    const char *const *row; /* current row's values (key text, then columns), NULL when done */
};

void rb_cmp_init(struct cmp *st, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                 const struct rb_sync_table *t, struct rb_compare_opts *opts, int64_t start);
/* BEGIN REPEATABLE READ READ ONLY on both sides, then the legacy column types (st->cols). */
int rb_cmp_begin(struct cmp *st, struct rb_arena *scratch, struct rb_err *err);
int rb_cmp_fail(struct cmp *st, const char *doing, const char *verb, struct rb_err *err);

int rb_cmp_err(struct rb_err *err);
int rb_cmp_run_pair(struct cmp *st, struct rb_arena *a, const char *const sql[2],
                    struct rb_db_result *out[2], struct rb_err *err);
int rb_cmp_exec_pair(struct cmp *st, const char *sql, struct rb_err *err);
/* BEGIN/COMMIT on the sides the scan owns (not a dst joined from the caller: o->dst_in_tx). */
int rb_cmp_tx_pair(struct cmp *st, const char *sql, struct rb_err *err);
void rb_cmp_reset_conns(struct cmp *st);

int rb_cmp_cursor_next(struct cursor *cu, uint64_t *fetched, struct rb_err *err);
int rb_cmp_key_cmp(const struct cmp *st, const char *a, const char *b);

extern const char rb_cmp_types_sql[];
int rb_cmp_resolve_columns(struct cmp *st, const struct rb_db_result *types, struct rb_err *err);
/* The key's canonical text on side s (NULL when any part is NULL). */
const char *rb_cmp_key_text(struct cmp *st, enum side s);
/* The same form from one expression per key column (already in the legacy column's type). */
const char *rb_cmp_key_text_of(struct cmp *st, const char *const *parts);
/* A single-column key on side s as range comparisons read it (COLLATE "C" when text-like). */
const char *rb_cmp_range_key(struct cmp *st, enum side s);
/* "<range key> OP value::<legacy key type>": one side of a key range, value a key's text. */
const char *rb_cmp_key_bound(struct cmp *st, enum side s, const char *op, const char *value);
const char *rb_cmp_bucket_expr(struct cmp *st, enum side s);
void rb_cmp_set_buckets(struct cmp *st, uint64_t rows);
/*
 * Every key the scan buckets lies in [lo, hi] (a single integer key's texts): buckets become key
 * ranges. Ignored for other keys, or a span wider than int8 can hold. Before rb_cmp_set_buckets.
 */
void rb_cmp_set_key_range(struct cmp *st, const char *lo, const char *hi);
/* A table's estimated row count (a scalar subquery: NULL without statistics). */
const char *rb_cmp_estimate_sql(struct cmp *st, const char *table);
/* Index rows of a bucket result (bucket, count, sum) by bucket number: idx[b] = row or -1. */
void rb_cmp_index_buckets(const struct rb_db_result *r, int *idx, uint64_t n);

/*
 * The buckets to drill into, from both sides' bucket results (column 0 the bucket, col and col+1
 * the count and sum of this scan): those where side `drives` has rows and the other side has
 * another count or sum. Returns how many; *list gets their comma list (arena), or NULL when every
 * bucket differs (the drill-down needs no filter).
 */
uint64_t rb_cmp_differing_buckets(struct cmp *st, struct rb_db_result *const r[2], enum side drives,
                                  int col, const char **list);
int rb_cmp_drill_begin(struct cmp *st, const char *what, uint64_t nbuckets, struct rb_err *err);
const char *rb_cmp_hash_expr(struct cmp *st, const char *text);
/* FROM must end in a WHERE clause (st->from[s]): the bucket filter is added with AND. */
const char *rb_cmp_drill_sql(struct cmp *st, enum side s, const char *select,
                             const char *bucket_list);
int rb_cmp_streams_open(struct cmp *st, const char *const sql[2], struct cursor cu[2],
                        uint64_t *fetched, struct rb_err *err);
int rb_cmp_streams_end(struct cmp *st, struct cursor cu[2], int rc, struct rb_err *err);

/* --- the comparison's steps (compare.c), for compare_check.c ------------------------------ */

/* st and res for comparing t (opts: the caller's copy, given its defaults). */
void rb_cmp_compare_init(struct cmp *st, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                         const struct rb_sync_table *t, struct rb_compare_opts *opts,
                         struct rb_compare_result *res, int64_t start);
/* Step 1 (after rb_cmp_begin): st->from[]; *empty when no source row changed since cutover. */
int rb_cmp_compare_prepare(struct cmp *st, struct rb_arena *scratch, bool *empty,
                           uint64_t *estimate, struct rb_err *err);
/* The per-row hash of the canonical row text on side s. */
const char *rb_cmp_row_hash(struct cmp *st, enum side s);
/* Steps 2 and 3 from bucket results whose columns col, col + 1 are the count and hash sum. */
int rb_cmp_compare_finish(struct cmp *st, struct rb_compare_result *res,
                          struct rb_db_result *const r[2], int col, struct rb_err *err);

/* --- deletions since cutover's steps (deletions.c), for compare_check.c -------------------- */

struct del {
    struct cmp st;
    struct rb_deletions_result *res;
    rb_deleted_row_fn on_deleted;
    void *on_deleted_ctx;
    size_t cap_rows;
    /* legacy's keys below and above all of new's ("FROM ... WHERE ..."), or NULL */
    const char *below, *above;
    /* with tombstones: the deletions found, in key order, waiting for step 4 */
    struct rb_arena *held_arena;
    struct rb_deleted_row *held;
    const char **held_text; /* each one's key text, as the tombstone query matches it */
    size_t n_held, cap_held;
};

void rb_del_init(struct del *d, struct rb_arena *a, struct rb_db *src, struct rb_db *dst,
                 const struct rb_sync_table *t, struct rb_compare_opts *opts,
                 rb_deleted_row_fn on_deleted, void *on_deleted_ctx,
                 struct rb_deletions_result *res, int64_t start);
void rb_del_release(struct del *d);
/* Step 1 (after rb_cmp_begin or with d->st's columns given): *empty when legacy has no row in scope. */
int rb_del_prepare(struct del *d, struct rb_arena *scratch, bool *empty, uint64_t *estimate,
                   struct rb_err *err);
/* The per-key hash on side s. */
const char *rb_del_key_hash(struct del *d, enum side s);
/* Steps 2 to 4 from bucket results whose columns col, col + 1 are the key count and hash sum. */
int rb_del_finish(struct del *d, struct rb_db_result *const r[2], int col, struct rb_err *err);

/* {col: value} of a key, NULL parts as JSON null (compare_json.c). */
cJSON *rb_cmp_key_json(const struct rb_strlist *cols, const char *const *key);

#endif
