/*
 * gaps.c - `rollbackctl gaps`: what legacy still lacks, row by row, and what to do about it.
 *
 * For every sync table (or the one named by --table): the rows changed in new since cutover whose
 * key legacy does not have (action manual_entry: someone has to enter them, or sync them) and the
 * rows legacy holds with other mapped values (action review). Uses the same comparison as the
 * verify phase's `compare` check (compare.h), listing every row rather than the first 100, and
 * in the same pass (rb_compare_with_deletions) the table's deletions since cutover: keys legacy
 * holds that new no longer has (action deleted_in_new, or never_migrated when a tombstone table
 * tells them apart).
 * Output: a table for people, -o json, or --csv (long format: one line per row and column, one
 * per deleted key; NULL is an empty field, an empty string is ""). Exit 0 when the analysis ran,
 * whatever it found; with --exit-code (diff's convention) 1 when any row needs manual entry or
 * review.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/compare.h"
#include "rollbackctl/output.h"
#include "rollbackctl/db.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/run.h"

static void free_json(void *p)
{
    cJSON_Delete(p);
}

static void csv_field(FILE *out, const char *v, bool null)
{
    if (null)
        return;
    if (v[0] != '\0' && strpbrk(v, ",\"\r\n") == NULL && v[0] != ' ' && v[strlen(v) - 1] != ' ') {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

/* "payment_id=2000" or "emp_id=7 period=2026-11" */
static const char *key_label(struct rb_arena *a, const struct rb_strlist *cols,
                             const char *const *key)
{
    const char *s = "";

    for (size_t k = 0; k < cols->n; k++)
        s = rb_sprintf(a, "%s%s%s=%s", s, k > 0 ? " " : "", cols->items[k],
                       key[k] != NULL ? key[k] : "NULL");
    return s;
}

static const char *quoted(struct rb_arena *a, const char *v)
{
    return v != NULL ? rb_sprintf(a, "'%s'", v) : "NULL";
}

struct gaps_out {
    const struct rb_ctx *ctx;
    FILE *out;
    bool csv;
};

static void emit_csv(FILE *out, struct rb_arena *a, const struct rb_compare_result *res,
                     bool missing, const struct rb_compare_row *row)
{
    for (size_t c = 0; c < row->n_cols; c++) {
        fprintf(out, "%s,%s,", res->table, missing ? "manual_entry" : "review");
        csv_field(out, key_label(a, res->key_columns, row->key), false);
        fprintf(out, ",%s,", row->cols[c].column);
        csv_field(out, row->cols[c].new_value, row->cols[c].new_value == NULL);
        fputc(',', out);
        if (!missing)
            csv_field(out, row->cols[c].legacy_value, row->cols[c].legacy_value == NULL);
        fputc('\n', out);
    }
}

static void emit_text(FILE *out, struct rb_arena *a, const struct rb_compare_result *res,
                      bool missing, const struct rb_compare_row *row)
{
    const char *detail = "";

    for (size_t c = 0; c < row->n_cols; c++) {
        if (missing)
            detail = rb_sprintf(a, "%s%s%s=%s", detail, c > 0 ? " " : "", row->cols[c].column,
                                quoted(a, row->cols[c].new_value));
        else
            detail = rb_sprintf(a, "%s%s%s: new %s legacy %s", detail, c > 0 ? "; " : "",
                                row->cols[c].column, quoted(a, row->cols[c].new_value),
                                quoted(a, row->cols[c].legacy_value));
    }
    fprintf(out, "%-24s %-13s %-24s %s\n", res->table, missing ? "manual_entry" : "review",
            key_label(a, res->key_columns, row->key), detail);
}

/* Each row as the comparison finds it, formatted in its own arena: output of any size, flat memory. */
static void emit_row(void *ctx, const struct rb_compare_result *res, bool missing,
                     const struct rb_compare_row *row)
{
    struct gaps_out *g = ctx;
    struct rb_arena *a = rb_arena_new();

    /* the rows go out while the table's progress line is up: a row line never lands inside it */
    rb_progress_hold(g->ctx);
    if (g->csv)
        emit_csv(g->out, a, res, missing, row);
    else
        emit_text(g->out, a, res, missing, row);
    rb_progress_release(g->ctx);
    rb_arena_free(a);
}

static const char *deleted_action(const struct rb_deletions_result *res,
                                  const struct rb_deleted_row *row)
{
    return res->exact && row->never_migrated ? "never_migrated" : "deleted_in_new";
}

/* A deleted key: one text line, or one CSV line (column deleted_at when a tombstone says when). */
static void emit_deleted(void *ctx, const struct rb_deletions_result *res,
                         const struct rb_deleted_row *row)
{
    struct gaps_out *g = ctx;
    struct rb_arena *a = rb_arena_new();
    const char *key = key_label(a, res->key_columns, row->key);

    rb_progress_hold(g->ctx);
    if (g->csv) {
        fprintf(g->out, "%s,%s,", res->table, deleted_action(res, row));
        csv_field(g->out, key, false);
        fprintf(g->out, ",%s,", row->deleted_at != NULL ? "deleted_at" : "");
        csv_field(g->out, row->deleted_at, row->deleted_at == NULL);
        fputs(",\n", g->out);
    } else {
        const char *detail =
            row->deleted_at != NULL ? rb_sprintf(a, "deleted in new at '%s'", row->deleted_at)
            : !res->exact           ? "legacy holds it, new does not"
            : row->never_migrated   ? "legacy holds it, new never had it (no tombstone)"
                                    : "deleted in new";

        fprintf(g->out, "%-24s %-13s %-24s %s\n", res->table, deleted_action(res, row), key,
                detail);
    }
    rb_progress_release(g->ctx);
    rb_arena_free(a);
}

/* The deletions' rows as gaps entries: {table, action, key, deleted_at}. */
static void deleted_json(const struct rb_deletions_result *res, cJSON *gaps)
{
    cJSON *d = rb_deletions_result_json(res), *g;

    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(d, "rows")) {
        cJSON *e = cJSON_Duplicate(g, 1);

        cJSON_AddStringToObject(e, "table", res->table);
        cJSON_AddItemToArray(gaps, e);
    }
    cJSON_Delete(d);
}

/* How the deletions were found: rb_deletions_result_json without its rows and name. */
static cJSON *deletions_stats_json(const struct rb_deletions_result *res)
{
    cJSON *d = rb_deletions_result_json(res);

    cJSON_DeleteItemFromObjectCaseSensitive(d, "rows");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "table");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "deleted_in_new");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "never_migrated");
    return d;
}

static cJSON *gaps_json(const struct rb_compare_result *res)
{
    cJSON *c = rb_compare_result_json(res), *list, *g, *out = cJSON_CreateArray();

    /* the comparison's lists, re-labelled with the action each row needs */
    list = cJSON_GetObjectItemCaseSensitive(c, "missing");
    cJSON_ArrayForEach(g, list) {
        cJSON *e = cJSON_Duplicate(g, 1);

        cJSON_AddStringToObject(e, "table", res->table);
        cJSON_AddStringToObject(e, "action", "manual_entry");
        cJSON_AddItemToArray(out, e);
    }
    list = cJSON_GetObjectItemCaseSensitive(c, "differences");
    cJSON_ArrayForEach(g, list) {
        cJSON *e = cJSON_Duplicate(g, 1);

        cJSON_AddStringToObject(e, "table", res->table);
        cJSON_AddStringToObject(e, "action", "review");
        cJSON_AddItemToArray(out, e);
    }
    cJSON_Delete(c);
    return out;
}

int rb_cmd_gaps(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    static const struct option longopts[] = {
        { "csv", no_argument, NULL, 'c' },
        { "table", required_argument, NULL, 't' },
        { "exit-code", no_argument, NULL, 'x' },
        { NULL, 0, NULL, 0 },
    };
    const struct rb_runbook *rb;
    struct rb_run *run;
    const char *only = NULL;
    bool csv = false, exit_code = false;
    uint64_t missing = 0, differing = 0, deleted = 0, never_migrated = 0;
    cJSON *doc = NULL, *tables = NULL, *gaps = NULL;
    struct rb_db *src, *dst;
    int c, rc;

    optind = 0;
    opterr = 0;
    /* "+:": stop at the first non-option; a missing value comes back as ':', not '?'. */
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            csv = true;
            break;
        case 't':
            only = optarg;
            break;
        case 'x':
            exit_code = true;
            break;
        case ':':
            return rb_errf(err, RB_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
        default:
            return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return rb_errf(err, RB_E_USAGE, "unexpected argument '%s'", argv[optind]);
    if (csv && ctx->output == RB_OUTPUT_JSON)
        return rb_errf(err, RB_E_USAGE, "--csv and -o json exclude each other");
    /* Ctrl-C cancels the queries in flight instead of leaving them running on the servers */
    rb_signals_install();
    rb_signals_announce("cancelling the queries in flight; gaps stops with exit 1",
                        "still stopping: the queries in flight are being cancelled");
    if ((rb = rb_cmd_load_runbook(ctx, 1, err)) == NULL)
        return -1;
    if (!rb->sync.present || rb->sync.n_tables == 0) {
        rb_errf(err, RB_E_USAGE, "runbook '%s' has no sync tables to analyse", rb->name);
        return rb_err_hint(err, "gaps compares the tables under 'sync:'");
    }
    if (only != NULL && rb_runbook_sync_table(rb, only) == NULL)
        return rb_errf(err, RB_E_USAGE, "no sync table named '%s'", only);
    run = rb_run_new_check(ctx, rb);
    if ((src = rb_db_target(run, rb->sync.from, err)) == NULL ||
        (dst = rb_db_target(run, rb->sync.to, err)) == NULL)
        return -1;
    if (ctx->output == RB_OUTPUT_JSON) {
        doc = cJSON_CreateObject();
        rb_arena_on_free(ctx->arena, free_json, doc);
        cJSON_AddStringToObject(doc, "cutover", rb->cutover_src);
        tables = cJSON_AddArrayToObject(doc, "tables");
        gaps = cJSON_AddArrayToObject(doc, "gaps");
    } else if (csv) {
        fputs("table,action,key,column,new,legacy\n", ctx->out);
    } else {
        fprintf(ctx->out, "%-24s %-13s %-24s %s\n", "TABLE", "ACTION", "KEY", "DETAIL");
    }
    for (size_t i = 0; i < rb->sync.n_tables; i++) {
        const struct rb_sync_table *t = &rb->sync.tables[i];
        struct gaps_out sink = { ctx, ctx->out, csv };
        struct rb_compare_opts o = { .cutover = rb->cutover_src,
                                     .list_max = SIZE_MAX,
                                     .src_label = rb->sync.from,
                                     .dst_label = rb->sync.to,
                                     /* JSON is one document, built whole; text and CSV stream */
                                     .on_row = doc == NULL ? emit_row : NULL,
                                     .on_row_ctx = &sink,
                                     .progress = ctx };
        struct rb_compare_result res;
        struct rb_deletions_result del;

        if (only != NULL && strcmp(only, t->name) != 0)
            continue;
        if (rb_interrupted())
            return rb_errf(err, RB_E_INTERRUPTED, "interrupted before '%s'", t->name);
        rb_info(ctx, "comparing '%s' (%s -> %s) and finding its deletions since cutover",
                t->name, t->source_table, t->target_table);
        rb_progress_begin(ctx, rb_sprintf(ctx->arena, "gaps/%s", t->name));
        /* one pass for both, as verify's compare check: rows first, then the deletions */
        rc = rb_compare_with_deletions(run->arena, src, dst, t, &o,
                                       doc == NULL ? emit_deleted : NULL, &sink, &res, &del, err);
        rb_progress_end(ctx);
        if (rc < 0)
            return -1;
        missing += res.missing;
        differing += res.differing;
        deleted += del.deleted_in_new;
        never_migrated += del.never_migrated;
        if (res.null_keys > 0)
            rb_warn(ctx,
                    "'%s': %llu source %s with a NULL key counted under manual_entry but not "
                    "listed: %s no key to look up in legacy",
                    t->name, (unsigned long long)res.null_keys, res.null_keys == 1 ? "row" : "rows",
                    res.null_keys == 1 ? "it has" : "they have");
        if (doc != NULL) {
            cJSON *tj = cJSON_CreateObject(), *g, *arr = gaps_json(&res);

            cJSON_AddStringToObject(tj, "table", t->name);
            cJSON_AddNumberToObject(tj, "source_rows", (double)res.source_rows);
            cJSON_AddNumberToObject(tj, "manual_entry", (double)res.missing);
            cJSON_AddNumberToObject(tj, "review", (double)res.differing);
            cJSON_AddNumberToObject(tj, "null_keys", (double)res.null_keys);
            cJSON_AddNumberToObject(tj, "deleted_in_new", (double)del.deleted_in_new);
            cJSON_AddNumberToObject(tj, "never_migrated", (double)del.never_migrated);
            cJSON_AddItemToObject(tj, "deletions", deletions_stats_json(&del));
            cJSON_AddItemToArray(tables, tj);
            while ((g = cJSON_DetachItemFromArray(arr, 0)) != NULL)
                cJSON_AddItemToArray(gaps, g);
            cJSON_Delete(arr);
            deleted_json(&del, gaps);
        }
    }
    if (doc != NULL)
        rb_out_json(ctx, doc);
    else if (!csv)
        fprintf(ctx->out,
                "%llu rows to enter in legacy (manual_entry), %llu to review\n"
                "%llu rows legacy holds that new no longer has (deleted_in_new), %llu never "
                "migrated\n",
                (unsigned long long)missing, (unsigned long long)differing,
                (unsigned long long)deleted, (unsigned long long)never_migrated);
    /* --exit-code, diff's convention: 1 when a row needs manual entry or review; the output above
     * already says which, so no error line follows it */
    if (exit_code && missing + differing > 0) {
        /* -o json: the error object says it (and stderr with it, main.c) */
        if (doc != NULL)
            return rb_errf(err, RB_E_FAILED, "%llu rows to enter in legacy, %llu to review",
                           (unsigned long long)missing, (unsigned long long)differing);
        err->cls = RB_E_FAILED;
        err->msg[0] = '\0';
        return -1;
    }
    return 0;
}
