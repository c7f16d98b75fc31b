/*
 * money.h - exact decimals for NUMERIC values: parse, add, subtract, abs, compare, format.
 *
 * A value is a 128-bit integer scaled by a power of ten (123.45 = {12345, 2}), so sums of payroll
 * amounts stay exact to the cent; there is no double anywhere. Operations align scales (the
 * result keeps the larger scale) and fail on overflow instead of wrapping. 38 significant digits
 * and scales up to RB_MONEY_MAX_SCALE are supported, far past what NUMERIC(20,2) sums need.
 */
#ifndef ROLLBACKCTL_MONEY_H
#define ROLLBACKCTL_MONEY_H

#include <stdbool.h>
#include <stddef.h>

#include "rollbackctl/err.h"

__extension__ typedef __int128 rb_i128;

#define RB_MONEY_MAX_SCALE 30
/* Longest formatted value: sign, 39 digits, point, leading "0." padding, NUL. */
#define RB_MONEY_STR_MAX 80

struct rb_money {
    rb_i128 units; /* value * 10^scale */
    int scale;     /* digits after the decimal point */
};

/*
 * Parse a decimal as PostgreSQL prints NUMERIC: optional sign, digits, optional '.' and digits
 * ("-12.50", "+3", ".5", "7."). Leading/trailing blanks are allowed; exponents, NaN and Infinity
 * are not. Returns 0, or -1 with err naming the text.
 */
int rb_money_parse(const char *s, struct rb_money *out, struct rb_err *err);
/* true when s parses (no error text built). */
bool rb_money_valid(const char *s);

/* r = a + b and r = a - b, at the larger scale of the two; -1 with err on overflow. */
int rb_money_add(const struct rb_money *a, const struct rb_money *b, struct rb_money *r,
                 struct rb_err *err);
int rb_money_sub(const struct rb_money *a, const struct rb_money *b, struct rb_money *r,
                 struct rb_err *err);
/* |a|; cannot overflow (units never hold the most negative 128-bit value). */
struct rb_money rb_money_abs(const struct rb_money *a);
/* <0, 0, >0 as a < b, a == b, a > b by value (1.0 == 1.00). */
int rb_money_cmp(const struct rb_money *a, const struct rb_money *b);

/* Write the value with its own scale ("-0.50", "12", "100.00") into out; returns out. */
const char *rb_money_format(const struct rb_money *m, char *out, size_t outlen);

#endif
