/*
 * run.c - a run's plan (actions), its shared facts, its handle cache and its signal flag.
 */
#include "rollbackctl/run.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"

struct rb_handle {
    struct rb_handle *next;
    const char *kind;
    const char *target;
    void *ptr;
};

static volatile sig_atomic_t interrupted;

/*
 * What the handler writes on the first and on any later signal, built before it is installed:
 * the handler itself only calls write(2), which is async-signal-safe, with bytes ready here.
 */
static char first_msg[512], again_msg[256];
static size_t first_len, again_len;

static void say(int sig, const char *msg, size_t len)
{
    const char *name = sig == SIGINT    ? "rollbackctl: interrupt (SIGINT): "
                       : sig == SIGTERM ? "rollbackctl: SIGTERM: "
                                        : "rollbackctl: SIGHUP: ";
    int saved = errno;
    ssize_t ignored;

    /* "\r\033[K" would be nicer on a terminal, but a log must get plain text: a newline first
     * ends whatever line (the progress line, ^C) the terminal shows. */
    ignored = write(STDERR_FILENO, "\n", 1);
    ignored = write(STDERR_FILENO, name, strlen(name));
    ignored = write(STDERR_FILENO, msg, len);
    (void)ignored;
    errno = saved;
}

static void on_signal(int sig)
{
    if (interrupted == 0)
        say(sig, first_msg, first_len);
    else
        say(sig, again_msg, again_len);
    interrupted = 1;
}

bool rb_interrupted(void)
{
    return interrupted != 0;
}

void rb_signals_announce(const char *first, const char *again)
{
    first_len = (size_t)snprintf(first_msg, sizeof(first_msg), "%s\n", first);
    again_len = (size_t)snprintf(again_msg, sizeof(again_msg), "%s\n", again);
    if (first_len >= sizeof(first_msg))
        first_len = sizeof(first_msg) - 1;
    if (again_len >= sizeof(again_msg))
        again_len = sizeof(again_msg) - 1;
}

void rb_signals_install(void)
{
    struct sigaction sa;
    char first[400];

    /*
     * A second signal changes nothing: the action in progress still finishes (stopping a COPY or
     * a DNS update half-way would only make resume's work harder). The message says so, and how
     * to stop at once anyway.
     */
    snprintf(first, sizeof(first),
             "the run stops after the current action, which finishes first; "
             "'rollbackctl resume' continues it.\n"
             "rollbackctl: another Ctrl-C changes nothing; 'kill -KILL %ld' stops at once and "
             "leaves the action in flight for resume to check",
             (long)getpid());
    rb_signals_announce(first, "still finishing the current action; the run stops after it");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: an action in progress finishes; the engine checks the flag between actions. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* An operator's SSH session dropping must not cut an action in half either. */
    sigaction(SIGHUP, &sa, NULL);
    /*
     * Nor the reader of our output going away (`execute | tee log`, and Ctrl-C kills tee too):
     * a result line written to a closed pipe fails with EPIPE instead of killing the run between
     * an action and its journal line. Children get every signal back to its default at spawn.
     */
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);
}

static void free_json(void *p)
{
    cJSON_Delete(p);
}

struct rb_run *rb_run_new(struct rb_ctx *ctx, const struct rb_runbook *rb, enum rb_mode mode)
{
    struct rb_run *run = rb_new(ctx->arena, struct rb_run);

    run->ctx = ctx;
    run->arena = ctx->arena;
    run->rb = rb;
    run->mode = mode;
    run->read_only = mode != RB_MODE_EXECUTE;
    run->journal.fd = -1;
    run->lock = (struct rb_lock)RB_LOCK_INIT;
    run->state_dir = rb != NULL ? rb->state_dir : NULL;
    run->facts = cJSON_CreateObject();
    rb_arena_on_free(ctx->arena, free_json, run->facts);
    run->replay = cJSON_CreateObject();
    rb_arena_on_free(ctx->arena, free_json, run->replay);
    run->outcome = "planned";
    return run;
}

struct rb_run *rb_run_worker(const struct rb_run *run, struct rb_arena *a)
{
    struct rb_run *w = rb_new(a, struct rb_run);

    *w = *run;
    w->arena = a;
    w->handles = NULL;
    w->journal.fd = -1;
    w->actions = NULL;
    w->n_actions = w->cap_actions = 0;
    w->replay = NULL;
    w->facts = cJSON_Duplicate(run->facts, 1);
    rb_arena_on_free(a, free_json, w->facts);
    w->worker = true;
    return w;
}

struct rb_run *rb_run_new_check(struct rb_ctx *ctx, const struct rb_runbook *rb)
{
    return rb_run_new(ctx, rb, RB_MODE_CHECK);
}

static void release_action(void *p)
{
    struct rb_action *act = p;

    rb_buf_release(&act->detail);
    cJSON_Delete(act->fields);
    cJSON_Delete(act->result);
    cJSON_Delete(act->prior);
}

bool rb_run_planned(const struct rb_run *run, const char *name)
{
    for (size_t i = 0; i < run->n_actions; i++)
        if (strcmp(run->actions[i]->name, name) == 0)
            return true;
    return false;
}

struct rb_action *rb_run_add_action(struct rb_run *run, const char *phase, const char *name,
                                    const char *summary, enum rb_idem idem, rb_apply_fn apply,
                                    void *arg)
{
    struct rb_action *act = rb_new(run->arena, struct rb_action);

    if (run->n_actions == run->cap_actions) {
        size_t cap = run->cap_actions == 0 ? 32 : run->cap_actions * 2;
        struct rb_action **p = rb_new_array(run->arena, struct rb_action *, cap);

        if (run->n_actions > 0)
            memcpy(p, run->actions, run->n_actions * sizeof(*p));
        run->actions = p;
        run->cap_actions = cap;
    }
    act->phase = rb_strdup(run->arena, phase);
    act->name = rb_strdup(run->arena, name);
    act->summary = rb_strdup(run->arena, summary);
    rb_buf_init(&act->detail);
    act->idem = idem;
    act->critical = true;
    act->apply = apply;
    act->arg = arg;
    rb_arena_on_free(run->arena, release_action, act);
    run->actions[run->n_actions++] = act;
    return act;
}

void rb_action_detailf(struct rb_action *act, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rb_buf_vaddf(&act->detail, fmt, ap);
    va_end(ap);
}

cJSON *rb_action_fields(struct rb_action *act, const char *kind)
{
    if (act->fields == NULL) {
        act->fields = cJSON_CreateObject();
        cJSON_AddStringToObject(act->fields, "kind", kind);
    }
    return act->fields;
}

cJSON *rb_action_observed(const struct rb_run *run, struct rb_action *act)
{
    cJSON *f, *o;

    if (run->mode != RB_MODE_PLAN || run->offline)
        return NULL;
    f = rb_action_fields(act, "none");
    o = cJSON_GetObjectItemCaseSensitive(f, "observed");
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(f, "observed");
        o = cJSON_AddObjectToObject(f, "observed");
    }
    return o;
}

/* Shallow merge: keys of src replace those of dst. */
static void merge_into(cJSON *dst, const cJSON *src)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, src) {
        if (it->string == NULL)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(dst, it->string);
        cJSON_AddItemToObject(dst, it->string, cJSON_Duplicate(it, 1));
    }
}

int rb_run_progress(struct rb_run *run, struct rb_action *act, const cJSON *data,
                    struct rb_err *err)
{
    /* In EXECUTE mode a journal that is not open (closed after a failed append) is an error: the
     * action must not go on without its record. */
    if (run->worker)
        return rb_errf(err, RB_E_FAILED, "a worker's view of the run journals nothing");
    if (run->mode != RB_MODE_EXECUTE)
        return 0;
    if (rb_journal_append(&run->journal, act->phase, act->name, "progress", data, err) < 0)
        return -1;
    if (act->prior == NULL)
        act->prior = cJSON_CreateObject();
    merge_into(act->prior, data);
    return 0;
}

int rb_run_fact_set(struct rb_run *run, const char *key, cJSON *value, struct rb_err *err)
{
    int rc = 0;

    if (run->worker) {
        cJSON_Delete(value);
        return rb_errf(err, RB_E_FAILED, "a worker's view of the run journals nothing");
    }
    if (run->mode == RB_MODE_EXECUTE) {
        cJSON *d = cJSON_CreateObject();

        cJSON_AddStringToObject(d, "key", key);
        cJSON_AddItemToObject(d, "value", cJSON_Duplicate(value, 1));
        rc = rb_journal_append(&run->journal, "", "", "fact", d, err);
        cJSON_Delete(d);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(run->facts, key);
    cJSON_AddItemToObject(run->facts, key, value);
    return rc;
}

const cJSON *rb_run_fact(const struct rb_run *run, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(run->facts, key);
}

const char *rb_run_assets_dir(struct rb_run *run, struct rb_err *err)
{
    if (run->assets_dir != NULL)
        return run->assets_dir;
    if (run->run_dir == NULL) {
        rb_errf(err, RB_E_FAILED, "this run has no folder (plan and check runs keep no assets)");
        return NULL;
    }
    {
        const char *dir = rb_sprintf(run->arena, "%s/assets", run->run_dir);

        if (rb_mkdir_p(dir, 0700, err) < 0)
            return NULL;
        rb_fsync_dir(run->run_dir);
        run->assets_dir = dir;
    }
    return run->assets_dir;
}

void *rb_run_handle_get(struct rb_run *run, const char *kind, const char *target)
{
    struct rb_handle *h;

    for (h = run->handles; h != NULL; h = h->next)
        if (strcmp(h->kind, kind) == 0 && strcmp(h->target, target) == 0)
            return h->ptr;
    return NULL;
}

void rb_run_handle_put(struct rb_run *run, const char *kind, const char *target, void *handle)
{
    struct rb_handle *h = rb_new(run->arena, struct rb_handle);

    h->kind = rb_strdup(run->arena, kind);
    h->target = rb_strdup(run->arena, target);
    h->ptr = handle;
    h->next = run->handles;
    run->handles = h;
}
