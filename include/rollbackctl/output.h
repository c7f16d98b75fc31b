/*
 * output.h - what people and machines see: messages on stderr, results on stdout.
 *
 * Text for people, one JSON document for machines (-o json). Colour only when allowed.
 */
#ifndef ROLLBACKCTL_OUTPUT_H
#define ROLLBACKCTL_OUTPUT_H

#include <cjson/cJSON.h>

#include "rollbackctl/ctx.h"
#include "rollbackctl/err.h"

/* Progress/info lines on stderr (suppressed by -q). */
void rb_info(const struct rb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Only with -v. */
void rb_verbose(const struct rb_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "warning: ..." on stderr, always. */
void rb_warn(const struct rb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "rollbackctl: error: msg" plus "HINT: hint" on stderr. */
void rb_print_err(const struct rb_ctx *ctx, const struct rb_err *err);

/* ANSI colour codes, or "" when colour is off. */
const char *rb_c_bold(const struct rb_ctx *ctx);
const char *rb_c_red(const struct rb_ctx *ctx);
const char *rb_c_green(const struct rb_ctx *ctx);
const char *rb_c_yellow(const struct rb_ctx *ctx);
const char *rb_c_reset(const struct rb_ctx *ctx);

/*
 * -o json: the command's result, an object. Kept (a copy: doc stays the caller's), not printed;
 * a later call replaces it. main.c prints it once with rb_out_json_emit(), whatever happens after.
 */
void rb_out_json(struct rb_ctx *ctx, const cJSON *doc);

/* The version of the -o json envelope and shapes (docs/json.md says when it changes). */
#define RB_JSON_FORMAT_VERSION 1

/*
 * Print the invocation's one JSON document on ctx->out and drop the kept one: {"format_version",
 * "command" (NULL: null), the kept document's members, "error": {message, hint, exit_code} when
 * err is not NULL}. Called by main.c alone, once, also when no document was kept.
 */
void rb_out_json_emit(struct rb_ctx *ctx, const char *command, const struct rb_err *err,
                      int exit_code);

#endif
