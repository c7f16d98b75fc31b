/*
 * cmd.h - the commands (src/cmd/<name>.c), one function each, dispatched by main.c's table.
 *
 * argv[0] is the command name; options after it are the command's own. A command returns 0 or -1
 * with err filled; main.c maps err->cls to the exit code. Results go to ctx->out (text or JSON),
 * diagnostics to ctx->diag.
 */
#ifndef ROLLBACKCTL_CMD_H
#define ROLLBACKCTL_CMD_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"

typedef int (*rb_cmd_fn)(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);

/*
 * A row of main.c's command table. Each command loads the runbook itself: after checking its
 * arguments (a usage error is reported before a runbook problem), and with or without the
 * environment checks it needs. usage and help are also what `completion` reads the options from
 * (src/cmd/completion.c): one list, which tests/integration/test_cli_completion.sh checks against
 * what each command accepts.
 */
struct rb_cmd {
    const char *name;
    rb_cmd_fn run;
    const char *usage; /* arguments after the command name */
    const char *summary;
    const char *help; /* the command's own options, one per line: "  --name VALUE   what" */
};

/* The table as main.c hands it to the commands that describe the others (completion). */
struct rb_cmd_table {
    const struct rb_cmd *rows;
    size_t n;
    const char *global_help; /* the global options, in the help's format */
};

int rb_cmd_validate(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_plan(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_prepare(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_assess(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_execute(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_approve(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_deny(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_resume(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_status(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_verify(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_gaps(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_report(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_runs(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);
int rb_cmd_completion(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err);

/*
 * Shared by commands: load the runbook named by ctx (printing diagnostics on ctx->diag), with
 * environment checks as errors when need_env. NULL with RB_E_RUNBOOK when invalid; NULL with
 * RB_E_FAILED (exit 1) naming the variable when need_env and a *_env variable is unset or empty.
 */
struct rb_runbook;
/* 0 when ctx->runbook_path can be opened; else RB_E_RUNBOOK saying where rollbackctl looked (-f,
 * $ROLLBACKCTL_RUNBOOK or the default ./runbook.yaml) and why it found nothing. */
int rb_cmd_runbook_readable(const struct rb_ctx *ctx, struct rb_err *err);
const struct rb_runbook *rb_cmd_load_runbook(struct rb_ctx *ctx, int need_env, struct rb_err *err);
/* The loader on the runbook ctx names: its file, or standard input for `-f -` (read once). */
struct rb_diags;
struct rb_runbook *rb_cmd_parse_runbook(struct rb_ctx *ctx, struct rb_diags *diags);

/*
 * Show how a run that execute or resume drove ended (rc, and err when rc < 0): its outcome line,
 * or with -o json its document {run_id, runbook, outcome, run_dir, phases, actions, facts}
 * (each action with its state; main.c adds the error). Returns rc.
 */
struct rb_run;
int rb_cmd_show_run(struct rb_ctx *ctx, const struct rb_run *run, int rc, const struct rb_err *err);

/*
 * One action as status and execute show it with -o json: {phase, name, summary, state, started,
 * finished, duration_ms, message, error, hint, result}, every key present (null where unknown),
 * from a journal summary's action (runs.h), or state "pending" when journaled is NULL; phase,
 * name and summary given override or complete it. Caller deletes.
 */
cJSON *rb_cmd_action_json(const cJSON *journaled, const char *phase, const char *name,
                          const char *summary);

#endif
