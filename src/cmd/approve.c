/*
 * approve.c - `rollbackctl approve RUN_ID [--comment C] [--plan-sha256 HASH]` and
 * `rollbackctl deny RUN_ID --comment C`.
 *
 * Neither writes the journal nor takes the state_dir lock (the waiting run holds it): each drops
 * one record into the run's approvals/ folder (approvals.h), which the waiting run reads within a
 * second and journals. The journal says whether the run waits; the person is SUDO_USER under
 * sudo, else the effective user (identity.h). An approval names the run's plan hash (journaled
 * in run_started), shown to the approver; --plan-sha256 refuses a run whose plan is not the one
 * the approver reviewed, and the waiting run counts no approval given for another hash.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/identity.h"
#include "rollbackctl/lock.h"
#include "rollbackctl/output.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/runs.h"

struct approve_opts {
    const char *run_id;
    const char *comment;
    const char *plan_sha256; /* --plan-sha256: the plan the approver reviewed */
};

static bool is_sha256_hex(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (!isxdigit((unsigned char)s[n]))
            return false;
    return n == 64;
}

static int parse(const char *cmd, int argc, char **argv, struct approve_opts *o, struct rb_err *err)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--comment") == 0) {
            if (i + 1 >= argc)
                return rb_errf(err, RB_E_USAGE, "--comment needs a value");
            o->comment = argv[++i];
        } else if (strncmp(a, "--comment=", 10) == 0) {
            o->comment = a + 10;
        } else if (strcmp(cmd, "approve") == 0 && (strcmp(a, "--plan-sha256") == 0 ||
                                                   strncmp(a, "--plan-sha256=", 14) == 0)) {
            if (a[13] == '=')
                o->plan_sha256 = a + 14;
            else if (i + 1 >= argc)
                return rb_errf(err, RB_E_USAGE, "--plan-sha256 needs a value");
            else
                o->plan_sha256 = argv[++i];
            if (!is_sha256_hex(o->plan_sha256))
                return rb_errf(err, RB_E_USAGE,
                               "--plan-sha256 '%s' is not a SHA-256 (64 hexadecimal digits)",
                               o->plan_sha256);
        } else if (a[0] == '-' && a[1] != '\0') {
            return rb_errf(err, RB_E_USAGE, "unknown option '%s' for %s", a, cmd);
        } else if (o->run_id == NULL) {
            o->run_id = a;
        } else {
            return rb_errf(err, RB_E_USAGE, "%s takes one RUN_ID, not '%s' too", cmd, a);
        }
    }
    if (o->run_id == NULL) {
        rb_errf(err, RB_E_USAGE, "%s needs the RUN_ID of the run", cmd);
        return rb_err_hint(err, "the waiting run prints it ('rollbackctl approve RUN_ID'); "
                                "'rollbackctl status' shows the latest run");
    }
    if (strcmp(cmd, "deny") == 0 && (o->comment == NULL || o->comment[0] == '\0'))
        return rb_errf(err, RB_E_USAGE, "deny needs --comment: why is the run refused?");
    return 0;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *find_user(const cJSON *approvals, const char *user)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, approvals) {
        const char *u = jstr(it, "user");

        if (u != NULL && strcmp(u, user) == 0)
            return it;
    }
    return NULL;
}

/* What the run is, for "not waiting (it is ...)": its outcome, or where a running run is. */
static const char *run_state(struct rb_ctx *ctx, const cJSON *summary)
{
    const char *outcome = jstr(summary, "outcome");
    const cJSON *a;

    if (outcome == NULL)
        return "not started";
    if (strcmp(outcome, "running") != 0)
        return outcome;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(summary, "actions")) {
        const char *name = jstr(a, "name");

        if (name != NULL && strcmp(name, RB_APPROVE_ACTION) == 0)
            return rb_sprintf(ctx->arena, "running; its approvals are %s",
                              strcmp(jstr(a, "state") != NULL ? jstr(a, "state") : "", "done") == 0
                                  ? "complete"
                                  : "not being waited for");
    }
    return "running, not yet at its approvals";
}

/*
 * The approvals that count once ours is added: those journaled, those dropped but not yet
 * journaled (the run may not have read them, or no process waits), and ours, each person once.
 */
static cJSON *counted_with_ours(struct rb_ctx *ctx, const char *run_dir, const cJSON *journaled,
                                const char *initiator, const char *run_plan,
                                const struct rb_approval_rec *ours)
{
    cJSON *all = cJSON_Duplicate(journaled, 1);
    struct rb_approval_rec *recs;
    struct rb_err rerr = RB_ERR_INIT;
    size_t n;

    if (rb_approvals_read(ctx->arena, run_dir, &recs, &n, &rerr) < 0)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        char why[256];
        cJSON *o;

        if (recs[i].kind == NULL || strcmp(recs[i].kind, "approve") != 0 ||
            !rb_approval_owner_ok(&recs[i], why, sizeof(why)) ||
            !rb_approval_plan_ok(&recs[i], run_plan) || strcmp(recs[i].user, initiator) == 0 ||
            find_user(all, recs[i].user) != NULL)
            continue;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", recs[i].user);
        cJSON_AddStringToObject(o, "host", recs[i].host);
        cJSON_AddStringToObject(o, "at", recs[i].at);
        cJSON_AddStringToObject(o, "comment", recs[i].comment);
        cJSON_AddItemToArray(all, o);
    }
    if (ours != NULL && find_user(all, ours->user) == NULL) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "user", ours->user);
        cJSON_AddStringToObject(o, "host", ours->host);
        cJSON_AddStringToObject(o, "at", ours->at);
        cJSON_AddStringToObject(o, "comment", ours->comment);
        cJSON_AddItemToArray(all, o);
    }
    return all;
}

static void show(struct rb_ctx *ctx, const char *run_id, const struct rb_approval_rec *r,
                 bool already, int needed, const cJSON *counted, const cJSON *pnr,
                 bool process_waits)
{
    int have = cJSON_GetArraySize(counted);
    int more = needed > have ? needed - have : 0;
    bool deny = strcmp(r->kind, "deny") == 0;
    const cJSON *it;

    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *d = cJSON_CreateObject();
        cJSON *rec = cJSON_AddObjectToObject(d, "recorded");

        cJSON_AddStringToObject(d, "run_id", run_id);
        cJSON_AddBoolToObject(d, "already_approved", already);
        cJSON_AddStringToObject(rec, "kind", r->kind);
        cJSON_AddStringToObject(rec, "user", r->user);
        cJSON_AddStringToObject(rec, "host", r->host);
        cJSON_AddStringToObject(rec, "at", r->at);
        cJSON_AddStringToObject(rec, "comment", r->comment);
        if (r->plan_sha256 != NULL) {
            cJSON_AddStringToObject(rec, "plan_sha256", r->plan_sha256);
            cJSON_AddStringToObject(d, "plan_sha256", r->plan_sha256);
        } else {
            cJSON_AddNullToObject(rec, "plan_sha256");
            cJSON_AddNullToObject(d, "plan_sha256");
        }
        cJSON_AddNumberToObject(d, "needed", needed);
        cJSON_AddNumberToObject(d, "approvals", have);
        cJSON_AddNumberToObject(d, "still_needed", deny ? 0 : more);
        cJSON_AddItemToObject(d, "point_of_no_return",
                              pnr != NULL ? cJSON_Duplicate(pnr, 1) : cJSON_CreateArray());
        cJSON_AddBoolToObject(d, "run_waiting_now", process_waits);
        rb_out_json(ctx, d);
        cJSON_Delete(d);
        return;
    }
    if (deny)
        fprintf(ctx->out, "denial of run %s recorded for %s@%s: %s\n", run_id, r->user, r->host,
                r->comment);
    else if (already)
        fprintf(ctx->out,
                "%s already approved run %s at %s; an approval counts once, nothing "
                "was recorded again\n",
                r->user, run_id, r->at);
    else
        fprintf(ctx->out, "approval of run %s recorded for %s@%s%s%s\n", run_id, r->user, r->host,
                r->comment[0] != '\0' ? ": " : "", r->comment);
    /* the plan the approval is for: the hash of the plan file the approver reviewed */
    if (r->plan_sha256 != NULL)
        fprintf(ctx->out, "  plan sha256: %s\n", r->plan_sha256);
    cJSON_ArrayForEach(it, pnr)
        if (cJSON_IsString(it))
            fprintf(ctx->out, "  %spoint of no return%s: %s\n", rb_c_red(ctx), rb_c_reset(ctx),
                    it->valuestring);
    if (deny)
        fprintf(ctx->out, "  the run ends declined; nothing was changed\n");
    else if (more > 0)
        fprintf(ctx->out, "  %d of %d approvals; %d more needed: rollbackctl approve %s\n", have,
                needed, more, run_id);
    else
        fprintf(ctx->out, "  %d of %d approvals: the quorum is complete\n", have, needed);
    if (!process_waits)
        fprintf(ctx->out,
                "  no process is waiting for this run now; it counts when the run is resumed "
                "('rollbackctl resume %s')\n",
                run_id);
    else if (deny || more == 0)
        fprintf(ctx->out, "  the run takes it within a second\n");
}

static int approve_or_deny(struct rb_ctx *ctx, const char *kind, int argc, char **argv,
                           struct rb_err *err)
{
    struct approve_opts o;
    const struct rb_runbook *rb;
    const char *run_dir, *initiated_by, *run_plan;
    struct rb_journal_log log;
    struct rb_identity id;
    struct rb_approval_rec r;
    struct rb_lock_holder holder;
    struct rb_err lerr = RB_ERR_INIT;
    char initiator[RB_IDENTITY_USER_MAX], at[40];
    cJSON *summary, *waiting, *counted;
    const cJSON *journaled, *prev, *needed, *pnr;
    bool process_waits;
    int rc = -1;

    if (parse(kind, argc, argv, &o, err) < 0)
        return -1;
    rb = rb_cmd_load_runbook(ctx, 0, err);
    if (rb == NULL)
        return -1;
    run_dir = rb_runs_dir_of(ctx->arena, rb->state_dir, o.run_id);
    if (strchr(o.run_id, '/') != NULL || strcmp(o.run_id, ".") == 0 ||
        strcmp(o.run_id, "..") == 0 || access(run_dir, F_OK) != 0) {
        rb_errf(err, RB_E_FAILED, "no run '%s' in '%s'", o.run_id, rb->state_dir);
        return rb_err_hint(err, "'rollbackctl status' shows the latest run; the waiting run "
                                "prints its id");
    }
    if (rb_journal_read(rb_sprintf(ctx->arena, "%s/journal.jsonl", run_dir), &log, err) < 0) {
        rb_err_wrap(err, "unable to read run '%s'", o.run_id);
        return rb_err_hint(err,
                           "approvers need to read the run: a state_dir shared with their group "
                           "(chgrp GROUP STATE_DIR && chmod 2770 STATE_DIR, docs/runbook.md)");
    }
    summary = rb_runs_summarize(&log);
    waiting = rb_approvals_waiting(&log);
    rb_journal_log_release(&log);
    if (waiting == NULL) {
        rb_errf(err, RB_E_FAILED, "run '%s' is not waiting for approvals (it is %s)", o.run_id,
                run_state(ctx, summary));
        cJSON_Delete(summary);
        return -1;
    }
    initiated_by = jstr(summary, "initiated_by");
    run_plan = jstr(summary, "plan_sha256");
    if (o.plan_sha256 != NULL && run_plan == NULL) {
        rb_errf(err, RB_E_FAILED,
                "run '%s' has no plan hash (started by a rollbackctl before plan hashes): "
                "--plan-sha256 cannot be checked; nothing was recorded",
                o.run_id);
        cJSON_Delete(waiting);
        cJSON_Delete(summary);
        return -1;
    }
    if (o.plan_sha256 != NULL && strcasecmp(o.plan_sha256, run_plan) != 0) {
        rb_errf(err, RB_E_FAILED,
                "run '%s' executes the plan sha256 %s, not the plan you reviewed (%s); nothing "
                "was recorded",
                o.run_id, run_plan, o.plan_sha256);
        rb_err_hint(err,
                    "'rollbackctl status %s' shows the run; review the plan it runs "
                    "(rollbackctl plan --out FILE) before approving it",
                    o.run_id);
        cJSON_Delete(waiting);
        cJSON_Delete(summary);
        return -1;
    }
    rb_identity_user_of(initiated_by, initiator, sizeof(initiator));
    pnr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(summary, "facts"),
                                           "point_of_no_return");
    if (!cJSON_IsArray(pnr))
        pnr = NULL;
    rb_identity_get(&id);
    rb_rfc3339_ms(rb_wall_ms(), at, sizeof(at));
    r = (struct rb_approval_rec){ .kind = kind,
                                  .user = id.user,
                                  .host = id.host,
                                  .at = at,
                                  .comment = o.comment != NULL ? o.comment : "",
                                  .pid = (long)getpid(),
                                  .plan_sha256 = run_plan };
    journaled = cJSON_GetObjectItemCaseSensitive(waiting, "approvals");
    needed = cJSON_GetObjectItemCaseSensitive(waiting, "needed");
    if (strcmp(kind, "approve") == 0 && strcmp(id.user, initiator) == 0) {
        rb_errf(err, RB_E_FAILED,
                "'%s' started run '%s' (%s): your confirmation already counts as its first "
                "approval",
                id.user, o.run_id, initiated_by);
        rb_err_hint(err, "another person approves: 'rollbackctl approve %s' as them", o.run_id);
        goto out;
    }
    memset(&holder, 0, sizeof(holder));
    {
        /* a lock we may not read (owner-only state_dir, sudo): no claim either way */
        int held = rb_lock_peek(rb->state_dir, &holder, &lerr);

        process_waits = held < 0 || (held == 1 && strcmp(holder.run_id, o.run_id) == 0);
    }
    counted = counted_with_ours(ctx, run_dir, journaled, initiator, run_plan, NULL);
    prev = find_user(counted, id.user);
    if (strcmp(kind, "approve") == 0 && prev != NULL) {
        /* exit 0: what was asked for is so, and a script that retries is not failed */
        r.at = rb_strdup(ctx->arena, jstr(prev, "at") != NULL ? jstr(prev, "at") : "?");
        show(ctx, o.run_id, &r, true, cJSON_IsNumber(needed) ? needed->valueint : 0, counted, pnr,
             process_waits);
        cJSON_Delete(counted);
        rc = 0;
        goto out;
    }
    cJSON_Delete(counted);
    if (rb_approval_write(ctx->arena, run_dir, &r, NULL, err) < 0) {
        rb_err_hint(err, "approvers need to write the run's approvals folder: a state_dir shared "
                         "with their group (docs/runbook.md), or sudo");
        goto out;
    }
    counted = counted_with_ours(ctx, run_dir, journaled, initiator, run_plan,
                                strcmp(kind, "approve") == 0 ? &r : NULL);
    show(ctx, o.run_id, &r, false, cJSON_IsNumber(needed) ? needed->valueint : 0, counted, pnr,
         process_waits);
    cJSON_Delete(counted);
    rc = 0;
out:
    cJSON_Delete(waiting);
    cJSON_Delete(summary);
    return rc;
}

int rb_cmd_approve(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    return approve_or_deny(ctx, "approve", argc, argv, err);
}

int rb_cmd_deny(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    return approve_or_deny(ctx, "deny", argc, argv, err);
}
