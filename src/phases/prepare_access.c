/*
 * prepare_access.c - prepare's permissions.<target> checks (rb_prepare_permissions, prepare.h):
 * may the identities the runbook connects as do, tonight, what a rollback would do with them?
 *
 * Database targets: what the runbook needs of each is worked out here from the runbook (policy),
 * then asked of the catalogs through rb_sync_privileges, the same read sync makes before copying:
 *   - SELECT on each sync source (sync.from); SELECT, INSERT and UPDATE on each sync target
 *     (sync.to), TEMP on its database, and the ledger (INSERT and SELECT, or CREATE on the schema);
 *   - what free SQL touches, as far as sql_refs.c can tell: signals, restore statements and their
 *     verify queries, verify checks' queries. A statement it cannot read is named as not checked.
 * Cluster targets: one SelfSubjectAccessReview per verb and resource freeze and restore need
 * (cluster_access.c computes them, the driver's can_i asks).
 *
 * Every missing privilege is named in the one line, "; "-joined; nothing is changed anywhere.
 */
#include "rollbackctl/prepare.h"

#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/sync.h"

#include "sql_refs.h"

/* One table the runbook needs something of, on one database target. */
struct table_need {
    const char *sql;   /* the name as SQL: quoted (runbook tables) or as a statement wrote it */
    const char *shown; /* for the reason */
    unsigned privs;    /* RB_PRIV_* */
    const char *why;   /* the first runbook entry that needs it: "sync table 'x'" */
};

struct db_needs {
    struct rb_arena *arena;
    struct table_need *v;
    size_t n, cap;
    bool sync_target;        /* sync writes here: TEMP and the ledger too */
    struct rb_buf unchecked; /* "restore step 'x' (CALL)", "; "-joined */
};

static void need_table(struct db_needs *d, const char *sql, const char *shown, unsigned privs,
                       const char *why)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i].sql, sql) == 0) {
            d->v[i].privs |= privs;
            return;
        }
    }
    rb_arena_push(d->arena, d->v, d->n, d->cap, 16);
    d->v[d->n++] = (struct table_need){ sql, shown, privs, why };
}

/* The tables a piece of free SQL touches (sql_refs.c), each needed by `why`. */
static void need_sql(struct db_needs *d, const char *sql, const char *why)
{
    struct rb_sql_refs refs = { 0 };

    if (sql == NULL)
        return;
    rb_sql_refs_add(d->arena, sql, &refs);
    for (size_t i = 0; i < refs.n; i++)
        need_table(d, refs.v[i].quoted, refs.v[i].table, refs.v[i].privs, why);
    if (refs.unchecked != NULL)
        rb_buf_addf(&d->unchecked, "%s%s (%s)", d->unchecked.len > 0 ? "; " : "", why,
                    refs.unchecked);
}

static bool is(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Everything the runbook will ask of database target `target`. */
static void db_needs_of(struct rb_run *run, const char *target, struct db_needs *d)
{
    const struct rb_runbook *rb = run->rb;
    struct rb_arena *a = run->arena;

    for (size_t i = 0; i < rb->sync.n_tables; i++) {
        const struct rb_sync_table *t = &rb->sync.tables[i];
        const char *why = rb_sprintf(a, "sync table '%s'", t->name);

        if (is(rb->sync.from, target))
            need_table(d, rb_pg_quote_qualified(a, t->source_table), t->source_table,
                       RB_PRIV_SELECT, why);
        /* deletions are told apart by reading new's own record of them */
        if (is(rb->sync.from, target) && t->deletions.tomb_table != NULL)
            need_table(d, rb_pg_quote_qualified(a, t->deletions.tomb_table),
                       t->deletions.tomb_table, RB_PRIV_SELECT, why);
        /* the stage is made in the target's shape and the upsert compares the old values */
        if (is(rb->sync.to, target)) {
            need_table(d, rb_pg_quote_qualified(a, t->target_table), t->target_table,
                       rb_sync_target_privileges(t), why);
            d->sync_target = true;
        }
    }
    for (size_t i = 0; i < rb->n_signals; i++)
        if (is(rb->signals[i].target, target))
            need_sql(d, rb->signals[i].sql, rb_sprintf(a, "signal '%s'", rb->signals[i].name));
    for (size_t i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *st = &rb->restore[i];

        if (st->kind == RB_STEP_SQL && is(st->target, target))
            need_sql(d, st->statement, rb_sprintf(a, "restore step '%s'", st->name));
        if (st->verify.kind == RB_PROBE_SQL && is(st->verify.target, target))
            need_sql(d, st->verify.sql, rb_sprintf(a, "the verify of restore step '%s'", st->name));
    }
    for (size_t i = 0; i < rb->n_checks; i++) {
        const struct rb_check *c = &rb->checks[i];
        const char *why = rb_sprintf(a, "verify check '%s'", c->name);

        if ((c->kind == RB_CHECK_EQUAL || c->kind == RB_CHECK_TOTALS) &&
            is(c->new_q.target, target))
            need_sql(d, c->new_q.sql, why);
        if ((c->kind == RB_CHECK_EQUAL || c->kind == RB_CHECK_TOTALS) &&
            is(c->legacy_q.target, target))
            need_sql(d, c->legacy_q.sql, why);
        if (c->kind == RB_CHECK_PROBE && c->probe.kind == RB_PROBE_SQL &&
            is(c->probe.target, target))
            need_sql(d, c->probe.sql, why);
        /* compare reads the sync table's source and target: the sync needs above cover both */
    }
}

/* The table privileges a runbook may need, in the order messages name them. */
static const struct {
    unsigned bit;
    const char *name;
} priv_names[] = { { RB_PRIV_SELECT, "SELECT" },
                   { RB_PRIV_INSERT, "INSERT" },
                   { RB_PRIV_UPDATE, "UPDATE" },
                   { RB_PRIV_DELETE, "DELETE" },
                   { RB_PRIV_TRUNCATE, "TRUNCATE" } };

static const char *privs_text(struct rb_arena *a, unsigned privs)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    for (size_t i = 0; i < sizeof(priv_names) / sizeof(priv_names[0]); i++)
        if (privs & priv_names[i].bit)
            rb_buf_addf(&b, "%s%s", b.len > 0 ? ", " : "", priv_names[i].name);
    out = rb_strdup(a, b.len > 0 ? b.data : "");
    rb_buf_release(&b);
    return out;
}

/* "SELECT on 4 tables, INSERT on 4, UPDATE on 5": what was checked, for a READY reason. */
static void checked_text(const struct db_needs *d, struct rb_buf *b)
{
    bool first = true;

    for (size_t i = 0; i < sizeof(priv_names) / sizeof(priv_names[0]); i++) {
        size_t n = 0;

        for (size_t k = 0; k < d->n; k++)
            if (d->v[k].privs & priv_names[i].bit)
                n++;
        if (n == 0)
            continue;
        rb_buf_addf(b, "%s%s on %zu%s", first ? "" : ", ", priv_names[i].name, n,
                    first ? (n == 1 ? " table" : " tables") : "");
        first = false;
    }
}

static void db_permissions(struct rb_run *run, struct rb_prepare_report *r, const char *target)
{
    const char *name = rb_sprintf(run->arena, "permissions.%s", target);
    struct db_needs d = { .arena = run->arena, .unchecked = RB_BUF_INIT };
    struct rb_buf missing = RB_BUF_INIT, checked = RB_BUF_INIT;
    struct rb_sync_privileges first = { 0 };
    struct rb_err err = RB_ERR_INIT;
    int64_t t0 = rb_now_ms();
    bool asked = false;
    struct rb_db *db;

    db_needs_of(run, target, &d);
    if (d.n == 0) {
        rb_prepare_record(run, r, name, true, t0,
                          "the runbook needs no table privilege on '%s'%s%s", target,
                          d.unchecked.len > 0 ? "; not checked: " : "",
                          d.unchecked.len > 0 ? d.unchecked.data : "");
        rb_buf_release(&d.unchecked);
        return;
    }
    if ((db = rb_db_target(run, target, &err)) == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        rb_buf_release(&d.unchecked);
        return;
    }
    for (size_t i = 0; i < d.n; i++) {
        const struct table_need *x = &d.v[i];
        struct rb_sync_privileges p;
        unsigned lacks;

        rb_err_clear(&err);
        if (rb_sync_privileges(run, db, x->sql, &p, &err) < 0) {
            rb_buf_addf(&missing, "%sunable to check table '%s' (%s) on '%s': %s",
                        missing.len > 0 ? "; " : "", x->shown, x->why, target, err.msg);
            if (rb_db_lost(db))
                break;
            continue;
        }
        if (!asked)
            first = p, asked = true;
        if (!p.table_exists) {
            rb_buf_addf(&missing, "%s%s has no table '%s' (%s)", missing.len > 0 ? "; " : "",
                        target, x->shown, x->why);
            continue;
        }
        lacks = x->privs & ~p.table;
        if (lacks != 0)
            rb_buf_addf(&missing, "%srole '%s' lacks %s on %s table '%s' (%s)",
                        missing.len > 0 ? "; " : "", p.role, privs_text(run->arena, lacks), target,
                        x->shown, x->why);
    }
    if (asked && d.sync_target) {
        if (!first.temp)
            rb_buf_addf(&missing,
                        "%srole '%s' lacks TEMP on %s database '%s' (sync stages its rows in a "
                        "temporary table)",
                        missing.len > 0 ? "; " : "", first.role, target, first.database);
        if (!first.ledger_ok && first.ledger_exists)
            rb_buf_addf(&missing,
                        "%srole '%s' lacks INSERT, SELECT on %s table "
                        "'rollbackctl_ledger' (the sync ledger)",
                        missing.len > 0 ? "; " : "", first.role, target);
        else if (!first.ledger_ok)
            rb_buf_addf(&missing,
                        "%srole '%s' lacks CREATE on %s schema '%s' (sync creates its ledger "
                        "'rollbackctl_ledger' there)",
                        missing.len > 0 ? "; " : "", first.role, target, first.schema);
    }
    if (missing.len > 0) {
        rb_prepare_record(run, r, name, false, t0, "%s", missing.data);
    } else {
        checked_text(&d, &checked);
        if (d.sync_target)
            rb_buf_addf(&checked, ", TEMP, ledger (%s)",
                        first.ledger_exists
                            ? "INSERT, SELECT on rollbackctl_ledger"
                            : rb_sprintf(run->arena, "CREATE on schema '%s'", first.schema));
        rb_prepare_record(run, r, name, true, t0, "role '%s' holds %s%s%s", first.role,
                          checked.data, d.unchecked.len > 0 ? "; not checked: " : "",
                          d.unchecked.len > 0 ? d.unchecked.data : "");
    }
    rb_buf_release(&missing);
    rb_buf_release(&checked);
    rb_buf_release(&d.unchecked);
}

/* "get, patch deployments/scale; list, patch cronjobs" from rb_cluster_check_target_access's report. */
static void reviews_text(struct rb_arena *a, const cJSON *report, struct rb_buf *b)
{
    const char **resources = rb_new_array(a, const char *, (size_t)cJSON_GetArraySize(report) + 1);
    size_t n = 0;
    const cJSON *e;

    cJSON_ArrayForEach(e, report) {
        const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "resource"));
        bool seen = false;

        for (size_t i = 0; i < n && res != NULL; i++)
            seen = seen || strcmp(resources[i], res) == 0;
        if (res != NULL && !seen)
            resources[n++] = res;
    }
    for (size_t i = 0; i < n; i++) {
        struct rb_buf verbs = RB_BUF_INIT;

        cJSON_ArrayForEach(e, report) {
            const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "resource"));
            const char *verb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "verb"));

            if (res != NULL && verb != NULL && strcmp(res, resources[i]) == 0 &&
                (verbs.len == 0 || strstr(verbs.data, verb) == NULL))
                rb_buf_addf(&verbs, "%s%s", verbs.len > 0 ? ", " : "", verb);
        }
        rb_buf_addf(b, "%s%s %s", i > 0 ? "; " : "", verbs.len > 0 ? verbs.data : "", resources[i]);
        rb_buf_release(&verbs);
    }
}

static void cluster_permissions(struct rb_run *run, struct rb_prepare_report *r, const char *target)
{
    const char *name = rb_sprintf(run->arena, "permissions.%s", target);
    const struct rb_cluster_ops *ops;
    struct rb_err err = RB_ERR_INIT;
    struct rb_buf what = RB_BUF_INIT;
    int64_t t0 = rb_now_ms();
    cJSON *report = NULL;
    int n;

    if (rb_cluster_open(run, target, &ops, &err) == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (ops->can_i == NULL) {
        rb_prepare_record(run, r, name, true, t0,
                          "driver '%s' cannot be asked what it may do: not checked", ops->driver);
        return;
    }
    if (rb_cluster_check_target_access(run, target, &report, &err) < 0) {
        /* the denials, each named ("cannot patch deployments/scale 'x' in namespace 'y'") */
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        cJSON_Delete(report);
        return;
    }
    n = cJSON_GetArraySize(report);
    if (n == 0) {
        rb_prepare_record(run, r, name, true, t0,
                          "freeze and restore need nothing of cluster target '%s'", target);
    } else {
        reviews_text(run->arena, report, &what);
        rb_prepare_record(run, r, name, true, t0, "%d SelfSubjectAccessReviews allowed (%s)", n,
                          what.data);
    }
    rb_buf_release(&what);
    cJSON_Delete(report);
}

void rb_prepare_permissions(struct rb_run *run, struct rb_prepare_report *r)
{
    const struct rb_runbook *rb = run->rb;

    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];

        if (t->kind == RB_TARGET_DB)
            db_permissions(run, r, t->name);
        else if (t->kind == RB_TARGET_CLUSTER)
            cluster_permissions(run, r, t->name);
    }
}
