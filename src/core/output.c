/*
 * output.c - messages for people on stderr, results on stdout, colour only when allowed.
 *
 * Every line here clears the terminal's progress line first (progress.h), so that a message
 * never lands after a half-drawn "sync/x: 1200 rows (3s)".
 */
#include "rollbackctl/output.h"

#include <stdarg.h>
#include <stdlib.h>

#include "rollbackctl/progress.h"

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    if (prefix != NULL)
        fputs(prefix, f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
}

void rb_info(const struct rb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->verbosity < 0)
        return;
    rb_progress_hold(ctx);
    va_start(ap, fmt);
    vline(ctx->diag, NULL, fmt, ap);
    va_end(ap);
    rb_progress_release(ctx);
}

void rb_verbose(const struct rb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->verbosity < 1)
        return;
    rb_progress_hold(ctx);
    va_start(ap, fmt);
    vline(ctx->diag, NULL, fmt, ap);
    va_end(ap);
    rb_progress_release(ctx);
}

void rb_warn(const struct rb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    rb_progress_hold(ctx);
    fprintf(ctx->diag, "%swarning:%s ", rb_c_yellow(ctx), rb_c_reset(ctx));
    va_start(ap, fmt);
    vline(ctx->diag, NULL, fmt, ap);
    va_end(ap);
    rb_progress_release(ctx);
}

void rb_print_err(const struct rb_ctx *ctx, const struct rb_err *err)
{
    rb_progress_hold(ctx);
    fprintf(ctx->diag, "rollbackctl: %serror:%s %s\n", rb_c_red(ctx), rb_c_reset(ctx),
            err->msg[0] != '\0' ? err->msg : "unknown error");
    if (err->hint[0] != '\0')
        fprintf(ctx->diag, "HINT: %s\n", err->hint);
    rb_progress_release(ctx);
}

const char *rb_c_bold(const struct rb_ctx *ctx)
{
    return ctx->color ? "\033[1m" : "";
}

const char *rb_c_red(const struct rb_ctx *ctx)
{
    return ctx->color ? "\033[31m" : "";
}

const char *rb_c_green(const struct rb_ctx *ctx)
{
    return ctx->color ? "\033[32m" : "";
}

const char *rb_c_yellow(const struct rb_ctx *ctx)
{
    return ctx->color ? "\033[33m" : "";
}

const char *rb_c_reset(const struct rb_ctx *ctx)
{
    return ctx->color ? "\033[0m" : "";
}

void rb_out_json(const struct rb_ctx *ctx, const cJSON *doc)
{
    char *text = cJSON_Print(doc);

    if (text != NULL) {
        fputs(text, ctx->out);
        fputc('\n', ctx->out);
        free(text);
    }
}
