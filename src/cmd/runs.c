/*
 * runs.c - `rollbackctl runs`: the runs of the runbook's state_dir, newest first, one line each
 * (or with -o json one document {state_dir, runs: [...]}, with -q only the ids, for scripts and
 * completion).
 *
 * Each journal is read through the journal reader and summarised as status summarises it, so an
 * outcome here is the one `status RUN_ID` shows. A journal the reader refuses (corrupt, its chain
 * or head tampered with) is listed as "unreadable" with the reader's reason, never left out: a run
 * missing from the list would be the easiest way to hide one.
 */
#include <stdio.h>
#include <string.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/lock.h"
#include "rollbackctl/output.h"
#include "rollbackctl/run_figures.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/runs.h"

static const char *jstr(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void add_str(cJSON *o, const char *key, const char *val)
{
    if (val != NULL)
        cJSON_AddStringToObject(o, key, val);
    else
        cJSON_AddNullToObject(o, key);
}

/* A row's keys, in this order, every one in every row (docs/json.md). */
static const char *const row_keys[] = { "run_id",       "runbook",      "outcome",      "pid",
                                        "reason",       "severity",     "initiated_by", "started",
                                        "finished",     "duration_ms",  "run_error",    "torn_tail",
                                        "journal_head", "journal_error" };

/* row with every key of row_keys, in their order, null where it has none. row is consumed. */
static cJSON *complete_row(cJSON *row)
{
    cJSON *out = cJSON_CreateObject();
    size_t k;

    for (k = 0; k < sizeof(row_keys) / sizeof(row_keys[0]); k++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(row, row_keys[k]);

        cJSON_AddItemToObject(out, row_keys[k], v != NULL ? v : cJSON_CreateNull());
    }
    cJSON_Delete(row);
    return out;
}

/*
 * One run as runs shows it: {run_id, runbook, outcome, pid (while running), reason, severity,
 * initiated_by, started, finished, duration_ms, run_error, torn_tail, journal_head,
 * journal_error}, the keys status uses for the same things, null where the journal does not say;
 * a journal the reader refuses has outcome "unreadable" and the reader's journal_error, and
 * nothing else of it is believed.
 */
static cJSON *run_row(struct rb_ctx *ctx, const char *state_dir, const char *id, int held,
                      const struct rb_lock_holder *holder)
{
    struct rb_err rerr = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_run_figures fig;
    cJSON *row = cJSON_CreateObject(), *s;
    const char *outcome;

    if (rb_journal_read(
            rb_sprintf(ctx->arena, "%s/journal.jsonl", rb_runs_dir_of(ctx->arena, state_dir, id)),
            &log, &rerr) < 0) {
        cJSON_AddStringToObject(row, "run_id", id);
        cJSON_AddStringToObject(row, "outcome", "unreadable");
        cJSON_AddFalseToObject(row, "torn_tail");
        cJSON_AddStringToObject(row, "journal_error", rerr.msg);
        return complete_row(row);
    }
    s = rb_runs_summarize(&log);
    rb_run_figures_read(&log, &fig);
    rb_journal_log_release(&log);
    rb_runs_settle_outcome(ctx->arena, s, id, held, holder);
    outcome = jstr(s, "outcome");
    add_str(row, "run_id", jstr(s, "run_id") != NULL ? jstr(s, "run_id") : id);
    add_str(row, "runbook", jstr(s, "runbook"));
    add_str(row, "outcome", outcome);
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "pid"))) /* running: who runs it */
        cJSON_AddNumberToObject(row, "pid",
                                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "pid")));
    add_str(row, "reason", jstr(s, "reason"));
    add_str(row, "severity", jstr(s, "severity"));
    add_str(row, "initiated_by", jstr(s, "initiated_by"));
    add_str(row, "started", jstr(s, "started"));
    add_str(row, "finished", jstr(s, "finished"));
    /* from run_started to run_finished, or to the journal's last line while it has none */
    if (fig.started_ms >= 0 && fig.execution_ms >= 0)
        cJSON_AddNumberToObject(row, "duration_ms", (double)fig.execution_ms);
    else
        cJSON_AddNullToObject(row, "duration_ms");
    add_str(row, "run_error", jstr(s, "error"));
    /* while a run runs, a last line without its newline is a write in progress, not a tear */
    cJSON_AddBoolToObject(row, "torn_tail",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "torn_tail")) &&
                              (outcome == NULL || strcmp(outcome, "running") != 0));
    add_str(row, "journal_head", jstr(s, "journal_head"));
    cJSON_Delete(s);
    return complete_row(row);
}

static void print_row(struct rb_ctx *ctx, const cJSON *r)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(r, "duration_ms");
    const char *outcome = jstr(r, "outcome"), *head = jstr(r, "journal_head");
    const char *colour = "";
    char dur[32] = "-";

    if (cJSON_IsNumber(ms))
        rb_duration_format((int64_t)ms->valuedouble, dur, sizeof(dur));
    if (outcome != NULL && strcmp(outcome, "succeeded") == 0)
        colour = rb_c_green(ctx);
    else if (outcome != NULL &&
             (strcmp(outcome, "failed") == 0 || strcmp(outcome, "unreadable") == 0 ||
              strcmp(outcome, "partial") == 0))
        colour = rb_c_red(ctx);
    else if (outcome != NULL && strcmp(outcome, "succeeded") != 0)
        colour = rb_c_yellow(ctx);
    fprintf(ctx->out, "%-26s %s%-12s%s %-24s %9s  %-16s %s\n", jstr(r, "run_id"), colour,
            outcome != NULL ? outcome : "-", rb_c_reset(ctx),
            jstr(r, "started") != NULL ? jstr(r, "started") : "-", dur,
            jstr(r, "initiated_by") != NULL ? jstr(r, "initiated_by") : "-",
            jstr(r, "reason") != NULL ? jstr(r, "reason") : "-");
    if (jstr(r, "journal_error") != NULL)
        fprintf(ctx->out, "  journal: %s\n", jstr(r, "journal_error"));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "torn_tail")))
        fprintf(ctx->out, "  journal: its last line was torn by a crash and is ignored\n");
    if (head != NULL && strcmp(head, "none") == 0 && jstr(r, "started") != NULL)
        fprintf(ctx->out, "  journal: no head kept beside it (written by an older version): a "
                          "change to its last lines could not be detected\n");
}

int rb_cmd_runs(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    const struct rb_runbook *rb;
    struct rb_lock_holder holder;
    const char **ids;
    size_t n, k;
    cJSON *all;
    int held;

    if (argc > 1)
        return rb_errf(err, RB_E_USAGE, "%s '%s'",
                       argv[1][0] == '-' ? "unknown option" : "unexpected argument", argv[1]);
    if ((rb = rb_cmd_load_runbook(ctx, 0, err)) == NULL)
        return -1;
    if (rb_runs_list(ctx->arena, rb->state_dir, &ids, &n, err) < 0)
        return -1;
    memset(&holder, 0, sizeof(holder));
    if ((held = rb_lock_peek(rb->state_dir, &holder, err)) < 0)
        return -1;
    if (ctx->output != RB_OUTPUT_JSON && ctx->verbosity < 0) {
        for (k = n; k > 0; k--)
            fprintf(ctx->out, "%s\n", ids[k - 1]);
        return 0;
    }
    if (ctx->output != RB_OUTPUT_JSON && n == 0) {
        fprintf(ctx->out, "no runs yet in '%s'\n", rb->state_dir);
        return 0;
    }
    all = cJSON_CreateArray();
    for (k = n; k > 0; k--) /* ids sort by time: newest last */
        cJSON_AddItemToArray(all, run_row(ctx, rb->state_dir, ids[k - 1], held, &holder));
    if (ctx->output == RB_OUTPUT_JSON) {
        cJSON *d = cJSON_CreateObject();

        cJSON_AddStringToObject(d, "state_dir", rb->state_dir);
        cJSON_AddItemReferenceToObject(d, "runs", all);
        rb_out_json(ctx, d);
        cJSON_Delete(d);
    } else {
        const cJSON *r;

        fprintf(ctx->out, "%s%-26s %-12s %-24s %9s  %-16s %s%s\n", rb_c_bold(ctx), "RUN ID",
                "OUTCOME", "STARTED", "DURATION", "INITIATED BY", "REASON", rb_c_reset(ctx));
        cJSON_ArrayForEach(r, all)
            print_row(ctx, r);
    }
    cJSON_Delete(all);
    return 0;
}
