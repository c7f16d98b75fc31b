/*
 * validate.c - `rollbackctl validate`: load the runbook, report every problem, change nothing.
 *
 * Text: diagnostics on stderr ("FILE:LINE:COL: error: message", sorted by position) and one
 * summary line on stdout when valid. JSON: one document {"valid", "file", "name", "errors",
 * "warnings"} on stdout (docs/json.md), the problems in it and not on stderr. Missing environment variables and template files are warnings here (the runbook may
 * be validated away from the host that has them); with --strict they are errors. A driver that
 * lacks an optional operation the runbook would use is warned about too (driver_needs.c), --strict
 * or not. Exit 0 valid, 5 invalid. Nothing is contacted: no target, no network (a cluster
 * target's kubeconfig is read from this machine to check its context: kubeconfig.c).
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "rollbackctl/cmd.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/output.h"
#include "rollbackctl/runbook.h"

static void count(struct rb_buf *b, size_t n, const char *one, const char *many)
{
    if (n == 0)
        return;
    rb_buf_addf(b, "%s%zu %s", b->len > 0 ? ", " : "", n, n == 1 ? one : many);
}

static const char *summary(struct rb_arena *a, const struct rb_runbook *rb)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *s;

    count(&b, rb->n_targets, "target", "targets");
    count(&b, rb->n_signals, "signal", "signals");
    count(&b, rb->decision.n_matrix, "matrix row", "matrix rows");
    count(&b, rb->n_freeze, "freeze step", "freeze steps");
    count(&b, rb->sync.n_tables, "sync table", "sync tables");
    count(&b, rb->n_restore, "restore step", "restore steps");
    count(&b, rb->n_checks, "check", "checks");
    count(&b, rb->n_messages, "message", "messages");
    s = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return s;
}

static cJSON *diag_json(const struct rb_diags *d, const struct rb_diag *x)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "file", x->file != NULL ? x->file : d->file);
    cJSON_AddNumberToObject(o, "line", x->pos.line);
    cJSON_AddNumberToObject(o, "col", x->pos.col);
    cJSON_AddStringToObject(o, "message", x->msg);
    return o;
}

int rb_cmd_validate(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    struct rb_diags diags;
    struct rb_runbook *rb;
    bool strict = false, valid;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--strict") == 0)
            strict = true;
        else
            return rb_errf(err, RB_E_USAGE, "unexpected argument '%s'", argv[i]);
    }
    /* -o json reports a missing file as its document's error, like any other problem */
    if (ctx->output != RB_OUTPUT_JSON && rb_cmd_runbook_readable(ctx, err) < 0)
        return -1;
    rb_diags_init(&diags, ctx->arena, ctx->runbook_path);
    rb = rb_cmd_parse_runbook(ctx, &diags);
    if (rb != NULL) {
        rb_runbook_check_env(rb, &diags, strict);
        rb_runbook_check_drivers(rb, &diags);
    }
    valid = rb != NULL && diags.n_errors == 0;

    if (ctx->output == RB_OUTPUT_JSON) {
        const struct rb_diag **v = rb_diags_sorted(&diags);
        cJSON *doc = cJSON_CreateObject(), *errs, *warns;
        size_t k;

        cJSON_AddBoolToObject(doc, "valid", valid);
        cJSON_AddStringToObject(doc, "file", ctx->runbook_path);
        if (valid)
            cJSON_AddStringToObject(doc, "name", rb->name);
        else
            cJSON_AddNullToObject(doc, "name");
        errs = cJSON_AddArrayToObject(doc, "errors");
        warns = cJSON_AddArrayToObject(doc, "warnings");
        for (k = 0; k < diags.n; k++)
            cJSON_AddItemToArray(v[k]->level == RB_DIAG_ERROR ? errs : warns,
                                 diag_json(&diags, v[k]));
        rb_out_json(ctx, doc);
        cJSON_Delete(doc);
        /* the problems are the document's errors; the error object counts them, as text does */
        if (!valid)
            return rb_errf(err, RB_E_RUNBOOK, "runbook '%s' is invalid: %zu error%s",
                           ctx->runbook_path, diags.n_errors, diags.n_errors == 1 ? "" : "s");
        return 0;
    }
    rb_diags_print(&diags, ctx->diag);
    if (!valid)
        return rb_errf(err, RB_E_RUNBOOK, "runbook '%s' is invalid: %zu error%s", ctx->runbook_path,
                       diags.n_errors, diags.n_errors == 1 ? "" : "s");
    fprintf(ctx->out, "runbook '%s' is valid (%s)%s\n", rb->name, summary(ctx->arena, rb),
            diags.n_warnings > 0 ? rb_sprintf(ctx->arena, "; %zu warning%s", diags.n_warnings,
                                              diags.n_warnings == 1 ? "" : "s")
                                 : "");
    return 0;
}
