/*
 * preflight.c - the pre-flight: before the first change, every target the remaining actions need
 * is asked whether it answers, so that production is never frozen while legacy cannot be reached.
 *
 * The policy is here (which runbook entries need which target, and which entries are done, from
 * run->replay); each question goes through the ops of the target's driver (db.h, cluster.h,
 * dns.h) on a check run of its own: read-only sessions, nothing journaled, nothing written. Every
 * check runs even after one failed, so one attempt names every problem. The lifecycle journals
 * the report this hands back.
 *
 * Also plan's record of the targets it could not read (rb_plan_unreachable): kept in the run's
 * handle cache, like verify's state, so each target is warned about once.
 */
#include "rollbackctl/preflight.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/db.h"
#include "rollbackctl/dns.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/output.h"
#include "rollbackctl/sync.h"

/* ---- which entries are still to do ---------------------------------------------------------- */

static bool state_done(const cJSON *st)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "state");

    return cJSON_IsString(s) && strcmp(s->valuestring, "done") == 0;
}

/*
 * Done in an earlier attempt: journaled done under its id, or (a step renamed since) under
 * another id with the same fingerprint, as the engine recognises it.
 */
static bool done(const struct rb_run *run, const char *id, const char *fingerprint)
{
    const cJSON *st;

    if (state_done(cJSON_GetObjectItemCaseSensitive(run->replay, id)))
        return true;
    if (fingerprint == NULL)
        return false;
    cJSON_ArrayForEach(st, run->replay) {
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(st, "fingerprint");

        if (cJSON_IsString(fp) && strcmp(fp->valuestring, fingerprint) == 0 && state_done(st))
            return true;
    }
    return false;
}

/*
 * A freeze entry's id as freeze.c names it when it is the only entry on its object. Entries that
 * collide get longer ids; such an entry is then taken as not done, which checks a target more
 * than needed, never less.
 */
static const char *freeze_id(struct rb_arena *a, const struct rb_freeze_action *f)
{
    const char *what = "snapshot";

    switch (f->kind) {
    case RB_FREEZE_SCALE:
        what = rb_sprintf(a, "scale-%s", f->deployment);
        break;
    case RB_FREEZE_SUSPEND_CRONJOBS:
        what = rb_sprintf(a, "suspend-cronjobs-%s", f->selector);
        break;
    case RB_FREEZE_DELETE_JOBS:
        what = rb_sprintf(a, "delete-jobs-%s", f->selector);
        break;
    case RB_FREEZE_SNAPSHOT:
        break;
    }
    return rb_sprintf(a, "freeze/%s", rb_name_slug(a, what));
}

/* ---- what is needed ------------------------------------------------------------------------- */

struct names {
    const char **v;
    const char **why;   /* the action id of the first entry that needs it */
    int *line;          /* and its runbook line (0: unknown) */
    const char **after; /* a restore `run` step still to run before that entry, or NULL */
    size_t n, cap;
    const char *run_step; /* while collecting: the first such step seen so far */
};

static void names_add(struct rb_arena *a, struct names *l, const char *name, const char *why,
                      int line)
{
    if (name == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return;
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 8 : l->cap * 2;
        const char **v = rb_new_array(a, const char *, cap);
        const char **w = rb_new_array(a, const char *, cap);
        int *ln = rb_new_array(a, int, cap);
        const char **af = rb_new_array(a, const char *, cap);

        if (l->n > 0) {
            memcpy(v, l->v, l->n * sizeof(*v));
            memcpy(w, l->why, l->n * sizeof(*w));
            memcpy(ln, l->line, l->n * sizeof(*ln));
            memcpy(af, l->after, l->n * sizeof(*af));
        }
        l->v = v;
        l->why = w;
        l->line = ln;
        l->after = af;
        l->cap = cap;
    }
    l->why[l->n] = why;
    l->line[l->n] = line;
    l->after[l->n] = l->run_step;
    l->v[l->n++] = name;
}

/* A DNS record a step changes, on its target. */
struct dns_need {
    const struct rb_target *t;
    const char *name, *type, *step;
    int line;
};

struct needs {
    struct names dbs, clusters, programs; /* programs: argv[0]; why: the action */
    const struct rb_sync_table **tables;
    size_t n_tables;
    struct dns_need *dns;
    size_t n_dns;
};

static void probe_needs(struct rb_arena *a, struct needs *n, const struct rb_probe *p,
                        const char *why, int line)
{
    if (p->kind == RB_PROBE_SQL)
        names_add(a, &n->dbs, p->target, why, line);
    else if (p->kind == RB_PROBE_RUN && p->argv.n > 0)
        names_add(a, &n->programs, p->argv.items[0], why, line);
}

static void restore_needs(struct rb_run *run, struct needs *n)
{
    struct rb_arena *a = run->arena;
    const struct rb_runbook *rb = run->rb;

    n->dns = rb_new_array(a, struct dns_need, rb->n_restore + 1);
    for (size_t i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *s = &rb->restore[i];
        const char *id = rb_sprintf(a, "restore/%s", rb_name_slug(a, s->name));
        const struct rb_target *t;

        if (done(run, id, s->fingerprint))
            continue;
        switch (s->kind) {
        case RB_STEP_RUN:
            if (s->argv.n > 0)
                names_add(a, &n->programs, s->argv.items[0], id, s->pos.line);
            /* a database first needed after this step may be one it starts (the contract's
               "Start database"): see check_dbs */
            if (n->dbs.run_step == NULL)
                n->dbs.run_step = s->name;
            break;
        case RB_STEP_SQL:
            names_add(a, &n->dbs, s->target, id, s->pos.line);
            break;
        case RB_STEP_SCALE:
            names_add(a, &n->clusters, s->target, id, s->pos.line);
            break;
        case RB_STEP_DNS:
            if ((t = rb_runbook_target(rb, s->target)) == NULL)
                break;
            n->dns[n->n_dns++] =
                (struct dns_need){ t, rb_dns_fqdn(a, s->dns_name, rb_target_opt(t, "zone")),
                                   s->dns_type, id, s->pos.line };
            break;
        }
        probe_needs(a, n, &s->verify, id, s->pos.line);
    }
}

static void collect(struct rb_run *run, struct needs *n)
{
    struct rb_arena *a = run->arena;
    const struct rb_runbook *rb = run->rb;
    const struct rb_sync *sync = &rb->sync;
    bool syncing = sync->present && sync->n_tables > 0;

    for (size_t i = 0; i < rb->n_freeze; i++) {
        const char *id = freeze_id(a, &rb->freeze[i]);

        if (!done(run, id, NULL))
            names_add(a, &n->clusters, rb->freeze[i].target, id, rb->freeze[i].pos.line);
    }
    /* freeze counts the records at risk on the sync's source */
    if (rb->n_freeze > 0 && syncing && !done(run, "freeze/records-at-risk", NULL))
        names_add(a, &n->dbs, sync->from, "freeze/records-at-risk", sync->pos.line);
    n->tables = rb_new_array(a, const struct rb_sync_table *, sync->n_tables + 1);
    for (size_t i = 0; syncing && i < sync->n_tables; i++) {
        const char *id = rb_sprintf(a, "sync/%s", sync->tables[i].name);

        if (done(run, id, NULL))
            continue;
        names_add(a, &n->dbs, sync->from, id, sync->tables[i].pos.line);
        names_add(a, &n->dbs, sync->to, id, sync->tables[i].pos.line);
        n->tables[n->n_tables++] = &sync->tables[i];
    }
    restore_needs(run, n);
    for (size_t i = 0; i < rb->n_checks; i++) {
        const struct rb_check *c = &rb->checks[i];
        const char *id = rb_sprintf(a, "verify/%s", rb_name_slug(a, c->name));

        if (done(run, id, c->fingerprint))
            continue;
        switch (c->kind) {
        case RB_CHECK_COMPARE:
            names_add(a, &n->dbs, sync->from, id, c->pos.line);
            names_add(a, &n->dbs, sync->to, id, c->pos.line);
            break;
        case RB_CHECK_EQUAL:
        case RB_CHECK_TOTALS:
            names_add(a, &n->dbs, c->new_q.target, id, c->pos.line);
            names_add(a, &n->dbs, c->legacy_q.target, id, c->pos.line);
            break;
        case RB_CHECK_PROBE:
            probe_needs(a, n, &c->probe, id, c->pos.line);
            break;
        }
    }
}

/* ---- asking --------------------------------------------------------------------------------- */

struct pf {
    struct rb_run *run; /* the run being started or resumed: what is done, where to print */
    struct rb_run *chk; /* the check run the questions go through (read-only sessions) */
    cJSON *checks;
    struct rb_buf failed; /* "database 'legacy', program 'x'" for the error */
    int n_failed, n_warned;
};

/*
 * One check's outcome: journaled with the first action that needs the target, and on stderr when
 * it failed (a line, then its hint) or could not be made. A check that belongs to one runbook
 * entry (a step's record or program) names its line, as the engine names a failing action's.
 */
static cJSON *record(struct pf *p, const char *kind, const char *target, const char *needed_by,
                     int line, const struct rb_err *e, const char *warning)
{
    struct rb_ctx *ctx = p->run->ctx;
    cJSON *c = cJSON_CreateObject();
    const char *where = "";

    if (line > 0)
        where = rb_sprintf(p->run->arena, "%s:%d: %s: ", p->run->rb->path, line, needed_by);
    cJSON_AddStringToObject(c, "kind", kind);
    cJSON_AddStringToObject(c, "target", target);
    if (needed_by != NULL)
        cJSON_AddStringToObject(c, "needed_by", needed_by);
    cJSON_AddBoolToObject(c, "ok", e == NULL);
    if (e != NULL) {
        cJSON_AddStringToObject(c, "error", e->msg);
        if (e->hint[0] != '\0')
            cJSON_AddStringToObject(c, "hint", e->hint);
        fprintf(ctx->diag, "pre-flight: %sFAILED%s %s '%s': %s%s\n", rb_c_red(ctx), rb_c_reset(ctx),
                kind, target, where, e->msg);
        if (e->hint[0] != '\0')
            fprintf(ctx->diag, "  HINT: %s\n", e->hint);
        rb_buf_addf(&p->failed, "%s%s '%s'", p->n_failed > 0 ? ", " : "", kind, target);
        p->n_failed++;
    } else if (warning != NULL) {
        cJSON_AddStringToObject(c, "warning", warning);
        rb_warn(ctx, "pre-flight: %s '%s' %s", kind, target, warning);
        p->n_warned++;
    } else {
        rb_verbose(ctx, "pre-flight: ok      %s '%s'", kind, target);
    }
    cJSON_AddItemToArray(p->checks, c);
    return c;
}

/*
 * Each database: connects, logs in, the session is set up (the driver's open does all three).
 * One that does not answer yet but is first needed after a restore `run` step still to come is
 * a warning: that step may be what starts it. A login it refuses fails all the same.
 */
static void check_dbs(struct pf *p, const struct needs *n, bool *ok)
{
    for (size_t i = 0; i < n->dbs.n; i++) {
        struct rb_err e = RB_ERR_INIT;

        ok[i] = rb_db_target(p->chk, n->dbs.v[i], &e) != NULL;
        if (!ok[i] && n->dbs.after[i] != NULL && rb_err_is(&e, RB_K_CONN_LOST))
            record(p, "database", n->dbs.v[i], n->dbs.why[i], 0, NULL,
                   rb_sprintf(p->run->arena,
                              "does not answer now, but restore step '%s' comes first and may "
                              "start it: %s",
                              n->dbs.after[i], e.msg));
        else
            record(p, "database", n->dbs.v[i], n->dbs.why[i], 0, ok[i] ? NULL : &e, NULL);
    }
}

static bool db_ok(const struct needs *n, const bool *ok, const char *name)
{
    for (size_t i = 0; i < n->dbs.n; i++)
        if (strcmp(n->dbs.v[i], name) == 0)
            return ok[i];
    return false;
}

/* Each table still to sync passes sync's own catalog checks (when both databases answered). */
static void check_tables(struct pf *p, const struct needs *n, const bool *ok)
{
    const struct rb_sync *sync = &p->run->rb->sync;

    if (n->n_tables == 0 || !db_ok(n, ok, sync->from) || !db_ok(n, ok, sync->to))
        return;
    for (size_t i = 0; i < n->n_tables; i++) {
        struct rb_err e = RB_ERR_INIT;
        struct rb_db *src = rb_db_target(p->chk, sync->from, &e);
        struct rb_db *dst = src != NULL ? rb_db_target(p->chk, sync->to, &e) : NULL;
        int rc = dst != NULL ? rb_sync_check_table(p->chk, n->tables[i], src, dst, &e) : -1;

        const char *id = rb_sprintf(p->run->arena, "sync/%s", n->tables[i]->name);

        /* its errors name the table's runbook line already; a table that is not critical would
           fail on its own and the run go on (partial), so it does not stop the run here either */
        if (rc < 0 && !n->tables[i]->critical)
            record(
                p, "sync table", n->tables[i]->name, id, 0, NULL,
                rb_sprintf(p->run->arena, "will fail (not critical, the run goes on): %s", e.msg));
        else
            record(p, "sync table", n->tables[i]->name, id, 0, rc == 0 ? NULL : &e, NULL);
    }
}

/* Each cluster: the client opens and the permission checks pass (asking needs the credentials). */
static void check_clusters(struct pf *p, const struct needs *n)
{
    for (size_t i = 0; i < n->clusters.n; i++) {
        struct rb_err e = RB_ERR_INIT;
        const struct rb_cluster_ops *ops = NULL;
        struct rb_k8s *k = rb_cluster_open(p->chk, n->clusters.v[i], &ops, &e);

        if (k != NULL && ops->can_i == NULL) {
            record(p, "cluster", n->clusters.v[i], n->clusters.why[i], 0, NULL,
                   rb_sprintf(p->run->arena,
                              "cannot be checked: driver '%s' cannot be asked for permissions",
                              ops->driver));
            continue;
        }
        if (k == NULL || rb_cluster_check_target_access(p->chk, n->clusters.v[i], NULL, &e) < 0)
            record(p, "cluster", n->clusters.v[i], n->clusters.why[i], 0, &e, NULL);
        else
            record(p, "cluster", n->clusters.v[i], n->clusters.why[i], 0, NULL, NULL);
    }
}

/* Each DNS step's record: a signed read answered (the key works for the zone). */
static void check_dns(struct pf *p, const struct needs *n)
{
    for (size_t i = 0; i < n->n_dns; i++) {
        const struct dns_need *d = &n->dns[i];
        struct rb_err e = RB_ERR_INIT;
        const struct rb_dns_ops *ops = rb_dns_ops_for(d->t, &e);
        struct rb_dns_rrset cur;
        bool seen = false;
        cJSON *c;

        for (size_t j = 0; j < i && !seen; j++)
            seen = n->dns[j].t == d->t && strcmp(n->dns[j].name, d->name) == 0 &&
                   strcmp(n->dns[j].type, d->type) == 0;
        if (seen)
            continue;
        if (ops != NULL && ops->read_record == NULL) {
            c = record(p, "dns", d->t->name, d->step, d->line, NULL,
                       rb_sprintf(p->run->arena,
                                  "cannot be checked: driver '%s' cannot read records",
                                  d->t->driver));
        } else if (ops == NULL ||
                   ops->read_record(p->run->arena, d->t, d->name, d->type, &cur, &e) < 0) {
            if (ops != NULL)
                rb_err_wrap(&e, "unable to read '%s' %s", d->name, d->type);
            c = record(p, "dns", d->t->name, d->step, d->line, &e, NULL);
        } else {
            c = record(p, "dns", d->t->name, d->step, d->line, NULL, NULL);
        }
        cJSON_AddStringToObject(c, "record", rb_sprintf(p->run->arena, "%s %s", d->name, d->type));
    }
}

const char *rb_preflight_find_program(struct rb_arena *a, const char *prog, struct rb_err *err)
{
    struct stat sb;
    const char *path, *p;
    char buf[64];

    if (prog == NULL || prog[0] == '\0') {
        rb_errf(err, RB_E_FAILED, "empty program name");
        return NULL;
    }
    if (strchr(prog, '/') != NULL) {
        if (stat(prog, &sb) < 0) {
            rb_errf(err, RB_E_FAILED, "program '%s' does not exist: %s", prog, strerror(errno));
            return NULL;
        }
        if (!S_ISREG(sb.st_mode) || access(prog, X_OK) < 0) {
            rb_errf(err, RB_E_FAILED, "program '%s' is not an executable file", prog);
            rb_err_hint(err, "chmod +x it, or name the right file in the runbook");
            return NULL;
        }
        return prog;
    }
    path = getenv("PATH");
    if (path == NULL) { /* what posix_spawnp searches then */
        size_t len = confstr(_CS_PATH, buf, sizeof(buf));

        path = len > 0 && len <= sizeof(buf) ? rb_strdup(a, buf) : "/bin:/usr/bin";
    }
    for (p = path;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);
        /* an empty element is the current folder, as for posix_spawnp */
        const char *cand =
            len == 0 ? rb_sprintf(a, "./%s", prog) : rb_sprintf(a, "%.*s/%s", (int)len, p, prog);

        if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) && access(cand, X_OK) == 0)
            return cand;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    rb_errf(err, RB_E_FAILED, "program '%s' is not found in PATH (%s)", prog, path);
    rb_err_hint(err, "install it, or name it by its full path in the runbook");
    return NULL;
}

static void check_programs(struct pf *p, const struct needs *n)
{
    for (size_t i = 0; i < n->programs.n; i++) {
        struct rb_err e = RB_ERR_INIT;
        const char *found = rb_preflight_find_program(p->run->arena, n->programs.v[i], &e);
        cJSON *c = record(p, "program", n->programs.v[i], n->programs.why[i], n->programs.line[i],
                          found != NULL ? NULL : &e, NULL);

        if (found != NULL)
            cJSON_AddStringToObject(c, "path", found);
    }
}

int rb_preflight(struct rb_run *run, cJSON **report, struct rb_err *err)
{
    struct needs n;
    struct pf p;
    bool *db_ok_v;
    cJSON *rep;

    if (report != NULL)
        *report = NULL;
    memset(&n, 0, sizeof(n));
    memset(&p, 0, sizeof(p));
    rb_buf_init(&p.failed);
    collect(run, &n);
    p.run = run;
    p.chk = rb_run_new_check(run->ctx, run->rb);
    p.checks = cJSON_CreateArray();
    db_ok_v = rb_new_array(run->arena, bool, n.dbs.n + 1);

    check_dbs(&p, &n, db_ok_v);
    check_tables(&p, &n, db_ok_v);
    check_clusters(&p, &n);
    check_dns(&p, &n);
    check_programs(&p, &n);
    /* the sessions were read-only; the run opens its own */
    for (size_t i = 0; i < n.dbs.n; i++)
        rb_db_target_close(p.chk, n.dbs.v[i]);

    rep = cJSON_CreateObject();
    cJSON_AddBoolToObject(rep, "ok", p.n_failed == 0);
    cJSON_AddNumberToObject(rep, "failed", p.n_failed);
    cJSON_AddNumberToObject(rep, "warnings", p.n_warned);
    cJSON_AddItemToObject(rep, "checks", p.checks);
    if (report != NULL)
        *report = rep;
    else
        cJSON_Delete(rep);
    if (p.n_failed > 0) {
        rb_errf(err, RB_E_FAILED, "pre-flight failed: %d of %d checks (%s); nothing was changed",
                p.n_failed, cJSON_GetArraySize(p.checks), p.failed.data);
        rb_buf_release(&p.failed);
        return rb_err_hint(err,
                           "fix the targets or the runbook, then 'rollbackctl resume %s' checks "
                           "again and continues",
                           run->run_id);
    }
    rb_buf_release(&p.failed);
    if (cJSON_GetArraySize(p.checks) > 0)
        rb_info(run->ctx, "pre-flight: %d check%s passed%s", cJSON_GetArraySize(p.checks),
                cJSON_GetArraySize(p.checks) == 1 ? "" : "s",
                p.n_warned > 0 ? rb_sprintf(run->arena, " (%d not checkable)", p.n_warned) : "");
    return 0;
}

/* ---- plan: targets that could not be read --------------------------------------------------- */

#define PLAN_UNREACHABLE "plan-unreachable"

static struct names *unreachable(struct rb_run *run, bool create)
{
    struct names *l = rb_run_handle_get(run, PLAN_UNREACHABLE, "targets");

    if (l == NULL && create) {
        l = rb_new(run->arena, struct names);
        rb_run_handle_put(run, PLAN_UNREACHABLE, "targets", l);
    }
    return l;
}

bool rb_plan_is_unreachable(struct rb_run *run, const char *target)
{
    const struct names *l = unreachable(run, false);

    for (size_t i = 0; l != NULL && target != NULL && i < l->n; i++)
        if (strcmp(l->v[i], target) == 0)
            return true;
    return false;
}

void rb_plan_unreachable(struct rb_run *run, const char *target, const struct rb_err *why)
{
    if (run->mode != RB_MODE_PLAN || target == NULL || rb_plan_is_unreachable(run, target))
        return;
    names_add(run->arena, unreachable(run, true), target, rb_strdup(run->arena, why->msg), 0);
    rb_warn(run->ctx, "%s", why->msg);
}

int rb_plan_unreachable_check(struct rb_run *run, struct rb_err *err)
{
    const struct names *l = unreachable(run, false);
    struct rb_buf b = RB_BUF_INIT;

    if (l == NULL || l->n == 0)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        rb_buf_addf(&b, "%s'%s'", i > 0 ? ", " : "", l->v[i]);
    rb_errf(err, RB_E_FAILED, "plan could not read target%s %s: what it shows of %s is unknown",
            l->n == 1 ? "" : "s", b.data, l->n == 1 ? "it" : "them");
    rb_buf_release(&b);
    return rb_err_hint(err,
                       "check that the target%s answer%s (address, credentials), or plan "
                       "with --offline to contact nothing",
                       l->n == 1 ? "" : "s", l->n == 1 ? "s" : "");
}
