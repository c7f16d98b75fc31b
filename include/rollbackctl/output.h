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

/* Print a JSON document (pretty) on ctx->out followed by a newline. Does not free it. */
void rb_out_json(const struct rb_ctx *ctx, const cJSON *doc);

#endif
