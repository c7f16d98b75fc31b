/*
 * communicate.c - the communicate phase: tell people what happened, one action per message.
 *
 * Each message of the runbook's `communicate:` whose `when:` holds is one action
 * "communicate/<slug of its name>": render the template and the subject with the run's
 * variables, send through the `via` target's notify driver (notify.h), keep the exact copy sent
 * in the run folder (notifications/<slug>.txt, 0600, for the evidence bundle), and journal the
 * result. Delivery is at-least-once: an action in flight at a crash is sent again on resume
 * (RB_IDEMPOTENT), with the same Message-ID and Date (journaled as progress before the first
 * attempt), so a mail client recognises the copies as one message.
 *
 * A message that cannot be sent is tried MAX_ATTEMPTS times, waiting 1 s then 2 s, then its
 * action fails non-critically: the rollback is never undone by a message, the run ends partial
 * (exit 1), and `resume` sends only the messages not sent.
 *
 * The engine runs this phase after every run that got past approval, also when a later phase
 * failed, with outcome "failed" then. When the outcome changes between attempts (failed, then
 * succeeded after a resume), a message already sent with the old outcome is sent once more as a
 * new message: action "communicate/<slug>/<outcome>", Message-ID "<run.slug.outcome@domain>",
 * so the business hears the final outcome.
 */
#include "rollbackctl/phases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rollbackctl/expr.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/http.h"
#include "rollbackctl/notify.h"
#include "rollbackctl/output.h"
#include "rollbackctl/run_figures.h"
#include "rollbackctl/template.h"

#define MAX_ATTEMPTS 3 /* then the action fails; waits between attempts: 1 s, 2 s */

/* The values of a run's variables, computed once per plan of the phase. */
struct vars {
    struct rb_run *run;
    const char *outcome;
    bool plan; /* plan mode: values not known yet render as <name> */
    const char *started_at, *downtime;
    const char *unknown[32]; /* plan: the variables a rendering met that are filled in later */
    size_t n_unknown;
};

struct msg {
    struct vars *v;
    const struct rb_message *m;
    const struct rb_target *t;
    const char *slug;
    const char *copy_name; /* "notifications/<slug>.txt" */
    const char *message_id;
    const char *outcome;
    const char *when_error; /* `when:` could not be evaluated: the action fails with this */
};

static const char *fact_str(const struct rb_run *run, const char *key)
{
    const cJSON *f = rb_run_fact(run, key);

    if (cJSON_IsString(f))
        return f->valuestring;
    if (cJSON_IsNumber(f))
        return rb_sprintf(run->arena, "%lld", (long long)f->valuedouble);
    return NULL;
}

/* "alice@host1, bob@host2" from the approvals fact; "none" when empty. */
static const char *approvals_text(struct rb_run *run)
{
    const cJSON *ap = rb_run_fact(run, "approvals"), *it;
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    if (!cJSON_IsArray(ap))
        return NULL;
    cJSON_ArrayForEach(it, ap) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "user");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "host");

        if (!cJSON_IsString(u))
            continue;
        if (b.len > 0)
            rb_buf_adds(&b, ", ");
        rb_buf_adds(&b, u->valuestring);
        if (cJSON_IsString(h)) {
            rb_buf_addc(&b, '@');
            rb_buf_adds(&b, h->valuestring);
        }
    }
    out = b.len > 0 ? rb_strndup(run->arena, b.data, b.len) : "none";
    rb_buf_release(&b);
    return out;
}

static const char *time_text(struct rb_arena *a, int64_t ms)
{
    char buf[40];

    return ms < 0 ? NULL
                  : rb_strdup(a, rb_time_format_rfc3339((time_t)(ms / 1000), buf, sizeof(buf)));
}

/* The run's times from its journal (run_figures.h); in plan mode there is none. */
static void read_figures(struct vars *v)
{
    struct rb_run *run = v->run;
    struct rb_journal_log log;
    struct rb_run_figures fig;
    struct rb_err err = RB_ERR_INIT;
    char buf[40];

    if (run->mode != RB_MODE_EXECUTE || run->journal.path == NULL ||
        rb_journal_read(run->journal.path, &log, &err) < 0) {
        if (!v->plan && run->started_at > 0)
            v->started_at =
                rb_strdup(run->arena, rb_time_format_rfc3339(run->started_at, buf, sizeof(buf)));
        return;
    }
    rb_run_figures_read(&log, &fig);
    v->started_at = time_text(run->arena, fig.started_ms);
    if (fig.downtime_ms >= 0)
        v->downtime = rb_strdup(run->arena, rb_duration_format(fig.downtime_ms, buf, sizeof(buf)));
    rb_journal_log_release(&log);
}

/* The value of a variable as text, or NULL when not known. */
static const char *var_raw(struct vars *v, const char *name)
{
    struct rb_run *run = v->run;
    char buf[40];

    if (strcmp(name, "run_id") == 0)
        return run->run_id[0] != '\0' ? run->run_id : NULL;
    if (strcmp(name, "name") == 0)
        return run->rb->name;
    if (strcmp(name, "reason") == 0)
        return run->reason;
    if (strcmp(name, "severity") == 0)
        return fact_str(run, "severity") != NULL ? fact_str(run, "severity") : run->severity_opt;
    if (strcmp(name, "outcome") == 0)
        return v->plan ? NULL : v->outcome;
    if (strcmp(name, "initiated_by") == 0)
        return run->initiated_by;
    if (strcmp(name, "started_at") == 0)
        return v->started_at;
    if (strcmp(name, "finished_at") == 0)
        return v->plan
                   ? NULL
                   : rb_strdup(run->arena, rb_time_format_rfc3339(time(NULL), buf, sizeof(buf)));
    if (strcmp(name, "downtime") == 0)
        return v->downtime;
    if (strcmp(name, "approvals") == 0)
        return approvals_text(run);
    if (strcmp(name, "phase") == 0)
        return "communicate";
    if (strcmp(name, "dry_run") == 0)
        return run->mode == RB_MODE_EXECUTE ? "false" : "true";
    /* records_at_risk, records_recovered, records_lost, recovery_rate, verification, scenario,
     * gaps: the facts of the same names */
    return fact_str(run, name);
}

static const char *var_text(void *ctx, const char *name)
{
    struct vars *v = ctx;
    const char *s = var_raw(v, name);
    size_t i;

    if (s != NULL || !v->plan)
        return s;
    for (i = 0; i < v->n_unknown && strcmp(v->unknown[i], name) != 0; i++)
        ;
    if (i == v->n_unknown && v->n_unknown < sizeof(v->unknown) / sizeof(v->unknown[0]))
        v->unknown[v->n_unknown++] = name;
    return rb_sprintf(v->run->arena, "<%s>", name);
}

static bool is_decimal(const char *s)
{
    int c;

    return s != NULL && rb_decimal_cmp(s, "0", &c) == 0;
}

/*
 * `when:` reads the variables and the assessment's signals (a signal that was not measured, or
 * a variable without a value, is null: false on its own, unequal to anything).
 */
static int when_lookup(void *ctx, const char *name, struct rb_value *val)
{
    struct vars *v = ctx;
    const char *s = NULL;

    memset(val, 0, sizeof(*val));
    for (size_t i = 0; rb_message_vars[i] != NULL; i++)
        if (strcmp(rb_message_vars[i], name) == 0) {
            s = var_raw(v, name);
            if (s == NULL && v->plan && strcmp(name, "outcome") == 0)
                s = "succeeded"; /* plan shows what a successful run sends */
            goto found;
        }
    {
        const cJSON *as = rb_run_fact(v->run, "assessment");
        const cJSON *sig =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(as, "signals"), name);

        if (cJSON_IsString(sig))
            s = sig->valuestring;
        else if (cJSON_IsNumber(sig))
            s = rb_sprintf(v->run->arena, "%.17g", sig->valuedouble);
    }
found:
    if (s == NULL)
        return 0;
    if (strcmp(name, "recovery_rate") == 0 && s[0] != '\0' && s[strlen(s) - 1] == '%')
        s = rb_strndup(v->run->arena, s, strlen(s) - 1); /* "99.50%": compared as 99.50 */
    val->type = is_decimal(s) && strcmp(name, "run_id") != 0 ? RB_VAL_NUMBER : RB_VAL_STRING;
    val->str = s;
    return 0;
}

/* "example.com" from the target's `from:`, for Message-IDs; a reserved name without one. */
static const char *id_domain(struct rb_arena *a, const struct rb_target *t)
{
    const char *from = rb_target_opt(t, "from");
    const char *at = from != NULL ? strrchr(rb_mail_address(a, from), '@') : NULL;

    return at != NULL && at[1] != '\0' ? at + 1 : "rollbackctl.invalid";
}

static struct rb_template *load_template(struct rb_arena *a, const struct rb_message *m,
                                         struct rb_err *err)
{
    struct rb_template_problem *probs;
    struct rb_template *t;
    size_t len = 0, n = 0;
    char *text = rb_read_file(m->template_path, &len, err);

    if (text == NULL)
        return NULL;
    t = rb_template_parse(a, rb_strndup(a, text, len), len, NULL, &probs, &n);
    free(text);
    if (t == NULL)
        rb_errf(err, RB_E_FAILED, "%s:%d:%d: %s", m->template_path, probs[0].pos.line,
                probs[0].pos.col, probs[0].msg);
    return t;
}

static char *render_subject(struct rb_arena *a, const struct rb_message *m, struct vars *v)
{
    struct rb_template_problem *probs;
    size_t n;
    struct rb_template *t;

    if (m->subject == NULL)
        return NULL;
    t = rb_template_parse(a, m->subject, strlen(m->subject), NULL, &probs, &n);
    return t != NULL ? rb_template_render(a, t, var_text, v) : rb_strdup(a, m->subject);
}

/* Wait ms, in short steps so that a signal is not kept waiting. */
static void backoff(int64_t ms)
{
    while (ms > 0 && !rb_interrupted()) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        nanosleep(&ts, NULL);
        ms -= 100;
    }
}

/* The copy of what was sent, under the run folder, for people and the evidence bundle. */
static int save_copy(struct rb_run *run, const char *name, const struct rb_notify_sent *sent,
                     struct rb_err *err)
{
    const char *dir = rb_sprintf(run->arena, "%s/notifications", run->run_dir);

    if (rb_mkdir_private(dir, 0700, err) < 0)
        return -1;
    return rb_write_file_atomic(rb_sprintf(run->arena, "%s/%s", run->run_dir, name), sent->copy,
                                sent->copy_len, 0600, err);
}

static cJSON *to_json(const struct rb_message *m)
{
    cJSON *to = cJSON_CreateArray();

    for (size_t i = 0; i < m->to.n; i++)
        cJSON_AddItemToArray(to, cJSON_CreateString(m->to.items[i]));
    return to;
}

static int apply_message(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct msg *mm = act->arg;
    const struct rb_message *m = mm->m;
    const struct rb_notify_ops *ops = rb_notify_ops_for(mm->t, err);
    struct rb_notify_message nm = { 0 };
    struct rb_notify_sent sent = { 0 };
    struct rb_err serr = RB_ERR_INIT;
    const struct rb_template *tpl;
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(act->prior, "date");
    cJSON *prog, *res;
    bool sent_ok = false;
    int attempt;

    if (mm->when_error != NULL)
        return rb_errf(err, RB_E_FAILED, "message '%s' not sent: %s", m->name, mm->when_error);
    if (ops == NULL)
        return -1;
    tpl = load_template(run->arena, m, err);
    if (tpl == NULL) {
        rb_err_wrap(err, "message '%s' not sent", m->name);
        return rb_err_hint(err, "fix the template, then 'rollbackctl resume %s'", run->run_id);
    }
    nm.name = m->name;
    nm.to = m->to.items;
    nm.n_to = m->to.n;
    nm.subject = render_subject(run->arena, m, mm->v);
    nm.body = rb_template_render(run->arena, tpl, var_text, mm->v);
    nm.message_id = mm->message_id;
    /* a copy sent again after a crash keeps the first attempt's date, as it keeps its id */
    nm.date = cJSON_IsNumber(pd) ? (time_t)pd->valuedouble : time(NULL);
    prog = cJSON_CreateObject();
    cJSON_AddStringToObject(prog, "message_id", nm.message_id);
    cJSON_AddNumberToObject(prog, "date", (double)nm.date);
    if (rb_run_progress(run, act, prog, err) < 0) {
        cJSON_Delete(prog);
        return -1;
    }
    cJSON_Delete(prog);
    for (attempt = 1;; attempt++) {
        rb_err_clear(&serr);
        if (ops->send(run->arena, mm->t, &nm, &sent, &serr) == 0) {
            sent_ok = true;
            break;
        }
        if (attempt == MAX_ATTEMPTS || rb_interrupted())
            break;
        rb_verbose(run->ctx, "  %s: attempt %d failed (%s); trying again in %d s", act->name,
                   attempt, serr.msg, attempt);
        backoff(1000LL * attempt);
    }
    cJSON_Delete(act->result);
    act->result = cJSON_CreateObject();
    cJSON_AddNumberToObject(act->result, "attempts", attempt);
    cJSON_AddStringToObject(act->result, "via", m->via);
    if (!sent_ok) {
        rb_errf(err, RB_E_FAILED, "message '%s' not sent after %d attempt%s: %s", m->name, attempt,
                attempt == 1 ? "" : "s", serr.msg);
        return rb_err_hint(err, "%s%sthen 'rollbackctl resume %s' sends the messages not sent",
                           serr.hint, serr.hint[0] != '\0' ? "; " : "", run->run_id);
    }
    /* sent, but no copy: the action fails and resume sends it again (at least once) */
    if (save_copy(run, mm->copy_name, &sent, err) < 0)
        return rb_err_wrap(err, "message '%s' was sent but its copy could not be kept", m->name);
    res = act->result;
    cJSON_AddStringToObject(res, "driver", mm->t->driver);
    cJSON_AddItemToObject(res, "to", to_json(m));
    if (nm.subject != NULL)
        cJSON_AddStringToObject(res, "subject", nm.subject);
    cJSON_AddStringToObject(res, "message_id", nm.message_id);
    cJSON_AddStringToObject(res, "copy", mm->copy_name);
    cJSON_AddStringToObject(res, "outcome", mm->outcome);
    cJSON_AddStringToObject(res, "message",
                            m->to.n > 0 ? rb_sprintf(run->arena, "sent to %zu recipient%s", m->to.n,
                                                     m->to.n == 1 ? "" : "s")
                                        : rb_sprintf(run->arena, "posted to '%s'", m->via));
    return 0;
}

/* The outcome a message tells: the engine's "failed" after a failed phase, else this. */
static const char *outcome_now(const struct rb_run *run)
{
    const char *ver = fact_str(run, "verification");

    if (run->outcome != NULL &&
        (strcmp(run->outcome, "failed") == 0 || strcmp(run->outcome, "partial") == 0))
        return run->outcome;
    if (ver != NULL && strcmp(ver, "failed") == 0)
        return "failed";
    return run->partial ? "partial" : "succeeded";
}

/* What an earlier attempt sent under id, by its journaled result: the outcome it told. */
static const char *sent_outcome(const struct rb_run *run, const char *id)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(run->replay, id);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(st, "state");
    const cJSON *o =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "result"), "outcome");

    if (!cJSON_IsString(state) || strcmp(state->valuestring, "done") != 0)
        return NULL;
    return cJSON_IsString(o) ? o->valuestring : "";
}

/*
 * The message as the runbook defines it: where, to whom, which subject and template (its path as
 * the runbook names it, relative to the runbook's folder, and the SHA-256 of its bytes: a template
 * edited after review is a changed message). The rendered text is not: it takes the run's values.
 */
static void define_message(struct rb_run *run, struct rb_action *act, const struct msg *mm)
{
    const struct rb_message *m = mm->m;
    const char *url = rb_target_opt(mm->t, "url");
    const char *dir = run->rb->dir;
    cJSON *f = rb_action_fields(act, "notify"), *to;

    cJSON_AddStringToObject(f, "target", m->via);
    cJSON_AddStringToObject(f, "driver", mm->t->driver);
    if (url != NULL)
        cJSON_AddStringToObject(f, "url", rb_http_redact_url(run->arena, url));
    else
        cJSON_AddNullToObject(f, "url");
    to = cJSON_AddArrayToObject(f, "recipients");
    for (size_t i = 0; i < m->to.n; i++)
        cJSON_AddItemToArray(to, cJSON_CreateString(m->to.items[i]));
    if (m->subject != NULL)
        cJSON_AddStringToObject(f, "subject", m->subject);
    else
        cJSON_AddNullToObject(f, "subject");
    if (m->template_path != NULL) {
        const char *name = m->template_path;
        size_t dl = dir != NULL ? strlen(dir) : 0;
        char sha[65];
        struct rb_err ignored = RB_ERR_INIT;

        if (dl > 0 && strcmp(dir, ".") != 0 && strncmp(name, dir, dl) == 0 && name[dl] == '/')
            name += dl + 1;
        cJSON_AddStringToObject(f, "template", name);
        if (rb_sha256_file_hex(m->template_path, sha, &ignored) == 0)
            cJSON_AddStringToObject(f, "template_sha256", sha);
        else
            cJSON_AddNullToObject(f, "template_sha256");
    } else {
        cJSON_AddNullToObject(f, "template");
        cJSON_AddNullToObject(f, "template_sha256");
    }
    if (m->when.src != NULL)
        cJSON_AddStringToObject(f, "when", m->when.src);
    else
        cJSON_AddNullToObject(f, "when");
    cJSON_AddNumberToObject(f, "attempts", MAX_ATTEMPTS);
}

static void plan_detail(struct rb_action *act, struct msg *mm, struct vars *v)
{
    struct rb_run *run = v->run;
    const struct rb_message *m = mm->m;
    struct rb_err err = RB_ERR_INIT;
    const struct rb_template *tpl;
    const char *subject, *body;
    const char *url = rb_target_opt(mm->t, "url");
    size_t i;

    v->n_unknown = 0;
    subject = render_subject(run->arena, m, v);
    tpl = load_template(run->arena, m, &err);
    body = tpl != NULL ? rb_template_render(run->arena, tpl, var_text, v) : NULL;
    rb_action_detailf(act, "via %s (%s%s%s)\n", m->via, mm->t->driver, url != NULL ? ", " : "",
                      url != NULL ? rb_http_redact_url(run->arena, url) : "");
    if (m->to.n > 0) {
        struct rb_buf b = RB_BUF_INIT;

        for (i = 0; i < m->to.n; i++) {
            if (i > 0)
                rb_buf_adds(&b, ", ");
            rb_buf_adds(&b, m->to.items[i]);
        }
        rb_action_detailf(act, "to: %s\n", b.data);
        rb_buf_release(&b);
    }
    if (subject != NULL)
        rb_action_detailf(act, "subject: %s\n", subject);
    if (m->when.src != NULL)
        rb_action_detailf(act, "when: %s (decided at run time; shown as if the run succeeds)\n",
                          m->when.src);
    if (v->plan && v->n_unknown > 0) {
        struct rb_buf b = RB_BUF_INIT;

        for (i = 0; i < v->n_unknown; i++) {
            if (i > 0)
                rb_buf_adds(&b, ", ");
            rb_buf_adds(&b, v->unknown[i]);
        }
        rb_action_detailf(act, "filled in at run time: %s\n", b.data);
        rb_buf_release(&b);
    }
    {
        cJSON *obs = rb_action_observed(run, act);

        if (obs != NULL) {
            cJSON *later = cJSON_AddArrayToObject(obs, "filled_in_at_run_time");

            if (subject != NULL)
                cJSON_AddStringToObject(obs, "subject", subject);
            for (i = 0; i < v->n_unknown; i++)
                cJSON_AddItemToArray(later, cJSON_CreateString(v->unknown[i]));
        }
    }
    rb_action_detailf(act, "retries: %d attempts (waits 1s, 2s), then the run is partial\n",
                      MAX_ATTEMPTS);
    if (body == NULL) {
        rb_action_detailf(act, "template: %s\n", err.msg);
        return;
    }
    rb_action_detailf(act, "---\n");
    rb_action_detailf(act, "%s%s", body,
                      body[0] != '\0' && body[strlen(body) - 1] == '\n' ? "" : "\n");
}

int rb_communicate_plan(struct rb_run *run, struct rb_err *err)
{
    struct vars *v;
    size_t i;

    if (run->rb->n_messages == 0 || run->mode == RB_MODE_CHECK)
        return 0;
    v = rb_new(run->arena, struct vars);
    memset(v, 0, sizeof(*v));
    v->run = run;
    v->plan = run->mode != RB_MODE_EXECUTE;
    v->outcome = outcome_now(run);
    read_figures(v);
    for (i = 0; i < run->rb->n_messages; i++) {
        const struct rb_message *m = &run->rb->messages[i];
        struct msg *mm = rb_new(run->arena, struct msg);
        const char *id, *was, *summary;
        struct rb_action *act;
        bool send = true;

        memset(mm, 0, sizeof(*mm));
        mm->v = v;
        mm->m = m;
        mm->t = rb_runbook_target(run->rb, m->via);
        if (mm->t == NULL)
            return rb_errf(err, RB_E_RUNBOOK, "message '%s': no target named '%s'", m->name,
                           m->via);
        mm->slug = rb_name_slug(run->arena, m->name);
        if (!v->plan && m->when.expr != NULL) {
            struct rb_err werr = RB_ERR_INIT;

            /* a `when:` that cannot be decided fails its message, never the run */
            if (rb_expr_eval_bool(m->when.expr, when_lookup, v, &send, &werr) < 0) {
                mm->when_error =
                    rb_sprintf(run->arena, "%s:%d: its when '%s' cannot be decided: %s",
                               run->rb->path, m->when.pos.line, m->when.src, werr.msg);
                send = true;
            }
        }
        if (!send) {
            rb_verbose(run->ctx, "  message '%s' not sent: when %s is false (outcome %s)", m->name,
                       m->when.src, v->outcome);
            continue;
        }
        id = rb_sprintf(run->arena, "communicate/%s", mm->slug);
        mm->outcome = v->outcome;
        mm->copy_name = rb_sprintf(run->arena, "notifications/%s.txt", mm->slug);
        mm->message_id =
            rb_sprintf(run->arena, "<%s.%s@%s>", run->run_id[0] != '\0' ? run->run_id : "RUN_ID",
                       mm->slug, id_domain(run->arena, mm->t));
        was = sent_outcome(run, id);
        if (was != NULL && strcmp(was, v->outcome) != 0) {
            /* told another outcome before: the final one is a new message of its own */
            id = rb_sprintf(run->arena, "communicate/%s/%s", mm->slug, v->outcome);
            mm->copy_name = rb_sprintf(run->arena, "notifications/%s.%s.txt", mm->slug, v->outcome);
            mm->message_id = rb_sprintf(run->arena, "<%s.%s.%s@%s>", run->run_id, mm->slug,
                                        v->outcome, id_domain(run->arena, mm->t));
        }
        summary = m->to.n > 0 ? rb_sprintf(run->arena, "mail '%s' to %zu recipient%s via '%s'",
                                           m->name, m->to.n, m->to.n == 1 ? "" : "s", m->via)
                              : rb_sprintf(run->arena, "post '%s' via '%s'", m->name, m->via);
        act = rb_run_add_action(run, "communicate", id, summary, RB_IDEMPOTENT, apply_message, mm);
        act->critical = false;
        act->pos = m->pos;
        define_message(run, act, mm);
        if (v->plan)
            plan_detail(act, mm, v);
    }
    return 0;
}
