/*
 * verify_text.c - the verification report as text for people: what verification.txt holds and
 * what `rollbackctl verify` prints. Reads only the report's JSON (verify.h), so a report loaded
 * from a run folder renders the same.
 */
#include "rollbackctl/verify.h"

#include <stdio.h>
#include <string.h>

/* --- text --------------------------------------------------------------------------------- */

static void add_value(struct rb_buf *b, const cJSON *v)
{
    rb_buf_add_quoted_value(b, cJSON_IsString(v) ? v->valuestring : NULL);
}

static void add_key(struct rb_buf *b, const cJSON *key)
{
    const cJSON *k;
    bool first = true;

    if (!cJSON_IsObject(key)) {
        add_value(b, key);
        return;
    }
    cJSON_ArrayForEach(k, key) {
        rb_buf_addf(b, "%s%s=", first ? "" : " ", k->string);
        add_value(b, k);
        first = false;
    }
}

static void text_compare(struct rb_buf *b, const cJSON *cmp)
{
    const cJSON *list, *row, *c;
    double n;

    list = cJSON_GetObjectItemCaseSensitive(cmp, "missing");
    n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cmp, "missing_in_legacy"));
    if (cJSON_GetArraySize(list) > 0)
        rb_buf_addf(b, "      missing in legacy (%d listed of %.0f):\n", cJSON_GetArraySize(list),
                    n);
    cJSON_ArrayForEach(row, list) {
        rb_buf_adds(b, "        ");
        add_key(b, cJSON_GetObjectItemCaseSensitive(row, "key"));
        rb_buf_adds(b, ":");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(row, "new")) {
            rb_buf_addf(b, " %s=", c->string);
            add_value(b, c);
        }
        rb_buf_addc(b, '\n');
    }
    list = cJSON_GetObjectItemCaseSensitive(cmp, "differences");
    n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cmp, "differing"));
    if (cJSON_GetArraySize(list) > 0)
        rb_buf_addf(b, "      differing (%d listed of %.0f):\n", cJSON_GetArraySize(list), n);
    cJSON_ArrayForEach(row, list) {
        rb_buf_adds(b, "        ");
        add_key(b, cJSON_GetObjectItemCaseSensitive(row, "key"));
        rb_buf_adds(b, ":");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(row, "columns")) {
            rb_buf_addf(b, " %s new ",
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "column")));
            add_value(b, cJSON_GetObjectItemCaseSensitive(c, "new"));
            rb_buf_adds(b, " legacy ");
            add_value(b, cJSON_GetObjectItemCaseSensitive(c, "legacy"));
            rb_buf_adds(b, ";");
        }
        b->len--; /* drop the last ';' */
        b->data[b->len] = '\0';
        rb_buf_addc(b, '\n');
    }
}

/* A compare check's deletions (compare.h, rb_deletions_result_json): legacy keys new no longer has. */
static void text_deletions(struct rb_buf *b, const cJSON *del)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(del, "rows"), *row;
    double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(del, "deleted_in_new"));
    double never = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(del, "never_migrated"));

    if (cJSON_GetArraySize(list) == 0)
        return;
    rb_buf_addf(b, "      in legacy, not in new (%d listed of %.0f):\n", cJSON_GetArraySize(list),
                (n > 0 ? n : 0) + (never > 0 ? never : 0));
    cJSON_ArrayForEach(row, list) {
        const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "action"));
        const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "deleted_at"));

        rb_buf_adds(b, "        ");
        add_key(b, cJSON_GetObjectItemCaseSensitive(row, "key"));
        rb_buf_addf(b, ": %s", action != NULL ? action : "deleted_in_new");
        if (at != NULL)
            rb_buf_addf(b, " at %s", at);
        rb_buf_addc(b, '\n');
    }
}

static void text_totals(struct rb_buf *b, const cJSON *chk)
{
    const cJSON *d, *c;

    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(chk, "differences")) {
        const cJSON *problem = cJSON_GetObjectItemCaseSensitive(d, "problem");

        rb_buf_adds(b, "        ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "key"));
        if (cJSON_IsString(problem)) {
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(d, "new");

            if (vals == NULL)
                vals = cJSON_GetObjectItemCaseSensitive(d, "legacy");
            rb_buf_addf(b, ": %s (", problem->valuestring);
            cJSON_ArrayForEach(c, vals) {
                rb_buf_addf(b, "%s%s ", c == vals->child ? "" : ", ", c->string);
                add_value(b, c);
            }
            rb_buf_adds(b, ")\n");
            continue;
        }
        rb_buf_addf(b, " %s: new ",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "column")));
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "new"));
        rb_buf_adds(b, " legacy ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "legacy"));
        rb_buf_adds(b, " variance ");
        add_value(b, cJSON_GetObjectItemCaseSensitive(d, "variance"));
        rb_buf_addc(b, '\n');
    }
}

void rb_verify_report_text(struct rb_buf *b, const cJSON *rep)
{
    const cJSON *c;

    rb_buf_addf(b, "verification %s: %.0f of %d checks passed\n",
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rep, "verification")),
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rep, "passed")),
                cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "checks")));
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rep, "checks")) {
        bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed"));
        const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(c, "compare");
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "kind"));

        rb_buf_addf(b, "  %s  %s [%s, %.2fs]: %s\n", ok ? "PASS" : "FAIL",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")),
                    kind != NULL ? kind : "?",
                    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "duration_ms")) /
                        1000.0,
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "summary")));
        if (cmp != NULL) {
            text_compare(b, cmp);
            text_deletions(b, cJSON_GetObjectItemCaseSensitive(c, "deletions"));
        } else if (kind != NULL && strcmp(kind, "totals") == 0)
            text_totals(b, c);
    }
}
