/*
 * signals.c - reading the runbook's signals: `sql` through the database ops, `query` through the
 * metrics ops, `file` from a JSON object file, then the --signals file overriding and adding.
 *
 * A signal that cannot be read is unknown, with the reason, never 0 and never a stopped command:
 * the assessment then says what it could not decide. Every read has a deadline (the statement
 * timeout below, the metrics target's timeout). Numbers stay decimal text end to end: a
 * PostgreSQL numeric is taken as the server printed it, a JSON number as the file wrote it.
 */
#include "rollbackctl/assess.h"

#include <stdlib.h>
#include <string.h>

#include "rollbackctl/db.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/metrics.h"

/* PostgreSQL type oids read as numbers and booleans; every other type is text. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700
};

static bool numeric_oid(uint32_t oid)
{
    return oid == OID_INT8 || oid == OID_INT2 || oid == OID_INT4 || oid == OID_OID ||
           oid == OID_FLOAT4 || oid == OID_FLOAT8 || oid == OID_NUMERIC;
}

static void set_unknown(struct rb_arena *a, struct rb_signal_value *sv, const char *why)
{
    sv->value.type = RB_VAL_NULL;
    sv->value.str = NULL;
    sv->unknown = rb_strdup(a, why);
}

/* A number the expressions can compare; "NaN", "+Inf" (Prometheus, float columns) are unknown. */
static void set_number(struct rb_arena *a, struct rb_signal_value *sv, const char *text)
{
    int c;

    if (rb_decimal_cmp(text, "0", &c) < 0) {
        set_unknown(a, sv, rb_sprintf(a, "'%s' is not a number", text));
        return;
    }
    sv->value.type = RB_VAL_NUMBER;
    sv->value.str = text;
}

/*
 * A run that may write (execute) reads its signals inside a read-only transaction on the run's
 * connection, so a signal's SQL cannot change the database even there; plan and check runs
 * already have read-only sessions.
 */
static void read_sql(struct rb_run *run, const struct rb_signal *s, struct rb_signal_value *sv)
{
    struct rb_err err = RB_ERR_INIT, rerr = RB_ERR_INIT;
    struct rb_db *db = rb_db_target(run, s->target, &err);
    struct rb_db_result *r = NULL;
    bool tx = false;

    sv->source = rb_sprintf(run->arena, "sql on '%s'", s->target);
    if (db == NULL) {
        set_unknown(run->arena, sv, err.msg);
        return;
    }
    if (!run->read_only) {
        if (rb_db_begin(db, &err) < 0 || rb_db_exec(db, RB_SIGNAL_SQL_TIMEOUT_MS,
                                                    "SET TRANSACTION READ ONLY", 0, NULL, &err) < 0)
            goto fail;
        tx = true;
    }
    r = rb_db_query(db, run->arena, RB_SIGNAL_SQL_TIMEOUT_MS, s->sql, 0, NULL, &err);
    if (tx)
        (void)rb_db_rollback(db, RB_SIGNAL_SQL_TIMEOUT_MS, &rerr);
    if (r == NULL)
        goto fail;
    if (r->nrows == 0 || r->ncols == 0) {
        set_unknown(run->arena, sv, "no row");
        return;
    }
    if (rb_db_isnull(r, 0, 0)) {
        set_unknown(run->arena, sv, "NULL");
        return;
    }
    sv->value.str = rb_db_value(r, 0, 0);
    if (r->types != NULL && r->types[0] == OID_BOOL) {
        sv->value.type = RB_VAL_BOOL;
        sv->value.b = strcmp(sv->value.str, "t") == 0;
        sv->value.str = sv->value.b ? "true" : "false";
    } else if (r->types != NULL && numeric_oid(r->types[0])) {
        set_number(run->arena, sv, sv->value.str);
    } else {
        sv->value.type = RB_VAL_STRING;
    }
    return;
fail:
    if (tx)
        (void)rb_db_rollback(db, RB_SIGNAL_SQL_TIMEOUT_MS, &rerr);
    set_unknown(run->arena, sv, err.msg);
}

static void read_query(struct rb_run *run, const struct rb_signal *s, struct rb_signal_value *sv)
{
    struct rb_err err = RB_ERR_INIT;
    const struct rb_target *t = rb_runbook_target(run->rb, s->target);
    const struct rb_metrics_ops *ops = t != NULL ? rb_metrics_ops_for(t, &err) : NULL;
    const char *v = NULL;

    sv->source = rb_sprintf(run->arena, "%s '%s'", t != NULL ? t->driver : "metrics", s->target);
    if (ops == NULL || ops->query == NULL) {
        set_unknown(run->arena, sv,
                    err.msg[0] != '\0' ? err.msg : "the target's driver cannot run queries");
        return;
    }
    if (ops->query(run->arena, t, s->query, &v, &err) < 0) {
        set_unknown(run->arena, sv,
                    err.hint[0] != '\0' ? rb_sprintf(run->arena, "%s; %s", err.msg, err.hint)
                                        : err.msg);
        return;
    }
    set_number(run->arena, sv, v);
}

/* ---- JSON files ------------------------------------------------------------------------------ */

/*
 * What cJSON skips between tokens: every byte up to ' ' (it accepts a form feed or a NUL where JSON
 * allows only blanks). Skipping less would lose the member behind one, and its number's digits.
 */
static bool json_blank(char c)
{
    return (unsigned char)c <= ' ';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && json_blank(*p))
        p++;
    return p;
}

/* Past one JSON string starting at p ('"'), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past one JSON value starting at p (the text is valid JSON: cJSON parsed it first). */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    do {
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == '"') {
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            p++;
        } else {
            /* a number, a literal, ',' or ':' */
            if (*p == ',' || *p == ':')
                p++;
            else
                while (p < end && !json_blank(*p) && strchr(",]}:", *p) == NULL)
                    p++;
        }
    } while (depth > 0);
    return p;
}

/*
 * The text of the top-level member key's value as written, when it is a number; NULL otherwise.
 * cJSON keeps numbers as doubles only, which would turn 0.1000000000000000000001 into 0.1.
 */
static const char *raw_number(struct rb_arena *a, const char *json, size_t len, const char *key)
{
    const char *p = json, *end = json + len, *found = NULL;

    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        const char *ks, *ke;
        cJSON *k;
        bool same;

        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return found;
        ks = p;
        if ((ke = skip_string(p, end)) == NULL)
            return found;
        /* the key as JSON decodes it (escapes), compared with the one wanted */
        k = cJSON_ParseWithLength(ks, (size_t)(ke - ks));
        same = cJSON_IsString(k) && strcmp(k->valuestring, key) == 0;
        cJSON_Delete(k);
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return found;
        p = skip_ws(p + 1, end);
        if (same && p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
            const char *ns = p;

            while (p < end && strchr("+-.0123456789eE", *p) != NULL)
                p++;
            /* a repeated key: cJSON's lookup takes the first, and so does this */
            if (found == NULL)
                found = rb_strndup(a, ns, (size_t)(p - ns));
        } else if ((p = skip_value(p, end)) == NULL) {
            return found;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
        else
            return found;
    }
}

/*
 * The whole text as one JSON value, or NULL. cJSON stops after the first value and ignores the
 * rest, so `{"a": 1} {"a": 9}` or a half-overwritten file would read as its first object; here
 * anything but white space after it makes the text invalid, and *bad is its offset (or the
 * offset cJSON stopped at, for a syntax error).
 */
static cJSON *parse_whole(const char *text, size_t len, size_t *bad)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    const char *p;

    if (j == NULL) {
        const char *at = cJSON_GetErrorPtr();

        *bad = at != NULL && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        return NULL;
    }
    p = skip_ws(end, text + len);
    if (p < text + len && *p != '\0') {
        *bad = (size_t)(p - text);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int rb_signal_json_value(struct rb_arena *a, const char *json, size_t len, const char *key,
                         struct rb_value *out, struct rb_err *err)
{
    size_t bad = 0;
    cJSON *j = parse_whole(json, len, &bad);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (j == NULL) {
        rc = rb_errf(err, RB_E_FAILED, "not valid JSON (at byte %zu)", bad);
    } else if (!cJSON_IsObject(j)) {
        rc = rb_errf(err, RB_E_FAILED, "not a JSON object");
    } else if (v == NULL) {
        rc = rb_errf(err, RB_E_FAILED, "no key '%s'", key);
    } else if (cJSON_IsNumber(v)) {
        out->type = RB_VAL_NUMBER;
        out->str = raw_number(a, json, len, key);
        if (out->str == NULL) /* not found by the scanner: digits enough for a double */
            out->str = rb_sprintf(a, "%.17g", v->valuedouble);
    } else if (cJSON_IsString(v)) {
        out->type = RB_VAL_STRING;
        out->str = rb_strdup(a, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        out->type = RB_VAL_BOOL;
        out->b = cJSON_IsTrue(v);
        out->str = out->b ? "true" : "false";
    } else if (cJSON_IsNull(v)) {
        out->type = RB_VAL_NULL;
    } else {
        rc = rb_errf(err, RB_E_FAILED, "'%s' is %s, not a number, string or boolean", key,
                     cJSON_IsArray(v) ? "a list" : "an object");
    }
    cJSON_Delete(j);
    return rc;
}

static void read_file(struct rb_run *run, const struct rb_signal *s, struct rb_signal_value *sv)
{
    struct rb_err err = RB_ERR_INIT;
    const char *key = s->key != NULL ? s->key : s->name;
    size_t len = 0;
    char *text = rb_read_file(s->file, &len, &err);

    sv->source = rb_sprintf(run->arena, "file %s", s->file);
    if (text == NULL) {
        set_unknown(run->arena, sv, err.msg);
        return;
    }
    if (rb_signal_json_value(run->arena, text, len, key, &sv->value, &err) < 0)
        set_unknown(run->arena, sv, rb_sprintf(run->arena, "file '%s': %s", s->file, err.msg));
    else if (sv->value.type == RB_VAL_NULL)
        set_unknown(run->arena, sv, "null");
    free(text);
}

/* --signals FILE: every member overrides the signal of its name or adds one. */
static int read_override(struct rb_run *run, struct rb_signal_value **sig, size_t *n,
                         struct rb_err *err)
{
    const char *path = run->signals_file;
    size_t len = 0, cap, bad = 0;
    char *text = rb_read_file(path, &len, err);
    cJSON *j, *it;
    struct rb_signal_value *out;

    if (text == NULL)
        return rb_err_wrap(err, "unable to read the --signals file");
    j = parse_whole(text, len, &bad);
    if (j == NULL) {
        free(text);
        rb_errf(err, RB_E_USAGE, "--signals file '%s' is not valid JSON (at byte %zu)", path, bad);
        return rb_err_hint(err, "write it as one object {\"signal_name\": value, ...}");
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        free(text);
        rb_errf(err, RB_E_USAGE, "--signals file '%s' is not a JSON object", path);
        return rb_err_hint(err, "write it as {\"signal_name\": value, ...}");
    }
    cap = *n + (size_t)cJSON_GetArraySize(j);
    out = rb_new_array(run->arena, struct rb_signal_value, cap + 1);
    memcpy(out, *sig, *n * sizeof(*out));
    cJSON_ArrayForEach(it, j) {
        struct rb_err verr = RB_ERR_INIT;
        struct rb_signal_value *sv = NULL;

        for (size_t i = 0; i < *n; i++)
            if (strcmp(out[i].name, it->string) == 0)
                sv = &out[i];
        if (sv == NULL) {
            sv = &out[(*n)++];
            sv->name = rb_strdup(run->arena, it->string);
        }
        memset(&sv->value, 0, sizeof(sv->value));
        sv->unknown = NULL;
        sv->source = rb_sprintf(run->arena, "--signals %s", path);
        if (rb_signal_json_value(run->arena, text, len, it->string, &sv->value, &verr) < 0)
            set_unknown(run->arena, sv, verr.msg);
        else if (sv->value.type == RB_VAL_NULL)
            set_unknown(run->arena, sv, "null");
    }
    cJSON_Delete(j);
    free(text);
    *sig = out;
    return 0;
}

int rb_signals_read(struct rb_run *run, struct rb_signal_value **out, size_t *n, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_signal_value *sig =
        rb_new_array(run->arena, struct rb_signal_value, rb->n_signals + 1);

    for (size_t i = 0; i < rb->n_signals; i++) {
        const struct rb_signal *s = &rb->signals[i];
        struct rb_signal_value *sv = &sig[i];

        memset(sv, 0, sizeof(*sv));
        sv->name = s->name;
        if (run->offline) {
            sv->source = s->file != NULL  ? rb_sprintf(run->arena, "file %s", s->file)
                         : s->sql != NULL ? rb_sprintf(run->arena, "sql on '%s'", s->target)
                                          : rb_sprintf(run->arena, "query on '%s'", s->target);
            set_unknown(run->arena, sv, "not read (--offline)");
        } else if (s->file != NULL) {
            read_file(run, s, sv);
        } else if (s->sql != NULL) {
            read_sql(run, s, sv);
        } else {
            read_query(run, s, sv);
        }
    }
    *out = sig;
    *n = rb->n_signals;
    if (run->signals_file != NULL && read_override(run, out, n, err) < 0)
        return -1;
    return 0;
}
