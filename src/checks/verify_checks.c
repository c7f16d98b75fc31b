/*
 * verify_checks.c - the four kinds of verify check, each run once and described as a result:
 * compare (a sync table's full population, compare.h), equal (two scalars, by value, asked of
 * both databases at once), totals (per-key sums in exact decimals, inclusive tolerance) and the
 * sql/http/run probes (probe.h).
 *
 * A check only reads. It fills a JSON result (the report's entry), says whether it passed, and
 * gives a one-line summary; it returns -1 only when it could not run at all. The verify phase
 * (src/phases/verify.c) turns that into actions and the report. A compare whose connection is lost
 * (a server restarting, a backend terminated) is run again on new connections, as sync retries a
 * table: a lost connection says nothing about the data, and must not read as a mismatch.
 */
#include "rollbackctl/checks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/db.h"
#include "rollbackctl/money.h"
#include "rollbackctl/output.h"
#include "rollbackctl/probe.h"

/* As sync's table retry (sync_priv.h): 3 attempts, 1 s then 2 s apart. */
#define COMPARE_ATTEMPTS   3
#define COMPARE_BACKOFF_MS 1000

static void json_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull());
}

const char *rb_check_kind_name(const struct rb_check *c)
{
    switch (c->kind) {
    case RB_CHECK_COMPARE:
        return "compare";
    case RB_CHECK_EQUAL:
        return "equal";
    case RB_CHECK_TOTALS:
        return "totals";
    case RB_CHECK_PROBE:
        switch (c->probe.kind) {
        case RB_PROBE_SQL:
            return "sql";
        case RB_PROBE_HTTP:
            return "http";
        case RB_PROBE_RUN:
            return "run";
        default:
            break;
        }
        break;
    }
    return "unknown";
}

/* --- compare ------------------------------------------------------------------------------ */

/* "; 3 legacy rows deleted in new" (or, exact, "; 2 deleted in new since cutover, 1 never
   migrated"), or "" when there are none, so that the summary without deletions stays as it was. */
static const char *deletions_summary(struct rb_arena *a, const struct rb_deletions_result *d)
{
    if (d->deleted_in_new == 0 && d->never_migrated == 0)
        return "";
    if (!d->exact)
        return rb_sprintf(a, "; %llu legacy %s deleted in new",
                          (unsigned long long)d->deleted_in_new,
                          d->deleted_in_new == 1 ? "row" : "rows");
    return rb_sprintf(a, "; %llu deleted in new since cutover, %llu never migrated",
                      (unsigned long long)d->deleted_in_new, (unsigned long long)d->never_migrated);
}

/* The comparison and the deletions query, once, on the run's connections (opened if closed). */
static int compare_once(struct rb_run *run, const struct rb_sync_table *t,
                        const struct rb_compare_opts *o, struct rb_compare_result *res,
                        struct rb_deletions_result *del, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_db *src, *dst;

    if ((src = rb_db_target(run, rb->sync.from, err)) == NULL ||
        (dst = rb_db_target(run, rb->sync.to, err)) == NULL)
        return -1;
    if (src == dst)
        return rb_errf(err, RB_E_FAILED, "sync 'from' and 'to' are the same connection");
    /* one pass for both; a deletions query that fails fails the check, as a comparison does */
    return rb_compare_with_deletions(run->arena, src, dst, t, o, NULL, NULL, res, del, err);
}

static int check_compare(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                         const char **summary, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    const struct rb_sync_table *t = rb_runbook_sync_table(rb, chk->compare_table);
    struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                 .list_max = RB_CHECK_LIST_MAX,
                                 .src_label = rb->sync.from,
                                 .dst_label = rb->sync.to,
                                 .progress = run->ctx };
    struct rb_compare_result res;
    struct rb_deletions_result del;
    int attempt;

    if (t == NULL)
        return rb_errf(err, RB_E_FAILED, "no sync table named '%s'", chk->compare_table);
    /*
     * Only a lost connection is worth another go (sync.c's retryable()): a statement the server
     * refused, a deadline that passed or a login refused would fail the same way again.
     */
    for (attempt = 1;; attempt++) {
        memset(&res, 0, sizeof(res));
        memset(&del, 0, sizeof(del));
        rb_err_clear(err);
        if (compare_once(run, t, &o, &res, &del, err) == 0)
            break;
        if (err->cls != RB_E_FAILED || !rb_err_is(err, RB_K_CONN_LOST))
            return -1;
        if (attempt == COMPARE_ATTEMPTS) {
            size_t used = strlen(err->msg);

            snprintf(err->msg + used, sizeof(err->msg) - used, " (gave up after %d attempts)",
                     attempt);
            return -1;
        }
        rb_warn(run->ctx, "check '%s': %s (attempt %d of %d); comparing again in %ds", chk->name,
                err->msg, attempt, COMPARE_ATTEMPTS, (COMPARE_BACKOFF_MS << (attempt - 1)) / 1000);
        rb_db_target_close(run, rb->sync.to);
        rb_db_target_close(run, rb->sync.from);
        rb_sleep_ms((int64_t)COMPARE_BACKOFF_MS << (attempt - 1));
    }
    cJSON_AddNumberToObject(r, "attempts", attempt);
    cJSON_AddItemToObject(r, "compare", rb_compare_result_json(&res));
    cJSON_AddItemToObject(r, "deletions", rb_deletions_result_json(&del));
    cJSON_AddBoolToObject(r, "fail_on_deleted", chk->fail_on_deleted);
    /* rows never migrated are legacy's own history: they never fail the check */
    *passed =
        res.missing == 0 && res.differing == 0 && !(chk->fail_on_deleted && del.deleted_in_new > 0);
    if (res.missing == 0 && res.differing == 0)
        *summary =
            rb_sprintf(run->arena, "%llu %s changed since cutover, all match in legacy",
                       (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows");
    else
        *summary = rb_sprintf(
            run->arena, "%llu %s changed since cutover: %llu missing in legacy, %llu differ",
            (unsigned long long)res.source_rows, res.source_rows == 1 ? "row" : "rows",
            (unsigned long long)res.missing, (unsigned long long)res.differing);
    *summary = rb_sprintf(run->arena, "%s%s", *summary, deletions_summary(run->arena, &del));
    return 0;
}

/* --- equal -------------------------------------------------------------------------------- */

static int scalar(struct rb_run *run, const struct rb_query_ref *q, const char **v, bool *is_null,
                  struct rb_err *err)
{
    struct rb_db *c = rb_db_target(run, q->target, err);

    if (c == NULL)
        return -1;
    if (rb_db_scalar(c, run->arena, 0, q->sql, v, is_null, err) < 0)
        return rb_err_wrap(err, "query on '%s'", q->target);
    return 0;
}

/*
 * A number as PostgreSQL prints one (integer, numeric, float without exponent): optional '-',
 * no '+', no blanks, no leading zero. Text such as '0042' or ' 42' is a code, not an amount.
 */
static bool pg_number_text(const char *s)
{
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static bool same_scalar(const char *a, bool an, const char *b, bool bn)
{
    struct rb_money x, y;

    if (an || bn)
        return an && bn;
    /* 120 and 120.00 are the same amount; anything else (codes such as '0042') compares as text */
    if (pg_number_text(a) && pg_number_text(b) && rb_money_parse(a, &x, NULL) == 0 &&
        rb_money_parse(b, &y, NULL) == 0)
        return rb_money_cmp(&x, &y) == 0;
    return strcmp(a, b) == 0;
}

/*
 * Both values. Two databases each count their side at once (a verify phase has several such
 * checks, each a scan of a large table on both sides); one connection, or a driver that cannot,
 * asks one after the other.
 */
static int scalars(struct rb_run *run, const struct rb_check *chk, const char **nv, bool *nn,
                   const char **lv, bool *ln, struct rb_err *err)
{
    struct rb_db *db[2];
    const char *sql[2] = { chk->new_q.sql, chk->legacy_q.sql };
    struct rb_db_result *res[2];
    struct rb_arena *scratch;
    int rc;

    if ((db[0] = rb_db_target(run, chk->new_q.target, err)) == NULL ||
        (db[1] = rb_db_target(run, chk->legacy_q.target, err)) == NULL)
        return -1;
    if (!rb_db_can_pair(db[0], db[1])) {
        if (scalar(run, &chk->new_q, nv, nn, err) < 0)
            return -1;
        return scalar(run, &chk->legacy_q, lv, ln, err);
    }
    scratch = rb_arena_new();
    rc = rb_db_pair(db, scratch, sql, rb_now_ms() + RB_DB_QUERY_TIMEOUT_MS, res, err);
    if (rc < 0)
        rb_err_wrap(err, "query");
    else if (rb_db_result_scalar(res[0], run->arena, nv, nn, err) < 0)
        rc = rb_err_wrap(err, "query on '%s'", chk->new_q.target);
    else if (rb_db_result_scalar(res[1], run->arena, lv, ln, err) < 0)
        rc = rb_err_wrap(err, "query on '%s'", chk->legacy_q.target);
    rb_arena_free(scratch);
    return rc;
}

static int check_equal(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                       const char **summary, struct rb_err *err)
{
    const char *nv = NULL, *lv = NULL;
    bool nn = false, ln = false;

    if (scalars(run, chk, &nv, &nn, &lv, &ln, err) < 0)
        return -1;
    json_str(r, "new", nn ? NULL : nv);
    json_str(r, "legacy", ln ? NULL : lv);
    *passed = same_scalar(nv, nn, lv, ln);
    if (*passed)
        *summary = rb_sprintf(run->arena, "both %s", nn ? "NULL" : nv);
    else
        *summary = rb_sprintf(run->arena, "new %s, legacy %s", nn ? "NULL" : nv, ln ? "NULL" : lv);
    return 0;
}

/* --- totals ------------------------------------------------------------------------------- */

/*
 * Each side's query runs wrapped, its rows ordered by the key's text in byte order ("C"), NULL
 * first, and streamed: the two sides are merged as they come, so memory stays flat whatever the
 * number of keys (holding every key's totals took 177 MB at 400,000 keys). A key listed twice
 * is summed, so the check compares per-key totals whatever the grouping.
 */
struct tside {
    const char *target;
    struct rb_db *db;
    struct rb_run *own; /* the run of a second connection, when both sides name one target */
    struct rb_db_stream *s;
    int ncols; /* amount columns (result columns after the key) */
    const char **names;
    const char *const *row; /* the next row read, in no group yet; NULL at the end */
    /* the current group: one key, its amounts summed; have is false at the end */
    bool have, key_null;
    char *key; /* malloc'd, key_cap bytes; also between groups, the key before */
    size_t key_cap;
    struct rb_money *v;
    bool *null;
};

/* NULL keys first, then byte order: the ORDER BY of totals_sql. */
static int key_cmp(bool xnull, const char *x, bool ynull, const char *y)
{
    if (xnull || ynull)
        return (int)!xnull - (int)!ynull;
    return strcmp(x, y);
}

static int tside_cmp(const struct tside *x, const struct tside *y)
{
    return key_cmp(x->key_null, x->key, y->key_null, y->key);
}

/*
 * The length of sql without what ends it: blanks, comments and ';' after its last token (a ';'
 * would end the statement inside the parentheses it is wrapped in). Strings, quoted names and
 * dollar quotes are skipped whole, so a ';' or "--" inside one is text.
 */
static size_t sql_body_len(const char *sql)
{
    const char *p = sql;
    size_t end = 0;

    while (*p != '\0') {
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");

            p = e != NULL ? e + 2 : p + strlen(p);
            continue;
        }
        if (*p == '\'' || *p == '"') {
            char qc = *p;
            bool esc = qc == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e');

            for (p++; *p != '\0' && (*p != qc || p[1] == qc); p++)
                if ((esc && *p == '\\' && p[1] != '\0') || (*p == qc && p[1] == qc))
                    p++;
        } else if (*p == '$' && (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            size_t tag = 1;

            while (isalpha((unsigned char)p[tag]) || p[tag] == '_')
                tag++;
            if (p[tag] == '$') {
                const char *e = p + tag + 1;

                while (*e != '\0' && strncmp(e, p, tag + 1) != 0)
                    e++;
                p = *e != '\0' ? e + tag : e - 1;
            }
        }
        if (*p == '\0')
            break;
        if (!isspace((unsigned char)*p) && *p != ';')
            end = (size_t)(p + 1 - sql);
        p++;
    }
    return end;
}

static const char *totals_sql(struct rb_arena *a, const char *sql, bool describe)
{
    int n = (int)sql_body_len(sql);

    /* the newlines: a -- comment inside the query must not comment out the parenthesis */
    if (describe)
        return rb_sprintf(a, "SELECT * FROM (\n%.*s\n) AS rb_totals LIMIT 0", n, sql);
    return rb_sprintf(a,
                      "SELECT * FROM (\n%.*s\n) AS rb_totals(rb_key) "
                      "ORDER BY rb_key::text COLLATE \"C\" NULLS FIRST",
                      n, sql);
}

/* The amounts of ts->row into the current group (its first row when first). */
static int add_row(struct tside *ts, bool first, struct rb_err *err)
{
    for (int i = 0; i < ts->ncols; i++) {
        const char *val = ts->row[i + 1];
        struct rb_money m;

        if (first)
            ts->null[i] = true;
        if (val == NULL)
            continue;
        if (rb_money_parse(val, &m, err) < 0)
            return rb_err_wrap(err, "column '%s' on '%s'", ts->names[i], ts->target);
        if (ts->null[i]) {
            ts->v[i] = m;
            ts->null[i] = false;
        } else if (rb_money_add(&ts->v[i], &m, &ts->v[i], err) < 0) {
            return rb_err_wrap(err, "column '%s' on '%s'", ts->names[i], ts->target);
        }
    }
    return 0;
}

static int read_row(struct tside *ts, struct rb_err *err)
{
    if (rb_db_stream_next(ts->db, ts->s, &ts->row, err) < 0)
        return rb_err_wrap(err, "query on '%s'", ts->target);
    return 0;
}

/* The next group of ts: every row of the next key, summed (have false at the end). */
static int next_group(struct tside *ts, struct rb_err *err)
{
    const char *k;
    size_t n;
    bool started = ts->have;

    ts->have = false;
    if (ts->row == NULL)
        return 0;
    k = ts->row[0];
    /* the merge is only right in the order it expects: a server that sorts otherwise fails */
    if (started && key_cmp(k == NULL, k, ts->key_null, ts->key) <= 0)
        return rb_errf(err, RB_E_FAILED,
                       "query on '%s': key '%s' came after '%s' (not in byte order of the text)",
                       ts->target, k != NULL ? k : "NULL", ts->key_null ? "NULL" : ts->key);
    ts->key_null = k == NULL;
    n = k != NULL ? strlen(k) + 1 : 1;
    if (n > ts->key_cap) {
        free(ts->key);
        ts->key_cap = n < 64 ? 64 : n;
        if ((ts->key = malloc(ts->key_cap)) == NULL)
            abort();
    }
    memcpy(ts->key, k != NULL ? k : "", n);
    if (add_row(ts, true, err) < 0)
        return -1;
    for (;;) {
        if (read_row(ts, err) < 0)
            return -1;
        if (ts->row == NULL || key_cmp(ts->row[0] == NULL, ts->row[0], ts->key_null, ts->key) != 0)
            break;
        if (add_row(ts, false, err) < 0)
            return -1;
    }
    ts->have = true;
    return 0;
}

/* Describe q (its columns, no rows) and start its stream. */
static int tside_open(struct rb_run *run, const struct rb_query_ref *q, struct tside *other,
                      struct tside *ts, int64_t deadline, struct rb_err *err)
{
    struct rb_arena *scratch;
    struct rb_db_result *res;
    struct rb_db_stmt st = { 0 };

    ts->target = q->target;
    if ((ts->db = rb_db_target(run, q->target, err)) == NULL)
        return -1;
    if (other != NULL && other->db == ts->db) {
        /* one connection streams one statement at a time: a second one, of a run of its own */
        ts->own = rb_run_new(run->ctx, run->rb, run->mode);
        ts->own->read_only = run->read_only;
        if ((ts->db = rb_db_target(ts->own, q->target, err)) == NULL)
            return -1;
    }
    scratch = rb_arena_new();
    if ((res = rb_db_query(ts->db, scratch, 0, totals_sql(scratch, q->sql, true), 0, NULL, err)) ==
        NULL) {
        rb_arena_free(scratch);
        return rb_err_wrap(err, "query on '%s'", q->target);
    }
    ts->ncols = (int)res->ncols - 1;
    if (ts->ncols < 1) {
        rb_arena_free(scratch);
        return rb_errf(err, RB_E_FAILED,
                       "query on '%s' must return a key column and at least one amount", q->target);
    }
    ts->names = rb_new_array(run->arena, const char *, (size_t)ts->ncols);
    for (int i = 0; i < ts->ncols; i++)
        ts->names[i] = rb_strdup(run->arena, res->names[i + 1]);
    rb_arena_free(scratch);
    ts->v = rb_new_array(run->arena, struct rb_money, (size_t)ts->ncols);
    ts->null = rb_new_array(run->arena, bool, (size_t)ts->ncols);
    st.sql = totals_sql(run->arena, q->sql, false);
    if (rb_db_stream(ts->db, &st, deadline, &ts->s, err) < 0)
        return rb_err_wrap(err, "query on '%s'", q->target);
    return 0;
}

/* The first row of each side: both servers work at once, as the rows are merged. */
static int tside_first(struct tside side[2], struct rb_err *err)
{
    if (read_row(&side[0], err) < 0 || read_row(&side[1], err) < 0)
        return -1;
    return next_group(&side[0], err) < 0 || next_group(&side[1], err) < 0 ? -1 : 0;
}

static void tside_close(struct rb_run *run, struct tside *ts)
{
    struct rb_run *owner = ts->own != NULL ? ts->own : run;

    /* a stream that could not be stopped leaves its connection unusable: the next check reconnects */
    if (ts->s != NULL && rb_db_stream_end(ts->db, ts->s, NULL) < 0)
        rb_db_target_close(owner, ts->target);
    ts->s = NULL;
    if (ts->own != NULL)
        rb_db_target_close(ts->own, ts->target);
    free(ts->key);
    ts->key = NULL;
}

static const char *money_str(struct rb_arena *a, const struct rb_money *m)
{
    char buf[RB_MONEY_STR_MAX];

    return rb_strdup(a, rb_money_format(m, buf, sizeof(buf)));
}

static const char *key_str(struct rb_arena *a, const struct tside *ts)
{
    return ts->key_null ? NULL : rb_strdup(a, ts->key);
}

static cJSON *amounts_json(struct rb_arena *a, const struct tside *ts)
{
    cJSON *o = cJSON_CreateObject();

    for (int i = 0; i < ts->ncols; i++)
        json_str(o, ts->names[i], ts->null[i] ? NULL : money_str(a, &ts->v[i]));
    return o;
}

struct tcount {
    size_t keys, bad, missing, keys_off;
};

/* One key on one side only: it fails, whatever its amounts. */
static void one_side(struct rb_arena *a, cJSON *list, const struct tside *t, bool in_new,
                     struct tcount *c)
{
    c->bad++;
    c->missing++;
    c->keys_off++;
    if (cJSON_GetArraySize(list) < RB_CHECK_LIST_MAX) {
        cJSON *d = cJSON_CreateObject();

        json_str(d, "key", key_str(a, t));
        cJSON_AddStringToObject(d, "problem", in_new ? "missing in legacy" : "missing in new");
        cJSON_AddItemToObject(d, in_new ? "new" : "legacy", amounts_json(a, t));
        cJSON_AddItemToArray(list, d);
    }
}

/* One key on both sides: each amount within the tolerance (inclusive), NULL only equal to NULL. */
static int both_sides(struct rb_arena *a, cJSON *list, const struct tside *n, const struct tside *l,
                      const struct rb_money *tol, struct tcount *c, struct rb_err *err)
{
    size_t bad_before = c->bad;

    for (int k = 0; k < n->ncols; k++) {
        struct rb_money diff, ad;
        bool over;

        if (n->null[k] || l->null[k]) {
            over = n->null[k] != l->null[k];
        } else {
            if (rb_money_sub(&n->v[k], &l->v[k], &diff, err) < 0)
                return -1;
            ad = rb_money_abs(&diff);
            over = rb_money_cmp(&ad, tol) > 0; /* the boundary itself passes */
        }
        if (!over)
            continue;
        c->bad++;
        if (cJSON_GetArraySize(list) < RB_CHECK_LIST_MAX) {
            cJSON *d = cJSON_CreateObject();

            json_str(d, "key", key_str(a, n));
            cJSON_AddStringToObject(d, "column", n->names[k]);
            json_str(d, "new", n->null[k] ? NULL : money_str(a, &n->v[k]));
            json_str(d, "legacy", l->null[k] ? NULL : money_str(a, &l->v[k]));
            json_str(d, "variance", n->null[k] || l->null[k] ? NULL : money_str(a, &diff));
            cJSON_AddItemToArray(list, d);
        }
    }
    c->keys_off += c->bad > bad_before;
    return 0;
}

static int merge_totals(struct rb_arena *a, cJSON *list, struct tside side[2],
                        const struct rb_money *tol, struct tcount *c, struct rb_err *err)
{
    struct tside *n = &side[0], *l = &side[1];

    if (tside_first(side, err) < 0)
        return -1;
    while (n->have || l->have) {
        int cmp = !n->have ? 1 : !l->have ? -1 : tside_cmp(n, l);

        c->keys++;
        if (cmp < 0) {
            one_side(a, list, n, true, c);
            if (next_group(n, err) < 0)
                return -1;
        } else if (cmp > 0) {
            one_side(a, list, l, false, c);
            if (next_group(l, err) < 0)
                return -1;
        } else {
            if (both_sides(a, list, n, l, tol, c, err) < 0 || next_group(n, err) < 0 ||
                next_group(l, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int check_totals(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                        const char **summary, struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    struct tside side[2];
    struct rb_money tol;
    struct tcount c = { 0 };
    int64_t deadline = rb_now_ms() + RB_DB_QUERY_TIMEOUT_MS;
    cJSON *list;
    const char *tol_src = chk->tolerance != NULL ? chk->tolerance : "0.00";
    int rc;

    memset(side, 0, sizeof(side));
    if (rb_money_parse(tol_src, &tol, err) < 0)
        return rb_err_wrap(err, "tolerance");
    tol = rb_money_abs(&tol);
    rc = tside_open(run, &chk->new_q, NULL, &side[0], deadline, err);
    if (rc == 0)
        rc = tside_open(run, &chk->legacy_q, &side[0], &side[1], deadline, err);
    if (rc == 0 && side[0].ncols != side[1].ncols)
        rc = rb_errf(err, RB_E_FAILED, "new returns %d amount columns, legacy %d", side[0].ncols,
                     side[1].ncols);
    if (rc == 0) {
        json_str(r, "tolerance", tol_src);
        list = cJSON_AddArrayToObject(r, "differences");
        rc = merge_totals(a, list, side, &tol, &c, err);
    }
    /* streams not read to their end are cancelled: a failure leaves both connections usable */
    for (int s = 1; s >= 0; s--)
        tside_close(run, &side[s]);
    if (rc < 0)
        return -1;
    cJSON_AddNumberToObject(r, "keys", (double)c.keys);
    cJSON_AddNumberToObject(r, "failures", (double)c.bad);
    cJSON_AddNumberToObject(r, "keys_missing", (double)c.missing);
    *passed = c.bad == 0;
    if (*passed)
        *summary = rb_sprintf(a, "%zu keys, every total within %s", c.keys, tol_src);
    else
        *summary =
            rb_sprintf(a, "%zu of %zu keys off: %zu totals beyond %s, %zu keys on one side only",
                       c.keys_off, c.keys, c.bad - c.missing, tol_src, c.missing);
    return 0;
}

/* --- probes ------------------------------------------------------------------------------- */

static int check_probe(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                       const char **summary, struct rb_err *err)
{
    struct rb_probe_result pr;

    (void)err;
    rb_probe_eval(run, &chk->probe, 0, &pr);
    cJSON_AddNumberToObject(r, "attempts", pr.attempts);
    *passed = pr.passed;
    *summary = pr.description;
    return 0;
}

int rb_check_run(struct rb_run *run, const struct rb_check *chk, cJSON *r, bool *passed,
                 const char **summary, struct rb_err *err)
{
    switch (chk->kind) {
    case RB_CHECK_COMPARE:
        return check_compare(run, chk, r, passed, summary, err);
    case RB_CHECK_EQUAL:
        return check_equal(run, chk, r, passed, summary, err);
    case RB_CHECK_TOTALS:
        return check_totals(run, chk, r, passed, summary, err);
    default:
        return check_probe(run, chk, r, passed, summary, err);
    }
}
