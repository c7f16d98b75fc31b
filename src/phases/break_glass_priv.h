/*
 * break_glass_priv.h - the pure helpers of break_glass.c, for its unit test; not an interface.
 */
#ifndef ROLLBACKCTL_BREAK_GLASS_PRIV_H
#define ROLLBACKCTL_BREAK_GLASS_PRIV_H

#include "rollbackctl/arena.h"

/*
 * s as one bash word that means exactly s: as it is when made only of characters no shell
 * treats specially (letters, digits, _ . / : = , @ % + -), else in single quotes with each '
 * written '\'' (nothing is special inside single quotes). "" becomes ''. Arena-owned.
 */
const char *rb_bg_shell_quote(struct rb_arena *a, const char *s);

/* s fit for the rest of a bash comment line: newlines and other control characters as spaces. */
const char *rb_bg_comment_text(struct rb_arena *a, const char *s);

/* A bash function-name part from a target name: [A-Za-z0-9_], anything else '_'. */
const char *rb_bg_ident(struct rb_arena *a, const char *name);

#endif
