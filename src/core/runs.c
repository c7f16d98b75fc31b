/*
 * runs.c - the runs kept under state_dir/runs/: listing them and summarising a journal (status,
 * and resume choosing which run to continue).
 */
#include "rollbackctl/runs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/lock.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *rb_runs_dir_of(struct rb_arena *a, const char *state_dir, const char *run_id)
{
    return rb_sprintf(a, "%s/runs/%s", state_dir, run_id);
}

int rb_runs_list(struct rb_arena *a, const char *state_dir, const char ***ids, size_t *n,
                 struct rb_err *err)
{
    const char *dir = rb_sprintf(a, "%s/runs", state_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    const char **v = NULL;
    size_t cap = 0;

    *ids = NULL;
    *n = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return rb_errf(err, RB_E_FAILED, "unable to list runs in '%s': %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        rb_arena_push(a, v, *n, cap, 16);
        v[(*n)++] = rb_strdup(a, de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_str);
    *ids = v;
    return 0;
}

static cJSON *find_named(cJSON *arr, const char *key, const char *name)
{
    cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, key);

        if (cJSON_IsString(k) && strcmp(k->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

static void set_str(cJSON *o, const char *key, const char *val)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
}

static void copy_item(cJSON *dst, const char *key, const cJSON *src, const char *srckey)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, srckey);

    cJSON_DeleteItemFromObjectCaseSensitive(dst, key);
    if (v != NULL)
        cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}


/*
 * A phase the journal leaves "started" in a run that ended (its first action declined or failed,
 * the run stopped there) ended with the run: "failed" when one of its actions failed, else the
 * run's outcome ("declined", "interrupted"), so that status never shows a finished run's phase
 * as still going.
 */
static void settle_phases(cJSON *s, cJSON *phases, const cJSON *actions)
{
    const char *outcome = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "outcome"));
    cJSON *p;

    if (outcome == NULL || strcmp(outcome, "running") == 0 || strcmp(outcome, "unknown") == 0)
        return;
    cJSON_ArrayForEach(p, phases) {
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
        const cJSON *a;
        bool failed = false;

        if (state == NULL || strcmp(state, "started") != 0 || name == NULL)
            continue;
        cJSON_ArrayForEach(a, actions) {
            const char *ph = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "phase"));
            const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "state"));

            failed |= ph != NULL && st != NULL && strcmp(ph, name) == 0 && strcmp(st, "failed") == 0;
        }
        set_str(p, "state", failed && strcmp(outcome, "declined") != 0 ? "failed" : outcome);
    }
}

cJSON *rb_runs_summarize(const struct rb_journal_log *log)
{
    cJSON *s = cJSON_CreateObject();
    cJSON *phases = cJSON_AddArrayToObject(s, "phases");
    cJSON *actions = cJSON_AddArrayToObject(s, "actions");
    cJSON *facts = cJSON_AddObjectToObject(s, "facts");
    size_t i;

    cJSON_AddBoolToObject(s, "torn_tail", log->torn_tail);
    cJSON_AddStringToObject(s, "journal_head",
                            log->head == RB_JOURNAL_HEAD_OK       ? "ok"
                            : log->head == RB_JOURNAL_HEAD_BEHIND ? "behind"
                                                                  : "none");
    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];

        if (i == 0)
            copy_item(s, "run_id", e->line, "run_id");
        if (strcmp(e->event, "run_started") == 0) {
            copy_item(s, "runbook", e->data, "runbook");
            copy_item(s, "runbook_path", e->data, "runbook_path");
            copy_item(s, "reason", e->data, "reason");
            copy_item(s, "severity", e->data, "severity");
            copy_item(s, "initiated_by", e->data, "initiated_by");
            copy_item(s, "plan_sha256", e->data, "plan_sha256");
            copy_item(s, "plan_file", e->data, "plan_file");
            set_str(s, "started", e->ts);
            set_str(s, "outcome", "running");
        } else if (strcmp(e->event, "resumed") == 0) {
            /* A new attempt: what the last one ended with no longer stands. */
            set_str(s, "outcome", "running");
            set_str(s, "finished", NULL);
            set_str(s, "error", NULL);
            set_str(s, "hint", NULL);
        } else if (strcmp(e->event, "run_finished") == 0) {
            set_str(s, "finished", e->ts);
            copy_item(s, "outcome", e->data, "outcome");
            copy_item(s, "error", e->data, "error");
            copy_item(s, "hint", e->data, "hint");
        } else if (strcmp(e->event, "fact") == 0) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(e->data, "key");

            if (cJSON_IsString(k))
                copy_item(facts, k->valuestring, e->data, "value");
        } else if (strncmp(e->event, "phase_", 6) == 0) {
            cJSON *p = find_named(phases, "name", e->phase);

            if (p == NULL) {
                p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "name", e->phase);
                cJSON_AddItemToArray(phases, p);
            }
            set_str(p, "state", e->event + 6);
            if (strcmp(e->event, "phase_started") == 0) {
                if (cJSON_GetObjectItemCaseSensitive(p, "started") == NULL)
                    set_str(p, "started", e->ts);
            } else {
                set_str(p, "finished", e->ts);
            }
        } else if (e->action[0] != '\0') {
            cJSON *a = find_named(actions, "name", e->action);

            if (a == NULL) {
                a = cJSON_CreateObject();
                cJSON_AddStringToObject(a, "phase", e->phase);
                cJSON_AddStringToObject(a, "name", e->action);
                cJSON_AddItemToArray(actions, a);
            }
            if (strcmp(e->event, "started") == 0) {
                copy_item(a, "summary", e->data, "summary");
                set_str(a, "state", "in flight");
                set_str(a, "started", e->ts);
                /* A new attempt: nothing of the one before describes it. */
                set_str(a, "finished", NULL);
                set_str(a, "error", NULL);
                set_str(a, "hint", NULL);
                set_str(a, "message", NULL);
                cJSON_DeleteItemFromObjectCaseSensitive(a, "duration_ms");
                cJSON_DeleteItemFromObjectCaseSensitive(a, "result");
            } else if (strcmp(e->event, "done") == 0 || strcmp(e->event, "failed") == 0) {
                set_str(a, "state", e->event);
                set_str(a, "finished", e->ts);
                copy_item(a, "duration_ms", e->data, "duration_ms");
                copy_item(a, "message", e->data, "message");
                copy_item(a, "error", e->data, "error");
                copy_item(a, "hint", e->data, "hint");
                if (strcmp(e->event, "done") == 0) {
                    cJSON_DeleteItemFromObjectCaseSensitive(a, "result");
                    cJSON_AddItemToObject(a, "result", cJSON_Duplicate(e->data, 1));
                } else {
                    copy_item(a, "result", e->data, "result");
                }
            }
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(s, "outcome") == NULL)
        set_str(s, "outcome", "unknown");
    settle_phases(s, phases, actions);
    return s;
}

int rb_runs_resumable(const cJSON *summary)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(summary, "outcome");

    if (!cJSON_IsString(o))
        return 1;
    return strcmp(o->valuestring, "succeeded") != 0 && strcmp(o->valuestring, "declined") != 0;
}

void rb_runs_settle_outcome(struct rb_arena *a, cJSON *s, const char *run_id, int held,
                            const struct rb_lock_holder *holder)
{
    const char *outcome;

    if (cJSON_GetObjectItemCaseSensitive(s, "started") == NULL) {
        /* No run_started line (empty or torn journal): killed while being created, nothing applied. */
        if (cJSON_GetObjectItemCaseSensitive(s, "run_id") == NULL)
            cJSON_AddStringToObject(s, "run_id", run_id);
        cJSON_ReplaceItemInObjectCaseSensitive(s, "outcome", cJSON_CreateString("not started"));
        set_str(s, "hint", "the run was stopped while it was being created; nothing was applied");
    }
    outcome = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "outcome"));
    if (outcome == NULL || strcmp(outcome, "running") != 0)
        return;
    if (held == 1 && strcmp(holder->run_id, run_id) == 0) {
        cJSON_AddNumberToObject(s, "pid", (double)holder->pid);
    } else {
        /* No process holds the lock for it: it was killed mid-run. */
        cJSON_ReplaceItemInObjectCaseSensitive(s, "outcome", cJSON_CreateString("stopped"));
        set_str(
            s, "hint",
            rb_sprintf(a, "the run stopped without finishing; 'rollbackctl resume %s' continues it",
                       run_id));
    }
}
