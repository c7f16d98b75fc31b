/*
 * compare_json.c - a comparison's result as JSON: the shape `verify -o json`, the report and
 * `gaps` read (docs/runbook.md, `## verify`). The algorithm is in compare.c.
 */
#include "rollbackctl/compare.h"

#include "compare_priv.h"

static cJSON *value_json(const char *v)
{
    return v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull();
}

cJSON *rb_cmp_key_json(const struct rb_strlist *cols, const char *const *key)
{
    cJSON *k = cJSON_CreateObject();

    for (size_t i = 0; i < cols->n; i++)
        cJSON_AddItemToObject(k, cols->items[i], value_json(key[i]));
    return k;
}

cJSON *rb_compare_result_json(const struct rb_compare_result *res)
{
    cJSON *o = cJSON_CreateObject(), *list;

    cJSON_AddStringToObject(o, "table", res->table);
    cJSON_AddStringToObject(o, "source_table", res->source_table);
    cJSON_AddStringToObject(o, "target_table", res->target_table);
    cJSON_AddNumberToObject(o, "source_rows", (double)res->source_rows);
    cJSON_AddNumberToObject(o, "matching",
                            (double)(res->source_rows - res->missing - res->differing));
    cJSON_AddNumberToObject(o, "missing_in_legacy", (double)res->missing);
    cJSON_AddNumberToObject(o, "differing", (double)res->differing);
    if (res->null_keys > 0)
        cJSON_AddNumberToObject(o, "null_keys", (double)res->null_keys);
    list = cJSON_AddArrayToObject(o, "missing");
    for (size_t i = 0; i < res->n_missing_rows; i++) {
        const struct rb_compare_row *row = &res->missing_rows[i];
        cJSON *r = cJSON_CreateObject(), *vals;

        cJSON_AddItemToObject(r, "key", rb_cmp_key_json(res->key_columns, row->key));
        vals = cJSON_AddObjectToObject(r, "new");
        for (size_t c = 0; c < row->n_cols; c++)
            cJSON_AddItemToObject(vals, row->cols[c].column, value_json(row->cols[c].new_value));
        cJSON_AddItemToArray(list, r);
    }
    list = cJSON_AddArrayToObject(o, "differences");
    for (size_t i = 0; i < res->n_differing_rows; i++) {
        const struct rb_compare_row *row = &res->differing_rows[i];
        cJSON *r = cJSON_CreateObject(), *cols;

        cJSON_AddItemToObject(r, "key", rb_cmp_key_json(res->key_columns, row->key));
        cols = cJSON_AddArrayToObject(r, "columns");
        for (size_t c = 0; c < row->n_cols; c++) {
            cJSON *col = cJSON_CreateObject();

            cJSON_AddStringToObject(col, "column", row->cols[c].column);
            cJSON_AddItemToObject(col, "new", value_json(row->cols[c].new_value));
            cJSON_AddItemToObject(col, "legacy", value_json(row->cols[c].legacy_value));
            cJSON_AddItemToArray(cols, col);
        }
        cJSON_AddItemToArray(list, r);
    }
    cJSON_AddNumberToObject(o, "buckets", (double)res->buckets);
    cJSON_AddNumberToObject(o, "buckets_differing", (double)res->buckets_differing);
    cJSON_AddNumberToObject(o, "rows_fetched", (double)res->rows_fetched);
    cJSON_AddNumberToObject(o, "duration_ms", (double)res->duration_ms);
    return o;
}
