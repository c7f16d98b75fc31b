/*
 * test_compare.c - what the comparison reports, without a database: the JSON of a result (NULL
 * and '' kept apart, keys by column, counts), the plan text naming both sides' queries, and the
 * JSON of the deletions found (action by kind, deleted_at or null, never_migrated only when exact);
 * range buckets of a single integer key (their width, the spans int8 cannot hold, the drill-down's
 * key ranges with neighbours merged).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/compare.h"
#include "../../src/checks/compare_priv.h"

static void test_result_json(void **state)
{
    const char *keys[] = { "emp_id", "period" };
    struct rb_strlist key = { keys, 2, { 0, 0 } };
    const char *k1[] = { "7", "2026-11" }, *k2[] = { "8", NULL };
    struct rb_compare_col miss_cols[] = { { "note", NULL, NULL }, { "label", "", NULL } };
    struct rb_compare_col diff_cols[] = { { "rate", "1.50", "1.51" } };
    struct rb_compare_row missing[] = { { k2, miss_cols, 2 } };
    struct rb_compare_row differing[] = { { k1, diff_cols, 1 } };
    struct rb_compare_result r;
    cJSON *j;
    char *txt;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.table = "rates";
    r.source_table = "rates_new";
    r.target_table = "rates";
    r.key_columns = &key;
    r.source_rows = 10;
    r.missing = 3; /* more than listed: all counted, some listed */
    r.differing = 1;
    r.missing_rows = missing;
    r.n_missing_rows = 1;
    r.differing_rows = differing;
    r.n_differing_rows = 1;
    j = rb_compare_result_json(&r);
    txt = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(txt, "\"source_rows\":10,\"matching\":6,\"missing_in_legacy\":3"));
    assert_non_null(strstr(txt, "\"missing\":[{\"key\":{\"emp_id\":\"8\",\"period\":null},"
                                "\"new\":{\"note\":null,\"label\":\"\"}}]"));
    assert_non_null(
        strstr(txt, "\"differences\":[{\"key\":{\"emp_id\":\"7\",\"period\":\"2026-11\"},"
                    "\"columns\":[{\"column\":\"rate\",\"new\":\"1.50\",\"legacy\":\"1.51\"}]}]"));
    assert_null(strstr(txt, "null_keys"));
    free(txt);
    cJSON_Delete(j);
}

static void test_deletions_json(void **state)
{
    const char *keys[] = { "emp_id", "period" };
    struct rb_strlist key = { keys, 2, { 0, 0 } };
    const char *k1[] = { "7", "2026-11" }, *k2[] = { "8", NULL };
    struct rb_deleted_row rows[] = { { k1, false, "2026-11-20 10:00:00+00" }, { k2, true, NULL } };
    struct rb_deletions_result r;
    cJSON *j;
    char *txt;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.table = "rates";
    r.target_table = "RATE HIST";
    r.key_columns = &key;
    r.exact = true;
    r.legacy_rows = 40;
    r.deleted_in_new = 1;
    r.never_migrated = 1;
    r.rows = rows;
    r.n_rows = 2;
    r.keys_fetched = 12;
    j = rb_deletions_result_json(&r);
    txt = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(txt, "\"exact\":true,\"legacy_rows\":40,\"deleted_in_new\":1,"
                                "\"never_migrated\":1"));
    assert_non_null(
        strstr(txt, "{\"key\":{\"emp_id\":\"7\",\"period\":\"2026-11\"},"
                    "\"action\":\"deleted_in_new\",\"deleted_at\":\"2026-11-20 10:00:00+00\"}"));
    assert_non_null(strstr(txt, "{\"key\":{\"emp_id\":\"8\",\"period\":null},"
                                "\"action\":\"never_migrated\",\"deleted_at\":null}"));
    assert_non_null(strstr(txt, "\"keys_fetched\":12"));
    free(txt);
    cJSON_Delete(j);
    /* without tombstones nothing is known to be never migrated: every key is deleted_in_new */
    r.exact = false;
    j = rb_deletions_result_json(&r);
    txt = cJSON_PrintUnformatted(j);
    assert_null(strstr(txt, "\"action\":\"never_migrated\""));
    free(txt);
    cJSON_Delete(j);
}

static void test_describe(void **state)
{
    struct rb_arena *a = rb_arena_new();
    const char *keys[] = { "payment_id" };
    struct rb_column_map cols[] = { { "payment_id", "id", { 0, 0 } },
                                    { "gross_pay", "gross_amount", { 0, 0 } } };
    struct rb_sync_table t;
    const char *d;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.name = "processed_payments";
    t.source_table = "employee_payments";
    t.changed_since = "created_at";
    t.where = "status = 'completed'";
    t.target_table = "payroll_history";
    t.key.items = keys;
    t.key.n = 1;
    t.columns = cols;
    t.n_columns = 2;
    d = rb_compare_describe(a, &t, "2026-11-01T00:00:00Z");
    assert_non_null(strstr(d, "FROM \"employee_payments\" WHERE \"created_at\" >= "
                              "'2026-11-01T00:00:00Z'::timestamptz AND (status = 'completed')"));
    assert_non_null(strstr(d, "(gross_amount)::<legacy type of gross_pay>"));
    assert_non_null(
        strstr(d, "FROM \"payroll_history\" WHERE (\"payment_id\") among the new rows' keys"));
    rb_arena_free(a);
}

/* A scan state of a single integer key "id", as rb_cmp_resolve_columns leaves it. */
static void int_key_scan(struct cmp *st, struct ccol *col, size_t *keyidx,
                         struct rb_compare_opts *o, struct rb_arena *a)
{
    memset(st, 0, sizeof(*st));
    memset(col, 0, sizeof(*col));
    memset(o, 0, sizeof(*o));
    o->bucket_rows = 256;
    col->name = "id";
    col->typed[SRC] = "(id)::bigint";
    col->typed[DST] = "\"id\"";
    col->type = "bigint";
    col->is_int = true;
    *keyidx = 0;
    st->a = a;
    st->o = o;
    st->cols = col;
    st->ncols = 1;
    st->keyidx = keyidx;
    st->nkeys = 1;
    st->int_order = true;
}

static void test_range_buckets(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_compare_opts o;
    struct cmp st;
    struct ccol col;
    size_t keyidx;
    const char *sql;

    (void)state;
    int_key_scan(&st, &col, &keyidx, &o, a);
    /* 1,000,000 keys from -5: 3906 buckets of 257 keys (the last one shorter) */
    rb_cmp_set_key_range(&st, "-5", "999994");
    assert_true(st.by_range);
    rb_cmp_set_buckets(&st, 1000000);
    assert_int_equal(257, st.range_width);
    assert_int_equal(3892, st.nbuckets); /* ceil(1e6 / 257): every key has a bucket below it */
    assert_string_equal("((((id)::bigint)::int8 - (-5)) / 257)::int", st.bucket[SRC]);
    assert_string_equal("(((\"id\")::int8 - (-5)) / 257)::int", st.bucket[DST]);
    /* buckets 3, 4, 5 and 9 read as two key ranges through the index */
    sql = rb_cmp_drill_sql(&st, DST, "\"id\" AS rb_key", "3,4,5,9");
    assert_non_null(strstr(sql, " AND ((\"id\")::int8 BETWEEN 766 AND 1536 OR "
                                "(\"id\")::int8 BETWEEN 2308 AND 2564)"));
    assert_null(strstr(sql, " IN ("));

    /* one key: one bucket of width 1 */
    rb_cmp_set_key_range(&st, "42", "42");
    rb_cmp_set_buckets(&st, 1);
    assert_int_equal(1, st.nbuckets);
    assert_int_equal(1, st.range_width);

    /* a span int8 cannot hold, text that is no integer, or a key that is not one: key mod N */
    rb_cmp_set_key_range(&st, "-9223372036854775808", "9223372036854775807");
    assert_false(st.by_range);
    rb_cmp_set_key_range(&st, "-1", "9223372036854775807");
    assert_false(st.by_range);
    rb_cmp_set_key_range(&st, "0", "9223372036854775807");
    assert_true(st.by_range);
    rb_cmp_set_key_range(&st, "1x", "5");
    assert_false(st.by_range);
    col.is_int = false;
    rb_cmp_set_key_range(&st, "1", "5");
    assert_false(st.by_range);
    col.is_int = true;
    rb_cmp_set_key_range(&st, NULL, NULL);
    assert_false(st.by_range);
    rb_cmp_set_buckets(&st, 1000000);
    assert_string_equal("abs(((id)::bigint) % 3906)::int", st.bucket[SRC]);
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_json),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_deletions_json),
        cmocka_unit_test(test_range_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
