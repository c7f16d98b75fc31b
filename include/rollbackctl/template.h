/*
 * template.h - the message templates of `communicate`: text with {{name}} variables.
 *
 * A template is parsed once, with the line and column of every variable, so `validate` can name
 * an unknown one at TEMPLATE:LINE:COL; rendering inserts each value as plain text and never looks
 * at it again (a value holding "{{x}}" stays "{{x}}"). Syntax:
 *
 *   {{name}}  or  {{ name }}   a variable (letters, digits, '_'; the list is rb_message_vars)
 *   \{{                        a literal "{{" (a backslash anywhere else is an ordinary character)
 */
#ifndef ROLLBACKCTL_TEMPLATE_H
#define ROLLBACKCTL_TEMPLATE_H

#include <stddef.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/runbook.h"

/*
 * The variables of a message (templates, subjects and `when:`), NULL-terminated: the one list
 * the loader, the templates and the communicate phase share (docs/runbook.md describes each).
 */
extern const char *const rb_message_vars[];

/* One piece of a template: literal text, or a variable (var != NULL). */
struct rb_template_part {
    const char *text; /* literal text (not NUL-terminated inside the source), or NULL */
    size_t len;
    const char *var; /* variable name, arena-owned */
    struct rb_pos pos;
};

struct rb_template {
    struct rb_template_part *parts;
    size_t n;
};

struct rb_template_problem {
    struct rb_pos pos; /* 1-based line and column in the template text */
    const char *msg;
};

/*
 * Parse src (len bytes, NUL bytes refused). known: the variables allowed, NULL-terminated (NULL =
 * rb_message_vars). Returns the template (arena-owned), or NULL when there are problems; every
 * problem found is in *problems (arena-owned array of *n_problems), in order.
 */
struct rb_template *rb_template_parse(struct rb_arena *a, const char *src, size_t len,
                                      const char *const *known,
                                      struct rb_template_problem **problems, size_t *n_problems);

/* Returns the value of a variable as text, or NULL when not known (rendered as "n/a"). */
typedef const char *(*rb_template_lookup_fn)(void *ctx, const char *name);

/* The text with every variable replaced by its value; NUL-terminated, arena-owned. */
char *rb_template_render(struct rb_arena *a, const struct rb_template *t,
                         rb_template_lookup_fn lookup, void *ctx);

#define RB_TEMPLATE_UNKNOWN "n/a" /* what a variable without a value renders as */

#endif
