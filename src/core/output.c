/*
 * output.c - messages for people on stderr, results on stdout, colour only when allowed.
 *
 * Every line here clears the terminal's progress line first (progress.h), so that a message
 * never lands after a half-drawn "sync/x: 1200 rows (3s)". With -o json a command's result is
 * kept, not printed: main.c prints the one document of the invocation (rb_out_json_emit), so that
 * a failure after the result was made, or before any was, still gives exactly one (docs/json.md).
 */
#include "rollbackctl/output.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

void rb_out_json(struct rb_ctx *ctx, const cJSON *doc)
{
    cJSON_Delete(ctx->json_doc);
    ctx->json_doc = cJSON_Duplicate(doc, 1);
}

/* The envelope's own keys: a command's document never sets them (they would appear twice). */
static bool envelope_key(const char *key)
{
    return key != NULL && (strcmp(key, "format_version") == 0 || strcmp(key, "command") == 0 ||
                           strcmp(key, "error") == 0);
}

void rb_out_json_emit(struct rb_ctx *ctx, const char *command, const struct rb_err *err,
                      int exit_code)
{
    cJSON *env = cJSON_CreateObject(), *item;
    char *text;

    cJSON_AddNumberToObject(env, "format_version", RB_JSON_FORMAT_VERSION);
    if (command != NULL)
        cJSON_AddStringToObject(env, "command", command);
    else
        cJSON_AddNullToObject(env, "command");
    /* the members move over in their order, after the envelope's first keys */
    while (cJSON_IsObject(ctx->json_doc) && (item = ctx->json_doc->child) != NULL) {
        cJSON_DetachItemViaPointer(ctx->json_doc, item);
        if (envelope_key(item->string))
            cJSON_Delete(item);
        else
            cJSON_AddItemToObject(env, item->string, item);
    }
    cJSON_Delete(ctx->json_doc);
    ctx->json_doc = NULL;
    if (err != NULL) {
        cJSON *e = cJSON_AddObjectToObject(env, "error");

        cJSON_AddStringToObject(e, "message", err->msg);
        if (err->hint[0] != '\0')
            cJSON_AddStringToObject(e, "hint", err->hint);
        else
            cJSON_AddNullToObject(e, "hint");
        cJSON_AddNumberToObject(e, "exit_code", exit_code);
    }
    text = cJSON_Print(env);
    if (text != NULL) {
        fputs(text, ctx->out);
        fputc('\n', ctx->out);
        free(text);
    }
    cJSON_Delete(env);
}
