/*
 * approve.c - the approve phase: one action, approve/quorum, that holds the run before freeze
 * until enough people said yes.
 *
 * Policy: approval.required[severity] approvals (a severity not listed: 1; a severity the tool
 * cannot tell: the strictest listed; no approval section: 1), one more when a point of no return
 * is true. The initiator's confirmation (the typed runbook name, or --yes) is the first; the others
 * come as records in the run's approvals/ folder (`rollbackctl approve` / `deny`, approvals.h),
 * which this action polls and journals through rb_run_progress: the engine alone writes the
 * journal. The deadline is journaled the first time the action starts, so a resumed run waits
 * for the same deadline, with the approvals already given.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/identity.h"
#include "rollbackctl/output.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/progress.h"

/* approval.timeout when the runbook gives none (docs/runbook.md) */
#define APPROVE_DEFAULT_TIMEOUT_MS (30LL * 60 * 1000)
/* how often the folder is read: a record counts within a second */
#define APPROVE_POLL_MS 250
/* without a terminal, the waiting line is repeated this often even when nothing changed */
#define APPROVE_REPEAT_MS (60LL * 1000)

struct approve_plan {
    enum rb_severity severity; /* RB_SEV_NONE: unknown */
    int needed;                /* the initiator included */
    int64_t timeout_ms;
    const cJSON *pnr; /* the points of no return that are true (strings), or NULL */
    const char *scenario;
};

int rb_approvals_needed(const struct rb_approval *ap, enum rb_severity sev, bool point_of_no_return)
{
    int needed = 1;

    if (ap->present && sev != RB_SEV_NONE) {
        needed = ap->required[sev] >= 0 ? ap->required[sev] : 1;
    } else if (ap->present) {
        /* the tool cannot tell the severity: the strictest the runbook asks for */
        for (int i = RB_SEV_CRITICAL; i <= RB_SEV_LOW; i++)
            if (ap->required[i] > needed)
                needed = ap->required[i];
    }
    /* the initiator's confirmation is always given, so never fewer than one */
    if (needed < 1)
        needed = 1;
    return point_of_no_return ? needed + 1 : needed;
}

/* The severity the assessment set (fact), else --severity, else unknown. */
static enum rb_severity run_severity(const struct rb_run *run)
{
    const cJSON *f = rb_run_fact(run, "severity");

    if (cJSON_IsString(f))
        return rb_severity_parse(f->valuestring);
    if (run->severity_opt != NULL)
        return rb_severity_parse(run->severity_opt);
    return RB_SEV_NONE;
}

static const char *plural(int n)
{
    return n == 1 ? "" : "s";
}

/* "29m", "1h05m", "40s": what is left, for people */
static void time_left(int64_t ms, char *out, size_t len)
{
    int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;

    if (s >= 3600)
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, len, "%lldm", (long long)(s / 60));
    else
        snprintf(out, len, "%llds", (long long)s);
}

/* One approval as journaled, with the plan hash it was given for (null: none known). */
static cJSON *approval_entry(const char *kind, const char *user, const char *host, const char *at,
                             const char *comment, const char *plan_sha256)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "user", user);
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddStringToObject(o, "at", at);
    cJSON_AddStringToObject(o, "comment", comment != NULL ? comment : "");
    cJSON_AddStringToObject(o, "kind", kind);
    if (plan_sha256 != NULL)
        cJSON_AddStringToObject(o, "plan_sha256", plan_sha256);
    else
        cJSON_AddNullToObject(o, "plan_sha256");
    return o;
}

static bool has_user(const cJSON *approvals, const char *user)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, approvals) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "user");

        if (cJSON_IsString(u) && strcmp(u->valuestring, user) == 0)
            return true;
    }
    return false;
}

/* "bob@host1, carol@host1" */
static const char *who(struct rb_arena *a, const cJSON *approvals)
{
    const char *s = "";
    const cJSON *it;

    cJSON_ArrayForEach(it, approvals) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "user");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "host");

        s = rb_sprintf(a, "%s%s%s@%s", s, s[0] != '\0' ? ", " : "",
                       cJSON_IsString(u) ? u->valuestring : "?",
                       cJSON_IsString(h) ? h->valuestring : "?");
    }
    return s;
}

/* What the initiator's prompt shows before asking for the runbook's name. */
static const char *prompt_text(struct rb_run *run, const struct approve_plan *p)
{
    struct rb_arena *a = run->arena;
    const char *s = rb_sprintf(a, "This starts the rollback '%s' (reason: %s).\n", run->rb->name,
                               run->reason != NULL ? run->reason : "-");
    const cJSON *it;

    s = rb_sprintf(a, "%s  severity:  %s%s%s%s\n", s,
                   p->severity != RB_SEV_NONE ? rb_severity_name(p->severity) : "unknown",
                   p->scenario != NULL ? " (" : "", p->scenario != NULL ? p->scenario : "",
                   p->scenario != NULL ? ")" : "");
    s = rb_sprintf(a, "%s  approvals: %d needed: yours%s\n", s, p->needed,
                   p->needed > 1 ? rb_sprintf(a, " and %d more person%s", p->needed - 1,
                                              p->needed - 1 == 1 ? "" : "s")
                                 : " alone");
    cJSON_ArrayForEach(it, p->pnr)
        if (cJSON_IsString(it))
            s = rb_sprintf(a, "%s  POINT OF NO RETURN: %s\n", s, it->valuestring);
    /* what the approvers will be shown and asked to check against the plan they reviewed */
    if (run->plan_sha256 != NULL)
        s = rb_sprintf(a, "%s  plan:      sha256 %s\n", s, run->plan_sha256);
    return s;
}

/* The waiting line: on a terminal the progress line's note, else a line now and then. */
static void show_waiting(struct rb_run *run, const struct approve_plan *p, int have,
                         int64_t deadline_ms, bool changed, int64_t *last_line_ms)
{
    char left[32];
    int64_t now = rb_wall_ms();
    int more = p->needed - have;
    const char *line;

    time_left(deadline_ms - now, left, sizeof(left));
    line = rb_sprintf(run->arena, "waiting for %d more approval%s, %s left: rollbackctl approve %s",
                      more, plural(more), left, run->run_id);
    if (run->ctx->progress) {
        rb_progress_note(run->ctx, "%s", line);
        return;
    }
    if (changed || now - *last_line_ms >= APPROVE_REPEAT_MS) {
        rb_info(run->ctx, "  %s", line);
        *last_line_ms = now;
    }
}

static int journal_state(struct rb_run *run, struct rb_action *act, const cJSON *approvals,
                         int needed, int64_t deadline_ms, struct rb_err *err)
{
    char deadline[40];
    cJSON *d = cJSON_CreateObject();
    int rc;

    rb_rfc3339_ms(deadline_ms, deadline, sizeof(deadline));
    cJSON_AddItemToObject(d, "approvals", cJSON_Duplicate(approvals, 1));
    cJSON_AddNumberToObject(d, "needed", needed);
    cJSON_AddStringToObject(d, "deadline", deadline);
    cJSON_AddNumberToObject(d, "deadline_ms", (double)deadline_ms);
    rc = rb_run_progress(run, act, d, err);
    cJSON_Delete(d);
    return rc;
}

/*
 * Read the folder and take what is new: a deny ends the wait (1, with act->result and err set),
 * an approval from someone not counted yet is added (*changed). Records seen once are not read
 * again (seen); a record that cannot speak for the user it names is ignored with a warning.
 */
static int take_records(struct rb_run *run, struct rb_action *act, cJSON *approvals, cJSON *seen,
                        const char *initiator, bool *changed, struct rb_err *err)
{
    struct rb_approval_rec *recs;
    size_t n;

    if (rb_approvals_read(run->arena, run->run_dir, &recs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct rb_approval_rec *r = &recs[i];
        char why[256];

        if (cJSON_HasObjectItem(seen, r->file))
            continue;
        cJSON_AddTrueToObject(seen, r->file);
        if (r->kind == NULL) {
            rb_warn(run->ctx, "ignoring approval record '%s': %s", r->file, r->invalid);
            continue;
        }
        if (!rb_approval_owner_ok(r, why, sizeof(why))) {
            rb_warn(run->ctx, "ignoring approval record '%s': %s", r->file, why);
            continue;
        }
        if (!rb_approval_plan_ok(r, run->plan_sha256)) {
            rb_warn(run->ctx,
                    "ignoring the approval by '%s': it was given for plan sha256 %.12s..., "
                    "this run's plan is %.12s...",
                    r->user, r->plan_sha256, run->plan_sha256);
            continue;
        }
        if (strcmp(r->kind, "deny") == 0) {
            cJSON *d = cJSON_CreateObject();
            cJSON *by = cJSON_AddObjectToObject(d, "denied_by");

            cJSON_AddStringToObject(by, "user", r->user);
            cJSON_AddStringToObject(by, "host", r->host);
            cJSON_AddStringToObject(by, "at", r->at);
            cJSON_AddStringToObject(by, "comment", r->comment);
            cJSON_Delete(act->result);
            act->result = d;
            rb_errf(err, RB_E_DECLINED, "run denied by %s@%s: %s", r->user, r->host, r->comment);
            rb_err_hint(err, "nothing was changed; see 'rollbackctl status %s'", run->run_id);
            return 1;
        }
        /* the initiator's confirmation counted already; the same person counts once */
        if (strcmp(r->user, initiator) == 0 || has_user(approvals, r->user)) {
            rb_verbose(run->ctx, "  approval by '%s' counted already", r->user);
            continue;
        }
        cJSON_AddItemToArray(approvals, approval_entry("approve", r->user, r->host, r->at,
                                                       r->comment, r->plan_sha256));
        rb_info(run->ctx, "  approved by %s@%s%s%s", r->user, r->host,
                r->comment[0] != '\0' ? ": " : "", r->comment);
        *changed = true;
    }
    return 0;
}

static int quorum_done(struct rb_run *run, struct rb_action *act, const struct approve_plan *p,
                       const cJSON *approvals, struct rb_err *err)
{
    int have = cJSON_GetArraySize(approvals);
    cJSON *res = cJSON_CreateObject();

    cJSON_AddNumberToObject(res, "needed", p->needed);
    cJSON_AddItemToObject(res, "approvals", cJSON_Duplicate(approvals, 1));
    cJSON_AddStringToObject(res, "message",
                            rb_sprintf(run->arena, "%d of %d approval%s: %s", have, p->needed,
                                       plural(p->needed), who(run->arena, approvals)));
    cJSON_Delete(act->result);
    act->result = res;
    /* the communicate phase names who approved */
    return rb_run_fact_set(run, "approvals", cJSON_Duplicate(approvals, 1), err);
}

static int quorum_apply(struct rb_run *run, struct rb_action *act, struct rb_err *err)
{
    struct approve_plan *p = act->arg;
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(act->prior, "approvals");
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(act->prior, "deadline_ms");
    const cJSON *pn = cJSON_GetObjectItemCaseSensitive(act->prior, "needed");
    cJSON *approvals = cJSON_IsArray(pa) ? cJSON_Duplicate(pa, 1) : cJSON_CreateArray();
    cJSON *seen = cJSON_CreateObject();
    char initiator[RB_IDENTITY_USER_MAX], deadline_txt[40];
    int64_t deadline_ms, last_line_ms = 0;
    bool changed = true;
    int rc = -1;

    /* a runbook edited between attempts may ask for more, never for fewer than first journaled */
    if (cJSON_IsNumber(pn) && pn->valueint > p->needed)
        p->needed = pn->valueint;
    rb_identity_user_of(run->initiated_by, initiator, sizeof(initiator));
    /* the same deadline on every attempt: the first attempt journaled it */
    deadline_ms = cJSON_IsNumber(pd) ? (int64_t)pd->valuedouble : rb_wall_ms() + p->timeout_ms;
    rb_rfc3339_ms(deadline_ms, deadline_txt, sizeof(deadline_txt));
    if (cJSON_GetArraySize(approvals) == 0) {
        struct rb_identity id;
        char at[40];

        if (!run->yes && run->confirm != NULL && run->confirm(run, prompt_text(run, p), err) < 0) {
            if (err->cls == RB_E_NONE)
                err->cls = RB_E_DECLINED;
            goto out;
        }
        rb_identity_get(&id);
        rb_rfc3339_ms(rb_wall_ms(), at, sizeof(at));
        cJSON_AddItemToArray(approvals, approval_entry("initiator", initiator, id.host, at,
                                                       run->reason, run->plan_sha256));
    }
    if (rb_approvals_dir_create(run->state_dir, run->run_dir, err) < 0 ||
        journal_state(run, act, approvals, p->needed, deadline_ms, err) < 0)
        goto out;
    if (p->needed > 1) {
        const cJSON *it;

        cJSON_ArrayForEach(it, p->pnr)
            if (cJSON_IsString(it))
                rb_warn(run->ctx, "point of no return: %s", it->valuestring);
        /* a resumed run whose deadline passed while no process waited: timed out */
        if (rb_wall_ms() < deadline_ms) {
            rb_signals_announce(
                "the run stops waiting for approvals; 'rollbackctl resume' waits again, with "
                "the same deadline and the approvals already given",
                "stopping the wait for approvals");
        }
    }
    for (;;) {
        int have;
        bool fresh = false;

        /* records are read until the deadline; a resumed run past it has timed out */
        if (rb_wall_ms() < deadline_ms &&
            take_records(run, act, approvals, seen, initiator, &fresh, err) != 0)
            goto out;
        if (fresh && journal_state(run, act, approvals, p->needed, deadline_ms, err) < 0)
            goto out;
        changed = changed || fresh;
        have = cJSON_GetArraySize(approvals);
        if (have >= p->needed) {
            rc = quorum_done(run, act, p, approvals, err);
            goto out;
        }
        if (rb_wall_ms() >= deadline_ms) {
            rb_errf(err, RB_E_DECLINED, "no quorum: %d of %d approval%s by %s", have, p->needed,
                    plural(p->needed), deadline_txt);
            rb_err_hint(err,
                        "nothing was changed; start a new run when the approvers can be reached "
                        "(approval.timeout in the runbook sets how long a run waits)");
            goto out;
        }
        if (rb_interrupted()) {
            rb_errf(err, RB_E_INTERRUPTED,
                    "interrupted while waiting for approvals (%d of %d); the run can be continued",
                    have, p->needed);
            rb_err_kind(err, RB_K_INTERRUPTED);
            rb_err_hint(err, "rollbackctl resume %s", run->run_id);
            goto out;
        }
        show_waiting(run, p, have, deadline_ms, changed, &last_line_ms);
        changed = false;
        {
            struct timespec ts = { 0, APPROVE_POLL_MS * 1000000L };

            nanosleep(&ts, NULL); /* a signal ends it early; the flag is checked above */
        }
    }
out:
    if (p->needed > 1)
        rb_signals_install(); /* the engine's own words again */
    cJSON_Delete(seen);
    cJSON_Delete(approvals);
    return rc;
}

int rb_approve_plan(struct rb_run *run, struct rb_err *err)
{
    const struct rb_approval *ap = &run->rb->approval;
    struct approve_plan *p;
    const cJSON *pnr = rb_run_fact(run, "point_of_no_return");
    const cJSON *scen = rb_run_fact(run, "scenario");
    const char *sev, *summary;
    struct rb_action *act;
    char tmo[32];

    (void)err;
    if (run->mode == RB_MODE_CHECK)
        return 0;
    p = rb_new(run->arena, struct approve_plan);
    p->severity = run_severity(run);
    p->pnr = cJSON_IsArray(pnr) && cJSON_GetArraySize(pnr) > 0 ? pnr : NULL;
    p->scenario = cJSON_IsString(scen) ? rb_strdup(run->arena, scen->valuestring) : NULL;
    p->needed = rb_approvals_needed(ap, p->severity, p->pnr != NULL);
    p->timeout_ms = ap->timeout_ms > 0 ? ap->timeout_ms : APPROVE_DEFAULT_TIMEOUT_MS;
    sev = p->severity != RB_SEV_NONE ? rb_severity_name(p->severity) : "unknown";
    if (p->needed == 1)
        summary =
            rb_sprintf(run->arena, "1 approval (severity %s): the initiator's confirmation", sev);
    else
        summary =
            rb_sprintf(run->arena, "%d approvals (severity %s): the initiator and %d more person%s",
                       p->needed, sev, p->needed - 1, p->needed - 1 == 1 ? "" : "s");
    act = rb_run_add_action(run, "approve", RB_APPROVE_ACTION, summary, RB_CHECKS_FIRST,
                            quorum_apply, p);
    {
        /* the runbook's rule; how many it asks for follows from the assessment: observed */
        cJSON *f = rb_action_fields(act, "approval"), *obs;

        if (ap->present) {
            cJSON *req = cJSON_AddObjectToObject(f, "required");

            for (int i = RB_SEV_CRITICAL; i <= RB_SEV_LOW; i++)
                if (ap->required[i] >= 0)
                    cJSON_AddNumberToObject(req, rb_severity_name((enum rb_severity)i),
                                            ap->required[i]);
        } else {
            cJSON_AddNullToObject(f, "required");
        }
        cJSON_AddNumberToObject(f, "timeout_ms", (double)p->timeout_ms);
        if ((obs = rb_action_observed(run, act)) != NULL) {
            if (p->severity != RB_SEV_NONE)
                cJSON_AddStringToObject(obs, "severity", rb_severity_name(p->severity));
            else
                cJSON_AddNullToObject(obs, "severity");
            cJSON_AddNumberToObject(obs, "needed", p->needed);
            cJSON_AddItemToObject(obs, "points_of_no_return",
                                  p->pnr != NULL ? cJSON_Duplicate(p->pnr, 1)
                                                 : cJSON_CreateArray());
        }
    }
    if (!ap->present)
        rb_action_detailf(act, "no approval section: the initiator's confirmation alone\n");
    else if (p->severity == RB_SEV_NONE)
        rb_action_detailf(act, "severity unknown: the strictest of approval.required\n");
    else if (ap->required[p->severity] < 0)
        rb_action_detailf(act, "approval.required lists no '%s': 1\n", sev);
    else
        rb_action_detailf(act, "approval.required.%s: %d\n", sev, ap->required[p->severity]);
    {
        const cJSON *it;

        cJSON_ArrayForEach(it, p->pnr)
            if (cJSON_IsString(it))
                rb_action_detailf(act, "point of no return (+1 approval): %s\n", it->valuestring);
    }
    rb_action_detailf(act, "the initiator's confirmation (the runbook name typed, or --yes) is "
                           "the first approval\n");
    if (p->needed > 1) {
        time_left(p->timeout_ms, tmo, sizeof(tmo));
        rb_action_detailf(act,
                          "others: 'rollbackctl approve %s [--comment C]', or 'rollbackctl deny "
                          "%s --comment C'\n",
                          run->mode == RB_MODE_EXECUTE ? run->run_id : "RUN_ID",
                          run->mode == RB_MODE_EXECUTE ? run->run_id : "RUN_ID");
        rb_action_detailf(act, "no quorum within %s (approval.timeout): declined, exit 3", tmo);
    }
    return 0;
}
