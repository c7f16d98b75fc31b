/*
 * plan_file.c - the reviewed plan: the plan hash (a canonical serialisation of what must not
 * change between review and execution, plan_file.h), the plan file `plan --out` writes, and
 * the comparison `execute --plan` makes with a plan made again before anything changes.
 *
 * The hash is computed from the same JSON the file holds (rb_plan_actions_json), so that a
 * plan file can be checked against its own plan_sha256 without the runbook, and a plan made now
 * is hashed by the very code that hashed the file.
 */
#include "rollbackctl/plan_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/engine.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/lifecycle.h"
#include "rollbackctl/output.h"
#include "rollbackctl/version.h"

/* Differences named in full on stderr before the refusal; past this, counted. */
#define MAX_SHOWN_DIFFERENCES 20
/* A value quoted in a difference is cut here: the SQL of a sync table is long. */
#define MAX_VALUE_TEXT 120

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void add_str_or_null(cJSON *o, const char *key, const char *val)
{
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *rb_plan_actions_json(const struct rb_run *run)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; i < run->n_actions; i++) {
        const struct rb_action *act = run->actions[i];
        cJSON *a = cJSON_CreateObject();
        cJSON *f;

        cJSON_AddStringToObject(a, "phase", act->phase);
        cJSON_AddStringToObject(a, "name", act->name);
        cJSON_AddStringToObject(a, "summary", act->summary);
        cJSON_AddStringToObject(a, "detail", act->detail.data != NULL ? act->detail.data : "");
        cJSON_AddStringToObject(a, "idempotency", rb_engine_idem_name(act->idem));
        cJSON_AddBoolToObject(a, "critical", act->critical);
        if (act->pos.line > 0)
            cJSON_AddNumberToObject(a, "line", act->pos.line);
        if (act->fields != NULL) {
            cJSON *obs;

            f = cJSON_Duplicate(act->fields, 1);
            /* observed last, and always there: null when the plan read nothing for it */
            obs = cJSON_DetachItemFromObjectCaseSensitive(f, "observed");
            cJSON_AddItemToObject(f, "observed", obs != NULL ? obs : cJSON_CreateNull());
        } else {
            f = cJSON_CreateNull();
        }
        cJSON_AddItemToObject(a, "fields", f);
        cJSON_AddItemToArray(arr, a);
    }
    return arr;
}

/* ---- the canonical form and the hash ----------------------------------------------------- */

struct keyed {
    const cJSON *item;
    size_t index; /* a key given twice (a hand-edited file) keeps its order: the sort is total */
};

static int keyed_cmp(const void *x, const void *y)
{
    const struct keyed *a = x, *b = y;
    int c = strcmp(a->item->string, b->item->string);

    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* A copy of v with the keys of every object sorted (bytewise), so key order never matters. */
static cJSON *canonical(const cJSON *v)
{
    const cJSON *it;
    cJSON *out;

    if (cJSON_IsObject(v)) {
        size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
        struct keyed *k = calloc(n > 0 ? n : 1, sizeof(*k));

        if (k == NULL)
            abort();
        cJSON_ArrayForEach(it, v) {
            k[i].item = it;
            k[i].index = i;
            i++;
        }
        qsort(k, n, sizeof(*k), keyed_cmp);
        out = cJSON_CreateObject();
        for (i = 0; i < n; i++)
            cJSON_AddItemToObject(out, k[i].item->string, canonical(k[i].item));
        free(k);
        return out;
    }
    if (cJSON_IsArray(v)) {
        out = cJSON_CreateArray();
        cJSON_ArrayForEach(it, v)
            cJSON_AddItemToArray(out, canonical(it));
        return out;
    }
    return cJSON_Duplicate(v, 0);
}

/* An action of the actions JSON without what is not its definition. */
static cJSON *action_definition(const cJSON *a)
{
    cJSON *d = cJSON_CreateObject();
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(a, "fields");
    const cJSON *crit = cJSON_GetObjectItemCaseSensitive(a, "critical");
    cJSON *fd;

    add_str_or_null(d, "phase", jstr(a, "phase"));
    add_str_or_null(d, "name", jstr(a, "name"));
    add_str_or_null(d, "idempotency", jstr(a, "idempotency"));
    cJSON_AddItemToObject(d, "critical",
                          cJSON_IsBool(crit) ? cJSON_Duplicate(crit, 0) : cJSON_CreateNull());
    fd = f != NULL ? cJSON_Duplicate(f, 1) : cJSON_CreateNull();
    cJSON_DeleteItemFromObjectCaseSensitive(fd, "observed");
    cJSON_AddItemToObject(d, "fields", fd);
    return d;
}

/* What the plan hash covers (plan_file.h), from the parts a run or a plan file holds. */
static cJSON *definition(const char *runbook_sha256, const char *severity,
                         const char *signals_sha256, const cJSON *actions)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *o, *arr;
    const cJSON *a;

    cJSON_AddNumberToObject(d, "format_version", RB_PLAN_FORMAT_VERSION);
    add_str_or_null(d, "runbook_sha256", runbook_sha256);
    o = cJSON_AddObjectToObject(d, "options");
    add_str_or_null(o, "severity", severity);
    add_str_or_null(o, "signals_sha256", signals_sha256);
    arr = cJSON_AddArrayToObject(d, "actions");
    cJSON_ArrayForEach(a, actions)
        cJSON_AddItemToArray(arr, action_definition(a));
    return d;
}

static void hash_definition(const cJSON *def, char out[65])
{
    cJSON *c = canonical(def);
    char *text = cJSON_PrintUnformatted(c);

    if (text == NULL)
        abort();
    rb_sha256_hex(text, strlen(text), out);
    cJSON_free(text);
    cJSON_Delete(c);
}

static int signals_sha256(const char *file, char out[65], struct rb_err *err)
{
    if (rb_sha256_file_hex(file, out, err) < 0)
        return rb_err_wrap(err, "signals file");
    return 0;
}

int rb_plan_sha256(struct rb_run *run, char out[65], struct rb_err *err)
{
    char sig[65];
    cJSON *actions, *def;

    if (run->signals_file != NULL && signals_sha256(run->signals_file, sig, err) < 0)
        return -1;
    actions = rb_plan_actions_json(run);
    def = definition(run->rb->sha256, run->severity_opt, run->signals_file != NULL ? sig : NULL,
                     actions);
    hash_definition(def, out);
    cJSON_Delete(def);
    cJSON_Delete(actions);
    run->plan_sha256 = rb_strdup(run->arena, out);
    return 0;
}

int rb_plan_prepass(struct rb_ctx *ctx, const struct rb_runbook *rb, const char *severity,
                    const char *signals_file, struct rb_run **out, struct rb_err *err)
{
    struct rb_run *run = rb_run_new(ctx, rb, RB_MODE_PLAN);
    char sha[65];

    run->severity_opt = severity;
    run->signals_file = signals_file;
    run->offline = true;
    if (out != NULL)
        *out = NULL;
    if (rb_engine_plan_quiet(run, err) < 0 || rb_plan_sha256(run, sha, err) < 0)
        return -1;
    if (out != NULL)
        *out = run;
    return 0;
}

/* ---- the file ------------------------------------------------------------------------------ */

int rb_plan_file_write(const char *path, struct rb_run *run, struct rb_err *err)
{
    cJSON *doc = cJSON_CreateObject(), *o;
    char sig[65], at[40], sha[65];
    char *text;
    int rc;

    if (run->plan_sha256 == NULL && rb_plan_sha256(run, sha, err) < 0) {
        cJSON_Delete(doc);
        return -1;
    }
    if (run->signals_file != NULL && signals_sha256(run->signals_file, sig, err) < 0) {
        cJSON_Delete(doc);
        return -1;
    }
    rb_rfc3339_ms(rb_wall_ms(), at, sizeof(at));
    cJSON_AddNumberToObject(doc, "format_version", RB_PLAN_FORMAT_VERSION);
    cJSON_AddStringToObject(doc, "created", at);
    cJSON_AddStringToObject(doc, "created_by", rb_initiated_by(run->arena));
    cJSON_AddStringToObject(doc, "rollbackctl_version", RB_VERSION);
    add_str_or_null(doc, "commit", rb_build_commit());
    o = cJSON_AddObjectToObject(doc, "runbook");
    cJSON_AddStringToObject(o, "name", run->rb->name);
    cJSON_AddStringToObject(o, "path", run->rb->path);
    cJSON_AddStringToObject(o, "sha256", run->rb->sha256);
    cJSON_AddStringToObject(doc, "cutover", run->rb->cutover_src);
    cJSON_AddBoolToObject(doc, "offline", run->offline);
    o = cJSON_AddObjectToObject(doc, "options");
    add_str_or_null(o, "severity", run->severity_opt);
    add_str_or_null(o, "signals_file", run->signals_file);
    add_str_or_null(o, "signals_sha256", run->signals_file != NULL ? sig : NULL);
    add_str_or_null(o, "reason", run->reason);
    cJSON_AddItemToObject(doc, "actions", rb_plan_actions_json(run));
    cJSON_AddStringToObject(doc, "plan_sha256", run->plan_sha256);
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (text == NULL)
        abort();
    {
        size_t len = strlen(text);

        /* one newline at the end, as every text file has */
        text = realloc(text, len + 2);
        if (text == NULL)
            abort();
        text[len] = '\n';
        text[len + 1] = '\0';
        rc = rb_write_file_atomic(path, text, len + 1, 0600, err);
    }
    free(text);
    if (rc < 0)
        return rb_err_wrap(err, "unable to write the plan file");
    return 0;
}

static void free_json(void *p)
{
    cJSON_Delete(p);
}

/* A member the file must have; else it is no plan file (usage: the option names a wrong file). */
static int need(const char *path, const cJSON *v, const char *what, struct rb_err *err)
{
    if (v != NULL)
        return 0;
    rb_errf(err, RB_E_USAGE, "'%s' is not a rollbackctl plan file: %s is missing or wrong", path,
            what);
    return rb_err_hint(err, "give the file 'rollbackctl plan --out FILE' wrote");
}

int rb_plan_file_read(struct rb_arena *a, const char *path, struct rb_plan_file *pf,
                      struct rb_err *err)
{
    size_t len;
    char *text = rb_read_file(path, &len, err);
    const cJSON *fv, *rbk, *opts, *acts, *it;
    cJSON *doc, *def;
    char sha[65];

    memset(pf, 0, sizeof(*pf));
    pf->path = rb_strdup(a, path);
    if (text == NULL) {
        err->cls = RB_E_USAGE;
        return rb_err_wrap(err, "plan file");
    }
    doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (doc == NULL) {
        rb_errf(err, RB_E_USAGE, "plan file '%s' is not JSON", path);
        return rb_err_hint(err, "give the file 'rollbackctl plan --out FILE' wrote");
    }
    rb_arena_on_free(a, free_json, doc);
    pf->doc = doc;
    fv = cJSON_GetObjectItemCaseSensitive(doc, "format_version");
    if (need(path, cJSON_IsNumber(fv) ? fv : NULL, "format_version", err) < 0)
        return -1;
    if (fv->valuedouble != RB_PLAN_FORMAT_VERSION) {
        rb_errf(err, RB_E_USAGE,
                "plan file '%s' has format_version %g; this rollbackctl (%s) reads version %d",
                path, fv->valuedouble, RB_VERSION, RB_PLAN_FORMAT_VERSION);
        return rb_err_hint(err, "make the plan with this rollbackctl: rollbackctl plan --out %s",
                           path);
    }
    rbk = cJSON_GetObjectItemCaseSensitive(doc, "runbook");
    opts = cJSON_GetObjectItemCaseSensitive(doc, "options");
    acts = cJSON_GetObjectItemCaseSensitive(doc, "actions");
    if (need(path, jstr(rbk, "sha256") != NULL ? rbk : NULL, "runbook.sha256", err) < 0 ||
        need(path, cJSON_IsObject(opts) ? opts : NULL, "options", err) < 0 ||
        need(path, cJSON_IsArray(acts) ? acts : NULL, "actions", err) < 0 ||
        need(path, jstr(doc, "plan_sha256") != NULL ? doc : NULL, "plan_sha256", err) < 0)
        return -1;
    cJSON_ArrayForEach(it, acts)
        if (need(path, jstr(it, "name") != NULL && jstr(it, "phase") != NULL ? it : NULL,
                 "an action's name or phase", err) < 0)
            return -1;
    pf->runbook_sha256 = jstr(rbk, "sha256");
    pf->severity = jstr(opts, "severity");
    pf->signals_file = jstr(opts, "signals_file");
    pf->signals_sha256 = jstr(opts, "signals_sha256");
    pf->version = jstr(doc, "rollbackctl_version");
    def = definition(pf->runbook_sha256, pf->severity, pf->signals_sha256, acts);
    hash_definition(def, sha);
    cJSON_Delete(def);
    if (strcmp(sha, jstr(doc, "plan_sha256")) != 0) {
        rb_errf(err, RB_E_FAILED,
                "plan file '%s' does not match its plan_sha256 (%.12s... written, %.12s... "
                "for what it holds): it was edited or damaged since it was written",
                path, jstr(doc, "plan_sha256"), sha);
        return rb_err_hint(err, "nothing was changed; make the plan again (rollbackctl plan --out "
                                "FILE), review it, and execute with that file");
    }
    pf->plan_sha256 = rb_strdup(a, sha);
    return 0;
}

/* ---- the comparison ------------------------------------------------------------------------ */

struct diffs {
    struct rb_ctx *ctx;
    struct rb_arena *a;
    const char *first;
    int n;
};

static void differ(struct diffs *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void differ(struct diffs *d, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d->first == NULL)
        d->first = rb_strdup(d->a, msg);
    if (d->n < MAX_SHOWN_DIFFERENCES)
        rb_warn(d->ctx, "plan file: %s", msg);
    d->n++;
}

/* A JSON value for a message, cut short: "..." when cut. */
static const char *value_text(struct rb_arena *a, const cJSON *v)
{
    char *t;
    const char *s;

    if (v == NULL)
        return "absent";
    t = cJSON_PrintUnformatted(v);
    if (t == NULL)
        abort();
    if (strlen(t) > MAX_VALUE_TEXT)
        s = rb_sprintf(a, "%.*s...", MAX_VALUE_TEXT, t);
    else
        s = rb_strdup(a, t);
    cJSON_free(t);
    return s;
}

/*
 * The first place where two definitions differ: *path ("new", "sql.target[5]") and both
 * values; false when equal. Objects compare key by key (order is not a difference), arrays
 * item by item.
 */
static bool first_diff(struct rb_arena *a, const cJSON *x, const cJSON *y, const char *at,
                       const char **path, const cJSON **vx, const cJSON **vy)
{
    const cJSON *it;

    if (cJSON_IsObject(x) && cJSON_IsObject(y)) {
        cJSON_ArrayForEach(it, x) {
            const char *p = at[0] != '\0' ? rb_sprintf(a, "%s.%s", at, it->string) : it->string;

            if (first_diff(a, it, cJSON_GetObjectItemCaseSensitive(y, it->string), p, path, vx, vy))
                return true;
        }
        cJSON_ArrayForEach(it, y)
            if (cJSON_GetObjectItemCaseSensitive(x, it->string) == NULL) {
                *path = at[0] != '\0' ? rb_sprintf(a, "%s.%s", at, it->string) : it->string;
                *vx = NULL;
                *vy = it;
                return true;
            }
        return false;
    }
    if (cJSON_IsArray(x) && cJSON_IsArray(y)) {
        int nx = cJSON_GetArraySize(x), ny = cJSON_GetArraySize(y);

        for (int i = 0; i < nx || i < ny; i++) {
            const cJSON *ix = i < nx ? cJSON_GetArrayItem(x, i) : NULL;
            const cJSON *iy = i < ny ? cJSON_GetArrayItem(y, i) : NULL;
            const char *p = rb_sprintf(a, "%s[%d]", at, i);

            if (ix == NULL || iy == NULL) {
                *path = p;
                *vx = ix;
                *vy = iy;
                return true;
            }
            if (first_diff(a, ix, iy, p, path, vx, vy))
                return true;
        }
        return false;
    }
    if (x != NULL && y != NULL && cJSON_Compare(x, y, true))
        return false;
    *path = at;
    *vx = x;
    *vy = y;
    return true;
}

static const cJSON *by_name(const cJSON *actions, const char *name, int *index)
{
    const cJSON *it;
    int i = 0;

    cJSON_ArrayForEach(it, actions) {
        const char *n = jstr(it, "name");

        if (n != NULL && strcmp(n, name) == 0) {
            if (index != NULL)
                *index = i;
            return it;
        }
        i++;
    }
    return NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void compare_actions(struct diffs *d, const cJSON *then, const cJSON *now)
{
    const cJSON *it;
    int last_now = -1;
    bool order_said = false;

    cJSON_ArrayForEach(it, then) {
        const char *name = jstr(it, "name");
        int pos_now = -1;
        const cJSON *cur = by_name(now, name, &pos_now);
        cJSON *dt, *dn;
        const char *path;
        const cJSON *vx, *vy;

        if (cur == NULL) {
            differ(d, "action '%s' is no longer planned (it was in the plan)", name);
            continue;
        }
        if (pos_now < last_now && !order_said) {
            differ(d, "action '%s' moved: its place among the actions is not the plan's", name);
            order_said = true;
        }
        last_now = pos_now;
        dt = action_definition(it);
        dn = action_definition(cur);
        if (first_diff(d->a, dt, dn, "", &path, &vx, &vy)) {
            /* a field's name alone reads better: "new", not "fields.new" */
            if (strncmp(path, "fields.", 7) == 0)
                path += 7;
            differ(d, "action '%s' differs: %s is %s in the plan, %s now", name, path,
                   value_text(d->a, vx), value_text(d->a, vy));
        }
        cJSON_Delete(dt);
        cJSON_Delete(dn);
    }
    cJSON_ArrayForEach(it, now)
        if (by_name(then, jstr(it, "name"), NULL) == NULL)
            differ(d, "action '%s' is new since the plan", jstr(it, "name"));
}

int rb_plan_file_compare(struct rb_ctx *ctx, const struct rb_plan_file *pf,
                         const struct rb_run *now, struct rb_err *err)
{
    struct diffs d = { ctx, ctx->arena, NULL, 0 };
    char sig[65];
    cJSON *actions;

    if (pf->version != NULL && strcmp(pf->version, RB_VERSION) != 0)
        rb_warn(ctx, "plan file '%s' was made by rollbackctl %s, this is %s", pf->path, pf->version,
                RB_VERSION);
    if (!same_str(pf->severity, now->severity_opt))
        differ(&d, "the severity differs: %s%s%s in the plan, %s%s%s now",
               pf->severity != NULL ? "'" : "", pf->severity != NULL ? pf->severity : "none",
               pf->severity != NULL ? "'" : "", now->severity_opt != NULL ? "'" : "",
               now->severity_opt != NULL ? now->severity_opt : "none",
               now->severity_opt != NULL ? "'" : "");
    if (now->signals_file != NULL) {
        struct rb_err serr = RB_ERR_INIT;

        if (signals_sha256(now->signals_file, sig, &serr) < 0)
            differ(&d, "%s", serr.msg);
        else if (!same_str(pf->signals_sha256, sig))
            differ(&d, "the signals file differs: %s in the plan, '%s' (sha256 %.12s...) now",
                   pf->signals_sha256 != NULL
                       ? rb_sprintf(ctx->arena, "sha256 %.12s...", pf->signals_sha256)
                       : "none",
                   now->signals_file, sig);
    } else if (pf->signals_sha256 != NULL) {
        differ(&d, "the plan was made with a signals file (%s), execute gives none",
               pf->signals_file != NULL ? pf->signals_file : "?");
    }
    actions = rb_plan_actions_json(now);
    compare_actions(&d, cJSON_GetObjectItemCaseSensitive(pf->doc, "actions"), actions);
    cJSON_Delete(actions);
    /* last: an action's difference says more than the hash that changed with it */
    if (strcmp(pf->runbook_sha256, now->rb->sha256) != 0)
        differ(&d, "the runbook changed since the plan (sha256 %.12s... then, %.12s... now)",
               pf->runbook_sha256, now->rb->sha256);
    if (d.n == 0)
        return 0;
    if (d.n > MAX_SHOWN_DIFFERENCES)
        rb_warn(ctx, "plan file: and %d more difference%s", d.n - MAX_SHOWN_DIFFERENCES,
                d.n - MAX_SHOWN_DIFFERENCES == 1 ? "" : "s");
    rb_errf(err, RB_E_FAILED,
            "refusing to execute: the plan in '%s' is not what would run now: %s%s", pf->path,
            d.first,
            d.n > 1 ? rb_sprintf(ctx->arena, " (and %d more difference%s)", d.n - 1,
                                 d.n - 1 == 1 ? "" : "s")
                    : "");
    return rb_err_hint(err,
                       "nothing was changed; make the plan again (rollbackctl plan --out FILE), "
                       "review it, and execute with that file");
}
