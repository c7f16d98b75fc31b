/*
 * main.c - the command table, global options and the one place errors become exit codes (and,
 * with -o json, the one place the invocation's JSON document is printed: finish()).
 *
 * Exit codes (README, man page): 0 done/ready/valid, 1 a phase, check or verification failed,
 * 2 usage error, 3 declined, 4 another run holds the lock, 5 invalid runbook.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"
#include "rollbackctl/near.h"
#include "rollbackctl/output.h"
#include "rollbackctl/runbook.h"
#include "rollbackctl/version.h"

static const struct rb_cmd commands[] = {
    { "validate", rb_cmd_validate, "[--strict]",
      "check the runbook; FILE:LINE:COL: message per problem",
      "  --strict          unset _env variables and unreadable templates are errors, not "
      "warnings\n" },
    { "plan", rb_cmd_plan,
      "[--reason R] [--severity S] [--signals FILE] [--offline] [--out FILE]",
      "every action execute would take, with nothing changed anywhere",
      "  --reason R        the reason, as execute would record it\n"
      "  --severity S      critical|high|medium|low instead of the decision matrix\n"
      "  --signals FILE    JSON object of signal values that override or add to the runbook's\n"
      "  --offline         contact no target: no row counts, current values or permission "
      "checks\n"
      "  --out FILE        also write the plan file (0600) to review and give to execute --plan\n"
      "\nThe plan ends with its plan sha256: the hash of what the actions do (not of the counts\n"
      "and current values read), the one execute journals and approvers see. See "
      "docs/operations.md.\n" },
    { "prepare", rb_cmd_prepare, "[--junit FILE]",
      "readiness checks + rollback assets (nightly CI)",
      "  --junit FILE      also write the results as JUnit XML (a NOT_READY check is a failure)\n"
      "\nEvery check READY or NOT_READY with why; exit 0 only when all are READY, else 1.\n"
      "Assets (dump, cluster snapshot, runbook, break-glass.sh, MANIFEST.sha256) go to\n"
      "state_dir/prepare/<timestamp>/, metrics to state_dir/prepare.prom. See "
      "docs/operations.md.\n" },
    { "assess", rb_cmd_assess, "[--severity S] [--signals FILE]",
      "is a rollback warranted? signals and decision; exit 0 yes, 3 no or undetermined",
      "  --severity S      critical|high|medium|low instead of the decision matrix\n"
      "  --signals FILE    JSON object of signal values that override or add to the runbook's\n" },
    { "execute", rb_cmd_execute,
      "--reason R [--severity S] [--signals FILE] [--plan FILE] [--dry-run] [--yes] [--force]",
      "the whole rollback",
      "  --reason R        why (required; recorded in the journal and the report)\n"
      "  --severity S      critical|high|medium|low instead of the decision matrix\n"
      "  --signals FILE    JSON object of signal values that override or add to the runbook's\n"
      "  --plan FILE       the reviewed plan (plan --out): refuse, with nothing changed, when the\n"
      "                    runbook or an action differs from it (exit 1); its options are used\n"
      "  --dry-run         the same as plan: print every action, change nothing (with --plan:\n"
      "                    compare first)\n"
      "  --yes             confirm without the prompt, as the first approval (needed when stdin\n"
      "                    is not a terminal)\n"
      "  --force           go on even when the assessment says no rollback is warranted\n"
      "                    (the journal records who forced it, and why)\n\n"
      "The runbook's messages (communicate) go out at the end, also after a failed phase\n"
      "(outcome failed); a message not sent after 3 attempts makes the run partial (exit 1).\n" },
    { "approve", rb_cmd_approve, "RUN_ID [--comment C] [--plan-sha256 HASH]",
      "add your approval to a run waiting for approvals (you are SUDO_USER under sudo)",
      "  --comment C       recorded with the approval\n"
      "  --plan-sha256 HASH  the plan sha256 you reviewed: refuse a run that executes another\n"
      "\nThe approval is recorded with the run's plan sha256 (shown; status shows it too).\n" },
    { "deny", rb_cmd_deny, "RUN_ID --comment C",
      "refuse a run waiting for approvals: it ends declined (exit 3)",
      "  --comment C       why (required)\n" },
    { "resume", rb_cmd_resume, "[RUN_ID]",
      "continue an interrupted or failed run from its journal (default: the latest run)",
      "Done actions are not applied again: of the messages, only those not sent go out.\n" },
    { "status", rb_cmd_status, "[RUN_ID]",
      "where a run stands: phase, step, timings, waiting for what (default: the latest run)", "" },
    { "runs", rb_cmd_runs, "",
      "past runs of the state_dir, newest first: outcome, reason, initiator, start, duration",
      "With -q only the run ids, one per line; with -o json one document {state_dir, runs}\n"
      "(docs/json.md). A journal that cannot be read (corrupt, tampered) is listed as "
      "unreadable.\n" },
    { "verify", rb_cmd_verify, "",
      "run the verify checks now, on their own; exit 0 all pass, 1 any fails",
      "A compare check also lists the legacy rows deleted in new since cutover; they fail it\n"
      "only with fail_on_deleted: true (docs/runbook.md, verify).\n" },
    { "gaps", rb_cmd_gaps, "[--table NAME] [--csv] [--exit-code]",
      "rows changed in new since cutover that legacy lacks or holds differently, and rows legacy "
      "holds that new deleted, with the action each needs",
      "  --table NAME      only this sync table\n"
      "  --csv             comma-separated output\n"
      "  --exit-code       exit 1 when any row needs manual entry or review, 0 when none does\n"
      "                    (diff's convention; without it, 0 whenever the analysis ran)\n" },
    { "report", rb_cmd_report, "[RUN_ID] [--format md|json|html] [--bundle FILE.tar.gz]",
      "post-rollback report from the journal (default: the latest run): timeline, phases against "
      "their budget, metrics, verification, post-mortem skeleton",
      "  --format md|json|html  report format (default md; json with -o json)\n"
      "  --bundle FILE.tar.gz   write the evidence bundle instead: journal, reports, plan,\n"
      "                         verification, notification copies, MANIFEST.sha256\n" },
    { "completion", rb_cmd_completion, "bash|zsh|fish",
      "print a shell completion script (commands, options, their values, run ids)",
      "bash: source <(rollbackctl completion bash); zsh: put the output as _rollbackctl in a\n"
      "folder of $fpath; fish: rollbackctl completion fish > "
      "~/.config/fish/completions/rollbackctl.fish\n" },
};

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  -f, --runbook FILE   the runbook (default: $ROLLBACKCTL_RUNBOOK, then ./runbook.yaml);\n"
    "                       - reads it from standard input\n"
    "  -o, --output text|json  text (default) or one JSON document, also on failure\n"
    "                       (docs/json.md)\n"
    "  -q, --quiet          only results and errors\n"
    "  -v, --verbose        more detail on stderr\n"
    "      --no-color       no colour (also when NO_COLOR is set)\n"
    "      --lock-timeout DURATION\n"
    "                       execute and resume wait up to DURATION (30s, 5m) for another run's\n"
    "                       state_dir lock, instead of exit 4 at once\n"
    "  -h, --help           this help; 'rollbackctl COMMAND --help' for a command\n"
    "      --version        print the version and the commit it was built from\n"
    "\nEnvironment: ROLLBACKCTL_RUNBOOK (the runbook when -f is not given), ROLLBACKCTL_STATE_DIR\n"
    "(overrides the runbook's state_dir), NO_COLOR, and libpq's PG* variables (PGCONNECT_TIMEOUT:\n"
    "the connect deadline unless the conninfo sets connect_timeout).\n";

static void usage_all(FILE *f)
{
    size_t i;

    fprintf(
        f,
        "usage: rollbackctl [-f RUNBOOK] [-o text|json] [-q|-v] [--no-color] COMMAND [ARGS]\n\n"
        "Puts a legacy payroll system back after a failed migration, walking the runbook's phases\n"
        "assess -> approve -> [presync ->] freeze -> sync -> restore -> verify -> communicate.\n\n"
        "Commands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n%s\nExit codes: 0 done/ready/valid, 1 a phase, check or verification failed, 2 "
            "usage error,\n"
            "3 declined, 4 another run holds the lock, 5 invalid runbook.\n",
            global_help);
}

static void usage_cmd(FILE *f, const struct rb_cmd *c)
{
    fprintf(f, "usage: rollbackctl [global options] %s %s\n\n%s\n", c->name, c->usage, c->summary);
    if (c->help[0] == ' ')
        fprintf(f, "\nOptions:\n%s", c->help);
    else if (c->help[0] != '\0')
        fprintf(f, "\n%s", c->help);
    fprintf(f, "\n%s", global_help);
}

static const struct rb_cmd *find_cmd(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Value of an option given as "-f X", "--runbook X", "-fX" or "--runbook=X"; NULL if argv[*i] is not it. */
static const char *opt_value(int argc, char **argv, int *i, const char *shrt, const char *lng,
                             int *missing)
{
    const char *a = argv[*i];
    size_t ll = strlen(lng);

    if (strcmp(a, shrt) == 0 || strcmp(a, lng) == 0) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        return argv[++*i];
    }
    if (strncmp(a, lng, ll) == 0 && a[ll] == '=')
        return a + ll + 1;
    if (shrt[0] == '-' && shrt[1] != '-' && strncmp(a, shrt, 2) == 0 && a[2] != '\0')
        return a + 2;
    return NULL;
}

/*
 * The end of every invocation that got past --help and --version: with -o json the one document
 * on stdout (the command's, in the envelope, with the error when it failed: docs/json.md), then
 * the error for people on stderr, and the exit code of the error's class. A command that failed
 * without a message (validate's and gaps' documents say why) gets one in JSON, where the error
 * object must have it, and it goes to stderr too, so that both say the same.
 */
static int finish(struct rb_ctx *ctx, const struct rb_cmd *cmd, struct rb_err *err, bool failed)
{
    int code = failed ? rb_err_exit_code(err->cls) : 0;

    if (ctx->output == RB_OUTPUT_JSON) {
        if (failed && err->msg[0] == '\0')
            snprintf(err->msg, sizeof(err->msg), "%s failed",
                     cmd != NULL ? cmd->name : "rollbackctl");
        rb_out_json_emit(ctx, cmd != NULL ? cmd->name : NULL, failed ? err : NULL, code);
    }
    cJSON_Delete(ctx->json_doc); /* text mode: nothing kept is printed */
    ctx->json_doc = NULL;
    /* Results that cannot be written (full disk, closed pipe) are a failure too (git run_builtin). */
    if ((fflush(stdout) != 0 || ferror(stdout)) && !failed) {
        rb_errf(err, RB_E_FAILED, "unable to write output");
        failed = true;
        code = rb_err_exit_code(err->cls);
    }
    if (failed && err->msg[0] != '\0')
        rb_print_err(ctx, err);
    if (failed && err->cls == RB_E_USAGE && cmd != NULL)
        fprintf(stderr, "usage: rollbackctl %s %s\n", cmd->name, cmd->usage);
    rb_arena_free(ctx->arena);
    return code;
}

int main(int argc, char **argv)
{
    static const struct rb_cmd_table table = { commands, sizeof(commands) / sizeof(commands[0]),
                                               global_help };
    struct rb_ctx ctx;
    struct rb_err err = RB_ERR_INIT;
    const struct rb_cmd *cmd = NULL;
    char **rest;
    int nrest = 0, i, rc = 0, want_help = 0, no_color = 0;
    const char *env;

    rb_memory_init();
    /* Results are written as they happen, also into a pipe or a file (`| tee`, CI logs): a
     * line-buffered stdout keeps them in order with stderr's (unbuffered) warnings. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&ctx, 0, sizeof(ctx));
    ctx.out = stdout;
    ctx.diag = stderr;
    ctx.arena = rb_arena_new();
    ctx.commands = &table;
    env = getenv("ROLLBACKCTL_RUNBOOK");
    ctx.runbook_path = env != NULL && env[0] != '\0' ? env : "runbook.yaml";
    ctx.runbook_from = env != NULL && env[0] != '\0' ? "$ROLLBACKCTL_RUNBOOK" : NULL;
    rest = rb_new_array(ctx.arena, char *, (size_t)argc + 1);

    /* Global options may stand anywhere before "--"; everything else goes to the command. */
    for (i = 1; i < argc; i++) {
        const char *v;
        int missing = 0;

        if (strcmp(argv[i], "--") == 0) {
            for (; i < argc; i++)
                rest[nrest++] = argv[i];
            break;
        }
        if ((v = opt_value(argc, argv, &i, "-f", "--runbook", &missing)) != NULL) {
            /* `-f -`: standard input (kubectl's convention), named <stdin> in diagnostics */
            ctx.runbook_stdin = strcmp(v, "-") == 0;
            ctx.runbook_path = ctx.runbook_stdin ? RB_RUNBOOK_STDIN_NAME : v;
            ctx.runbook_from = "-f";
        } else if ((v = opt_value(argc, argv, &i, "-o", "--output", &missing)) != NULL) {
            if (strcmp(v, "json") == 0)
                ctx.output = RB_OUTPUT_JSON;
            else if (strcmp(v, "text") == 0)
                ctx.output = RB_OUTPUT_TEXT;
            else {
                rb_errf(&err, RB_E_USAGE, "unknown output format '%s' (text or json)", v);
                goto fail;
            }
        } else if ((v = opt_value(argc, argv, &i, "--lock-timeout", "--lock-timeout", &missing)) !=
                   NULL) {
            ctx.lock_timeout_ms = rb_duration_parse(v);
            if (ctx.lock_timeout_ms < 0) {
                rb_errf(&err, RB_E_USAGE, "invalid duration '%s' for --lock-timeout", v);
                rb_err_hint(&err, "a duration such as 30s, 5m or 1h");
                goto fail;
            }
        } else if (missing) {
            rb_errf(&err, RB_E_USAGE, "option '%s' needs a value", argv[i]);
            goto fail;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            ctx.verbosity = -1;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            ctx.verbosity = 1;
        } else if (strcmp(argv[i], "--no-color") == 0) {
            no_color = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            want_help = 1;
        } else if (strcmp(argv[i], "--version") == 0 && nrest == 0) {
            if (rb_build_commit() != NULL)
                printf("rollbackctl %s (commit %s)\n", rb_version(), rb_build_commit());
            else
                printf("rollbackctl %s\n", rb_version());
            rb_arena_free(ctx.arena);
            return 0;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    env = getenv("NO_COLOR");
    /* Colour codes go to both streams (errors and warnings on stderr): only when both are terminals,
     * so that a log file never gets escape codes. */
    ctx.color = !no_color && (env == NULL || env[0] == '\0') && isatty(STDOUT_FILENO) &&
                isatty(STDERR_FILENO);
    ctx.progress = ctx.verbosity >= 0 && isatty(STDERR_FILENO);

    if (nrest > 0 && strcmp(rest[0], "help") == 0) {
        want_help = 1;
        rest++;
        nrest--;
    }
    if (nrest == 0) {
        usage_all(want_help ? stdout : stderr);
        if (!want_help && ctx.output == RB_OUTPUT_JSON) {
            /* the text help above is for people; a script gets its one document */
            rb_errf(&err, RB_E_USAGE, "no command given");
            rb_err_hint(&err, "'rollbackctl --help' lists the commands");
            goto fail;
        }
        rb_arena_free(ctx.arena);
        return want_help ? 0 : 2;
    }
    cmd = find_cmd(rest[0]);
    if (cmd == NULL) {
        struct rb_near near;

        rb_near_init(&near, rest[0]);
        for (i = 0; i < (int)(sizeof(commands) / sizeof(commands[0])); i++)
            rb_near_try(&near, commands[i].name);
        if (near.best != NULL) {
            rb_errf(&err, RB_E_USAGE, "unknown command '%s'; did you mean '%s'?", rest[0],
                    near.best);
            rb_err_hint(&err, "'rollbackctl %s --help' says what it does", near.best);
        } else {
            rb_errf(&err, RB_E_USAGE, "unknown command '%s'", rest[0]);
            rb_err_hint(&err, "'rollbackctl --help' lists the commands");
        }
        goto fail;
    }
    if (want_help) {
        usage_cmd(stdout, cmd);
        rb_arena_free(ctx.arena);
        return 0;
    }
    rest[nrest] = NULL;
    rc = cmd->run(&ctx, nrest, rest, &err);
    if (rc < 0 && err.cls == RB_E_NONE)
        err.cls = RB_E_FAILED;
    return finish(&ctx, cmd, &err, rc < 0);
fail:
    return finish(&ctx, cmd, &err, true);
}
