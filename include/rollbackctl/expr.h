/*
 * expr.h - the small expression language of `when:` and `rollback_if:`.
 *
 *   expr := or ; or := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | cmp
 *   cmp := primary (('=='|'!='|'<'|'<='|'>'|'>=') primary)? ; primary := NUMBER | STRING | NAME | '(' expr ')'
 *
 * Parsed at load time with positions (so the loader can report unknown names at their column),
 * evaluated later against a lookup callback. Numbers are compared as exact decimals (no double
 * rounding surprises at thresholds like 0.10); strings compare byte-wise.
 */
#ifndef ROLLBACKCTL_EXPR_H
#define ROLLBACKCTL_EXPR_H

#include <stdbool.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"

struct rb_expr;

enum rb_value_type { RB_VAL_NULL = 0, RB_VAL_NUMBER, RB_VAL_STRING, RB_VAL_BOOL };

struct rb_value {
    enum rb_value_type type;
    const char *str; /* NUMBER: decimal text ("0.10", "-3", "1e3" is not allowed); STRING: text */
    bool b;          /* BOOL */
};

/*
 * Parse src. On a syntax error returns NULL and fills err with a message; *err_col gets the 1-based
 * column within src where it went wrong.
 */
struct rb_expr *rb_expr_parse(struct rb_arena *a, const char *src, int *err_col,
                              struct rb_err *err);

/* Calls fn for every NAME in the expression, with its 1-based column in src. */
void rb_expr_names(const struct rb_expr *e, void (*fn)(void *ctx, const char *name, int col),
                   void *ctx);

/* Returns 0 and fills *val, or -1 with err (unknown name, etc.). Unknown name lookups return -1. */
typedef int (*rb_expr_lookup_fn)(void *ctx, const char *name, struct rb_value *val);
int rb_expr_eval(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx, struct rb_value *out,
                 struct rb_err *err);
/* Evaluates and coerces to a truth value (NULL and 0 and "" are false). */
int rb_expr_eval_bool(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx, bool *out,
                      struct rb_err *err);

/*
 * Three-valued (Kleene) evaluation, for the assessment: a NULL value (a signal that could not be
 * read) is unknown, and unknown propagates: a comparison with an unknown operand is unknown;
 * `not` unknown is unknown; `false and unknown` is false, `true and unknown` unknown; `true or
 * unknown` is true, `false or unknown` unknown. An evaluation error (an unknown name, comparing a
 * number with a string using '<') is unknown too. When the result is RB_TRI_UNKNOWN, why->msg says
 * why ("'calc_error_ratio' is unknown", "column 3: cannot compare ..."); why->cls is left alone.
 * A value that is not a boolean counts as rb_expr_eval_bool() counts it.
 */
enum rb_tri { RB_TRI_FALSE = 0, RB_TRI_TRUE = 1, RB_TRI_UNKNOWN = 2 };

enum rb_tri rb_expr_eval3(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx,
                          struct rb_err *why);
/* "true", "false", "unknown". */
const char *rb_tri_name(enum rb_tri t);

/*
 * Compare two decimal numbers given as text ("0.10", "-3", "1.5e-05": exponents are accepted
 * here because database drivers print them) exactly, digit by digit. *out gets -1, 0 or 1.
 * Returns -1 when either is not a number.
 */
int rb_decimal_cmp(const char *a, const char *b, int *out);

#endif
