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
 * changed since the cutover) and journals them as the fact records_at_risk_by_table.
 *
 * Planning checks, through SelfSubjectAccessReview, every permission the runbook needs before
 * anything is changed (plan and execute alike), and in plan mode reads (never writes) that the
 * objects exist. The plan text of each action is the exact HTTP requests execute would send.
 */
#include "rollbackctl/phases.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/fsutil.h"
#include "rollbackctl/kubernetes.h"
#include "rollbackctl/db.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/sync.h"

struct freeze_arg {
    const struct rb_freeze_action *f;
    const char *ns;
    int index;
};

static const char *const snapshot_kinds[] = { "deployments", "statefulsets", "cronjobs",
                                              "jobs",        "configmaps",   "services" };

/* Namespace of an entry: its own, else the target's (runbook, then kubeconfig context), else "default". */
static const char *entry_ns(struct rb_run *run, const struct rb_freeze_action *f, struct rb_k8s *k)
{
    const struct rb_target *t = rb_runbook_target(run->rb, f->target);
    const char *ns = f->namespace_;

    if (ns == NULL && t != NULL)
        ns = rb_target_opt(t, "namespace");
    if (ns == NULL && k != NULL)
        ns = rb_k8s_namespace(k);
    return ns != NULL ? ns : "default";
}

static void detail_request(struct rb_action *act, const char *method, const char *path,
                           const char *ctype, const char *body)
{
    rb_action_detailf(act, "%s %s\n", method, path);
    if (body != NULL)
        rb_action_detailf(act, "  Content-Type: %s\n  %s\n", ctype, body);
}

static const char *selector_query(struct rb_arena *a, const char *sel)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *p, *out;

    /* the same escaping the adapter applies, so the plan shows the exact request line */
    for (p = sel; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            rb_buf_addc(&b, (char)c);
        else
            rb_buf_addf(&b, "%%%02X", c);
    }
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}

static cJSON *names_array(const cJSON *items)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *it;

    cJSON_ArrayForEach(it, items) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

        if (cJSON_IsString(nm))
            cJSON_AddItemToArray(arr, cJSON_CreateString(nm->valuestring));
    }
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
    struct rb_k8s *k = rb_k8s_target(run, f->target, err);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(act->prior, "original_replicas");
    int orig, now;

    if (k == NULL)
        return -1;
    if (cJSON_IsNumber(pr)) {
        /* an earlier attempt read it before scaling: that is the original, whatever is there now */
        orig = pr->valueint;
    } else {
        cJSON *p;

        if (rb_k8s_scale_get(k, fa->ns, "deployments", f->deployment, &orig, err) < 0)
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
    }
    if (rb_k8s_scale_set(k, fa->ns, "deployments", f->deployment, f->replicas, err) < 0)
        return -1;
    if (rb_k8s_scale_get(k, fa->ns, "deployments", f->deployment, &now, err) < 0)
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
    cJSON_AddStringToObject(act->result, "message",
                            rb_sprintf(run->arena, "'%s' scaled from %d to %d replicas",
                                       f->deployment, orig, f->replicas));
    return 0;
}

static int plan_scale(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                      struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    const char *path = rb_k8s_path(run->arena, fa->ns, "deployments", f->deployment, "scale");
    char body[160];
    int cur;

    snprintf(body, sizeof(body),
             "{\"metadata\":{\"resourceVersion\":\"<read>\"},\"spec\":{\"replicas\":%d}}",
             f->replicas);
    detail_request(act, "GET", path, NULL, NULL);
    detail_request(act, "PATCH", path, "application/merge-patch+json", body);
    if (k == NULL)
        return 0;
    if (rb_k8s_scale_get(k, fa->ns, "deployments", f->deployment, &cur, err) < 0)
        return -1;
    rb_action_detailf(act, "now: %d replica%s (journaled before the change)\n", cur,
                      cur == 1 ? "" : "s");
    return 0;
}

/* ---- suspend_cronjobs -------------------------------------------------------------------------- */

static int apply_suspend(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    const struct rb_freeze_action *f = fa->f;
    struct rb_k8s *k = rb_k8s_target(run, f->target, err);
    const cJSON *prior = cJSON_GetObjectItemCaseSensitive(act->prior, "suspended");
    cJSON *items = NULL, *ours, *already, *patch, *it, *p;
    int rc = 0;

    if (k == NULL)
        return -1;
    if (rb_k8s_list(k, rb_k8s_path(run->arena, fa->ns, "cronjobs", NULL, NULL), f->selector, &items,
                    err) < 0)
        return rb_err_wrap(err, "unable to list cronjobs '%s' in namespace '%s'", f->selector,
                           fa->ns);
    /* ours: not suspended now, or suspended by an earlier attempt of this action */
    ours = prior != NULL ? cJSON_Duplicate(prior, 1) : cJSON_CreateArray();
    already = cJSON_CreateArray();
    cJSON_ArrayForEach(it, items) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");
        const cJSON *sus = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "spec"), "suspend");

        if (!cJSON_IsString(nm) || in_names(ours, nm->valuestring))
            continue;
        cJSON_AddItemToArray(cJSON_IsTrue(sus) ? already : ours,
                             cJSON_CreateString(nm->valuestring));
    }
    cJSON_Delete(items);
    p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "suspended", cJSON_Duplicate(ours, 1));
    rc = rb_run_progress(run, act, p, err);
    cJSON_Delete(p);
    patch = cJSON_CreateObject();
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(patch, "spec"), "suspend", 1);
    cJSON_ArrayForEach(it, ours) {
        long code = 0;
        struct rb_err perr = RB_ERR_INIT;

        if (rc < 0)
            break;
        if (rb_k8s_patch_merge(k,
                               rb_k8s_path(run->arena, fa->ns, "cronjobs", it->valuestring, NULL),
                               patch, NULL, &code, &perr) < 0) {
            /* one suspended by an earlier attempt and deleted since is no longer ours to worry about */
            if (code == 404 && prior != NULL && in_names(prior, it->valuestring))
                continue;
            *err = perr;
            rc = rb_err_wrap(err, "unable to suspend cronjob '%s' in namespace '%s'",
                             it->valuestring, fa->ns);
        }
    }
    cJSON_Delete(patch);
    if (rc == 0) {
        act->result = cJSON_CreateObject();
        cJSON_AddStringToObject(act->result, "namespace", fa->ns);
        cJSON_AddStringToObject(act->result, "selector", f->selector);
        cJSON_AddItemToObject(act->result, "suspended", cJSON_Duplicate(ours, 1));
        cJSON_AddItemToObject(act->result, "already_suspended", cJSON_Duplicate(already, 1));
        cJSON_AddStringToObject(
            act->result, "message",
            rb_sprintf(run->arena, "suspended %d cronjob%s: %s", cJSON_GetArraySize(ours),
                       cJSON_GetArraySize(ours) == 1 ? "" : "s", join_names(run->arena, ours)));
    }
    cJSON_Delete(ours);
    cJSON_Delete(already);
    return rc;
}

static int plan_suspend(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                        struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    const char *path = rb_k8s_path(run->arena, fa->ns, "cronjobs", NULL, NULL);
    cJSON *items = NULL, *todo, *it;

    detail_request(act, "GET",
                   rb_sprintf(run->arena, "%s?limit=%d&labelSelector=%s", path, RB_K8S_PAGE_LIMIT,
                              selector_query(run->arena, f->selector)),
                   NULL, NULL);
    if (k == NULL) {
        detail_request(act, "PATCH",
                       rb_sprintf(run->arena, "%s/<each listed, not yet suspended>", path),
                       "application/merge-patch+json", "{\"spec\":{\"suspend\":true}}");
        return 0;
    }
    if (rb_k8s_list(k, path, f->selector, &items, err) < 0)
        return rb_err_wrap(err, "unable to list cronjobs '%s' in namespace '%s'", f->selector,
                           fa->ns);
    todo = cJSON_CreateArray();
    cJSON_ArrayForEach(it, items) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");
        const cJSON *sus = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "spec"), "suspend");

        if (!cJSON_IsString(nm))
            continue;
        if (cJSON_IsTrue(sus)) {
            rb_action_detailf(act, "(cronjob '%s' is already suspended: left alone)\n",
                              nm->valuestring);
            continue;
        }
        cJSON_AddItemToArray(todo, cJSON_CreateString(nm->valuestring));
        detail_request(act, "PATCH",
                       rb_k8s_path(run->arena, fa->ns, "cronjobs", nm->valuestring, NULL),
                       "application/merge-patch+json", "{\"spec\":{\"suspend\":true}}");
    }
    if (cJSON_GetArraySize(items) == 0)
        rb_action_detailf(act, "no cronjob matches '%s' in namespace '%s' now\n", f->selector,
                          fa->ns);
    cJSON_Delete(items);
    cJSON_Delete(todo);
    return 0;
}

/* ---- delete_jobs ------------------------------------------------------------------------------- */

static int apply_delete_jobs(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    const struct rb_freeze_action *f = fa->f;
    struct rb_k8s *k = rb_k8s_target(run, f->target, err);
    const char *path;
    const cJSON *prior = cJSON_GetObjectItemCaseSensitive(act->prior, "jobs");
    cJSON *items = NULL, *names, *deleted = NULL, *p, *list, *it;
    const char *saved = NULL;
    int rc;

    if (k == NULL)
        return -1;
    path = rb_k8s_path(run->arena, fa->ns, "jobs", NULL, NULL);
    if (rb_k8s_list(k, path, f->selector, &items, err) < 0)
        return rb_err_wrap(err, "unable to list jobs '%s' in namespace '%s'", f->selector, fa->ns);
    names = prior != NULL ? cJSON_Duplicate(prior, 1) : cJSON_CreateArray();
    {
        cJSON *now = names_array(items);

        cJSON_ArrayForEach(it, now)
            if (!in_names(names, it->valuestring))
                cJSON_AddItemToArray(names, cJSON_CreateString(it->valuestring));
        cJSON_Delete(now);
    }
    if (cJSON_GetArraySize(items) > 0) {
        /* what is deleted can be looked at (and re-created) afterwards */
        list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddItemToObject(list, "metadata", cJSON_CreateObject());
        cJSON_AddItemToObject(list, "items", items);
        items = NULL;
        saved = save_asset(run, rb_sprintf(run->arena, "freeze-%d-jobs-deleted.json", fa->index),
                           list, err);
        cJSON_Delete(list);
        if (saved == NULL) {
            cJSON_Delete(names);
            return -1;
        }
    }
    cJSON_Delete(items);
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
    if (rc == 0 && rb_k8s_delete_collection(k, path, f->selector, "Background", &deleted, err) < 0)
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
            rb_sprintf(run->arena, "deleted %d job%s (pods too): %s", cJSON_GetArraySize(names),
                       cJSON_GetArraySize(names) == 1 ? "" : "s", join_names(run->arena, names)));
    }
    cJSON_Delete(deleted);
    cJSON_Delete(names);
    return rc;
}

static int plan_delete_jobs(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa,
                            struct rb_k8s *k, struct rb_err *err)
{
    const struct rb_freeze_action *f = fa->f;
    const char *path = rb_k8s_path(run->arena, fa->ns, "jobs", NULL, NULL);
    const char *sel = selector_query(run->arena, f->selector);
    cJSON *items = NULL, *names;

    detail_request(
        act, "GET",
        rb_sprintf(run->arena, "%s?limit=%d&labelSelector=%s", path, RB_K8S_PAGE_LIMIT, sel), NULL,
        NULL);
    detail_request(
        act, "DELETE",
        rb_sprintf(run->arena, "%s?propagationPolicy=Background&labelSelector=%s", path, sel),
        "application/json",
        "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}");
    if (k == NULL)
        return 0;
    if (rb_k8s_list(k, path, f->selector, &items, err) < 0)
        return rb_err_wrap(err, "unable to list jobs '%s' in namespace '%s'", f->selector, fa->ns);
    names = names_array(items);
    rb_action_detailf(act, "now matching: %s\n", join_names(run->arena, names));
    cJSON_Delete(names);
    cJSON_Delete(items);
    return 0;
}

/* ---- snapshot ---------------------------------------------------------------------------------- */

static int apply_snapshot(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct freeze_arg *fa = act->arg;
    struct rb_k8s *k = rb_k8s_target(run, fa->f->target, err);
    cJSON *doc, *all, *counts;
    const char *path;
    size_t i;
    int total = 0;

    if (k == NULL)
        return -1;
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "apiVersion", "v1");
    cJSON_AddStringToObject(doc, "kind", "List");
    cJSON_AddItemToObject(doc, "metadata", cJSON_CreateObject());
    all = cJSON_AddArrayToObject(doc, "items");
    counts = cJSON_CreateObject();
    for (i = 0; i < sizeof(snapshot_kinds) / sizeof(snapshot_kinds[0]); i++) {
        cJSON *items = NULL;
        int n = 0;

        if (rb_k8s_list(k, rb_k8s_path(run->arena, fa->ns, snapshot_kinds[i], NULL, NULL), NULL,
                        &items, err) < 0) {
            cJSON_Delete(doc);
            cJSON_Delete(counts);
            return rb_err_wrap(err, "unable to snapshot %s in namespace '%s'", snapshot_kinds[i],
                               fa->ns);
        }
        while (cJSON_GetArraySize(items) > 0) {
            cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(items, 0));
            n++;
        }
        cJSON_Delete(items);
        cJSON_AddNumberToObject(counts, snapshot_kinds[i], n);
        total += n;
    }
    path = save_asset(
        run,
        rb_sprintf(run->arena, "freeze-%d-snapshot-%s-%s.json", fa->index, fa->f->target, fa->ns),
        doc, err);
    cJSON_Delete(doc);
    if (path == NULL) {
        cJSON_Delete(counts);
        return -1;
    }
    act->result = cJSON_CreateObject();
    cJSON_AddStringToObject(act->result, "namespace", fa->ns);
    cJSON_AddStringToObject(act->result, "file", path);
    cJSON_AddItemToObject(act->result, "counts", counts);
    cJSON_AddStringToObject(
        act->result, "message",
        rb_sprintf(run->arena, "%d objects of namespace '%s' saved to %s", total, fa->ns, path));
    return 0;
}

static void plan_snapshot(struct rb_run *run, struct rb_action *act, struct freeze_arg *fa)
{
    size_t i;

    for (i = 0; i < sizeof(snapshot_kinds) / sizeof(snapshot_kinds[0]); i++)
        detail_request(act, "GET",
                       rb_sprintf(run->arena, "%s?limit=%d (then &continue= until done)",
                                  rb_k8s_path(run->arena, fa->ns, snapshot_kinds[i], NULL, NULL),
                                  RB_K8S_PAGE_LIMIT),
                       NULL, NULL);
    rb_action_detailf(
        act, "saved to <run>/assets/freeze-%d-snapshot-%s-%s.json (0600); secrets are never read\n",
        fa->index, fa->f->target, fa->ns);
}

/* ---- records at risk --------------------------------------------------------------------------- */

static const char *count_sql(struct rb_run *run, const struct rb_sync_table *t)
{
    struct rb_arena *a = run->arena;
    char cutover[40];

    rb_time_format_rfc3339(run->rb->cutover, cutover, sizeof(cutover));
    return rb_sprintf(a, "SELECT count(*) FROM %s WHERE %s",
                      rb_pg_quote_qualified(a, t->source_table),
                      rb_sync_changed_filter(a, t, cutover));
}

static int count_at_risk(struct rb_run *run, cJSON **by_table, int64_t *total, struct rb_err *err)
{
    const struct rb_sync *s = &run->rb->sync;
    struct rb_db *c = rb_db_target(run, s->from, err);
    size_t i;

    *by_table = NULL;
    *total = 0;
    if (c == NULL)
        return -1;
    *by_table = cJSON_CreateObject();
    for (i = 0; i < s->n_tables; i++) {
        const char *v;
        bool null;
        int64_t n;

        if (rb_db_scalar(c, run->arena, 0, count_sql(run, &s->tables[i]), &v, &null, err) < 0) {
            cJSON_Delete(*by_table);
            *by_table = NULL;
            return rb_err_wrap(err, "unable to count the records at risk of sync table '%s'",
                               s->tables[i].name);
        }
        n = v != NULL ? strtoll(v, NULL, 10) : 0;
        cJSON_AddNumberToObject(*by_table, s->tables[i].name, (double)n);
        *total += n;
    }
    return 0;
}

static int apply_at_risk(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    cJSON *by = NULL;
    int64_t total;

    if (count_at_risk(run, &by, &total, err) < 0)
        return -1;
    act->result = cJSON_CreateObject();
    cJSON_AddItemToObject(act->result, "records_at_risk_by_table", cJSON_Duplicate(by, 1));
    cJSON_AddNumberToObject(act->result, "total", (double)total);
    cJSON_AddStringToObject(
        act->result, "message",
        rb_sprintf(run->arena, "%" PRId64 " record%s changed since cutover in %zu sync table%s",
                   total, total == 1 ? "" : "s", run->rb->sync.n_tables,
                   run->rb->sync.n_tables == 1 ? "" : "s"));
    return rb_run_fact_set(run, "records_at_risk_by_table", by, err);
}

static int plan_at_risk(struct rb_run *run, struct rb_err *err)
{
    const struct rb_sync *s = &run->rb->sync;
    struct rb_action *act;
    size_t i;

    act = rb_run_add_action(
        run, "freeze", "freeze/records-at-risk",
        rb_sprintf(run->arena, "count the records changed since cutover in '%s', per sync table",
                   s->from),
        RB_IDEMPOTENT, apply_at_risk, NULL);
    act->pos = s->pos;
    act->critical = false; /* a count for the report: its failure must not stop the rollback */
    for (i = 0; i < s->n_tables; i++)
        rb_action_detailf(act, "%s: %s\n", s->tables[i].name, count_sql(run, &s->tables[i]));
    if (run->read_only && !run->offline) {
        cJSON *by = NULL;
        int64_t total;
        struct rb_err cerr = RB_ERR_INIT;

        if (count_at_risk(run, &by, &total, &cerr) < 0) {
            rb_action_detailf(act, "(unable to count now: %s)\n", cerr.msg);
        } else {
            const cJSON *it;

            cJSON_ArrayForEach(it, by)
                rb_action_detailf(act, "now at risk in %s: %.0f\n", it->string, it->valuedouble);
            rb_action_detailf(act, "now at risk in total: %" PRId64 "\n", total);
        }
        cJSON_Delete(by);
    }
    (void)err;
    return 0;
}

/* ---- the phase --------------------------------------------------------------------------------- */

int rb_freeze_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    bool online = !run->offline;
    size_t i;

    if (rb->n_freeze == 0)
        return 0;
    if (online && rb_k8s_check_permissions(run, NULL, err) < 0)
        return -1;
    for (i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];
        struct freeze_arg *fa = rb_new(run->arena, struct freeze_arg);
        struct rb_k8s *k = NULL;
        struct rb_action *act;
        const char *name, *summary;
        rb_apply_fn apply;
        int rc = 0;

        if (online && (k = rb_k8s_target(run, f->target, err)) == NULL)
            return -1;
        fa->f = f;
        fa->index = (int)i + 1;
        fa->ns = entry_ns(run, f, k);
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            name = rb_sprintf(run->arena, "freeze/%d-scale-%s", fa->index, f->deployment);
            summary = rb_sprintf(
                run->arena,
                "scale deployment '%s' in namespace '%s' to %d (current count journaled)",
                f->deployment, fa->ns, f->replicas);
            apply = apply_scale;
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            name = rb_sprintf(run->arena, "freeze/%d-suspend-cronjobs", fa->index);
            summary = rb_sprintf(run->arena, "suspend cronjobs '%s' in namespace '%s'", f->selector,
                                 fa->ns);
            apply = apply_suspend;
            break;
        case RB_FREEZE_DELETE_JOBS:
            name = rb_sprintf(run->arena, "freeze/%d-delete-jobs", fa->index);
            summary = rb_sprintf(
                run->arena, "delete jobs '%s' in namespace '%s' (propagationPolicy Background)",
                f->selector, fa->ns);
            apply = apply_delete_jobs;
            break;
        case RB_FREEZE_SNAPSHOT:
        default:
            name = rb_sprintf(run->arena, "freeze/%d-snapshot", fa->index);
            summary = rb_sprintf(run->arena,
                                 "save namespace '%s' (deployments, statefulsets, cronjobs, jobs, "
                                 "configmaps, services) to the run's assets",
                                 fa->ns);
            apply = apply_snapshot;
            break;
        }
        act = rb_run_add_action(run, "freeze", name, summary, RB_IDEMPOTENT, apply, fa);
        act->pos = f->pos;
        if (k != NULL)
            rb_action_detailf(act, "cluster: %s (target '%s')\n", rb_k8s_server(k), f->target);
        /* plan mode reads what exists now; execute reads it when applying */
        if (!run->read_only)
            k = NULL;
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            rc = plan_scale(run, act, fa, k, err);
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            rc = plan_suspend(run, act, fa, k, err);
            break;
        case RB_FREEZE_DELETE_JOBS:
            rc = plan_delete_jobs(run, act, fa, k, err);
            break;
        case RB_FREEZE_SNAPSHOT:
            plan_snapshot(run, act, fa);
            break;
        }
        if (rc < 0)
            return rb_err_wrap(err, "%s", name);
    }
    if (rb->sync.present && rb->sync.n_tables > 0 && rb->sync.from != NULL)
        return plan_at_risk(run, err);
    return 0;
}
