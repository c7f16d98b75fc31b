/*
 * restore.c - the restore phase: bring the legacy system back, one verified step at a time.
 *
 * One action per runbook step ("restore/<slug of its name>", rb_name_slug), in order. A step does one thing (run an
 * argv, a SQL statement in its own transaction, a DNS change, a scale) and may carry a `verify:`
 * probe. Applying a step with a verify looks first: when the probe already passes, the step is
 * skipped and journaled as already done. That makes a rerun or a resume harmless even for
 * commands that are not idempotent ("check before act", RB_CHECKS_FIRST). Otherwise the step acts,
 * then the probe must pass within its retries before the next step starts.
 *
 * A step that fails stops the run; the engine adds the runbook line and the action name, and
 * `resume` starts again at that step. Plan shows the exact argv, SQL, DNS change (the current
 * value read from the server -> the new one) and verify of every step.
 */
#include "rollbackctl/phases.h"

#include <stdlib.h>
#include <string.h>

#include "rollbackctl/child.h"
#include "rollbackctl/dns.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/http.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/db.h"
#include "rollbackctl/probe.h"
#include "rollbackctl/progress.h"
#include "plan_fields.h"

#define SQL_STEP_TIMEOUT_MS (30LL * 60 * 1000)

struct rstep {
    const struct rb_restore_step *s;
};

/*
 * The record a dns step puts in place, names made absolute against the target's zone: the owner,
 * and the names inside the data (CNAME, NS, PTR, MX, SRV). Plan, the update and the comparisons
 * all read this one record.
 */
static int dns_record(struct rb_run *run, const struct rb_restore_step *s,
                      const struct rb_target **tp, struct rb_dns_record *rec, struct rb_err *err)
{
    const struct rb_target *t = rb_runbook_target(run->rb, s->target);
    const char *zone;

    if (t == NULL)
        return rb_errf(err, RB_E_RUNBOOK, "no target named '%s'", s->target);
    zone = rb_target_opt(t, "zone");
    rec->name = rb_dns_fqdn(run->arena, s->dns_name, zone);
    rec->type = s->dns_type;
    rec->data = rb_dns_data_fqdn(run->arena, s->dns_type, s->dns_data, zone);
    rec->ttl = s->dns_ttl;
    *tp = t;
    return 0;
}

static const char *step_summary(struct rb_run *run, const struct rb_restore_step *s)
{
    struct rb_arena *a = run->arena;

    switch (s->kind) {
    case RB_STEP_RUN:
        return rb_sprintf(a, "%s: run %s", s->name, s->argv.n > 0 ? s->argv.items[0] : "?");
    case RB_STEP_SQL:
        return rb_sprintf(a, "%s: sql on '%s'", s->name, s->target);
    case RB_STEP_DNS:
        return rb_sprintf(a, "%s: dns %s %s -> %s", s->name, s->dns_name, s->dns_type, s->dns_data);
    case RB_STEP_SCALE:
        return rb_sprintf(a, "%s: scale '%s' to %d", s->name, s->deployment, s->replicas);
    }
    return s->name;
}

/* --- plan details ------------------------------------------------------------------------- */

static void plan_dns(struct rb_run *run, struct rb_action *act, const struct rb_restore_step *s)
{
    struct rb_err err = RB_ERR_INIT;
    const struct rb_target *t = NULL;
    const struct rb_dns_ops *ops;
    struct rb_dns_record rec;
    struct rb_dns_rrset cur;
    const char *old = "(not read: offline plan)", *where;
    bool same = false, read = false;
    cJSON *f = rb_action_fields(act, "dns"), *obs;

    cJSON_AddStringToObject(f, "target", s->target);
    if (dns_record(run, s, &t, &rec, &err) < 0) {
        rb_action_detailf(act, "dns: %s\n", err.msg);
        return;
    }
    ops = rb_dns_ops_for(t, &err);
    if (ops == NULL)
        old = rb_sprintf(run->arena, "(unknown: %s)", err.msg);
    else if (ops->read_record == NULL)
        old = rb_sprintf(run->arena, "(unknown: driver '%s' cannot read records)", t->driver);
    else if (!run->offline && run->mode == RB_MODE_PLAN) {
        if (ops->read_record(run->arena, t, rec.name, rec.type, &cur, &err) < 0) {
            old = rb_sprintf(run->arena, "(unknown: %s)", err.msg);
            /* not reached (not merely refused): warned once, and plan fails naming it */
            if (rb_err_is(&err, RB_K_CONN_LOST) || rb_err_is(&err, RB_K_TIMEOUT))
                rb_plan_unreachable(run, t->name, &err);
        } else {
            same = rb_dns_rrset_matches(run->arena, &cur, &rec);
            read = true;
            old = rb_dns_rrset_text(run->arena, &cur);
            if (cur.n > 0 && cur.ttl >= 0)
                old = rb_sprintf(run->arena, "%s (ttl %d)", old, cur.ttl);
        }
    } else if (run->mode != RB_MODE_PLAN) {
        old = "(read when the step runs)";
    }
    where = rb_target_opt(t, "server");
    if (where == NULL && rb_target_opt(t, "url") != NULL)
        where = rb_http_redact_url(run->arena, rb_target_opt(t, "url"));
    cJSON_AddStringToObject(f, "driver", t->driver);
    if (where != NULL)
        cJSON_AddStringToObject(f, "server", where);
    else
        cJSON_AddNullToObject(f, "server");
    cJSON_AddStringToObject(f, "name", rec.name);
    cJSON_AddStringToObject(f, "type", rec.type);
    cJSON_AddStringToObject(f, "new", rec.data);
    cJSON_AddNumberToObject(f, "ttl", rec.ttl);
    if ((obs = rb_action_observed(run, act)) != NULL) {
        /* the record now: its values (none: no such RRset), or null with why it is unknown */
        if (read) {
            cJSON *vals = cJSON_AddArrayToObject(obs, "old");

            for (size_t i = 0; i < cur.n; i++)
                cJSON_AddItemToArray(vals, cJSON_CreateString(cur.values[i]));
            if (cur.n > 0 && cur.ttl >= 0)
                cJSON_AddNumberToObject(obs, "old_ttl", cur.ttl);
            else
                cJSON_AddNullToObject(obs, "old_ttl");
            cJSON_AddBoolToObject(obs, "unchanged", same);
        } else {
            cJSON_AddNullToObject(obs, "old");
            cJSON_AddStringToObject(obs, "old_unknown", old);
        }
    }
    rb_action_detailf(act, "dns via '%s' (%s%s%s): %s %s\n", t->name, t->driver,
                      where != NULL ? " " : "", where != NULL ? where : "", rec.name, rec.type);
    if (same)
        rb_action_detailf(act, "  already points at %s: nothing to change\n", old);
    else
        rb_action_detailf(act, "  %s -> %s (ttl %d)\n", old, rec.data, rec.ttl);
}

static void plan_scale(struct rb_run *run, struct rb_action *act, const struct rb_restore_step *s)
{
    const char *ns = s->namespace_, *now = "";
    const struct rb_target *t = rb_runbook_target(run->rb, s->target);
    const struct rb_cluster_ops *ops = NULL;
    struct rb_err err = RB_ERR_INIT;
    cJSON *f = rb_action_fields(act, "http"), *obs = rb_action_observed(run, act);

    if (!run->offline && run->mode == RB_MODE_PLAN) {
        struct rb_k8s *k = rb_cluster_open(run, s->target, &ops, &err);
        int cur = -1;

        if (k != NULL && ns == NULL)
            ns = ops->namespace_of(k);
        if (k == NULL || ops->get_replicas(k, ns, "deployments", s->deployment, &cur, &err) < 0) {
            now = rb_sprintf(run->arena, "(current count unknown: %s) ", err.msg);
            if (obs != NULL)
                cJSON_AddNullToObject(obs, "replicas");
        } else {
            now = rb_sprintf(run->arena, "%d -> ", cur);
            if (obs != NULL)
                cJSON_AddNumberToObject(obs, "replicas", cur);
        }
    }
    /* the definition names the namespace execute scales in, read locally when offline */
    if (ops == NULL && t != NULL) {
        struct rb_err lookup = RB_ERR_INIT;

        ops = rb_cluster_ops_for(t, &lookup);
    }
    {
        const char *def_ns = ns;

        if (def_ns == NULL && t != NULL && ops != NULL && ops->namespace_local != NULL)
            def_ns = ops->namespace_local(run->arena, t);
        cJSON_AddStringToObject(f, "target", s->target);
        cJSON_AddStringToObject(f, "namespace", def_ns != NULL ? def_ns : "default");
        cJSON_AddStringToObject(f, "resource", "deployments");
        cJSON_AddStringToObject(f, "name", s->deployment);
        cJSON_AddNumberToObject(f, "replicas", s->replicas);
        if (ops != NULL && ops->describe != NULL)
            cJSON_AddItemToObject(f, "requests",
                                  ops->describe(RB_CLUSTER_REQ_SCALE,
                                                def_ns != NULL ? def_ns : "default",
                                                s->deployment, s->replicas));
    }
    rb_action_detailf(act, "scale deployment '%s'%s%s%s via '%s': %s%d replicas\n", s->deployment,
                      ns ? " in namespace '" : "", ns ? ns : "", ns ? "'" : "", s->target, now,
                      s->replicas);
}

static void plan_detail(struct rb_run *run, struct rb_action *act, const struct rb_restore_step *s)
{
    struct rb_arena *a = run->arena;
    char d[32];

    switch (s->kind) {
    case RB_STEP_RUN: {
        cJSON *f = rb_action_fields(act, "exec"), *env;

        cJSON_AddItemToObject(f, "argv", rb_argv_fields(&s->argv));
        /* names only: a value may be a secret the step passes on */
        env = cJSON_AddArrayToObject(f, "env");
        for (size_t i = 0; i < s->n_env; i++)
            cJSON_AddItemToArray(env, cJSON_CreateString(s->env[i].name));
        cJSON_AddNumberToObject(
            f, "timeout_ms",
            (double)(s->timeout_ms > 0 ? s->timeout_ms : RB_CHILD_DEFAULT_TIMEOUT_MS));
        rb_action_detailf(act, "run: %s\n", rb_argv_text(a, s->argv.items));
        if (s->n_env > 0) {
            rb_action_detailf(act, "env:");
            for (size_t i = 0; i < s->n_env; i++)
                rb_action_detailf(act, " %s", s->env[i].name);
            rb_action_detailf(act, "\n");
        }
        rb_action_detailf(
            act, "timeout: %s\n",
            rb_duration_format(s->timeout_ms > 0 ? s->timeout_ms : RB_CHILD_DEFAULT_TIMEOUT_MS, d,
                               sizeof(d)));
        break;
    }
    case RB_STEP_SQL: {
        cJSON *f = rb_action_fields(act, "sql");

        cJSON_AddStringToObject(f, "target", s->target);
        cJSON_AddStringToObject(f, "sql", s->statement);
        cJSON_AddBoolToObject(f, "transaction", true);
        if (s->timeout_ms > 0)
            cJSON_AddNumberToObject(f, "timeout_ms", (double)s->timeout_ms);
        else
            cJSON_AddNullToObject(f, "timeout_ms");
        rb_action_detailf(act, "sql on '%s', in its own transaction: %s\n", s->target,
                          s->statement);
        if (s->timeout_ms > 0)
            rb_action_detailf(act, "timeout: %s\n",
                              rb_duration_format(s->timeout_ms, d, sizeof(d)));
        break;
    }
    case RB_STEP_DNS:
        plan_dns(run, act, s);
        break;
    case RB_STEP_SCALE:
        plan_scale(run, act, s);
        break;
    }
    cJSON_AddItemToObject(rb_action_fields(act, "none"), "verify", rb_probe_fields(a, &s->verify));
    if (s->verify.kind != RB_PROBE_NONE)
        rb_action_detailf(act, "verify: %s\n", rb_probe_describe(a, &s->verify));
    else if (s->kind == RB_STEP_DNS)
        rb_action_detailf(act, "verify: none besides the driver's read-back (rfc2136, powerdns)\n");
    else
        rb_action_detailf(act, "verify: none (the step's own success is the check)\n");
}

/* --- apply -------------------------------------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddStringToObject(o, k, v != NULL ? v : "");
}

/* The last non-empty line of a tail, for messages. */
static const char *last_line(struct rb_arena *a, const char *tail)
{
    size_t n = strlen(tail);
    const char *p;

    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
        n--;
    if (n == 0)
        return NULL;
    for (p = tail + n; p > tail && p[-1] != '\n'; p--)
        ;
    return rb_sprintf(a, "%.*s", (int)(n - (size_t)(p - tail) > 300 ? 300 : n - (size_t)(p - tail)),
                      p);
}

static int do_run(struct rb_run *run, const struct rb_restore_step *s, cJSON *res, const char **msg,
                  struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    const char **env = rb_new_array(a, const char *, s->n_env + 1);
    const char **drop = rb_runbook_secret_env(a, run->rb);
    struct rb_child_result cr;
    const char *why, *line;
    size_t n = 0, k = 0;

    /* a name with a value is set; a name without one is ours, passed on (kept out of drop) */
    for (size_t i = 0; i < s->n_env; i++)
        if (s->env[i].value != NULL)
            env[n++] = rb_sprintf(a, "%s=%s", s->env[i].name, s->env[i].value);
    for (size_t i = 0; drop[i] != NULL; i++) {
        bool asked = false;

        for (size_t j = 0; j < s->n_env && !asked; j++)
            asked = strcmp(s->env[j].name, drop[i]) == 0;
        if (!asked)
            drop[k++] = drop[i];
    }
    drop[k] = NULL;
    add_str(res, "argv", rb_argv_text(a, s->argv.items));
    rb_progress_note(run->ctx, "running %s", rb_argv_text(a, s->argv.items));
    if (rb_child_run_env(a, s->argv.items, env, drop, s->timeout_ms, &cr, err) < 0)
        return -1;
    why = rb_child_describe(a, &cr);
    if (cr.exited)
        cJSON_AddNumberToObject(res, "exit_status", cr.status);
    else if (cr.signal != 0)
        cJSON_AddNumberToObject(res, "signal", cr.signal);
    cJSON_AddBoolToObject(res, "timed_out", cr.timed_out);
    add_str(res, "stdout_tail", cr.out_tail);
    add_str(res, "stderr_tail", cr.err_tail);
    if (cr.exited && cr.status == 0) {
        *msg = rb_sprintf(a, "'%s' exited with status 0", s->argv.items[0]);
        return 0;
    }
    line = last_line(a, cr.err_tail);
    if (line == NULL)
        line = last_line(a, cr.out_tail);
    rb_errf(err, RB_E_FAILED, "'%s' %s%s%s", s->argv.items[0], why, line ? ": " : "",
            line ? line : "");
    return -1;
}

static int do_sql(struct rb_run *run, const struct rb_restore_step *s, cJSON *res, const char **msg,
                  struct rb_err *err)
{
    struct rb_db *c = rb_db_target(run, s->target, err);
    struct rb_err rerr = RB_ERR_INIT;
    struct rb_db_result *r;
    long n;

    if (c == NULL)
        return -1;
    if (rb_db_begin(c, err) < 0)
        return -1;
    r = rb_db_query(c, run->arena, s->timeout_ms > 0 ? s->timeout_ms : SQL_STEP_TIMEOUT_MS,
                    s->statement, 0, NULL, err);
    if (r == NULL) {
        rb_db_rollback(c, 0, &rerr);
        return rb_err_wrap(err, "statement on '%s' failed, rolled back", s->target);
    }
    n = r->rows_affected > 0 ? (long)r->rows_affected : 0;
    add_str(res, "command", r->command);
    if (rb_db_commit(c, 0, err) < 0) {
        /*
         * A COMMIT whose answer never came may have committed: the server can lose the session
         * after making the transaction durable and before replying. Retrying it could apply the
         * statement twice, so the outcome is unknown, and resume treats the step as in flight.
         */
        if (rb_err_is(err, RB_K_CONN_LOST) || rb_err_is(err, RB_K_TIMEOUT)) {
            rb_err_wrap(err,
                        "connection to '%s' lost during COMMIT: the statement may or may not "
                        "have been committed",
                        s->target);
            rb_err_kind(err, RB_K_UNKNOWN);
            return rb_err_hint(err,
                               "check on '%s' whether it took effect; then give the step a "
                               "verify (resume skips it when the verify passes) or fix the "
                               "database by hand, and resume",
                               s->target);
        }
        return rb_err_wrap(err, "commit on '%s' failed", s->target);
    }
    cJSON_AddNumberToObject(res, "rows_affected", (double)n);
    *msg = rb_sprintf(run->arena, "%ld row%s affected", n, n == 1 ? "" : "s");
    return 0;
}

/*
 * Read the RRset first (when the driver can): when it already is the record, nothing is sent (a
 * rerun or a resume must not bump the zone's serial and notify its secondaries again); otherwise
 * the old value and TTL are journaled before the change, so that it can be put back exactly.
 */
static int do_dns(struct rb_run *run, struct rb_action *act, const struct rb_restore_step *s,
                  cJSON *res, const char **msg, struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    const struct rb_target *t = NULL;
    const struct rb_dns_ops *ops;
    struct rb_dns_record rec, same_value;
    struct rb_dns_rrset cur = { NULL, 0, -1 };
    const char *old = NULL;
    int old_ttl = -1;

    if (dns_record(run, s, &t, &rec, err) < 0 || (ops = rb_dns_ops_for(t, err)) == NULL)
        return -1;
    add_str(res, "name", rec.name);
    add_str(res, "type", rec.type);
    if (ops->read_record != NULL) {
        if (ops->read_record(a, t, rec.name, rec.type, &cur, err) < 0)
            return rb_err_wrap(err, "unable to read '%s' %s before changing it", rec.name,
                               rec.type);
        old = rb_dns_rrset_text(a, &cur);
        old_ttl = cur.n > 0 ? cur.ttl : -1;
    }
    add_str(res, "old", old != NULL ? old : "(unknown)");
    if (old_ttl >= 0)
        cJSON_AddNumberToObject(res, "old_ttl", old_ttl);
    add_str(res, "new", rec.data);
    cJSON_AddNumberToObject(res, "ttl", rec.ttl);
    if (old != NULL && rb_dns_rrset_matches(a, &cur, &rec)) {
        cJSON_AddBoolToObject(res, "changed", false);
        *msg = rb_sprintf(a, "%s %s already points at %s (ttl %d)", rec.name, rec.type, old,
                          rec.ttl);
        return 0;
    }
    if (old != NULL) {
        cJSON *p = cJSON_CreateObject();

        add_str(p, "old", old);
        if (old_ttl >= 0)
            cJSON_AddNumberToObject(p, "old_ttl", old_ttl);
        if (rb_run_progress(run, act, p, err) < 0) {
            cJSON_Delete(p);
            return -1;
        }
        cJSON_Delete(p);
    }
    if (ops->set_record(a, t, &rec, err) < 0)
        return -1;
    cJSON_AddBoolToObject(res, "changed", true);
    same_value = rec;
    same_value.ttl = old_ttl;
    if (old != NULL && old_ttl >= 0 && rb_dns_rrset_matches(a, &cur, &same_value))
        *msg = rb_sprintf(a, "%s %s %s: ttl %d -> %d", rec.name, rec.type, old, old_ttl,
                          rec.ttl); /* only the TTL changed */
    else
        *msg = rb_sprintf(a, "%s %s %s -> %s", rec.name, rec.type, old != NULL ? old : "(unknown)",
                          rec.data);
    return 0;
}

static int do_scale(struct rb_run *run, struct rb_action *act, const struct rb_restore_step *s,
                    cJSON *res, const char **msg, struct rb_err *err)
{
    const struct rb_cluster_ops *ops;
    struct rb_k8s *k = rb_cluster_open(run, s->target, &ops, err);
    const char *ns;
    int before = -1;
    cJSON *p;

    if (k == NULL)
        return -1;
    ns = s->namespace_ != NULL ? s->namespace_ : ops->namespace_of(k);
    if (ops->get_replicas(k, ns, "deployments", s->deployment, &before, err) < 0)
        return -1;
    /* Journal the count we found before changing it. */
    p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "before", before);
    if (rb_run_progress(run, act, p, err) < 0) {
        cJSON_Delete(p);
        return -1;
    }
    cJSON_Delete(p);
    if (before != s->replicas &&
        ops->scale(k, ns, "deployments", s->deployment, s->replicas, err) < 0)
        return -1;
    add_str(res, "deployment", s->deployment);
    add_str(res, "namespace", ns);
    cJSON_AddNumberToObject(res, "before", before);
    cJSON_AddNumberToObject(res, "replicas", s->replicas);
    *msg = before == s->replicas
               ? rb_sprintf(run->arena, "'%s' already at %d replicas", s->deployment, before)
               : rb_sprintf(run->arena, "'%s' scaled %d -> %d", s->deployment, before, s->replicas);
    return 0;
}

static int apply_step(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct rstep *st = act->arg;
    const struct rb_restore_step *s = st->s;
    struct rb_probe_result pr;
    const char *msg = NULL;
    cJSON *res = cJSON_CreateObject();
    int rc = -1;

    act->result = res;
    add_str(res, "step", s->name);
    cJSON_AddNumberToObject(res, "line", s->pos.line);

    /* Check before act: a step whose verify already passes has nothing to do. */
    if (s->verify.kind != RB_PROBE_NONE) {
        rb_probe_eval(run, &s->verify, 1, &pr);
        if (pr.passed) {
            cJSON_AddBoolToObject(res, "already_done", true);
            add_str(res, "verify", pr.description);
            add_str(res, "message",
                    rb_sprintf(run->arena, "already done (verify %s), not applied again",
                               pr.description));
            return 0;
        }
        add_str(res, "before", pr.description);
    }

    switch (s->kind) {
    case RB_STEP_RUN:
        rc = do_run(run, s, res, &msg, err);
        break;
    case RB_STEP_SQL:
        rc = do_sql(run, s, res, &msg, err);
        break;
    case RB_STEP_DNS:
        rc = do_dns(run, act, s, res, &msg, err);
        break;
    case RB_STEP_SCALE:
        rc = do_scale(run, act, s, res, &msg, err);
        break;
    }
    if (rc < 0)
        return rb_err_wrap(err, "restore step '%s' failed", s->name);

    if (s->verify.kind != RB_PROBE_NONE) {
        rb_probe_eval(run, &s->verify, 0, &pr);
        add_str(res, "verify", pr.description);
        cJSON_AddNumberToObject(res, "verify_attempts", pr.attempts);
        cJSON_AddBoolToObject(res, "verified", pr.passed);
        if (!pr.passed) {
            rb_errf(err, RB_E_FAILED,
                    "restore step '%s' did its work but its verify did not pass after %d "
                    "attempt%s: %s",
                    s->name, pr.attempts, pr.attempts == 1 ? "" : "s", pr.description);
            return rb_err_hint(err,
                               "fix the cause, then 'rollbackctl resume' starts again at this step "
                               "(it is skipped if its verify passes by then)");
        }
        msg = rb_sprintf(run->arena, "%s; verified: %s", msg, pr.description);
    }
    add_str(res, "message", msg);
    return 0;
}

int rb_restore_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;

    (void)err;
    for (size_t i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *s = &rb->restore[i];
        struct rstep *st = rb_new(run->arena, struct rstep);
        enum rb_idem idem;
        struct rb_action *act;

        st->s = s;
        if (s->verify.kind != RB_PROBE_NONE)
            idem = RB_CHECKS_FIRST;
        else if (s->kind == RB_STEP_DNS || s->kind == RB_STEP_SCALE)
            idem = RB_IDEMPOTENT; /* replace an RRset, set a replica count: same result twice */
        else
            idem = RB_ONCE; /* an arbitrary command or statement, and nothing to look at */
        act = rb_run_add_action(
            run, "restore", rb_sprintf(run->arena, "restore/%s", rb_name_slug(run->arena, s->name)),
            step_summary(run, s), idem, apply_step, st);
        act->pos = s->pos;
        act->fingerprint = s->fingerprint;
        plan_detail(run, act, s);
    }
    return 0;
}
