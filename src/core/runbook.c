/*
 * runbook.c - loading a runbook: the file, the top level, targets, signals, decision, approval
 * and freeze (the sections of the later phases are in runbook_phases.c).
 *
 * Walk order does not matter for the output (diagnostics are sorted by position), but it does
 * for references: targets first, then signals (expressions name them), then sync (verify's
 * `compare` names its tables). A section with errors still yields what could be read, so one
 * mistake does not hide the next.
 */
#include "runbook_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/fsutil.h"

static const char *const sev_names[] = { "critical", "high", "medium", "low", NULL };
static const char *const impact_names[] = { "high", "medium", "low", NULL };
static const char *const action_names[] = { "rollback", "evaluate", "fix_then_rollback",
                                            "fix_forward", NULL };

const char *rb_severity_name(enum rb_severity s)
{
    return s >= RB_SEV_CRITICAL && s <= RB_SEV_LOW ? sev_names[s - 1] : "none";
}

enum rb_severity rb_severity_parse(const char *s)
{
    int i;

    for (i = 0; s != NULL && sev_names[i] != NULL; i++)
        if (strcmp(s, sev_names[i]) == 0)
            return (enum rb_severity)(i + 1);
    return RB_SEV_NONE;
}

const char *rb_impact_name(enum rb_impact i)
{
    return i >= RB_IMPACT_HIGH && i <= RB_IMPACT_LOW ? impact_names[i - 1] : "none";
}

const char *rb_decision_action_name(enum rb_decision_action a)
{
    return a >= RB_ACT_ROLLBACK && a <= RB_ACT_FIX_FORWARD ? action_names[a - 1] : "none";
}

const char *rb_target_opt(const struct rb_target *t, const char *key)
{
    const struct rb_opt *o = rb_target_opt_node(t, key);

    return o != NULL ? o->value : NULL;
}

int64_t rb_target_timeout(const struct rb_target *t, int64_t dflt)
{
    const char *s = rb_target_opt(t, "timeout");
    int64_t ms = s != NULL ? rb_duration_parse(s) : -1;

    return ms > 0 ? ms : dflt;
}

const struct rb_opt *rb_target_opt_node(const struct rb_target *t, const char *key)
{
    size_t i;

    for (i = 0; t != NULL && i < t->n_opts; i++)
        if (strcmp(t->opts[i].key, key) == 0)
            return &t->opts[i];
    return NULL;
}

const struct rb_target *rb_runbook_target(const struct rb_runbook *rb, const char *name)
{
    size_t i;

    for (i = 0; rb != NULL && name != NULL && i < rb->n_targets; i++)
        if (strcmp(rb->targets[i].name, name) == 0)
            return &rb->targets[i];
    return NULL;
}

const struct rb_sync_table *rb_runbook_sync_table(const struct rb_runbook *rb, const char *name)
{
    size_t i;

    for (i = 0; rb != NULL && name != NULL && i < rb->sync.n_tables; i++)
        if (rb->sync.tables[i].name != NULL && strcmp(rb->sync.tables[i].name, name) == 0)
            return &rb->sync.tables[i];
    return NULL;
}

/* An enum value from a list of names: 1-based index, 0 (reported) when unknown. */
static int ld_enum(struct ld *l, const struct yn *map, const char *key, const char *what,
                   const char *const *names)
{
    const char *s = ld_str(l, map, key, what);
    struct rb_near near;
    char *list;
    int i;

    if (s == NULL)
        return 0;
    for (i = 0; names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i + 1;
    rb_near_init(&near, s);
    list = rb_strdup(l->a, names[0]);
    for (i = 0; names[i] != NULL; i++) {
        rb_near_try(&near, names[i]);
        if (i > 0)
            list = rb_sprintf(l->a, "%s%s%s", list, names[i + 1] != NULL ? ", " : " or ", names[i]);
    }
    ld_err(l, yn_get(map, key)->pos, "unknown %s '%s' (expected %s)%s", key, s, list,
           rb_near_hint(l, &near));
    return 0;
}

static bool is_ident(const char *s)
{
    if (s == NULL || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s != '\0'; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* ---- targets ------------------------------------------------------------------------------ */

static bool driver_allows(const struct rb_driver *drv, const char *key)
{
    const char *const *lists[] = { drv->required, drv->optional, drv->one_of };
    size_t i;

    for (i = 0; i < 3; i++)
        for (const char *const *k = lists[i]; k != NULL && *k != NULL; k++)
            if (strcmp(*k, key) == 0)
                return true;
    return false;
}

static bool str_len_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

static void ld_target(struct ld *l, const struct yn *key, const struct yn *v, struct rb_target *t)
{
    const char *what = rb_sprintf(l->a, "target '%s'", key->str);
    const struct rb_driver *drv = NULL;
    const char *driver;
    size_t i;

    t->name = key->str;
    t->pos = key->pos;
    if (!ld_is_map(l, v, rb_sprintf(l->a, "targets.%s", key->str)))
        return;
    driver = ld_str(l, v, "driver", what);
    if (yn_key(v, "driver") == NULL) {
        ld_err(l, key->pos, "missing required key 'driver' in target '%s' (one of %s)", key->str,
               rb_driver_names());
    } else if (driver != NULL) {
        drv = rb_driver_lookup(driver);
        if (drv == NULL) {
            struct rb_near near;
            const struct rb_driver *d;

            rb_near_init(&near, driver);
            for (i = 0; (d = rb_driver_at(i)) != NULL; i++)
                rb_near_try(&near, d->name);
            if (near.best != NULL)
                ld_err(l, yn_get(v, "driver")->pos, "unknown driver '%s' for target '%s'%s", driver,
                       key->str, rb_near_hint(l, &near));
            else
                ld_err(l, yn_get(v, "driver")->pos,
                       "unknown driver '%s' for target '%s' (known drivers: %s)", driver, key->str,
                       rb_driver_names());
        }
    }
    t->driver = driver;
    t->kind = drv != NULL ? drv->kind : 0;
    t->opts = rb_new_array(l->a, struct rb_opt, v->n + 1);
    for (i = 0; i < v->n; i++) {
        const struct yn *k = v->items[2 * i], *val = v->items[2 * i + 1];
        struct rb_opt *o;

        if (k->type != YN_SCALAR || strcmp(k->str, "driver") == 0)
            continue;
        if (drv != NULL && !driver_allows(drv, k->str)) {
            struct rb_near near;
            const char *const *lists[] = { drv->required, drv->optional, drv->one_of };
            char *known = NULL;

            rb_near_init(&near, k->str);
            for (size_t j = 0; j < 3; j++)
                for (const char *const *c = lists[j]; c != NULL && *c != NULL; c++) {
                    rb_near_try(&near, *c);
                    if (known == NULL || strstr(known, *c) == NULL)
                        known = known == NULL ? rb_sprintf(l->a, "'%s'", *c)
                                              : rb_sprintf(l->a, "%s, '%s'", known, *c);
                }
            if (near.best != NULL)
                ld_err(l, k->pos, "unknown key '%s' in %s (driver '%s')%s", k->str, what, drv->name,
                       rb_near_hint(l, &near));
            else
                ld_err(l, k->pos, "unknown key '%s' in %s (driver '%s' takes %s)", k->str, what,
                       drv->name, known != NULL ? known : "no other keys");
            continue;
        }
        o = &t->opts[t->n_opts++];
        o->key = k->str;
        o->pos = k->pos;
        o->value_pos = val->pos;
        if (val->type == YN_SEQ) {
            o->list = ld_strlist(l, v, k->str, rb_sprintf(l->a, "targets.%s", key->str), false);
            continue;
        }
        o->value = ld_str(l, v, k->str, rb_sprintf(l->a, "targets.%s", key->str));
        if (o->value == NULL)
            continue;
        if (str_len_has_suffix(o->key, "_env") && !is_ident(o->value)) {
            /* the value of an *_env key is a variable name; a secret pasted here would leak */
            ld_err(l, val->pos,
                   "'%s' of target '%s' must name an environment variable, not hold a value",
                   o->key, key->str);
            o->value = NULL;
        } else if (strcmp(o->key, "timeout") == 0 || str_len_has_suffix(o->key, "_timeout")) {
            ld_dur_text(l, val->pos, o->value, rb_sprintf(l->a, "targets.%s.%s", key->str, o->key));
        } else if (strcmp(o->key, "kubeconfig") == 0 || str_len_has_suffix(o->key, "_file")) {
            o->value = rb_path_expand(l->a, o->value);
        } else if (strcmp(o->key, "namespace") == 0) {
            /* the cluster's default namespace goes into API paths as the steps' own ones do */
            o->value = ld_k8s_name(l, v, "namespace", rb_sprintf(l->a, "targets.%s", key->str),
                                   true);
        }
    }
    if (drv == NULL)
        return;
    for (const char *const *r = drv->required; r != NULL && *r != NULL; r++)
        if (yn_key(v, *r) == NULL)
            ld_err(l, key->pos, "missing required key '%s' in target '%s' (driver '%s')", *r,
                   key->str, drv->name);
    if (drv->one_of != NULL) {
        bool any = false;
        char *list = NULL;

        for (const char *const *r = drv->one_of; *r != NULL; r++) {
            any = any || yn_key(v, *r) != NULL;
            list = list == NULL ? rb_sprintf(l->a, "'%s'", *r)
                                : rb_sprintf(l->a, "%s or '%s'", list, *r);
        }
        if (!any)
            ld_err(l, key->pos, "target '%s' (driver '%s') needs %s", key->str, drv->name, list);
    }
}

static void ld_targets(struct ld *l, const struct yn *n)
{
    size_t i;

    if (!ld_is_map(l, n, "targets"))
        return;
    l->rb->targets = rb_new_array(l->a, struct rb_target, n->n + 1);
    for (i = 0; i < n->n; i++) {
        const struct yn *k = n->items[2 * i];

        if (k->type != YN_SCALAR || rb_runbook_target(l->rb, k->str) != NULL)
            continue; /* duplicates are reported by the YAML layer */
        ld_target(l, k, n->items[2 * i + 1], &l->rb->targets[l->rb->n_targets++]);
    }
}

/* ---- signals ------------------------------------------------------------------------------ */

static const char *const reserved_names[] = {
    "and", "or", "not", "true", "false", "severity", NULL
};

static void ld_signal(struct ld *l, const struct yn *key, const struct yn *v, struct rb_signal *s)
{
    static const char *const keys[] = { "target", "sql", "query", "file", "key", NULL };
    const char *what = rb_sprintf(l->a, "signal '%s'", key->str);
    const char *path = rb_sprintf(l->a, "signals.%s", key->str);
    const struct rb_target *t;

    s->name = key->str;
    s->pos = key->pos;
    if (!is_ident(key->str))
        ld_err(l, key->pos,
               "signal name '%s' cannot be used in expressions; use letters, digits and '_'",
               key->str);
    for (size_t i = 0; reserved_names[i] != NULL; i++)
        if (strcmp(key->str, reserved_names[i]) == 0)
            ld_err(l, key->pos, "'%s' is a reserved word and cannot name a signal", key->str);
    if (!ld_is_map(l, v, path))
        return;
    ld_keys(l, v, key->pos, what, keys, NULL);
    s->sql = ld_str(l, v, "sql", path);
    s->query = ld_str(l, v, "query", path);
    s->file = ld_path(l, ld_str(l, v, "file", path));
    s->key = ld_str(l, v, "key", path);
    if (yn_key(v, "file") != NULL) {
        if (yn_key(v, "target") != NULL || yn_key(v, "sql") != NULL || yn_key(v, "query") != NULL)
            ld_err(l, ld_pos(v, "file"),
                   "signal '%s' takes either 'file' or 'target' with 'sql'/'query', not both",
                   key->str);
        return;
    }
    if (yn_key(v, "key") != NULL)
        ld_err(l, ld_pos(v, "key"), "'key' of signal '%s' only applies with 'file'", key->str);
    if (yn_key(v, "target") == NULL) {
        ld_err(l, key->pos, "signal '%s' needs 'target' (with 'sql' or 'query') or 'file'",
               key->str);
        return;
    }
    t = ld_target_ref(l, v, "target", path,
                      RB_KIND_BIT(RB_TARGET_DB) | RB_KIND_BIT(RB_TARGET_METRICS));
    if (t == NULL)
        return;
    s->target = t->name;
    if (t->kind == RB_TARGET_DB) {
        if (yn_key(v, "query") != NULL)
            ld_err(l, ld_pos(v, "query"),
                   "'query' is for metrics targets; target '%s' is a database target, use 'sql'",
                   t->name);
        else if (yn_key(v, "sql") == NULL)
            ld_err(l, key->pos,
                   "missing required key 'sql' in signal '%s' (target '%s' is a database)",
                   key->str, t->name);
    } else if (t->kind == RB_TARGET_METRICS) {
        if (yn_key(v, "sql") != NULL)
            ld_err(l, ld_pos(v, "sql"),
                   "'sql' is for database targets; target '%s' is a metrics target, use 'query'",
                   t->name);
        else if (yn_key(v, "query") == NULL)
            ld_err(l, key->pos,
                   "missing required key 'query' in signal '%s' (target '%s' is a metrics target)",
                   key->str, t->name);
    }
}

static void ld_signals(struct ld *l, const struct yn *n)
{
    size_t i;

    if (!ld_is_map(l, n, "signals"))
        return;
    l->rb->signals = rb_new_array(l->a, struct rb_signal, n->n + 1);
    for (i = 0; i < n->n; i++) {
        const struct yn *k = n->items[2 * i];

        /* a repeated name is already reported (duplicate key); the first one counts */
        if (k->type == YN_SCALAR && yn_key(n, k->str) == k)
            ld_signal(l, k, n->items[2 * i + 1], &l->rb->signals[l->rb->n_signals++]);
    }
}

/* ---- decision and approval ---------------------------------------------------------------- */

static const char *const decision_vars[] = { "severity", NULL };

static void ld_decision(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "matrix", "rollback_if", "point_of_no_return", NULL };
    static const char *const ponr_keys[] = { "when", "message", NULL };
    static const char *const row_keys[] = { "scenario", "when",          "severity", "impact",
                                            "action",   "recovery_time", NULL };
    static const char *const row_req[] = { "scenario", "when", "severity", NULL };
    struct rb_decision *d = &l->rb->decision;
    const struct yn *m, *r;
    size_t i;

    if (!ld_is_map(l, n, "decision"))
        return;
    d->present = true;
    d->pos = n->pos;
    ld_keys(l, n, n->pos, "'decision'", keys, NULL);
    m = yn_get(n, "matrix");
    if (m != NULL && ld_is_seq(l, m, "decision.matrix")) {
        d->matrix = rb_new_array(l->a, struct rb_matrix_row, m->n + 1);
        for (i = 0; i < m->n; i++) {
            const struct yn *row = m->items[i];
            struct rb_matrix_row *mr = &d->matrix[d->n_matrix];

            if (!ld_is_map(l, row, "decision.matrix"))
                continue;
            d->n_matrix++;
            mr->pos = row->pos;
            ld_keys(l, row, row->pos, "a decision matrix row", row_keys, row_req);
            mr->scenario = ld_str(l, row, "scenario", "decision.matrix");
            mr->when_src = ld_str(l, row, "when", "decision.matrix");
            if (mr->when_src != NULL)
                mr->when =
                    ld_expr(l, yn_get(row, "when"), "decision.matrix.when", decision_vars, true);
            mr->severity =
                (enum rb_severity)ld_enum(l, row, "severity", "decision.matrix", sev_names);
            mr->impact = (enum rb_impact)ld_enum(l, row, "impact", "decision.matrix", impact_names);
            mr->action =
                (enum rb_decision_action)ld_enum(l, row, "action", "decision.matrix", action_names);
            mr->recovery_time = ld_str(l, row, "recovery_time", "decision.matrix");
        }
    }
    r = yn_get(n, "rollback_if");
    if (r != NULL && ld_is_seq(l, r, "decision.rollback_if")) {
        d->rollback_if = rb_new_array(l->a, struct rb_cond, r->n + 1);
        for (i = 0; i < r->n; i++) {
            struct rb_cond *c = &d->rollback_if[d->n_rollback_if];

            c->expr = ld_expr(l, r->items[i], "decision.rollback_if", decision_vars, true);
            if (c->expr == NULL)
                continue;
            c->src = r->items[i]->str;
            c->pos = r->items[i]->pos;
            d->n_rollback_if++;
        }
    }
    r = yn_get(n, "point_of_no_return");
    if (r != NULL && ld_is_seq(l, r, "decision.point_of_no_return")) {
        d->ponr = rb_new_array(l->a, struct rb_ponr, r->n + 1);
        for (i = 0; i < r->n; i++) {
            const struct yn *it = r->items[i];
            struct rb_ponr *p = &d->ponr[d->n_ponr];

            if (!ld_is_map(l, it, "decision.point_of_no_return"))
                continue;
            ld_keys(l, it, it->pos, "a point_of_no_return entry", ponr_keys, ponr_keys);
            p->pos = it->pos;
            p->message = ld_str(l, it, "message", "decision.point_of_no_return");
            p->when.src = ld_str(l, it, "when", "decision.point_of_no_return");
            if (p->when.src != NULL)
                p->when.expr = ld_expr(l, yn_get(it, "when"), "decision.point_of_no_return.when",
                                       decision_vars, true);
            p->when.pos = ld_pos(it, "when");
            if (p->when.expr != NULL && p->message != NULL)
                d->n_ponr++;
        }
    }
}

static void ld_approval(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "required", "timeout", NULL };
    struct rb_approval *ap = &l->rb->approval;
    const struct yn *req;
    int i;

    for (i = 0; i < 5; i++)
        ap->required[i] = -1;
    if (n == NULL || !ld_is_map(l, n, "approval"))
        return;
    ap->present = true;
    ap->pos = n->pos;
    ld_keys(l, n, n->pos, "'approval'", keys, NULL);
    ap->timeout_ms = ld_dur(l, n, "timeout", "approval");
    req = yn_get(n, "required");
    if (req == NULL || !ld_is_map(l, req, "approval.required"))
        return;
    ld_keys(l, req, req->pos, "'approval.required' (severities)", sev_names, NULL);
    for (i = RB_SEV_CRITICAL; i <= RB_SEV_LOW; i++)
        ap->required[i] = ld_int(l, req, sev_names[i - 1], "approval.required", -1, 0, 100);
}

/* ---- freeze ------------------------------------------------------------------------------- */

static void ld_freeze(struct ld *l, const struct yn *n)
{
    static const char *const kinds[] = { "scale", "suspend_cronjobs", "delete_jobs", "snapshot",
                                         NULL };
    static const char *const scale_keys[] = { "target", "deployment", "replicas", "namespace",
                                              NULL };
    static const char *const scale_req[] = { "target", "deployment", "replicas", NULL };
    static const char *const sel_keys[] = { "target", "selector", "namespace", NULL };
    static const char *const sel_req[] = { "target", "selector", NULL };
    static const char *const snap_keys[] = { "target", "namespace", NULL };
    static const char *const snap_req[] = { "target", NULL };
    size_t i;

    if (!ld_is_seq(l, n, "freeze"))
        return;
    l->rb->freeze = rb_new_array(l->a, struct rb_freeze_action, n->n + 1);
    for (i = 0; i < n->n; i++) {
        const struct yn *it = n->items[i], *body = NULL;
        struct rb_freeze_action *fa;
        const struct rb_target *t;
        const char *kind = NULL, *what;
        int k, found = 0;

        if (!ld_is_map(l, it, "freeze"))
            continue;
        ld_keys(l, it, it->pos, "a freeze step", kinds, NULL);
        for (k = 0; kinds[k] != NULL; k++)
            if (yn_key(it, kinds[k]) != NULL) {
                if (found++ == 0) {
                    kind = kinds[k];
                    body = yn_get(it, kinds[k]);
                }
            }
        if (found != 1) {
            if (found > 1)
                ld_err(l, it->pos,
                       "a freeze step does one thing; found %d of 'scale', 'suspend_cronjobs', "
                       "'delete_jobs', 'snapshot'",
                       found);
            else if (it->n > 0 && yn_key(it, "target") == NULL)
                ; /* an unknown key was reported; do not pile on */
            else
                ld_err(l, it->pos,
                       "a freeze step needs one of 'scale', 'suspend_cronjobs', 'delete_jobs', "
                       "'snapshot'");
            continue;
        }
        what = rb_sprintf(l->a, "freeze.%s", kind);
        if (!ld_is_map(l, body, what))
            continue;
        fa = &l->rb->freeze[l->rb->n_freeze++];
        fa->pos = it->pos;
        if (strcmp(kind, "scale") == 0) {
            fa->kind = RB_FREEZE_SCALE;
            ld_keys(l, body, ld_pos(it, kind), rb_sprintf(l->a, "'%s'", what), scale_keys,
                    scale_req);
            fa->deployment = ld_k8s_name(l, body, "deployment", what, false);
            fa->replicas = ld_int(l, body, "replicas", what, 0, 0, 10000);
        } else if (strcmp(kind, "snapshot") == 0) {
            fa->kind = RB_FREEZE_SNAPSHOT;
            ld_keys(l, body, ld_pos(it, kind), rb_sprintf(l->a, "'%s'", what), snap_keys, snap_req);
        } else {
            fa->kind = strcmp(kind, "suspend_cronjobs") == 0 ? RB_FREEZE_SUSPEND_CRONJOBS
                                                             : RB_FREEZE_DELETE_JOBS;
            ld_keys(l, body, ld_pos(it, kind), rb_sprintf(l->a, "'%s'", what), sel_keys, sel_req);
            fa->selector = ld_str(l, body, "selector", what);
        }
        fa->namespace_ = ld_k8s_name(l, body, "namespace", what, true);
        t = ld_target_ref(l, body, "target", what, RB_KIND_BIT(RB_TARGET_CLUSTER));
        fa->target = t != NULL ? t->name : NULL;
    }
}

/* ---- the whole file ----------------------------------------------------------------------- */

/* `metrics:` - where the run's own metrics go besides state_dir/metrics.prom. */
static void ld_metrics(struct ld *l, const struct yn *n)
{
    static const char *const keys[] = { "textfile_dir", NULL };
    static const char *const req[] = { "textfile_dir", NULL };
    const char *dir;

    if (!ld_is_map(l, n, "metrics"))
        return;
    l->rb->metrics_pos = n->pos;
    ld_keys(l, n, n->pos, "'metrics'", keys, req);
    dir = ld_str(l, n, "textfile_dir", "metrics");
    if (dir != NULL && dir[0] == '\0')
        ld_err(l, ld_pos(n, "textfile_dir"), "'metrics.textfile_dir' must not be empty");
    else
        l->rb->metrics_textfile_dir = ld_path(l, dir);
}

static void ld_top(struct ld *l, const struct yn *root)
{
    static const char *const keys[] = { "version",     "name",    "cutover",  "state_dir",
                                        "targets",     "signals", "decision", "approval",
                                        "freeze",      "sync",    "restore",  "verify",
                                        "communicate", "prepare", "metrics",  NULL };
    static const char *const req[] = { "version", "name", "cutover", "state_dir", "targets", NULL };
    struct rb_runbook *rb = l->rb;
    const struct yn *v;
    const char *env;

    if (root->type != YN_MAP) {
        ld_err(l, root->pos, "expected a mapping at the top of the runbook, found %s",
               yn_kind(root));
        return;
    }
    ld_keys(l, root, (struct rb_pos){ 1, 1 }, NULL, keys, req);
    rb->version = ld_int(l, root, "version", NULL, 0, -1000000, 1000000);
    v = yn_get(root, "version");
    if (v != NULL && rb->version != 0 && rb->version != 1)
        ld_err(l, v->pos, "unsupported version %d (this rollbackctl reads version 1)", rb->version);
    else if (v != NULL && v->type == YN_SCALAR && strcmp(v->str, "0") == 0)
        ld_err(l, v->pos, "unsupported version 0 (this rollbackctl reads version 1)");
    rb->name = ld_str(l, root, "name", NULL);
    rb->cutover_src = ld_str(l, root, "cutover", NULL);
    if (rb->cutover_src != NULL && rb_time_parse_rfc3339(rb->cutover_src, &rb->cutover) < 0)
        ld_err(l, yn_get(root, "cutover")->pos,
               "invalid time '%s' for 'cutover' (expected RFC 3339, e.g. 2026-11-01T00:00:00Z)",
               rb->cutover_src);
    rb->state_dir = ld_path(l, ld_str(l, root, "state_dir", NULL));
    /*
     * ROLLBACKCTL_STATE_DIR wins over the file (a CI job, a rehearsal beside production): a path
     * of the caller's, so relative to where rollbackctl runs, `~` expanded. The key stays
     * required: the runbook alone must say where its runs go.
     */
    env = getenv("ROLLBACKCTL_STATE_DIR");
    if (env != NULL && env[0] != '\0' && rb->state_dir != NULL)
        rb->state_dir = env[0] == '~' ? rb_path_expand(l->a, env) : rb_strdup(l->a, env);

    if ((v = yn_get(root, "targets")) != NULL)
        ld_targets(l, v);
    if ((v = yn_get(root, "signals")) != NULL)
        ld_signals(l, v);
    if ((v = yn_get(root, "decision")) != NULL)
        ld_decision(l, v);
    ld_approval(l, yn_get(root, "approval"));
    if ((v = yn_get(root, "freeze")) != NULL)
        ld_freeze(l, v);
    if ((v = yn_get(root, "sync")) != NULL)
        ld_sync(l, v);
    if ((v = yn_get(root, "restore")) != NULL)
        ld_restore(l, v);
    if ((v = yn_get(root, "verify")) != NULL)
        ld_verify(l, v);
    if ((v = yn_get(root, "communicate")) != NULL)
        ld_communicate(l, v);
    if ((v = yn_get(root, "prepare")) != NULL)
        ld_prepare(l, v);
    if ((v = yn_get(root, "metrics")) != NULL)
        ld_metrics(l, v);
}

static const char *dir_of(struct rb_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return ".";
    if (slash == path)
        return "/";
    return rb_strndup(a, path, (size_t)(slash - path));
}

struct rb_runbook *rb_runbook_load_buffer(struct rb_arena *a, const char *path, const char *data,
                                          size_t len, struct rb_diags *diags)
{
    struct rb_runbook *rb = rb_new(a, struct rb_runbook);
    struct ld l = { a, diags, rb, LD_NEAR_BUDGET, NULL };
    size_t errors = diags->n_errors;
    struct yn *root;

    rb->path = rb_strdup(a, path != NULL ? path : "runbook.yaml");
    rb->dir = dir_of(a, rb->path);
    rb->text = data;
    rb->text_len = len;
    rb_sha256_hex(data, len, rb->sha256);
    for (int i = 0; i < 5; i++)
        rb->approval.required[i] = -1;
    root = yn_parse(a, data, len, diags);
    if (root == NULL)
        return NULL;
    ld_top(&l, root);
    if (diags->n_errors > errors)
        return NULL;
    /* every driver that starts a child keeps the runbook's secrets out of its environment */
    {
        const char *const *secrets = rb_runbook_secret_env(a, rb);

        for (size_t i = 0; i < rb->n_targets; i++)
            rb->targets[i].secret_env = secrets;
    }
    return rb;
}

/*
 * A runbook of this size is already hundreds of thousands of lines; past it the YAML node cap
 * would refuse it anyway, and reading on would only cost memory first.
 */
#define RB_RUNBOOK_MAX_BYTES (8u << 20)

struct rb_runbook *rb_runbook_load(struct rb_arena *a, const char *path, struct rb_diags *diags)
{
    FILE *f = fopen(path, "rb");
    struct rb_runbook *rb;

    if (f == NULL) {
        rb_diag_add(diags, RB_DIAG_ERROR, (struct rb_pos){ 0, 0 }, "unable to open runbook: %s",
                    strerror(errno));
        return NULL;
    }
    rb = rb_runbook_load_stream(a, f, path, diags);
    fclose(f);
    return rb;
}

struct rb_runbook *rb_runbook_load_stream(struct rb_arena *a, FILE *f, const char *path,
                                          struct rb_diags *diags)
{
    char *data;
    size_t cap = 65536, len = 0, got;

    data = malloc(cap);
    while (data != NULL && (got = fread(data + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len > RB_RUNBOOK_MAX_BYTES) {
            rb_diag_add(diags, RB_DIAG_ERROR, (struct rb_pos){ 0, 0 },
                        "the runbook is larger than %u MiB; a runbook this large is not one "
                        "people can review: split it or cut it down",
                        RB_RUNBOOK_MAX_BYTES >> 20);
            free(data);
            return NULL;
        }
        if (len == cap) {
            char *bigger = realloc(data, cap * 2);

            if (bigger == NULL) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
            cap *= 2;
        }
    }
    if (data == NULL || ferror(f)) {
        rb_diag_add(diags, RB_DIAG_ERROR, (struct rb_pos){ 0, 0 }, "unable to read runbook%s",
                    data == NULL ? ": out of memory" : "");
        free(data);
        return NULL;
    }
    {
        char *copy = rb_strndup(a, data, len);

        free(data);
        return rb_runbook_load_buffer(a, path, copy, len, diags);
    }
}
