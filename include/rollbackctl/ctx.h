/*
 * ctx.h - the one context every command receives: global options and output streams.
 *
 * No module keeps global mutable state; what a command needs travels in struct rb_ctx.
 */
#ifndef ROLLBACKCTL_CTX_H
#define ROLLBACKCTL_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rollbackctl/arena.h"

struct rb_progress;
struct rb_cmd_table;
struct cJSON;

enum rb_output_format { RB_OUTPUT_TEXT = 0, RB_OUTPUT_JSON };

struct rb_ctx {
    const char *runbook_path;     /* -f, $ROLLBACKCTL_RUNBOOK, ./runbook.yaml */
    const char *runbook_from;     /* where runbook_path came from: "-f", "$ROLLBACKCTL_RUNBOOK",
                                     or NULL for the default */
    bool runbook_stdin;           /* `-f -`: the runbook is read from standard input, and
                                     runbook_path is "<stdin>" */
    enum rb_output_format output; /* -o */
    int verbosity;                /* -1 quiet, 0 normal, 1 verbose */
    bool color;                   /* off with --no-color, NO_COLOR, or a non-TTY stdout or stderr */
    bool progress;                /* stderr is a TTY and not quiet */
    FILE *out;                    /* results: stdout */
    FILE *diag;                   /* diagnostics and progress: stderr */
    struct rb_arena *arena;       /* lives as long as the command */
    struct rb_progress *spin;     /* the progress line (progress.c); NULL until a step shows one */
    int64_t lock_timeout_ms;      /* --lock-timeout: how long execute/resume wait for the
                                     state_dir lock (0: fail at once, exit 4) */
    const struct rb_cmd_table *commands; /* main.c's command table (for completion) */
    /*
     * -o json: the command's document so far (rb_out_json keeps a copy here); main.c prints it
     * once, in the envelope of docs/json.md, when the command returns, succeeded or failed.
     */
    struct cJSON *json_doc;
};

#endif
