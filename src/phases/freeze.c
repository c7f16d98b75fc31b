/*
 * freeze.c - the freeze phase: stop the new system writing, and remember how it was.
 *
 * One action per `freeze:` entry, in runbook order:
 *   scale             read the replica count, journal it (progress), set replicas through the scale
 *                     subresource. Re-applied after a crash it finds the count it journaled in
 *                     act->prior and keeps it: the original, not the 0 it set itself.
 *   suspend_cronjobs  CronJobs matching the selector get spec.suspend=true; the ones suspended by
 *                     this run are journaled before patching (and kept across a re-apply), so an
 *                     operator knows exactly which to resume.
 *   delete_jobs       Jobs matching the selector are saved to the assets folder, journaled, then
 *                     deleted as a collection with propagationPolicy=Background (their pods go too).
 *   snapshot          Deployments, StatefulSets, CronJobs, Jobs, ConfigMaps, Services of the
 *                     namespace, read page by page, saved as one kubectl-readable JSON List (0600)
 *                     under the run's assets. Secrets are never read.
 * Then one action counts the records at risk per sync table (rows of the sync `from` database
 * changed since the cutover) and journals them as the fact records_at_risk_by_table, and the
 * legacy rows new deleted since cutover (sync_deletions.c) as the fact records_deleted_by_table.
 * With sync.presync that count and the deletion scan run before the freeze (presync/
 * records-at-risk, planned from here for the presync phase) and the freeze adds only the rows
 * changed since: the downtime holds no scan of every key (see "records at risk" below).
 *
 * Every cluster operation goes through the target driver's ops (cluster.h): this file decides
 * what to do and what to journal, the driver how to ask the server. Planning checks every
 * permission the runbook needs before anything is changed (cluster_access.c, plan and execute
 * alike), and in plan mode reads (never writes) that the objects exist. The plan text of each
 * action is the exact requests execute would send, as the driver describes them.
 */
#include "rollbackctl/phases.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/driver_needs.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/preflight.h"
#include "rollbackctl/sync.h"

struct freeze_arg {
    const struct rb_freeze_action *f;
    const char *ns;
    int index;
};

/*
 * A namespace: the one given, else the target's (runbook, then kubeconfig context), else
 * "default". Without a client (an offline plan) the driver reads the context locally, so that
 * the plan names the namespace execute will act in.
 */
static const char *target_ns(struct rb_run *run, const char *target, const char *given,
                             const struct rb_cluster_ops *ops, struct rb_k8s *k)
{
    const struct rb_target *t = rb_runbook_target(run->rb, target);
    const char *ns = given;

    if (ns == NULL && t != NULL)
        ns = rb_target_opt(t, "namespace");
    if (ns == NULL && k != NULL)
        ns = ops->namespace_of(k);
    if (ns == NULL && t != NULL && ops != NULL && ops->namespace_local != NULL)
        ns = ops->namespace_local(run->arena, t);
    return ns != NULL ? ns : "default";
}

/* Namespace of an entry: its own, else its target's. */
static const char *entry_ns(struct rb_run *run, const struct rb_freeze_action *f,
                            const struct rb_cluster_ops *ops, struct rb_k8s *k)
{
    return target_ns(run, f->target, f->namespace_, ops, k);
}

/* One request of a driver's describe as the plan text shows it. */
static void request_text(struct rb_action *act, const cJSON *r)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(r, "content_type");

    rb_action_detailf(act, "%s %s%s\n",
                      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "method")),
                      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "path")),
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "paged"))
                          ? " (then &continue= until done)"
                          : "");
    if (body != NULL) {
        char *text = cJSON_PrintUnformatted(body);

        if (text == NULL)
            abort();
        rb_action_detailf(act, "  Content-Type: %s\n  %s\n",
                          cJSON_IsString(ct) ? ct->valuestring : "", text);
        cJSON_free(text);
    }
}

/*
 * The exact requests the driver will send, when it can say (offline plans too): shown in the
 * plan text when show, and kept in the fields' "requests" (the action's definition) when
 * define. A request made for an object the plan found (one CronJob listed now) is shown only:
 * the definition holds the request for each one listed.
 */
static void detail_requests(struct rb_action *act, const struct rb_cluster_ops *ops,
                            enum rb_cluster_request req, const char *ns, const char *what,
                            int replicas, bool show, bool define)
{
    cJSON *arr, *r, *defs;

    if (ops == NULL || ops->describe == NULL)
        return;
    arr = ops->describe(req, ns, what, replicas);
    if (show)
        cJSON_ArrayForEach(r, arr)
            request_text(act, r);
    if (define) {
        defs = cJSON_GetObjectItemCaseSensitive(act->fields, "requests");
        if (defs == NULL)
            defs = cJSON_AddArrayToObject(act->fields, "requests");
        while (cJSON_GetArraySize(arr) > 0)
            cJSON_AddItemToArray(defs, cJSON_DetachItemFromArray(arr, 0));
    }
    cJSON_Delete(arr);
}

static cJSON *names_array(const struct rb_cluster_list *l)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(l->items[i].name));
    return arr;
}

static bool in_names(const cJSON *arr, const char *name)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0)
            return true;
    return false;
}

static const char *join_names(struct rb_arena *a, const cJSON *arr)
{
    struct rb_buf b = RB_BUF_INIT;
    const cJSON *it;
    const char *out;

    cJSON_ArrayForEach(it, arr)
        if (cJSON_IsString(it))
            rb_buf_addf(&b, "%s'%s'", b.len > 0 ? ", " : "", it->valuestring);
    out = rb_strdup(a, b.len > 0 ? b.data : "none");
    rb_buf_release(&b);
    return out;
}

/* Save a JSON document under the run's assets, 0600, atomically. Returns the path or NULL. */
static const char *save_asset(struct rb_run *run, const char *file, const cJSON *doc,
                              struct rb_err *err)
{
    const char *dir = rb_run_assets_dir(run, err);
    const char *path;
    char *text;
    int rc;

    if (dir == NULL)
        return NULL;
    path = rb_sprintf(run->arena, "%s/%s", dir, file);
    text = cJSON_Print(doc);
    if (text == NULL)
        abort();
    rc = rb_write_file_atomic(path, text, strlen(text), 0600, err);
    cJSON_free(text);
    return rc < 0 ? NULL : path;
}

/* ---- scale ------------------------------------------------------------------------------------- */

static int apply_scale(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    const struct rb_freeze_action *f = fa->f;
    const struct rb_cluster_ops *ops;
    struct rb_k8s *k = rb_cluster_open(run, f->target, &ops, err);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(act->prior, "original_replicas");
    int orig, now;
    bool unchanged = false;

    if (k == NULL)
        return -1;
    if (cJSON_IsNumber(pr)) {
        /* an earlier attempt read it before scaling: that is the original, whatever is there now */
        orig = pr->valueint;
    } else {
        cJSON *p;

        if (ops->get_replicas(k, fa->ns, "deployments", f->deployment, &orig, err) < 0)
            return -1;
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "deployment", f->deployment);
        cJSON_AddStringToObject(p, "namespace", fa->ns);
        cJSON_AddNumberToObject(p, "original_replicas", orig);
        if (rb_run_progress(run, act, p, err) < 0) {
            cJSON_Delete(p);
            return -1;
        }
        cJSON_Delete(p);
        /* already where the freeze wants it (a rerun, or a system stopped by hand): no write */
        unchanged = orig == f->replicas;
    }
    if (!unchanged && ops->scale(k, fa->ns, "deployments", f->deployment, f->replicas, err) < 0)
        return -1;
    if (unchanged)
        now = orig;
    else if (ops->get_replicas(k, fa->ns, "deployments", f->deployment, &now, err) < 0)
        return -1;
    if (now != f->replicas)
        return rb_errf(err, RB_E_FAILED,
                       "deployment '%s' in namespace '%s' has %d replicas after scaling to %d",
                       f->deployment, fa->ns, now, f->replicas);
    act->result = cJSON_CreateObject();
    cJSON_AddStringToObject(act->result, "deployment", f->deployment);
    cJSON_AddStringToObject(act->result, "namespace", fa->ns);
    cJSON_AddNumberToObject(act->result, "original_replicas", orig);
    cJSON_AddNumberToObject(act->result, "replicas", f->replicas);
    if (unchanged)
        cJSON_AddBoolToObject(act->result, "unchanged", true);
    cJSON_AddStringToObject(
        act->result, "message",
        unchanged ? rb_sprintf(run->arena, "'%s' already at %d replica%s: nothing to change",
                               f->deployment, orig, orig == 1 ? "" : "s")
                  : rb_sprintf(run->arena, "'%s' scaled from %d to %d replicas", f->deployment,
                               orig, f->replicas));
    return 0;
}

static int plan_scale(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                      const struct rb_cluster_ops *ops, struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    cJSON *obs;
    int cur;

    cJSON_AddStringToObject(act->fields, "resource", "deployments");
    cJSON_AddStringToObject(act->fields, "name", f->deployment);
    cJSON_AddNumberToObject(act->fields, "replicas", f->replicas);
    detail_requests(act, ops, RB_CLUSTER_REQ_SCALE, fa->ns, f->deployment, f->replicas, true,
                    true);
    if (k == NULL)
        return 0;
    if (ops->get_replicas(k, fa->ns, "deployments", f->deployment, &cur, err) < 0)
        return -1;
    rb_action_detailf(act, "now: %d replica%s (journaled before the change)\n", cur,
                      cur == 1 ? "" : "s");
    if ((obs = rb_action_observed(run, act)) != NULL)
        cJSON_AddNumberToObject(obs, "replicas", cur);
    return 0;
}

/* ---- suspend_cronjobs -------------------------------------------------------------------------- */

static int apply_suspend(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    const struct rb_freeze_action *f = fa->f;
    const struct rb_cluster_ops *ops;
    struct rb_k8s *k = rb_cluster_open(run, f->target, &ops, err);
    const cJSON *prior = cJSON_GetObjectItemCaseSensitive(act->prior, "suspended");
    struct rb_cluster_list listed;
    cJSON *ours, *already, *it, *p;
    int rc = 0;

    if (k == NULL)
        return -1;
    if (ops->list(k, fa->ns, "cronjobs", f->selector, false, &listed, err) < 0)
        return rb_err_wrap(err, "unable to list cronjobs '%s' in namespace '%s'", f->selector,
                           fa->ns);
    /* ours: not suspended now, or suspended by an earlier attempt of this action */
    ours = prior != NULL ? cJSON_Duplicate(prior, 1) : cJSON_CreateArray();
    already = cJSON_CreateArray();
    for (size_t i = 0; i < listed.n; i++) {
        const struct rb_cluster_item *c = &listed.items[i];

        if (in_names(ours, c->name))
            continue;
        cJSON_AddItemToArray(c->suspended ? already : ours, cJSON_CreateString(c->name));
    }
    p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "suspended", cJSON_Duplicate(ours, 1));
    rc = rb_run_progress(run, act, p, err);
    cJSON_Delete(p);
    cJSON_ArrayForEach(it, ours) {
        struct rb_err perr = RB_ERR_INIT;
        bool gone = false;

        if (rc < 0)
            break;
        if (ops->set_suspend(k, fa->ns, it->valuestring, true, &gone, &perr) < 0) {
            /* one suspended by an earlier attempt and deleted since is no longer ours to worry about */
            if (gone && prior != NULL && in_names(prior, it->valuestring))
                continue;
            *err = perr;
            rc = rb_err_wrap(err, "unable to suspend cronjob '%s' in namespace '%s'",
                             it->valuestring, fa->ns);
        }
    }
    if (rc == 0) {
        act->result = cJSON_CreateObject();
        cJSON_AddStringToObject(act->result, "namespace", fa->ns);
        cJSON_AddStringToObject(act->result, "selector", f->selector);
        cJSON_AddItemToObject(act->result, "suspended", cJSON_Duplicate(ours, 1));
        cJSON_AddItemToObject(act->result, "already_suspended", cJSON_Duplicate(already, 1));
        if (cJSON_GetArraySize(ours) > 0)
            cJSON_AddStringToObject(
                act->result, "message",
                rb_sprintf(run->arena, "suspended %d cronjob%s: %s", cJSON_GetArraySize(ours),
                           cJSON_GetArraySize(ours) == 1 ? "" : "s", join_names(run->arena, ours)));
        else if (cJSON_GetArraySize(already) > 0)
            cJSON_AddStringToObject(
                act->result, "message",
                rb_sprintf(run->arena, "nothing to change: %d cronjob%s already suspended: %s",
                           cJSON_GetArraySize(already), cJSON_GetArraySize(already) == 1 ? "" : "s",
                           join_names(run->arena, already)));
        else
            cJSON_AddStringToObject(
                act->result, "message",
                rb_sprintf(run->arena, "nothing to change: no cronjob matches '%s'", f->selector));
    }
    cJSON_Delete(ours);
    cJSON_Delete(already);
    return rc;
}

static int plan_suspend(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                        const struct rb_cluster_ops *ops, struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    struct rb_cluster_list listed;
    cJSON *obs, *seen = NULL;

    cJSON_AddStringToObject(act->fields, "resource", "cronjobs");
    cJSON_AddStringToObject(act->fields, "selector", f->selector);
    detail_requests(act, ops, RB_CLUSTER_REQ_LIST_CRONJOBS, fa->ns, f->selector, 0, true, true);
    detail_requests(act, ops, RB_CLUSTER_REQ_SUSPEND_CRONJOB, fa->ns, NULL, 0, k == NULL, true);
    if (k == NULL)
        return 0;
    if (ops->list(k, fa->ns, "cronjobs", f->selector, false, &listed, err) < 0)
        return rb_err_wrap(err, "unable to list cronjobs '%s' in namespace '%s'", f->selector,
                           fa->ns);
    if ((obs = rb_action_observed(run, act)) != NULL)
        seen = cJSON_AddArrayToObject(obs, "cronjobs");
    for (size_t i = 0; i < listed.n; i++) {
        if (seen != NULL) {
            cJSON *c = cJSON_CreateObject();

            cJSON_AddStringToObject(c, "name", listed.items[i].name);
            cJSON_AddBoolToObject(c, "suspended", listed.items[i].suspended);
            cJSON_AddItemToArray(seen, c);
        }
        if (listed.items[i].suspended) {
            rb_action_detailf(act, "(cronjob '%s' is already suspended: left alone)\n",
                              listed.items[i].name);
            continue;
        }
        detail_requests(act, ops, RB_CLUSTER_REQ_SUSPEND_CRONJOB, fa->ns, listed.items[i].name, 0,
                        true, false);
    }
    if (listed.n == 0)
        rb_action_detailf(act, "no cronjob matches '%s' in namespace '%s' now\n", f->selector,
                          fa->ns);
    return 0;
}

/* ---- delete_jobs ------------------------------------------------------------------------------- */

static int apply_delete_jobs(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    const struct rb_freeze_action *f = fa->f;
    const struct rb_cluster_ops *ops;
    struct rb_k8s *k = rb_cluster_open(run, f->target, &ops, err);
    const cJSON *prior = cJSON_GetObjectItemCaseSensitive(act->prior, "jobs");
    struct rb_cluster_list listed;
    cJSON *names, *p, *list, *it;
    const char *saved = NULL;
    int rc;

    if (k == NULL)
        return -1;
    if (ops->list(k, fa->ns, "jobs", f->selector, true, &listed, err) < 0)
        return rb_err_wrap(err, "unable to list jobs '%s' in namespace '%s'", f->selector, fa->ns);
    names = prior != NULL ? cJSON_Duplicate(prior, 1) : cJSON_CreateArray();
    {
        cJSON *now = names_array(&listed);

        cJSON_ArrayForEach(it, now)
            if (!in_names(names, it->valuestring))
                cJSON_AddItemToArray(names, cJSON_CreateString(it->valuestring));
        cJSON_Delete(now);
    }
    if (cJSON_GetArraySize(listed.objects) > 0) {
        /* what is deleted can be looked at (and re-created) afterwards */
        list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddItemToObject(list, "metadata", cJSON_CreateObject());
        cJSON_AddItemToObject(list, "items", listed.objects);
        listed.objects = NULL;
        saved = save_asset(run, rb_sprintf(run->arena, "freeze-%d-jobs-deleted.json", fa->index),
                           list, err);
        cJSON_Delete(list);
        if (saved == NULL) {
            cJSON_Delete(names);
            return -1;
        }
    }
    cJSON_Delete(listed.objects);
    if (saved == NULL) {
        /* re-applied after a crash: the jobs are gone, the file saved by the first attempt stays */
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(act->prior, "saved");

        if (cJSON_IsString(ps))
            saved = rb_strdup(run->arena, ps->valuestring);
    }
    p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "jobs", cJSON_Duplicate(names, 1));
    if (saved != NULL)
        cJSON_AddStringToObject(p, "saved", saved);
    rc = rb_run_progress(run, act, p, err);
    cJSON_Delete(p);
    if (rc == 0 && ops->delete_jobs(k, fa->ns, f->selector, err) < 0)
        rc = rb_err_wrap(err, "unable to delete jobs '%s' in namespace '%s'", f->selector, fa->ns);
    if (rc == 0) {
        act->result = cJSON_CreateObject();
        cJSON_AddStringToObject(act->result, "namespace", fa->ns);
        cJSON_AddStringToObject(act->result, "selector", f->selector);
        cJSON_AddStringToObject(act->result, "propagation_policy", "Background");
        cJSON_AddItemToObject(act->result, "deleted", cJSON_Duplicate(names, 1));
        if (saved != NULL)
            cJSON_AddStringToObject(act->result, "saved", saved);
        cJSON_AddStringToObject(
            act->result, "message",
            cJSON_GetArraySize(names) == 0
                ? rb_sprintf(run->arena, "nothing to change: no job matches '%s'", f->selector)
                : rb_sprintf(run->arena, "deleted %d job%s (pods too): %s",
                             cJSON_GetArraySize(names), cJSON_GetArraySize(names) == 1 ? "" : "s",
                             join_names(run->arena, names)));
    }
    cJSON_Delete(names);
    return rc;
}

static int plan_delete_jobs(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                            const struct rb_cluster_ops *ops, struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    struct rb_cluster_list listed;
    cJSON *names, *obs;

    cJSON_AddStringToObject(act->fields, "resource", "jobs");
    cJSON_AddStringToObject(act->fields, "selector", f->selector);
    cJSON_AddStringToObject(act->fields, "propagation_policy", "Background");
    detail_requests(act, ops, RB_CLUSTER_REQ_DELETE_JOBS, fa->ns, f->selector, 0, true, true);
    if (k == NULL)
        return 0;
    if (ops->list(k, fa->ns, "jobs", f->selector, false, &listed, err) < 0)
        return rb_err_wrap(err, "unable to list jobs '%s' in namespace '%s'", f->selector, fa->ns);
    names = names_array(&listed);
    rb_action_detailf(act, "now matching: %s\n", join_names(run->arena, names));
    if ((obs = rb_action_observed(run, act)) != NULL)
        cJSON_AddItemToObject(obs, "jobs", names);
    else
        cJSON_Delete(names);
    return 0;
}

/* ---- snapshot ---------------------------------------------------------------------------------- */

int rb_freeze_snapshot_take(struct rb_run *run, const char *target, const char *ns,
                            const char **ns_used, struct rb_cluster_snapshot *snap,
                            struct rb_err *err)
{
    const struct rb_cluster_ops *ops;
    struct rb_k8s *k = rb_cluster_open(run, target, &ops, err);

    if (k == NULL)
        return -1;
    if (ops->snapshot == NULL)
        return rb_errf(err, RB_E_FAILED, "the driver of target '%s' cannot take snapshots", target);
    ns = target_ns(run, target, ns, ops, k);
    if (ns_used != NULL)
        *ns_used = ns;
    return ops->snapshot(k, ns, snap, err);
}

static int apply_snapshot(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    struct rb_cluster_snapshot snap;
    const char *path;

    if (rb_freeze_snapshot_take(run, fa->f->target, fa->ns, NULL, &snap, err) < 0)
        return -1;
    path = save_asset(
        run,
        rb_sprintf(run->arena, "freeze-%d-snapshot-%s-%s.json", fa->index, fa->f->target, fa->ns),
        snap.doc, err);
    cJSON_Delete(snap.doc);
    if (path == NULL) {
        cJSON_Delete(snap.counts);
        return -1;
    }
    act->result = cJSON_CreateObject();
    cJSON_AddStringToObject(act->result, "namespace", fa->ns);
    cJSON_AddStringToObject(act->result, "file", path);
    cJSON_AddItemToObject(act->result, "counts", snap.counts);
    cJSON_AddStringToObject(act->result, "message",
                            rb_sprintf(run->arena, "%d objects of namespace '%s' saved to %s",
                                       snap.total, fa->ns, path));
    return 0;
}

static void plan_snapshot(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                          const struct rb_cluster_ops *ops)
{
    const char *file = rb_sprintf(run->arena, "<run>/assets/freeze-%d-snapshot-%s-%s.json",
                                  fa->index, fa->f->target, fa->ns);

    detail_requests(act, ops, RB_CLUSTER_REQ_SNAPSHOT, fa->ns, NULL, 0, true, true);
    cJSON_AddStringToObject(act->fields, "file", file);
    rb_action_detailf(act, "saved to %s (0600); secrets are never read\n", file);
}

/* ---- records at risk --------------------------------------------------------------------------- */

/*
 * Without sync.presync, freeze/records-at-risk counts every row changed since cutover and scans
 * both databases' keys for deletions, inside the downtime. With it, presync/records-at-risk does
 * that before the freeze (first in phase presync, before any pre-sync table applies a deletion):
 * it reads an instant on `from` first (rb_presync_read_instant), counts, and journals the fact
 * presync_at_risk {since, records_at_risk_by_table, records_deleted_by_table} besides the two
 * facts. freeze/records-at-risk then counts only the rows changed from that instant on (an index
 * range on changed_since) and journals the pre-sync's figure plus that delta. A row missed by the
 * pre-sync's count began its write at or after the instant, so it is in the delta; a row changed
 * both before and after the instant is in both (the figure is at most the rows changed while the
 * pre-sync ran too high). The deletions stay the pre-sync's (the sync phase's own find, when a
 * table's policy looks, counts those of its pass). Without the fact (its action failed: it is not
 * critical) the freeze counts everything, as without a pre-sync.
 */
#define AT_RISK_SINCE_PLACEHOLDER "<the pre-sync's count's instant>"

/* since NULL: changed since the cutover; else changed from that instant on (inclusive). */
static const char *count_sql(struct rb_run *run, const struct rb_sync_table *t, const char *since)
{
    struct rb_arena *a = run->arena;
    char cutover[40];

    rb_time_format_rfc3339(run->rb->cutover, cutover, sizeof(cutover));
    return rb_sprintf(a, "SELECT count(*) FROM %s WHERE %s",
                      rb_pg_quote_qualified(a, t->source_table),
                      rb_sync_changed_filter(a, t, since != NULL ? since : cutover));
}

/*
 * Per sync table: the rows changed since cutover, or since `since` (by_table, on `from`), and,
 * without `since`, the legacy rows deleted in new since cutover (deleted_by, both databases:
 * sync_deletions.c; NULL with `since`). On failure *failed (may be NULL) names the database that
 * did not answer, as far as known.
 */
static int count_at_risk(struct rb_run *run, const char *since, cJSON **by_table,
                         cJSON **deleted_by, int64_t *total, int64_t *deleted_total,
                         const char **failed, struct rb_err *err)
{
    const struct rb_sync *s = &run->rb->sync;
    struct rb_db *c = rb_db_target(run, s->from, err), *dst = NULL;
    size_t i;

    *by_table = *deleted_by = NULL;
    *total = *deleted_total = 0;
    if (failed != NULL)
        *failed = s->from;
    if (c == NULL)
        return -1;
    if (since == NULL && (dst = rb_db_target(run, s->to, err)) == NULL) {
        if (failed != NULL)
            *failed = s->to;
        return -1;
    }
    *by_table = cJSON_CreateObject();
    if (since == NULL)
        *deleted_by = cJSON_CreateObject();
    for (i = 0; i < s->n_tables; i++) {
        const char *v;
        bool null;
        int64_t n;
        struct rb_sync_deleted d;

        if (rb_db_scalar(c, run->arena, 0, count_sql(run, &s->tables[i], since), &v, &null, err) <
            0) {
            rb_err_wrap(err, "unable to count the records at risk of sync table '%s'",
                        s->tables[i].name);
            goto fail;
        }
        n = v != NULL ? strtoll(v, NULL, 10) : 0;
        cJSON_AddNumberToObject(*by_table, s->tables[i].name, (double)n);
        *total += n;
        if (since != NULL)
            continue;
        if (rb_sync_find_deletions(run, &s->tables[i], c, dst, &d, err) < 0)
            goto fail;
        cJSON_AddNumberToObject(*deleted_by, s->tables[i].name, (double)d.deleted);
        *deleted_total += (int64_t)d.deleted;
    }
    return 0;
fail:
    if (failed != NULL && dst != NULL && !rb_db_lost(c) && rb_db_lost(dst))
        *failed = s->to;
    cJSON_Delete(*by_table);
    cJSON_Delete(*deleted_by);
    *by_table = *deleted_by = NULL;
    return -1;
}

static double sum_of(const cJSON *o)
{
    const cJSON *it;
    double n = 0;

    cJSON_ArrayForEach(it, o)
        n += cJSON_GetNumberValue(it);
    return n;
}

/* The action's result and the two facts (their {table: n} shapes kept): by and deleted taken. */
static int journal_at_risk(struct rb_run *run, struct rb_action *act, cJSON *by, cJSON *deleted,
                           const char *message, struct rb_err *err)
{
    if (act->result == NULL)
        act->result = cJSON_CreateObject();
    cJSON_AddItemToObject(act->result, "records_at_risk_by_table", cJSON_Duplicate(by, 1));
    cJSON_AddNumberToObject(act->result, "total", sum_of(by));
    cJSON_AddItemToObject(act->result, "records_deleted_by_table", cJSON_Duplicate(deleted, 1));
    cJSON_AddNumberToObject(act->result, "deleted_total", sum_of(deleted));
    cJSON_AddStringToObject(act->result, "message", message);
    /* a fact of its own: records_at_risk_by_table keeps its {table: changed} shape */
    if (rb_run_fact_set(run, "records_at_risk_by_table", by, err) < 0) {
        cJSON_Delete(deleted);
        return -1;
    }
    return rb_run_fact_set(run, "records_deleted_by_table", deleted, err);
}

static const char *at_risk_message(struct rb_run *run, const char *lead, int64_t total,
                                   int64_t deleted_total, const char *tail)
{
    size_t n = run->rb->sync.n_tables;

    return rb_sprintf(run->arena,
                      "%s%" PRId64 " record%s changed since cutover + %" PRId64
                      " deleted in new in %zu sync table%s%s",
                      lead, total, total == 1 ? "" : "s", deleted_total, n, n == 1 ? "" : "s",
                      tail);
}

/* presync/records-at-risk: the instant, then everything counted and scanned, before the freeze. */
static int apply_presync_at_risk(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    cJSON *by = NULL, *deleted = NULL, *f;
    int64_t total, deleted_total;
    const char *since;

    if (rb_presync_read_instant(run, run->rb->sync.from, &since, err) < 0)
        return -1;
    if (count_at_risk(run, NULL, &by, &deleted, &total, &deleted_total, NULL, err) < 0)
        return -1;
    act->result = cJSON_CreateObject();
    cJSON_AddStringToObject(act->result, "since", since);
    f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "since", since);
    cJSON_AddItemToObject(f, "records_at_risk_by_table", cJSON_Duplicate(by, 1));
    cJSON_AddItemToObject(f, "records_deleted_by_table", cJSON_Duplicate(deleted, 1));
    /* first the figure the freeze adds to, then the two facts as they stand now */
    if (rb_run_fact_set(run, "presync_at_risk", f, err) < 0) {
        cJSON_Delete(by);
        cJSON_Delete(deleted);
        return -1;
    }
    return journal_at_risk(
        run, act, by, deleted,
        at_risk_message(run, "before the freeze: ", total, deleted_total,
                        rb_sprintf(run->arena, " (the freeze adds what changes from %s on)",
                                   since)),
        err);
}

/* freeze/records-at-risk after presync/records-at-risk: its figure + the rows changed since. */
static int apply_at_risk_delta(struct rb_run *run, struct rb_action *act, const cJSON *pre,
                               const char *since, struct rb_err *err)
{
    const cJSON *pre_by = cJSON_GetObjectItemCaseSensitive(pre, "records_at_risk_by_table");
    const cJSON *pre_deleted = cJSON_GetObjectItemCaseSensitive(pre, "records_deleted_by_table");
    cJSON *delta = NULL, *none = NULL, *by, *it, *p;
    int64_t total, delta_total, unused;

    if (count_at_risk(run, since, &delta, &none, &delta_total, &unused, NULL, err) < 0)
        return -1;
    by = cJSON_CreateObject();
    total = 0;
    cJSON_ArrayForEach(it, delta) {
        double n = it->valuedouble +
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(pre_by, it->string));

        cJSON_AddNumberToObject(by, it->string, n);
        total += (int64_t)n;
    }
    act->result = cJSON_CreateObject();
    p = cJSON_AddObjectToObject(act->result, "presync");
    cJSON_AddStringToObject(p, "since", since);
    cJSON_AddItemToObject(p, "counted_by_table", cJSON_Duplicate(pre_by, 1));
    cJSON_AddItemToObject(p, "changed_since_by_table", delta);
    return journal_at_risk(
        run, act, by,
        cJSON_IsObject(pre_deleted) ? cJSON_Duplicate(pre_deleted, 1) : cJSON_CreateObject(),
        at_risk_message(run, "", total, (int64_t)sum_of(pre_deleted),
                        rb_sprintf(run->arena,
                                   " (the pre-sync's count + %" PRId64
                                   " changed from %s on; deletions as the pre-sync found them)",
                                   delta_total, since)),
        err);
}

static int apply_at_risk(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    const cJSON *pre = rb_run_fact(run, "presync_at_risk");
    const char *since = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "since"));
    cJSON *by = NULL, *deleted = NULL;
    int64_t total, deleted_total;

    if (run->rb->sync.presync && since != NULL)
        return apply_at_risk_delta(run, act, pre, since, err);
    if (count_at_risk(run, NULL, &by, &deleted, &total, &deleted_total, NULL, err) < 0)
        return -1;
    return journal_at_risk(run, act, by, deleted,
                           at_risk_message(run, "", total, deleted_total, ""), err);
}

/*
 * The action counting the records at risk: in phase freeze, or with pre = true in phase presync
 * (the full count moved before the freeze; the freeze's then counts the delta).
 */
static int plan_at_risk(struct rb_run *run, bool pre, struct rb_err *err)
{
    const struct rb_sync *s = &run->rb->sync;
    /* the freeze's after a pre-sync's count: from its instant, once journaled */
    bool delta = !pre && s->presync;
    const char *since = NULL;
    struct rb_action *act;
    size_t i;

    if (delta) {
        since = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            rb_run_fact(run, "presync_at_risk"), "since"));
        if (since == NULL)
            since = AT_RISK_SINCE_PLACEHOLDER;
    }
    act = rb_run_add_action(
        run, pre ? "presync" : "freeze", pre ? "presync/records-at-risk" : "freeze/records-at-risk",
        delta ? rb_sprintf(run->arena,
                           "count the records changed in '%s' since the pre-sync's count, added "
                           "to it per sync table (deletions as the pre-sync found them)",
                           s->from)
              : rb_sprintf(run->arena,
                           "%scount the records changed since cutover in '%s' and the rows '%s' "
                           "holds that '%s' deleted, per sync table",
                           pre ? "before the freeze: " : "", s->from, s->to, s->from),
        RB_IDEMPOTENT, pre ? apply_presync_at_risk : apply_at_risk, NULL);
    act->pos = s->pos;
    act->critical = false; /* a count for the report: its failure must not stop the rollback */
    {
        cJSON *f = rb_action_fields(act, "count");
        cJSON *tables;

        cJSON_AddStringToObject(f, "source", s->from);
        cJSON_AddStringToObject(f, "target", s->to);
        tables = cJSON_AddArrayToObject(f, "tables");
        for (i = 0; i < s->n_tables; i++) {
            cJSON *t = cJSON_CreateObject();

            cJSON_AddStringToObject(t, "table", s->tables[i].name);
            cJSON_AddStringToObject(t, "sql", count_sql(run, &s->tables[i], since));
            cJSON_AddItemToArray(tables, t);
        }
        /* the deletions are found by key hashes on both sides, as verify's compare does */
        cJSON_AddStringToObject(f, "deletions",
                                delta ? "those presync/records-at-risk found"
                                      : "keys of the target the source no longer has");
    }
    if (pre)
        rb_action_detailf(act, "first the instant on '%s' the freeze's count starts from\n",
                          s->from);
    for (i = 0; i < s->n_tables; i++)
        rb_action_detailf(act, "%s: %s\n", s->tables[i].name,
                          count_sql(run, &s->tables[i], since));
    if (delta) {
        rb_action_detailf(act,
                          "added to presync/records-at-risk's counts (it counted every row "
                          "changed since cutover and the deletions before the freeze; without "
                          "its figure the freeze counts everything)\n");
        return 0;
    }
    rb_action_detailf(act,
                      "and per table, the keys of '%s' that '%s' no longer has (deletions "
                      "since cutover, as verify's compare finds them)\n",
                      s->to, s->from);
    if (run->read_only && !run->offline) {
        cJSON *by = NULL, *deleted = NULL;
        int64_t total, deleted_total;
        struct rb_err cerr = RB_ERR_INIT;
        const char *failed = s->from;

        if (rb_plan_is_unreachable(run, s->from) || rb_plan_is_unreachable(run, s->to)) {
            rb_action_detailf(act, "(unable to count now: '%s' could not be reached)\n",
                              rb_plan_is_unreachable(run, s->from) ? s->from : s->to);
        } else if (count_at_risk(run, NULL, &by, &deleted, &total, &deleted_total, &failed,
                                 &cerr) < 0) {
            /* a database that does not answer or refuses us: plan says so once and fails */
            if (rb_err_is(&cerr, RB_K_CONN_LOST) || rb_err_is(&cerr, RB_K_REFUSED) ||
                rb_err_is(&cerr, RB_K_TIMEOUT))
                rb_plan_unreachable(run, failed, &cerr);
            rb_action_detailf(act, "(unable to count now: %s)\n", cerr.msg);
        } else {
            cJSON *obs = rb_action_observed(run, act);
            const cJSON *it;

            if (obs != NULL) {
                cJSON_AddItemToObject(obs, "changed_by_table", cJSON_Duplicate(by, 1));
                cJSON_AddItemToObject(obs, "deleted_by_table", cJSON_Duplicate(deleted, 1));
                cJSON_AddNumberToObject(obs, "changed_total", (double)total);
                cJSON_AddNumberToObject(obs, "deleted_total", (double)deleted_total);
            }
            cJSON_ArrayForEach(it, by)
                rb_action_detailf(
                    act, "now at risk in %s: %.0f changed since cutover + %.0f deleted in new\n",
                    it->string, it->valuedouble,
                    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(deleted, it->string)));
            rb_action_detailf(act,
                              "now at risk in total: %" PRId64 " changed since cutover + %" PRId64
                              " deleted in new\n",
                              total, deleted_total);
        }
        cJSON_Delete(by);
        cJSON_Delete(deleted);
    }
    (void)err;
    return 0;
}

static bool counts_at_risk(const struct rb_runbook *rb)
{
    return rb->sync.present && rb->sync.n_tables > 0 && rb->sync.from != NULL;
}

int rb_presync_plan_at_risk(struct rb_run *run, struct rb_err *err)
{
    /* with a freeze to count for: the figure is the freeze's records at risk, moved before it */
    if (run->rb->n_freeze == 0 || !counts_at_risk(run->rb) || !run->rb->sync.presync)
        return 0;
    return plan_at_risk(run, true, err);
}

/* ---- the phase --------------------------------------------------------------------------------- */

/*
 * An entry's action id, from what it acts on and never from its position, so that an entry
 * inserted or removed between attempts renames no other ("freeze/scale-payroll-api",
 * "freeze/suspend-cronjobs-app-payroll"). Two entries on the same thing (other targets or
 * namespaces) add those; entries alike in every way are numbered in order.
 */
static const char *entry_id(struct rb_run *run, const struct rb_freeze_action *f, const char *ns,
                            const char *what)
{
    struct rb_arena *a = run->arena;
    const char *id = rb_sprintf(a, "freeze/%s", rb_name_slug(a, what));
    const char *full;

    if (!rb_run_planned(run, id))
        return id;
    full = rb_name_slug(a, rb_sprintf(a, "%s %s %s", what, f->target, ns != NULL ? ns : ""));
    id = rb_sprintf(a, "freeze/%s", full);
    for (int n = 2; rb_run_planned(run, id); n++)
        id = rb_sprintf(a, "freeze/%s-%d", full, n);
    return id;
}

int rb_freeze_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    bool online = !run->offline;
    size_t i;

    if (rb->n_freeze == 0)
        return 0;
    if (online && rb_cluster_check_access(run, NULL, err) < 0)
        return -1;
    for (i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];
        struct freeze_arg *fa = rb_new(run->arena, struct freeze_arg);
        const struct rb_target *t = rb_runbook_target(rb, f->target);
        const struct rb_cluster_ops *ops = NULL;
        struct rb_k8s *k = NULL;
        struct rb_action *act;
        const char *name, *summary;
        rb_apply_fn apply;
        int rc = 0;

        if (online && (k = rb_cluster_open(run, f->target, &ops, err)) == NULL)
            return -1;
        if (!online && t != NULL) {
            struct rb_err lookup = RB_ERR_INIT;

            /* an offline plan still shows the requests: the registry lookup contacts nothing */
            ops = rb_cluster_ops_for(t, &lookup);
        }
        fa->f = f;
        fa->index = (int)i + 1;
        fa->ns = entry_ns(run, f, ops, k);
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            name = rb_sprintf(run->arena, "scale-%s", f->deployment);
            summary = rb_sprintf(
                run->arena,
                "scale deployment '%s' in namespace '%s' to %d (current count journaled)",
                f->deployment, fa->ns, f->replicas);
            apply = apply_scale;
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            name = rb_sprintf(run->arena, "suspend-cronjobs-%s", f->selector);
            summary = rb_sprintf(run->arena, "suspend cronjobs '%s' in namespace '%s'", f->selector,
                                 fa->ns);
            apply = apply_suspend;
            break;
        case RB_FREEZE_DELETE_JOBS:
            name = rb_sprintf(run->arena, "delete-jobs-%s", f->selector);
            summary = rb_sprintf(
                run->arena, "delete jobs '%s' in namespace '%s' (propagationPolicy Background)",
                f->selector, fa->ns);
            apply = apply_delete_jobs;
            break;
        case RB_FREEZE_SNAPSHOT:
        default:
            name = "snapshot";
            summary = rb_sprintf(run->arena,
                                 "save namespace '%s' (deployments, statefulsets, cronjobs, jobs, "
                                 "configmaps, services) to the run's assets",
                                 fa->ns);
            apply = apply_snapshot;
            break;
        }
        act = rb_run_add_action(run, "freeze", entry_id(run, f, fa->ns, name), summary,
                                RB_IDEMPOTENT, apply, fa);
        act->pos = f->pos;
        {
            cJSON *fl = rb_action_fields(act, "http");

            cJSON_AddStringToObject(fl, "target", f->target);
            cJSON_AddStringToObject(fl, "namespace", fa->ns);
        }
        if (k != NULL) {
            cJSON *obs = rb_action_observed(run, act);

            rb_action_detailf(act, "cluster: %s (target '%s')\n", ops->server(k), f->target);
            /* where the kubeconfig points now: local configuration, not the runbook */
            if (obs != NULL)
                cJSON_AddStringToObject(obs, "server", ops->server(k));
        }
        /* plan mode reads what exists now; execute reads it when applying */
        if (!run->read_only)
            k = NULL;
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            rc = plan_scale(run, act, fa, ops, k, err);
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            rc = plan_suspend(run, act, fa, ops, k, err);
            break;
        case RB_FREEZE_DELETE_JOBS:
            rc = plan_delete_jobs(run, act, fa, ops, k, err);
            break;
        case RB_FREEZE_SNAPSHOT:
            plan_snapshot(run, act, fa, ops);
            break;
        }
        if (rc < 0)
            return rb_err_wrap(err, "%s", name);
    }
    if (counts_at_risk(rb))
        return plan_at_risk(run, false, err);
    return 0;
}
