/*
 * status.c - `rollbackctl status [RUN_ID]`: where a run stands, read from its journal.
 *
 * A run whose journal has no run_finished line is either still running (its pid holds the
 * state_dir lock) or was stopped by a crash ("stopped"), which resume continues. With -o json
 * one document of the same keys whether or not there is a run (status_json, docs/json.md).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/lock.h"
#include "rollbackctl/output.h"
#include "rollbackctl/progress.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/runs.h"

/* How many runs a RUN_ID that names none lists to choose from. */
#define STATUS_LATEST_SHOWN 5

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "-";
}

/*
 * The run's time budget (the fact `budget` the assessment set): {budget_ms, deadline, left_ms}
 * in the summary, left_ms counted to now while the run is unfinished, to its end once finished
 * (negative: past the deadline). Nothing when the run has no budget.
 */
static void add_budget(cJSON *s)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s, "facts"), "budget");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "budget_ms");
    const char *dl = jstr(b, "deadline"), *fin = jstr(s, "finished");
    time_t deadline, until = time(NULL);
    cJSON *o;

    if (!cJSON_IsNumber(ms) || dl == NULL || rb_time_parse_rfc3339(dl, &deadline) < 0)
        return;
    if (fin != NULL)
        (void)rb_time_parse_rfc3339(fin, &until);
    o = cJSON_AddObjectToObject(s, "budget");
    cJSON_AddNumberToObject(o, "budget_ms", ms->valuedouble);
    cJSON_AddStringToObject(o, "deadline", dl);
    cJSON_AddNumberToObject(o, "left_ms", (double)(deadline - until) * 1000.0);
}

static void print_budget(struct rb_ctx *ctx, const cJSON *s)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "budget");
    double left;
    char d1[32], d2[32];

    if (b == NULL)
        return;
    left = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "left_ms"));
    fprintf(ctx->out, "  budget:       %s, deadline %s, %s%s%s%s\n",
            rb_duration_format(
                (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "budget_ms")),
                d1, sizeof(d1)),
            or_dash(jstr(b, "deadline")), left < 0 ? rb_c_red(ctx) : "",
            left >= 0 ? rb_duration_format((int64_t)left, d2, sizeof(d2))
                      : rb_duration_format((int64_t)-left, d2, sizeof(d2)),
            left >= 0 ? " left" : " past the deadline", left < 0 ? rb_c_reset(ctx) : "");
}

/*
 * The approvals part of a summary: `waiting` {needed, approvals [{user, host, at, comment, kind}],
 * deadline, deadline_ms, still_needed, command} while the run waits for approvals (null otherwise), from the
 * journal's latest progress of the approve action (waiting is consumed).
 */
static void add_waiting(struct rb_ctx *ctx, cJSON *s, cJSON *waiting)
{
    const cJSON *needed, *approvals;
    int more;

    if (waiting == NULL) {
        cJSON_AddNullToObject(s, "waiting");
        return;
    }
    needed = cJSON_GetObjectItemCaseSensitive(waiting, "needed");
    approvals = cJSON_GetObjectItemCaseSensitive(waiting, "approvals");
    more = (cJSON_IsNumber(needed) ? needed->valueint : 0) - cJSON_GetArraySize(approvals);
    cJSON_AddNumberToObject(waiting, "still_needed", more > 0 ? more : 0);
    cJSON_AddStringToObject(
        waiting, "command",
        rb_sprintf(ctx->arena, "rollbackctl approve %s", or_dash(jstr(s, "run_id"))));
    cJSON_AddItemToObject(s, "waiting", waiting);
}

/* Who approved and how many more are needed, the time left; who denied and why. */
static void print_approvals(struct rb_ctx *ctx, const cJSON *s)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(s, "waiting");
    const cJSON *facts = cJSON_GetObjectItemCaseSensitive(s, "facts");
    const cJSON *a, *it;

    if (cJSON_IsObject(w)) {
        const char *deadline = jstr(w, "deadline");
        const cJSON *more = cJSON_GetObjectItemCaseSensitive(w, "still_needed");
        const cJSON *dms = cJSON_GetObjectItemCaseSensitive(w, "deadline_ms");
        char left[32] = "?";

        if (cJSON_IsNumber(dms)) {
            int64_t left_ms = (int64_t)dms->valuedouble - rb_wall_ms();

            rb_human_duration(left_ms > 0 ? left_ms / 1000 : 0, left, sizeof(left));
        }
        fprintf(ctx->out, "  waiting for:  %d more approval%s, %s left (until %s): %s\n",
                more->valueint, more->valueint == 1 ? "" : "s", left, or_dash(deadline),
                or_dash(jstr(w, "command")));
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(w, "approvals")) {
            const char *c = jstr(it, "comment");

            fprintf(ctx->out, "  approved by:  %s@%s at %s%s%s%s\n", or_dash(jstr(it, "user")),
                    or_dash(jstr(it, "host")), or_dash(jstr(it, "at")),
                    jstr(it, "kind") != NULL && strcmp(jstr(it, "kind"), "initiator") == 0
                        ? " (initiator)"
                        : "",
                    c != NULL && c[0] != '\0' ? ": " : "", c != NULL ? c : "");
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(facts, "point_of_no_return"))
        if (cJSON_IsString(it))
            fprintf(ctx->out, "  %spoint of no return%s: %s\n", rb_c_red(ctx), rb_c_reset(ctx),
                    it->valuestring);
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "actions")) {
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(a, "result"), "denied_by");

        if (jstr(a, "name") == NULL || strcmp(jstr(a, "name"), RB_APPROVE_ACTION) != 0 ||
            !cJSON_IsObject(by))
            continue;
        fprintf(ctx->out, "  denied by:    %s@%s at %s: %s\n", or_dash(jstr(by, "user")),
                or_dash(jstr(by, "host")), or_dash(jstr(by, "at")), or_dash(jstr(by, "comment")));
    }
}

static void print_text(struct rb_ctx *ctx, const cJSON *s)
{
    const cJSON *a;
    const char *outcome = jstr(s, "outcome");

    fprintf(ctx->out, "%srun %s%s  %s\n", rb_c_bold(ctx), or_dash(jstr(s, "run_id")),
            rb_c_reset(ctx), or_dash(outcome));
    fprintf(ctx->out, "  runbook:      %s\n", or_dash(jstr(s, "runbook")));
    /* the plan the approvers approve: compare with the plan file's plan_sha256 */
    if (jstr(s, "plan_sha256") != NULL)
        fprintf(ctx->out, "  plan sha256:  %s%s%s\n", jstr(s, "plan_sha256"),
                jstr(s, "plan_file") != NULL ? ", as reviewed in " : "",
                jstr(s, "plan_file") != NULL ? jstr(s, "plan_file") : "");
    fprintf(ctx->out, "  reason:       %s\n", or_dash(jstr(s, "reason")));
    fprintf(ctx->out, "  initiated by: %s\n", or_dash(jstr(s, "initiated_by")));
    fprintf(ctx->out, "  started:      %s\n", or_dash(jstr(s, "started")));
    fprintf(ctx->out, "  finished:     %s\n", or_dash(jstr(s, "finished")));
    if (jstr(s, "waiting_for") != NULL)
        fprintf(ctx->out, "  waiting for:  %s\n", jstr(s, "waiting_for"));
    print_approvals(ctx, s);
    if (jstr(s, "error") != NULL)
        fprintf(ctx->out, "  error:        %s\n", jstr(s, "error"));
    if (jstr(s, "hint") != NULL)
        fprintf(ctx->out, "  hint:         %s\n", jstr(s, "hint"));
    print_budget(ctx, s);
    {
        /* "freeze done, restore partial": a phase with a failed non-critical action is partial */
        const cJSON *ph;
        bool any = false;

        cJSON_ArrayForEach(ph, cJSON_GetObjectItemCaseSensitive(s, "phases")) {
            fprintf(ctx->out, "%s%s %s", any ? ", " : "  phases:       ", or_dash(jstr(ph, "name")),
                    or_dash(jstr(ph, "state")));
            any = true;
        }
        if (any)
            fputc('\n', ctx->out);
    }
    /* While the run is running, a last line without its newline is a write in progress. */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "torn_tail")) &&
        (outcome == NULL || strcmp(outcome, "running") != 0))
        fprintf(ctx->out, "  journal:      its last line was torn by a crash and is ignored\n");
    /* a journal of a version before heads, not resumed since (resume starts keeping one) */
    if (jstr(s, "journal_head") != NULL && strcmp(jstr(s, "journal_head"), "none") == 0 &&
        jstr(s, "started") != NULL)
        fprintf(ctx->out, "  journal:      no head kept beside it (written by an older version): a "
                          "change to its last lines could not be detected\n");
    fprintf(ctx->out, "\n  %-12s %-40s %-10s %10s\n", "PHASE", "ACTION", "STATE", "SECONDS");
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "actions")) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(a, "duration_ms");
        const char *msg = jstr(a, "error") != NULL ? jstr(a, "error") : jstr(a, "message");
        char secs[32] = "";

        if (cJSON_IsNumber(ms))
            snprintf(secs, sizeof(secs), "%.2f", ms->valuedouble / 1000.0);
        fprintf(ctx->out, "  %-12s %-40s %-10s %10s%s%s\n", or_dash(jstr(a, "phase")),
                or_dash(jstr(a, "name")), or_dash(jstr(a, "state")), secs, msg != NULL ? "  " : "",
                msg != NULL ? msg : "");
    }
}

/*
 * The -o json document of status, one shape with or without a run (docs/json.md): every key, in
 * this order, null (phases and actions [], facts {}, torn_tail false) where the journal does not
 * say or there is no run. The run's own error is `run_error`: the envelope's `error` is the
 * command's failure, which a run that failed is not.
 */
static const struct {
    const char *key, *from; /* from: the summary's key (runs.h) */
} status_keys[] = {
    { "run_id", "run_id" },
    { "runbook", "runbook" },
    { "runbook_path", "runbook_path" },
    { "plan_sha256", "plan_sha256" },
    { "plan_file", "plan_file" },
    { "outcome", "outcome" },
    { "pid", "pid" },
    { "reason", "reason" },
    { "severity", "severity" },
    { "initiated_by", "initiated_by" },
    { "started", "started" },
    { "finished", "finished" },
    { "waiting", "waiting" },
    { "run_error", "error" },
    { "hint", "hint" },
    { "budget", "budget" },
    { "torn_tail", "torn_tail" },
    { "journal_head", "journal_head" },
    { "phases", "phases" },
    { "actions", "actions" },
    { "facts", "facts" },
};

static bool status_key(const char *from)
{
    size_t k;

    for (k = 0; k < sizeof(status_keys) / sizeof(status_keys[0]); k++)
        if (strcmp(status_keys[k].from, from) == 0)
            return true;
    return false;
}

static cJSON *status_json(const char *state_dir, const cJSON *s)
{
    cJSON *d = cJSON_CreateObject();
    const cJSON *a;
    size_t k;

    cJSON_AddStringToObject(d, "state_dir", state_dir);
    for (k = 0; k < sizeof(status_keys) / sizeof(status_keys[0]); k++) {
        const char *key = status_keys[k].key;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, status_keys[k].from);

        if (strcmp(key, "actions") == 0) {
            cJSON *arr = cJSON_AddArrayToObject(d, key);

            cJSON_ArrayForEach(a, v)
                cJSON_AddItemToArray(arr, rb_cmd_action_json(a, NULL, NULL, NULL));
        } else if (v != NULL) {
            cJSON_AddItemToObject(d, key, cJSON_Duplicate(v, 1));
        } else if (strcmp(key, "phases") == 0) {
            cJSON_AddArrayToObject(d, key);
        } else if (strcmp(key, "facts") == 0) {
            cJSON_AddObjectToObject(d, key);
        } else if (strcmp(key, "torn_tail") == 0) {
            cJSON_AddFalseToObject(d, key);
        } else {
            cJSON_AddNullToObject(d, key);
        }
    }
    /* what a later summary adds is kept (docs/json.md lists it first), after the known keys */
    cJSON_ArrayForEach(a, s)
        if (!status_key(a->string))
            cJSON_AddItemToObject(d, a->string, cJSON_Duplicate(a, 1));
    return d;
}

static void show_json(struct rb_ctx *ctx, const char *state_dir, const cJSON *s)
{
    cJSON *d = status_json(state_dir, s);

    rb_out_json(ctx, d);
    cJSON_Delete(d);
}

/* A RUN_ID that names no run: say so, with the latest few runs to pick from (newest first). */
static int no_such_run(struct rb_ctx *ctx, const char *state_dir, const char *run_id,
                       struct rb_err *err)
{
    struct rb_err lerr = RB_ERR_INIT;
    const char **ids;
    const char *list = "";
    size_t n, k;

    rb_errf(err, RB_E_FAILED, "no run '%s' in '%s'", run_id, state_dir);
    if (rb_runs_list(ctx->arena, state_dir, &ids, &n, &lerr) < 0 || n == 0)
        return rb_err_hint(err, "there are no runs there yet");
    for (k = 0; k < n && k < STATUS_LATEST_SHOWN; k++) {
        const char *id = ids[n - 1 - k];
        const char *outcome = "journal unreadable";
        struct rb_journal_log log;

        if (rb_journal_read(rb_sprintf(ctx->arena, "%s/journal.jsonl",
                                       rb_runs_dir_of(ctx->arena, state_dir, id)),
                            &log, &lerr) == 0) {
            cJSON *s = rb_runs_summarize(&log);

            outcome = rb_strdup(ctx->arena, or_dash(jstr(s, "outcome")));
            cJSON_Delete(s);
            rb_journal_log_release(&log);
        }
        list = rb_sprintf(ctx->arena, "%s%s%s (%s)", list, k > 0 ? ", " : "", id, outcome);
    }
    return rb_err_hint(err, "the latest run%s, newest first: %s%s", n == 1 ? "" : "s", list,
                       n > STATUS_LATEST_SHOWN ? ", ..." : "");
}

int rb_cmd_status(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    const char **ids;
    const char *run_id;
    struct rb_journal_log log;
    struct rb_lock_holder holder;
    size_t n;
    cJSON *s;
    int held;

    if (argc > 2)
        return rb_errf(err, RB_E_USAGE, "status takes at most one RUN_ID");
    if (argc == 2 && argv[1][0] == '-')
        return rb_errf(err, RB_E_USAGE, "unknown option '%s'", argv[1]);
    rb = rb_cmd_load_runbook(ctx, 0, err);
    if (rb == NULL)
        return -1;
    if (argc == 2) {
        run_id = argv[1];
    } else {
        if (rb_runs_list(ctx->arena, rb->state_dir, &ids, &n, err) < 0)
            return -1;
        if (n == 0) {
            if (ctx->output == RB_OUTPUT_JSON)
                show_json(ctx, rb->state_dir, NULL);
            else
                fprintf(ctx->out, "no runs yet in '%s'\n", rb->state_dir);
            return 0;
        }
        run_id = ids[n - 1];
    }
    if (strchr(run_id, '/') != NULL || strcmp(run_id, ".") == 0 || strcmp(run_id, "..") == 0 ||
        access(rb_runs_dir_of(ctx->arena, rb->state_dir, run_id), F_OK) != 0)
        return no_such_run(ctx, rb->state_dir, run_id, err);
    if (rb_journal_read(rb_sprintf(ctx->arena, "%s/journal.jsonl",
                                   rb_runs_dir_of(ctx->arena, rb->state_dir, run_id)),
                        &log, err) < 0)
        return rb_err_wrap(err, "unable to read run '%s'", run_id);
    s = rb_runs_summarize(&log);
    add_waiting(ctx, s, rb_approvals_waiting(&log));
    rb_journal_log_release(&log);
    memset(&holder, 0, sizeof(holder));
    held = rb_lock_peek(rb->state_dir, &holder, err);
    if (held < 0) {
        cJSON_Delete(s);
        return -1;
    }
    rb_runs_settle_outcome(ctx->arena, s, run_id, held, &holder);
    add_budget(s);
    if (ctx->output == RB_OUTPUT_JSON)
        show_json(ctx, rb->state_dir, s);
    else
        print_text(ctx, s);
    cJSON_Delete(s);
    return 0;
}
