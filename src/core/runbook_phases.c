/*
 * runbook_phases.c - loading the sections of the later phases: sync, restore, verify,
 * communicate, prepare, and the probes (sql/http/run) that restore steps and verify checks share.
 *
 * Each list item keeps its position so a phase can name the runbook line an action came from.
 * Names within a list (sync tables, restore steps, checks, messages) must be unique: they key
 * the journal and the sync ledger.
 */
#include "runbook_priv.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "rollbackctl/template.h"

#define DB_BIT RB_KIND_BIT(RB_TARGET_DB)

/*
 * Names seen so far in one list (restore steps, checks, messages), so that a duplicate is reported
 * at its own line with the line of the first. A list whose names become action ids (id_prefix
 * "restore" or "verify") also refuses two names with one slug ("Start API", "start-api"): resume
 * finds an action by its id, and two steps with one id would share one journal record.
 */
struct ld_names {
    const char *id_prefix; /* "restore", "verify", or NULL: the names make no action ids */
    const char **names;
    const char **slugs;
    struct rb_pos *poss;
    size_t n;
};

static void ld_names_init(struct ld *l, struct ld_names *nm, size_t cap, const char *id_prefix)
{
    nm->id_prefix = id_prefix;
    nm->names = rb_new_array(l->a, const char *, cap + 1);
    nm->slugs = rb_new_array(l->a, const char *, cap + 1);
    nm->poss = rb_new_array(l->a, struct rb_pos, cap + 1);
    nm->n = 0;
}

const char *rb_name_slug(struct rb_arena *a, const char *name)
{
    char *out = rb_strdup(a, name);
    size_t o = 0;

    for (const char *p = name; *p != '\0'; p++) {
        if (isalnum((unsigned char)*p))
            out[o++] = (char)tolower((unsigned char)*p);
        else if (o > 0 && out[o - 1] != '-')
            out[o++] = '-';
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = '\0';
    return out;
}

/* Report name if already seen; otherwise remember it. NULL names (already reported) are skipped. */
static void ld_names_add(struct ld *l, struct ld_names *nm, const char *what, const char *name,
                         struct rb_pos at, struct rb_pos first)
{
    const char *slug;
    size_t i;

    if (name == NULL)
        return;
    slug = nm->id_prefix != NULL ? rb_name_slug(l->a, name) : NULL;
    for (i = 0; i < nm->n; i++) {
        if (strcmp(nm->names[i], name) == 0) {
            ld_err(l, at, "duplicate %s '%s' (first at line %d)", what, name, nm->poss[i].line);
            return;
        }
        if (slug != NULL && strcmp(nm->slugs[i], slug) == 0) {
            ld_err(l, at,
                   "%s '%s' and '%s' (line %d) would both have the action id '%s/%s'; rename one",
                   what, name, nm->names[i], nm->poss[i].line, nm->id_prefix, slug);
            return;
        }
    }
    if (slug != NULL && slug[0] == '\0') {
        ld_err(l, at, "%s '%s' needs a letter or digit in its name (its action id is made of them)",
               what, name);
        return;
    }
    /* verify/report is the action that writes the verification report */
    if (slug != NULL && strcmp(nm->id_prefix, "verify") == 0 && strcmp(slug, "report") == 0) {
        ld_err(l, at,
               "%s '%s' would have the action id 'verify/report' of the verification report; "
               "rename it",
               what, name);
        return;
    }
    nm->names[nm->n] = name;
    nm->slugs[nm->n] = slug;
    nm->poss[nm->n++] = first;
}

/* ---- sync --------------------------------------------------------------------------------- */

static const char *key_list(struct ld *l, const struct rb_strlist *key)
{
    const char *out = "";

    for (size_t i = 0; i < key->n; i++)
        out = rb_sprintf(l->a, "%s%s'%s'", out, i > 0 ? ", " : "", key->items[i]);
    return out;
}

const char *const rb_deletions_policy_names[] = { "ignore", "report", "delete", "soft_delete",
                                                 NULL };

/*
 * What sync does with the deletions (`policy`, `soft_delete`, `max`). A policy that changes legacy
 * needs `max`: a wrong key mapping finds every legacy row "deleted in new", and the cap is what
 * stands between that mistake and an emptied payroll table, so it is never guessed.
 */
static void ld_deletions_policy(struct ld *l, const struct yn *n, const char *w,
                                struct rb_sync_deletions *d)
{
    const char *const *names = rb_deletions_policy_names;
    static const char *const skeys[] = { "column", "value", NULL };
    const char *policy = ld_str(l, n, "policy", "sync.tables.deletions");
    const struct yn *soft = yn_get(n, "soft_delete");
    bool changes, known = true;

    d->max = -1;
    d->policy_pos = ld_pos(n, "policy");
    if (policy != NULL) {
        size_t i;

        for (i = 0; names[i] != NULL && strcmp(names[i], policy) != 0; i++)
            ;
        known = names[i] != NULL;
        if (!known)
            ld_err(l, d->policy_pos,
                   "'policy' of %s is '%s'; expected one of 'ignore', 'report', 'delete' or "
                   "'soft_delete'",
                   w, policy);
        else
            d->policy = (enum rb_deletions_policy)i;
    }
    changes = d->policy == RB_DELETIONS_DELETE || d->policy == RB_DELETIONS_SOFT_DELETE;
    if (yn_get(n, "max") != NULL) {
        d->max = ld_int(l, n, "max", "sync.tables.deletions", -1, 0, INT_MAX);
        if (!changes && known)
            ld_err(l, ld_pos(n, "max"),
                   "'max' in %s caps what policy 'delete' or 'soft_delete' changes; policy is '%s'",
                   w, names[d->policy]);
    } else if (changes) {
        ld_err(l, d->policy_pos,
               "policy '%s' in %s needs 'max': the most legacy rows it may %s in one run (more "
               "refuses the table before anything changes)",
               names[d->policy], w, d->policy == RB_DELETIONS_DELETE ? "delete" : "mark void");
    }
    if (soft != NULL && ld_is_map(l, soft, "sync.tables.deletions.soft_delete")) {
        ld_keys(l, soft, ld_pos(n, "soft_delete"), rb_sprintf(l->a, "'soft_delete' of %s", w),
                skeys, skeys);
        d->soft_column = ld_str(l, soft, "column", "sync.tables.deletions.soft_delete");
        d->soft_value = ld_str(l, soft, "value", "sync.tables.deletions.soft_delete");
        if (d->policy != RB_DELETIONS_SOFT_DELETE && known)
            ld_err(l, ld_pos(n, "soft_delete"),
                   "'soft_delete' in %s is used by policy 'soft_delete' only; policy is '%s'", w,
                   names[d->policy]);
    } else if (soft == NULL && d->policy == RB_DELETIONS_SOFT_DELETE) {
        ld_err(l, d->policy_pos,
               "policy 'soft_delete' in %s needs 'soft_delete: { column, value }': the legacy "
               "column that marks a row void and its value",
               w);
    }
}

/*
 * `deletions:` of a sync table (issue 14, detection): the legacy scope and new's own record of
 * deletions. The tombstone key maps every target key column exactly once, so that a tombstone
 * names one legacy row; a missing or extra column would match the wrong rows or none.
 */
static void ld_sync_deletions(struct ld *l, const struct yn *n, const char *what,
                              struct rb_sync_table *t)
{
    static const char *const keys[] = { "scope", "tombstones", "policy", "soft_delete", "max", NULL };
    static const char *const tkeys[] = { "table", "key", "deleted_at", "where", NULL };
    static const char *const treq[] = { "table", "key", "deleted_at", NULL };
    struct rb_sync_deletions *d = &t->deletions;
    const struct yn *tomb, *key;
    const char *w = rb_sprintf(l->a, "'deletions' of %s", what);
    size_t i, j;

    if (!ld_is_map(l, n, "sync.tables.deletions"))
        return;
    d->present = true;
    d->pos = n->pos;
    ld_keys(l, n, n->pos, w, keys, (const char *const[]){ NULL });
    d->scope = ld_str(l, n, "scope", "sync.tables.deletions");
    ld_deletions_policy(l, n, w, d);
    tomb = yn_get(n, "tombstones");
    if (tomb == NULL || !ld_is_map(l, tomb, "sync.tables.deletions.tombstones"))
        return;
    d->tomb_pos = tomb->pos;
    ld_keys(l, tomb, ld_pos(n, "tombstones"), rb_sprintf(l->a, "'tombstones' of %s", what), tkeys,
            treq);
    d->tomb_table = ld_str(l, tomb, "table", "sync.tables.deletions.tombstones");
    d->tomb_deleted_at = ld_str(l, tomb, "deleted_at", "sync.tables.deletions.tombstones");
    d->tomb_where = ld_str(l, tomb, "where", "sync.tables.deletions.tombstones");
    key = yn_get(tomb, "key");
    if (key == NULL || !ld_is_map(l, key, "sync.tables.deletions.tombstones.key"))
        return;
    /* kept in t->key order whatever the order written, as the contract says */
    d->tomb_key = rb_new_array(l->a, struct rb_column_map, t->key.n + 1);
    for (i = 0; i < key->n; i++) {
        const struct yn *k = key->items[2 * i];
        bool known = false;

        if (k->type != YN_SCALAR)
            continue;
        for (j = 0; j < t->key.n; j++)
            known = known || strcmp(t->key.items[j], k->str) == 0;
        if (!known && t->key.n > 0)
            ld_err(l, k->pos,
                   "'tombstones.key' of %s names '%s', which is not a key column of its target "
                   "(%s); map each target key column once",
                   what, k->str, key_list(l, &t->key));
    }
    for (j = 0; j < t->key.n; j++) {
        const char *expr;

        if (yn_key(key, t->key.items[j]) == NULL) {
            ld_err(l, key->pos,
                   "'tombstones.key' of %s misses key column '%s'; give an expression over "
                   "'%s' for each target key column",
                   what, t->key.items[j], d->tomb_table != NULL ? d->tomb_table : "the table");
            continue;
        }
        expr = ld_str(l, key, t->key.items[j], "sync.tables.deletions.tombstones.key");
        if (expr == NULL)
            continue;
        d->tomb_key[d->n_tomb_key].target_column = t->key.items[j];
        d->tomb_key[d->n_tomb_key].source_expr = expr;
        d->tomb_key[d->n_tomb_key].pos = ld_pos(key, t->key.items[j]);
        d->n_tomb_key++;
    }
}

static void ld_sync_table(struct ld *l, const struct yn *n, struct rb_sync_table *t)
{
    static const char *const keys[] = { "name",    "critical",  "source", "target", "columns",
                                        "deletions", "after", "split", NULL };
    static const char *const req[] = { "name", "source", "target", "columns", NULL };
    static const char *const src_keys[] = { "table", "changed_since", "where", NULL };
    static const char *const src_req[] = { "table", "changed_since", NULL };
    static const char *const dst_keys[] = { "table", "key", NULL };
    static const char *const dst_req[] = { "table", "key", NULL };
    const struct yn *src, *dst, *cols;
    const char *what;
    size_t i, j;

    t->pos = n->pos;
    t->name = ld_str(l, n, "name", "sync.tables");
    what = t->name != NULL ? rb_sprintf(l->a, "sync table '%s'", t->name) : "a sync table";
    ld_keys(l, n, n->pos, what, keys, req);
    t->critical = ld_bool(l, n, "critical", "sync.tables", true);
    src = yn_get(n, "source");
    if (src != NULL && ld_is_map(l, src, "sync.tables.source")) {
        t->source_pos = src->pos;
        ld_keys(l, src, ld_pos(n, "source"), rb_sprintf(l->a, "the source of %s", what), src_keys,
                src_req);
        t->source_table = ld_str(l, src, "table", "sync.tables.source");
        t->changed_since = ld_str(l, src, "changed_since", "sync.tables.source");
        t->where = ld_str(l, src, "where", "sync.tables.source");
    }
    dst = yn_get(n, "target");
    if (dst != NULL && ld_is_map(l, dst, "sync.tables.target")) {
        t->target_pos = dst->pos;
        ld_keys(l, dst, ld_pos(n, "target"), rb_sprintf(l->a, "the target of %s", what), dst_keys,
                dst_req);
        t->target_table = ld_str(l, dst, "table", "sync.tables.target");
        t->key = ld_strlist(l, dst, "key", "sync.tables.target", true);
        if (yn_key(dst, "key") != NULL && t->key.n == 0 && yn_get(dst, "key")->type == YN_SEQ)
            ld_err(l, t->key.pos,
                   "'sync.tables.target.key' of %s is empty; name the upsert key columns", what);
    }
    cols = yn_get(n, "columns");
    if (cols != NULL && ld_is_map(l, cols, "sync.tables.columns")) {
        t->columns_pos = cols->pos;
        t->columns = rb_new_array(l->a, struct rb_column_map, cols->n + 1);
        if (cols->n == 0)
            ld_err(l, cols->pos, "'columns' of %s is empty", what);
        for (i = 0; i < cols->n; i++) {
            const struct yn *k = cols->items[2 * i];
            const char *expr;

            if (k->type != YN_SCALAR)
                continue;
            expr = ld_str(l, cols, k->str, "sync.tables.columns");
            if (expr == NULL)
                continue;
            t->columns[t->n_columns].target_column = k->str;
            t->columns[t->n_columns].source_expr = expr;
            t->columns[t->n_columns].pos = k->pos;
            t->n_columns++;
        }
        for (i = 0; i < t->key.n; i++) {
            bool found = false;

            for (j = 0; j < t->n_columns; j++)
                found = found || strcmp(t->columns[j].target_column, t->key.items[i]) == 0;
            if (!found && t->n_columns > 0)
                ld_err(l, t->key.pos, "key column '%s' of %s is not one of its columns",
                       t->key.items[i], what);
        }
    }
    if (yn_get(n, "deletions") != NULL)
        ld_sync_deletions(l, yn_get(n, "deletions"), what, t);
    t->after = ld_strlist(l, n, "after", "sync.tables", true);
    t->split = ld_int(l, n, "split", "sync.tables", 1, 1, RB_SYNC_SPLIT_MAX);
    t->split_pos = yn_key(n, "split") != NULL ? ld_pos(n, "split") : n->pos;
    /* ranges of one key column, compared with integer bounds (the type is the catalog's, at
     * plan time); a composite key has no single order the ranges could follow */
    if (t->split > 1 && t->key.n > 1)
        ld_err(l, t->split_pos,
               "'split' of %s needs a single key column, and 'target.key' has %zu; drop 'split' "
               "or key the table on one integer column",
               what, t->key.n);
    /* the ranges' actions and ledger rows are <name>#<n> */
    if (t->split > 1 && t->name != NULL && strchr(t->name, '#') != NULL)
        ld_err(l, t->split_pos,
               "sync table '%s' with 'split': its name may not contain '#' (its ranges are named "
               "'%s#1'...)",
               t->name, t->name);
}

/* The index of the sync table named name, or n_tables. */
static size_t sync_index(const struct rb_sync *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n_tables; i++)
        if (s->tables[i].name != NULL && strcmp(s->tables[i].name, name) == 0)
            break;
    return i;
}

/*
 * Depth-first through the `after:` edges from table i; state 0 unseen, 1 on the path, 2 done.
 * A table met again while on the path closes a cycle: reported once, at the `after:` that closes
 * it, with the whole loop ("a -> b -> a"). path holds the tables on the path, depth of them.
 */
static bool sync_after_cycle(struct ld *l, const struct rb_sync *s, size_t i, int *state,
                             size_t *path, size_t depth)
{
    const struct rb_sync_table *t = &s->tables[i];

    state[i] = 1;
    path[depth] = i;
    for (size_t k = 0; k < t->after.n; k++) {
        size_t j = sync_index(s, t->after.items[k]);

        if (j == s->n_tables || j == i)
            continue;
        if (state[j] == 1) {
            const char *loop = "";
            size_t from = 0;

            while (path[from] != j)
                from++;
            for (size_t p = from; p <= depth; p++)
                loop = rb_sprintf(l->a, "%s'%s' -> ", loop, s->tables[path[p]].name);
            ld_err(l, t->after.pos,
                   "'after' of sync table '%s' makes a cycle: %s'%s'; no table of it could start",
                   t->name, loop, s->tables[j].name);
            return true;
        }
        if (state[j] == 0 && sync_after_cycle(l, s, j, state, path, depth + 1))
            return true;
    }
    state[i] = 2;
    return false;
}

/* `after:` names other sync tables of this runbook, and never in a circle. */
static void ld_sync_after(struct ld *l, struct rb_sync *s)
{
    int *state = rb_new_array(l->a, int, s->n_tables + 1);
    size_t *path = rb_new_array(l->a, size_t, s->n_tables + 1);
    bool named = true;

    for (size_t i = 0; i < s->n_tables; i++) {
        const struct rb_sync_table *t = &s->tables[i];

        for (size_t k = 0; k < t->after.n; k++) {
            const char *name = t->after.items[k];
            struct rb_near near;

            if (t->name != NULL && strcmp(name, t->name) == 0) {
                ld_err(l, t->after.pos, "sync table '%s' names itself in 'after'", t->name);
                named = false;
                continue;
            }
            if (sync_index(s, name) < s->n_tables)
                continue;
            named = false;
            rb_near_init(&near, name);
            if (ld_near_spend(l, s->n_tables))
                for (size_t j = 0; j < s->n_tables; j++)
                    if (s->tables[j].name != NULL)
                        rb_near_try(&near, s->tables[j].name);
            if (near.best != NULL)
                ld_err(l, t->after.pos,
                       "'after' of sync table '%s' names no sync table '%s'; did you mean '%s'?",
                       t->name != NULL ? t->name : "?", name, near.best);
            else
                ld_err(l, t->after.pos, "'after' of sync table '%s' names no sync table '%s'",
                       t->name != NULL ? t->name : "?", name);
        }
    }
    if (!named)
        return;
    for (size_t i = 0; i < s->n_tables; i++)
        if (state[i] == 0 && sync_after_cycle(l, s, i, state, path, 0))
            return;
}

void ld_sync(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "from", "to", "tables", "jobs", "presync", NULL };
    static const char *const req[] = { "from", "to", "tables", NULL };
    struct rb_sync *s = &l->rb->sync;
    const struct rb_target *t;
    const struct yn *tables;
    size_t i;

    if (!ld_is_map(l, n, "sync"))
        return;
    s->present = true;
    s->pos = n->pos;
    ld_keys(l, n, n->pos, "'sync'", keys, req);
    s->jobs = ld_int(l, n, "jobs", "sync", 1, 1, RB_SYNC_JOBS_MAX);
    s->presync = ld_bool(l, n, "presync", "sync", false);
    t = ld_target_ref(l, n, "from", "sync", DB_BIT);
    s->from = t != NULL ? t->name : NULL;
    t = ld_target_ref(l, n, "to", "sync", DB_BIT);
    s->to = t != NULL ? t->name : NULL;
    if (s->from != NULL && s->to != NULL && strcmp(s->from, s->to) == 0)
        ld_err(l, yn_get(n, "to")->pos, "'sync.from' and 'sync.to' are both target '%s'", s->to);
    tables = yn_get(n, "tables");
    if (tables == NULL || !ld_is_seq(l, tables, "sync.tables"))
        return;
    s->tables = rb_new_array(l->a, struct rb_sync_table, tables->n + 1);
    for (i = 0; i < tables->n; i++) {
        struct rb_sync_table *st = &s->tables[s->n_tables];

        if (!ld_is_map(l, tables->items[i], "sync.tables"))
            continue;
        ld_sync_table(l, tables->items[i], st);
        if (st->name != NULL)
            for (size_t j = 0; j < s->n_tables; j++)
                if (s->tables[j].name != NULL && strcmp(s->tables[j].name, st->name) == 0) {
                    ld_err(l, ld_pos(tables->items[i], "name"),
                           "duplicate sync table '%s' (first at line %d)", st->name,
                           s->tables[j].pos.line);
                    break;
                }
        /* the pre-sync's ledger rows are "presync/<name>": no table of the sync's may be one */
        if (s->presync && st->name != NULL && strncmp(st->name, "presync/", 8) == 0)
            ld_err(l, ld_pos(tables->items[i], "name"),
                   "sync table '%s': with 'sync.presync' a name may not begin with 'presync/' "
                   "(the pre-sync's own ledger rows are named so)",
                   st->name);
        /* and presync/records-at-risk is the pre-sync's count of the records at risk (freeze.c) */
        if (s->presync && st->name != NULL && strcmp(st->name, "records-at-risk") == 0)
            ld_err(l, ld_pos(tables->items[i], "name"),
                   "sync table 'records-at-risk': with 'sync.presync' its pre-sync would have the "
                   "action id 'presync/records-at-risk' of the count of the records at risk; "
                   "rename it");
        s->n_tables++;
    }
    ld_sync_after(l, s);
}

/* ---- probes ------------------------------------------------------------------------------- */

static const char *const http_methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL };

/* Keys of a probe and the probe kinds they belong to. */
static const struct {
    const char *key;
    unsigned kinds; /* bit per enum rb_probe_kind */
} probe_keys[] = {
    { "target", 1u << RB_PROBE_SQL },
    { "sql", 1u << RB_PROBE_SQL },
    { "http", 1u << RB_PROBE_HTTP },
    { "method", 1u << RB_PROBE_HTTP },
    { "body", 1u << RB_PROBE_HTTP },
    { "headers", 1u << RB_PROBE_HTTP },
    { "expect_status", 1u << RB_PROBE_HTTP },
    { "run", 1u << RB_PROBE_RUN },
    { "retry", (1u << RB_PROBE_SQL) | (1u << RB_PROBE_HTTP) | (1u << RB_PROBE_RUN) },
    { "timeout", (1u << RB_PROBE_SQL) | (1u << RB_PROBE_HTTP) | (1u << RB_PROBE_RUN) },
};

static const char *probe_kind_key(enum rb_probe_kind k)
{
    return k == RB_PROBE_SQL ? "sql" : k == RB_PROBE_HTTP ? "http" : "run";
}

/*
 * Reads a probe from map n (the keys above; other keys were already checked by the caller).
 * what names it in messages ("restore.verify", "verify").
 */
static void ld_probe(struct ld *l, const struct yn *n, const char *what, struct rb_probe *p)
{
    const struct yn *h, *r;
    size_t i;
    int kinds = 0;

    p->pos = n->pos;
    p->retry.attempts = 1;
    if (yn_key(n, "sql") != NULL) {
        p->kind = RB_PROBE_SQL;
        kinds++;
    }
    if (yn_key(n, "http") != NULL) {
        p->kind = RB_PROBE_HTTP;
        kinds++;
    }
    if (yn_key(n, "run") != NULL) {
        p->kind = RB_PROBE_RUN;
        kinds++;
    }
    if (kinds != 1) {
        ld_err(l, n->pos,
               kinds == 0 ? "'%s' needs one of 'sql' (with 'target'), 'http' or 'run'"
                          : "'%s' takes one of 'sql', 'http' or 'run', not several",
               what);
        p->kind = RB_PROBE_NONE;
        return;
    }
    for (i = 0; i < sizeof(probe_keys) / sizeof(probe_keys[0]); i++)
        if (yn_key(n, probe_keys[i].key) != NULL && !(probe_keys[i].kinds & (1u << p->kind)))
            ld_err(l, ld_pos(n, probe_keys[i].key), "'%s' does not apply to a '%s' probe in '%s'",
                   probe_keys[i].key, probe_kind_key(p->kind), what);
    switch (p->kind) {
    case RB_PROBE_SQL: {
        const struct rb_target *t;

        p->sql = ld_str(l, n, "sql", what);
        if (yn_key(n, "target") == NULL) {
            ld_err(l, ld_pos(n, "sql"), "missing required key 'target' for the 'sql' of '%s'",
                   what);
        } else {
            t = ld_target_ref(l, n, "target", what, DB_BIT);
            p->target = t != NULL ? t->name : NULL;
        }
        break;
    }
    case RB_PROBE_HTTP: {
        const char *m;

        p->url = ld_str(l, n, "http", what);
        if (p->url != NULL && strncmp(p->url, "http://", 7) != 0 &&
            strncmp(p->url, "https://", 8) != 0)
            ld_err(l, yn_get(n, "http")->pos,
                   "'%s.http' must be an http:// or https:// URL, not '%s'", what, p->url);
        m = ld_str(l, n, "method", what);
        p->method = "GET";
        if (m != NULL) {
            bool ok = false;

            for (i = 0; http_methods[i] != NULL; i++)
                if (strcmp(m, http_methods[i]) == 0) {
                    ok = true;
                    p->method = http_methods[i];
                }
            if (!ok)
                ld_err(l, yn_get(n, "method")->pos,
                       "unknown HTTP method '%s' (expected GET, POST, PUT, PATCH, "
                       "DELETE or HEAD)",
                       m);
        }
        p->body = ld_str(l, n, "body", what);
        p->expect_status = ld_int(l, n, "expect_status", what, 200, 100, 599);
        h = yn_get(n, "headers");
        if (h != NULL && ld_is_map(l, h, rb_sprintf(l->a, "%s.headers", what))) {
            p->headers = rb_new_array(l->a, struct rb_header, h->n + 1);
            for (i = 0; i < h->n; i++) {
                const struct yn *k = h->items[2 * i];
                const char *v;

                if (k->type != YN_SCALAR ||
                    (v = ld_str(l, h, k->str, rb_sprintf(l->a, "%s.headers", what))) == NULL)
                    continue;
                p->headers[p->n_headers].name = k->str;
                p->headers[p->n_headers].value = v;
                p->n_headers++;
            }
        }
        break;
    }
    default: {
        const struct yn *run = yn_get(n, "run");

        p->argv = ld_strlist(l, n, "run", what, false);
        if (run != NULL && run->type == YN_SEQ && run->n == 0)
            ld_err(l, run->pos, "'%s.run' is empty; give the program and its arguments", what);
        break;
    }
    }
    p->timeout_ms = ld_dur(l, n, "timeout", what);
    r = yn_get(n, "retry");
    if (r != NULL && ld_is_map(l, r, rb_sprintf(l->a, "%s.retry", what))) {
        static const char *const rkeys[] = { "attempts", "interval", NULL };
        const char *rw = rb_sprintf(l->a, "%s.retry", what);

        ld_keys(l, r, ld_pos(n, "retry"), rb_sprintf(l->a, "'%s'", rw), rkeys, NULL);
        p->retry.attempts = ld_int(l, r, "attempts", rw, 1, 1, 10000);
        p->retry.interval_ms = ld_dur(l, r, "interval", rw);
    }
}

/* ---- restore ------------------------------------------------------------------------------ */

static const char *const dns_types[] = {
    "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT", NULL
};

static void ld_step(struct ld *l, const struct yn *n, struct rb_restore_step *s)
{
    static const char *const keys[] = { "name", "run",     "sql",    "dns", "scale",
                                        "env",  "timeout", "verify", NULL };
    static const char *const kinds[] = { "run", "sql", "dns", "scale", NULL };
    static const char *const sql_keys[] = { "target", "statement", NULL };
    static const char *const dns_keys[] = { "target", "name", "type", "data", "ttl", NULL };
    static const char *const dns_req[] = { "target", "name", "type", "data", NULL };
    static const char *const scale_keys[] = { "target", "deployment", "replicas", "namespace",
                                              NULL };
    static const char *const scale_req[] = { "target", "deployment", "replicas", NULL };
    static const char *const verify_keys[] = { "target",        "sql",  "http",
                                               "method",        "body", "headers",
                                               "expect_status", "run",  "retry",
                                               "timeout",       NULL };
    const char *what, *kind = NULL;
    const struct yn *body, *env, *vf;
    const struct rb_target *t;
    int found = 0;
    size_t i;

    s->pos = n->pos;
    s->name = ld_str(l, n, "name", "restore");
    what = s->name != NULL ? rb_sprintf(l->a, "restore step '%s'", s->name) : "a restore step";
    ld_keys(l, n, n->pos, what, keys, (const char *const[]){ "name", NULL });
    for (i = 0; kinds[i] != NULL; i++)
        if (yn_key(n, kinds[i]) != NULL && found++ == 0)
            kind = kinds[i];
    if (found != 1) {
        if (found == 0)
            ld_err(l, n->pos, "%s needs one of 'run', 'sql', 'dns' or 'scale'", what);
        else
            ld_err(l, n->pos, "%s does one thing; it has %d of 'run', 'sql', 'dns', 'scale'", what,
                   found);
        return;
    }
    s->timeout_ms = ld_dur(l, n, "timeout", "restore");
    env = yn_get(n, "env");
    if (env != NULL && strcmp(kind, "run") != 0)
        ld_err(l, ld_pos(n, "env"), "'env' only applies to 'run' steps");
    body = yn_get(n, kind);
    if (strcmp(kind, "run") == 0) {
        s->kind = RB_STEP_RUN;
        if (body->type == YN_SCALAR && !yn_is_null(body))
            ld_err(
                l, body->pos,
                "expected a list of strings for 'restore.run', found a string (commands are argv "
                "vectors, never run through a shell: [systemctl, start, legacy-db])");
        else
            s->argv = ld_strlist(l, n, "run", "restore", false);
        if (body->type == YN_SEQ && body->n == 0)
            ld_err(l, body->pos, "'run' of %s is empty; give the program and its arguments", what);
        if (env != NULL && ld_is_map(l, env, "restore.env")) {
            s->env = rb_new_array(l->a, struct rb_env_var, env->n + 1);
            for (i = 0; i < env->n; i++) {
                const struct yn *k = env->items[2 * i];
                const char *v = NULL;

                if (k->type != YN_SCALAR)
                    continue;
                /* a name without a value asks for ours, the one way a secret reaches a step */
                if (!yn_is_null(env->items[2 * i + 1]) &&
                    (v = ld_str(l, env, k->str, "restore.env")) == NULL)
                    continue;
                s->env[s->n_env].name = k->str;
                s->env[s->n_env].value = v;
                s->n_env++;
            }
        }
    } else if (ld_is_map(l, body, rb_sprintf(l->a, "restore.%s", kind))) {
        const char *w = rb_sprintf(l->a, "restore.%s", kind);
        struct rb_pos at = ld_pos(n, kind);

        if (strcmp(kind, "sql") == 0) {
            s->kind = RB_STEP_SQL;
            ld_keys(l, body, at, rb_sprintf(l->a, "'%s'", w), sql_keys, sql_keys);
            t = ld_target_ref(l, body, "target", w, DB_BIT);
            s->statement = ld_str(l, body, "statement", w);
        } else if (strcmp(kind, "dns") == 0) {
            const char *type;

            s->kind = RB_STEP_DNS;
            ld_keys(l, body, at, rb_sprintf(l->a, "'%s'", w), dns_keys, dns_req);
            t = ld_target_ref(l, body, "target", w, RB_KIND_BIT(RB_TARGET_DNS));
            s->dns_name = ld_str(l, body, "name", w);
            type = ld_str(l, body, "type", w);
            s->dns_data = ld_str(l, body, "data", w);
            s->dns_ttl = ld_int(l, body, "ttl", w, 300, 0, 2147483);
            if (type != NULL) {
                bool ok = false;

                for (i = 0; dns_types[i] != NULL; i++)
                    if (strcasecmp(type, dns_types[i]) == 0) {
                        ok = true;
                        s->dns_type = dns_types[i];
                    }
                if (!ok) {
                    struct rb_near near;

                    rb_near_init(&near, type);
                    for (i = 0; dns_types[i] != NULL; i++)
                        rb_near_try(&near, dns_types[i]);
                    ld_err(l, yn_get(body, "type")->pos,
                           "unknown DNS record type '%s' (expected A, AAAA, CNAME, "
                           "MX, NS, PTR, SRV or TXT)%s",
                           type, rb_near_hint(l, &near));
                }
            }
        } else {
            s->kind = RB_STEP_SCALE;
            ld_keys(l, body, at, rb_sprintf(l->a, "'%s'", w), scale_keys, scale_req);
            t = ld_target_ref(l, body, "target", w, RB_KIND_BIT(RB_TARGET_CLUSTER));
            s->deployment = ld_k8s_name(l, body, "deployment", w, false);
            s->namespace_ = ld_k8s_name(l, body, "namespace", w, true);
            s->replicas = ld_int(l, body, "replicas", w, 0, 0, 10000);
        }
        s->target = t != NULL ? t->name : NULL;
    }
    vf = yn_get(n, "verify");
    if (vf != NULL && ld_is_map(l, vf, "restore.verify")) {
        ld_keys(l, vf, ld_pos(n, "verify"), rb_sprintf(l->a, "the verify of %s", what), verify_keys,
                NULL);
        ld_probe(l, vf, "restore.verify", &s->verify);
    }
}

void ld_restore(struct ld *l, const struct yn *n)
{
    struct ld_names names;
    size_t i;

    if (!ld_is_seq(l, n, "restore"))
        return;
    l->rb->restore = rb_new_array(l->a, struct rb_restore_step, n->n + 1);
    ld_names_init(l, &names, n->n, "restore");
    for (i = 0; i < n->n; i++) {
        struct rb_restore_step *s = &l->rb->restore[l->rb->n_restore];

        if (!ld_is_map(l, n->items[i], "restore"))
            continue;
        ld_step(l, n->items[i], s);
        s->fingerprint = yn_fingerprint(l->a, n->items[i], "name");
        ld_names_add(l, &names, "restore step", s->name, ld_pos(n->items[i], "name"), s->pos);
        l->rb->n_restore++;
    }
}

/* ---- verify ------------------------------------------------------------------------------- */

static void ld_query_ref(struct ld *l, const struct yn *n, const char *side, const char *what,
                         struct rb_query_ref *q)
{
    static const char *const keys[] = { "target", "sql", NULL };
    const struct yn *v = yn_get(n, side);
    const char *w = rb_sprintf(l->a, "%s.%s", what, side);
    const struct rb_target *t;

    if (v == NULL || !ld_is_map(l, v, w))
        return;
    q->pos = v->pos;
    ld_keys(l, v, ld_pos(n, side), rb_sprintf(l->a, "'%s'", w), keys, keys);
    t = ld_target_ref(l, v, "target", w, DB_BIT);
    q->target = t != NULL ? t->name : NULL;
    q->sql = ld_str(l, v, "sql", w);
}

static bool is_decimal(const char *s)
{
    bool digits = false;

    if (*s == '+')
        s++;
    for (; isdigit((unsigned char)*s); s++)
        digits = true;
    if (*s == '.')
        for (s++; isdigit((unsigned char)*s); s++)
            digits = true;
    return digits && *s == '\0';
}

static void ld_check(struct ld *l, const struct yn *n, struct rb_check *c)
{
    static const char *const keys[] = { "name",          "compare", "equal",  "totals",  "target",
                                        "sql",           "http",    "method", "body",    "headers",
                                        "expect_status", "run",     "retry",  "timeout", NULL };
    static const char *const kinds[] = { "compare", "equal", "totals", "sql", "http", "run", NULL };
    static const char *const sides[] = { "new", "legacy", NULL };
    static const char *const totals_keys[] = { "new", "legacy", "tolerance", NULL };
    const char *what, *kind = NULL;
    const struct yn *body;
    int found = 0;
    size_t i;

    c->pos = n->pos;
    c->name = ld_str(l, n, "name", "verify");
    what = c->name != NULL ? rb_sprintf(l->a, "check '%s'", c->name) : "a verify check";
    ld_keys(l, n, n->pos, what, keys, (const char *const[]){ "name", NULL });
    for (i = 0; kinds[i] != NULL; i++)
        if (yn_key(n, kinds[i]) != NULL && found++ == 0)
            kind = kinds[i];
    if (found != 1) {
        if (found == 0)
            ld_err(l, n->pos,
                   "%s needs one of 'compare', 'equal', 'totals', 'sql', 'http' or 'run'", what);
        else
            ld_err(l, n->pos,
                   "%s checks one thing; it has %d of 'compare', 'equal', 'totals', 'sql', 'http', "
                   "'run'",
                   what, found);
        return;
    }
    body = yn_get(n, kind);
    if (strcmp(kind, "compare") == 0 || strcmp(kind, "equal") == 0 || strcmp(kind, "totals") == 0) {
        static const char *const extra[] = { "target",        "method", "body",    "headers",
                                             "expect_status", "retry",  "timeout", NULL };
        const char *w = rb_sprintf(l->a, "verify.%s", kind);

        for (i = 0; extra[i] != NULL; i++)
            if (yn_key(n, extra[i]) != NULL)
                ld_err(l, ld_pos(n, extra[i]), "'%s' does not apply to a '%s' check", extra[i],
                       kind);
        if (!ld_is_map(l, body, w))
            return;
        if (strcmp(kind, "compare") == 0) {
            static const char *const ckeys[] = { "table", "fail_on_deleted", NULL };
            static const char *const creq[] = { "table", NULL };
            const char *table;

            c->kind = RB_CHECK_COMPARE;
            ld_keys(l, body, ld_pos(n, kind), "'verify.compare'", ckeys, creq);
            table = ld_str(l, body, "table", w);
            c->fail_on_deleted = ld_bool(l, body, "fail_on_deleted", w, false);
            c->compare_table = table;
            if (table != NULL && rb_runbook_sync_table(l->rb, table) == NULL) {
                struct rb_near near;

                rb_near_init(&near, table);
                if (ld_near_spend(l, l->rb->sync.n_tables))
                    for (i = 0; i < l->rb->sync.n_tables; i++)
                        rb_near_try(&near, l->rb->sync.tables[i].name);
                if (!l->rb->sync.present)
                    ld_err(l, yn_get(body, "table")->pos,
                           "'verify.compare' names sync table '%s' but the runbook "
                           "has no 'sync' section",
                           table);
                else
                    ld_err(l, yn_get(body, "table")->pos,
                           "no sync table named '%s' for 'verify.compare.table'%s", table,
                           rb_near_hint(l, &near));
            }
        } else {
            c->kind = strcmp(kind, "equal") == 0 ? RB_CHECK_EQUAL : RB_CHECK_TOTALS;
            ld_keys(l, body, ld_pos(n, kind), rb_sprintf(l->a, "'%s'", w),
                    c->kind == RB_CHECK_EQUAL ? sides : totals_keys, sides);
            ld_query_ref(l, body, "new", w, &c->new_q);
            ld_query_ref(l, body, "legacy", w, &c->legacy_q);
            if (c->kind == RB_CHECK_TOTALS) {
                const char *tol = ld_str(l, body, "tolerance", w);

                c->tolerance = "0.00";
                if (tol != NULL && !is_decimal(tol))
                    ld_err(l, yn_get(body, "tolerance")->pos,
                           "invalid tolerance '%s' (expected a decimal such as "
                           "0.01)",
                           tol);
                else if (tol != NULL)
                    c->tolerance = tol;
            }
        }
        return;
    }
    c->kind = RB_CHECK_PROBE;
    ld_probe(l, n, "verify", &c->probe);
}

void ld_verify(struct ld *l, const struct yn *n)
{
    struct ld_names names;
    size_t i;

    if (!ld_is_seq(l, n, "verify"))
        return;
    l->rb->checks = rb_new_array(l->a, struct rb_check, n->n + 1);
    ld_names_init(l, &names, n->n, "verify");
    for (i = 0; i < n->n; i++) {
        struct rb_check *c = &l->rb->checks[l->rb->n_checks];

        if (!ld_is_map(l, n->items[i], "verify"))
            continue;
        ld_check(l, n->items[i], c);
        c->fingerprint = yn_fingerprint(l->a, n->items[i], "name");
        ld_names_add(l, &names, "check", c->name, ld_pos(n->items[i], "name"), c->pos);
        l->rb->n_checks++;
    }
}

/* ---- communicate -------------------------------------------------------------------------- */

/*
 * What a message's `when:` may read besides the assessment's signals: the variables of its
 * templates, one list for both (rb_message_vars, template.h).
 */

void ld_communicate(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "name", "via", "to", "subject", "template", "when", NULL };
    static const char *const req[] = { "name", "via", "template", NULL };
    struct ld_names names;
    size_t i;

    if (!ld_is_seq(l, n, "communicate"))
        return;
    l->rb->messages = rb_new_array(l->a, struct rb_message, n->n + 1);
    ld_names_init(l, &names, n->n, NULL);
    for (i = 0; i < n->n; i++) {
        const struct yn *it = n->items[i];
        struct rb_message *m = &l->rb->messages[l->rb->n_messages];
        const struct rb_target *t;
        const char *what;

        if (!ld_is_map(l, it, "communicate"))
            continue;
        m->pos = it->pos;
        m->name = ld_str(l, it, "name", "communicate");
        what = m->name != NULL ? rb_sprintf(l->a, "message '%s'", m->name) : "a message";
        ld_keys(l, it, it->pos, what, keys, req);
        t = ld_target_ref(l, it, "via", "communicate", RB_KIND_BIT(RB_TARGET_NOTIFY));
        m->via = t != NULL ? t->name : NULL;
        m->to = ld_strlist(l, it, "to", "communicate", true);
        m->subject = ld_str(l, it, "subject", "communicate");
        if (yn_get(it, "subject") != NULL)
            m->subject_pos = yn_get(it, "subject")->pos;
        if (m->subject != NULL) {
            struct rb_template_problem *probs;
            size_t np;

            rb_template_parse(l->a, m->subject, strlen(m->subject), NULL, &probs, &np);
            for (size_t k = 0; k < np; k++)
                ld_err(l, m->subject_pos, "in the subject of %s: %s", what, probs[k].msg);
        }
        m->template_path = ld_path(l, ld_str(l, it, "template", "communicate"));
        if (yn_get(it, "template") != NULL)
            m->template_pos = yn_get(it, "template")->pos;
        if (t != NULL && t->driver != NULL && strcmp(t->driver, "smtp") == 0 &&
            yn_key(it, "to") == NULL)
            ld_err(l, ld_pos(it, "via"), "%s goes by mail through target '%s' and needs 'to'", what,
                   t->name);
        if (yn_key(it, "when") != NULL) {
            m->when.expr =
                ld_expr(l, yn_get(it, "when"), "communicate.when", rb_message_vars, true);
            m->when.src = yn_get(it, "when")->str;
            m->when.pos = yn_get(it, "when")->pos;
        }
        ld_names_add(l, &names, "message", m->name, ld_pos(it, "name"), m->pos);
        l->rb->n_messages++;
    }
}

/* ---- prepare ------------------------------------------------------------------------------ */

void ld_prepare(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "backup",   "snapshot", "permissions", "channels",
                                        "contacts", "keep",     NULL };
    static const char *const bkeys[] = { "target", "file", "max_age", "restore_test", NULL };
    static const char *const breq[] = { "target", "file", NULL };
    static const char *const rkeys[] = { "conninfo", "check", NULL };
    static const char *const rreq[] = { "conninfo", NULL };
    static const char *const skeys[] = { "target", NULL };
    static const char *const ckeys[] = { "role", "name", "email", "phone", NULL };
    static const char *const creq[] = { "role", NULL };
    struct rb_prepare *p = &l->rb->prepare;
    const struct rb_target *t;
    const struct yn *b, *s, *c;
    size_t i;

    if (!ld_is_map(l, n, "prepare"))
        return;
    p->present = true;
    p->pos = n->pos;
    ld_keys(l, n, n->pos, "'prepare'", keys, NULL);
    b = yn_get(n, "backup");
    if (b != NULL && ld_is_map(l, b, "prepare.backup")) {
        const struct yn *rt = yn_get(b, "restore_test");

        p->has_backup = true;
        p->backup_pos = b->pos;
        ld_keys(l, b, ld_pos(n, "backup"), "'prepare.backup'", bkeys, breq);
        t = ld_target_ref(l, b, "target", "prepare.backup", DB_BIT);
        p->backup_target = t != NULL ? t->name : NULL;
        p->backup_file = ld_path(l, ld_str(l, b, "file", "prepare.backup"));
        p->backup_max_age_ms = ld_dur(l, b, "max_age", "prepare.backup");
        if (rt != NULL && ld_is_map(l, rt, "prepare.backup.restore_test")) {
            ld_keys(l, rt, ld_pos(b, "restore_test"), "'prepare.backup.restore_test'", rkeys, rreq);
            p->restore_test_conninfo = ld_str(l, rt, "conninfo", "prepare.backup.restore_test");
            p->restore_test_check = ld_str(l, rt, "check", "prepare.backup.restore_test");
        }
    }
    s = yn_get(n, "snapshot");
    if (s != NULL && ld_is_map(l, s, "prepare.snapshot")) {
        ld_keys(l, s, ld_pos(n, "snapshot"), "'prepare.snapshot'", skeys, skeys);
        t = ld_target_ref(l, s, "target", "prepare.snapshot", DB_BIT);
        p->snapshot_target = t != NULL ? t->name : NULL;
    }
    p->permissions = ld_bool(l, n, "permissions", "prepare", false);
    p->channels = ld_bool(l, n, "channels", "prepare", false);
    p->keep = ld_int(l, n, "keep", "prepare", RB_PREPARE_KEEP_DEFAULT, 1, 1000);
    c = yn_get(n, "contacts");
    if (c != NULL && ld_is_seq(l, c, "prepare.contacts")) {
        p->contacts = rb_new_array(l->a, struct rb_contact, c->n + 1);
        for (i = 0; i < c->n; i++) {
            const struct yn *it = c->items[i];
            struct rb_contact *ct = &p->contacts[p->n_contacts];

            if (!ld_is_map(l, it, "prepare.contacts"))
                continue;
            ld_keys(l, it, it->pos, "a contact", ckeys, creq);
            ct->pos = it->pos;
            ct->role = ld_str(l, it, "role", "prepare.contacts");
            ct->name = ld_str(l, it, "name", "prepare.contacts");
            ct->email = ld_str(l, it, "email", "prepare.contacts");
            ct->phone = ld_str(l, it, "phone", "prepare.contacts");
            if (ct->email == NULL && ct->phone == NULL && yn_key(it, "email") == NULL &&
                yn_key(it, "phone") == NULL)
                ld_err(l, it->pos, "a contact needs 'email' or 'phone'");
            p->n_contacts++;
        }
    }
}
