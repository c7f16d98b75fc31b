/*
 * diag.c - runbook diagnostics: collected while loading, printed sorted by position.
 *
 * The loader reports every problem it finds in one pass; the order it finds them in follows
 * the sections it walks, not the file, so printing sorts them by line and column (stable, so
 * two problems at one place keep the order they were found in).
 */
#include "rollbackctl/runbook.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void rb_diags_init(struct rb_diags *d, struct rb_arena *a, const char *file)
{
    memset(d, 0, sizeof(*d));
    d->arena = a;
    d->file = file != NULL ? file : "runbook";
}

static void diag_addv(struct rb_diags *d, enum rb_diag_level lvl, const char *file,
                      struct rb_pos pos, const char *fmt, va_list ap)
{
    rb_arena_push(d->arena, d->items, d->n, d->cap, 16);
    d->items[d->n].msg = rb_vsprintf(d->arena, fmt, ap);
    d->items[d->n].level = lvl;
    d->items[d->n].pos = pos;
    d->items[d->n].file = file;
    d->n++;
    if (lvl == RB_DIAG_ERROR)
        d->n_errors++;
    else
        d->n_warnings++;
}

void rb_diag_add(struct rb_diags *d, enum rb_diag_level lvl, struct rb_pos pos, const char *fmt,
                 ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(d, lvl, NULL, pos, fmt, ap);
    va_end(ap);
}

void rb_diag_add_file(struct rb_diags *d, enum rb_diag_level lvl, const char *file,
                      struct rb_pos pos, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(d, lvl, file, pos, fmt, ap);
    va_end(ap);
}

/* Insertion sort: diagnostics number a handful, and it is stable. */
static void diags_sorted(const struct rb_diags *d, const struct rb_diag **out)
{
    size_t i, j;

    for (i = 0; i < d->n; i++) {
        const struct rb_diag *x = &d->items[i];

        for (j = i; j > 0; j--) {
            const struct rb_diag *p = out[j - 1];

            /* the runbook's own problems first, then those of other files (templates) */
            if ((p->file == NULL) != (x->file == NULL)) {
                if (p->file == NULL)
                    break;
            } else if (p->pos.line < x->pos.line ||
                       (p->pos.line == x->pos.line && p->pos.col <= x->pos.col)) {
                break;
            }
            out[j] = p;
        }
        out[j] = x;
    }
}

const struct rb_diag **rb_diags_sorted(const struct rb_diags *d)
{
    const struct rb_diag **v = rb_new_array(d->arena, const struct rb_diag *, d->n + 1);

    diags_sorted(d, v);
    return v;
}

void rb_diags_print(const struct rb_diags *d, FILE *out)
{
    const struct rb_diag **v;
    size_t i;

    if (d->n == 0)
        return;
    v = rb_diags_sorted(d);
    for (i = 0; i < d->n; i++) {
        const char *lvl = v[i]->level == RB_DIAG_ERROR ? "error" : "warning";
        const char *file = v[i]->file != NULL ? v[i]->file : d->file;

        if (v[i]->pos.line > 0)
            fprintf(out, "%s:%d:%d: %s: %s\n", file, v[i]->pos.line, v[i]->pos.col, lvl,
                    v[i]->msg);
        else
            fprintf(out, "%s: %s: %s\n", file, lvl, v[i]->msg);
    }
}
