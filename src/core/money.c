/*
 * money.c - exact decimals as scaled 128-bit integers (see money.h).
 *
 * Every value keeps |units| < 10^38, so negation and one addition can never overflow the 128-bit
 * type; the bound is checked after each step and reported as an error, never wrapped.
 */
#include "rollbackctl/money.h"

#include <ctype.h>
#include <string.h>

#define MONEY_MAX_DIGITS 38

/* 10^38: the exclusive bound on |units|. */
static rb_i128 money_limit(void)
{
    rb_i128 v = 1;

    for (int i = 0; i < MONEY_MAX_DIGITS; i++)
        v *= 10;
    return v;
}

static bool in_range(rb_i128 v)
{
    rb_i128 lim = money_limit();

    return v < lim && v > -lim;
}

/* Raise m to scale (>= m->scale); false when the value would not fit. */
static bool rescale(struct rb_money *m, int scale)
{
    rb_i128 lim = money_limit();

    while (m->scale < scale) {
        if (m->units >= lim / 10 || m->units <= -lim / 10)
            return false;
        m->units *= 10;
        m->scale++;
    }
    return true;
}

static int parse(const char *s, struct rb_money *out)
{
    const char *p = s;
    bool neg = false, any = false, point = false;
    int digits = 0;
    struct rb_money m = { 0, 0 };

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    for (; *p != '\0'; p++) {
        if (*p == '.') {
            if (point)
                return -1;
            point = true;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            break;
        any = true;
        if (point) {
            if (m.scale >= RB_MONEY_MAX_SCALE)
                return -1;
            m.scale++;
        }
        /* leading zeros do not count towards the digit limit */
        if (m.units != 0 || *p != '0')
            digits++;
        if (digits > MONEY_MAX_DIGITS)
            return -1;
        m.units = m.units * 10 + (*p - '0');
    }
    while (isspace((unsigned char)*p))
        p++;
    if (!any || *p != '\0')
        return -1;
    if (neg)
        m.units = -m.units;
    *out = m;
    return 0;
}

int rb_money_parse(const char *s, struct rb_money *out, struct rb_err *err)
{
    if (s == NULL)
        return rb_errf(err, RB_E_FAILED, "expected a decimal number, got null");
    if (parse(s, out) < 0)
        return rb_errf(err, RB_E_FAILED, "'%.64s' is not an exact decimal number", s);
    return 0;
}

bool rb_money_valid(const char *s)
{
    struct rb_money m;

    return s != NULL && parse(s, &m) == 0;
}

static int align(const struct rb_money *a, const struct rb_money *b, struct rb_money *x,
                 struct rb_money *y, struct rb_err *err)
{
    int scale = a->scale > b->scale ? a->scale : b->scale;

    *x = *a;
    *y = *b;
    if (!rescale(x, scale) || !rescale(y, scale))
        return rb_errf(err, RB_E_FAILED, "decimal overflow aligning scales");
    return 0;
}

int rb_money_add(const struct rb_money *a, const struct rb_money *b, struct rb_money *r,
                 struct rb_err *err)
{
    struct rb_money x, y;

    if (align(a, b, &x, &y, err) < 0)
        return -1;
    x.units += y.units; /* both < 10^38 in magnitude: no 128-bit overflow */
    if (!in_range(x.units))
        return rb_errf(err, RB_E_FAILED, "decimal overflow in addition");
    *r = x;
    return 0;
}

int rb_money_sub(const struct rb_money *a, const struct rb_money *b, struct rb_money *r,
                 struct rb_err *err)
{
    struct rb_money nb = *b;

    nb.units = -nb.units;
    return rb_money_add(a, &nb, r, err);
}

struct rb_money rb_money_abs(const struct rb_money *a)
{
    struct rb_money r = *a;

    if (r.units < 0)
        r.units = -r.units;
    return r;
}

int rb_money_cmp(const struct rb_money *a, const struct rb_money *b)
{
    struct rb_money x = *a, y = *b;

    /* When raising the smaller scale would pass 10^38, that value's magnitude exceeds the other's
     * (which is below 10^38 at the larger scale), so its sign alone decides. */
    if (x.scale != y.scale) {
        struct rb_money *lo = x.scale < y.scale ? &x : &y;
        int sign_lo = lo->units < 0 ? -1 : 1;

        if (!rescale(lo, x.scale > y.scale ? x.scale : y.scale))
            return lo == &x ? sign_lo : -sign_lo;
    }
    if (x.units == y.units)
        return 0;
    return x.units < y.units ? -1 : 1;
}

const char *rb_money_format(const struct rb_money *m, char *out, size_t outlen)
{
    char tmp[RB_MONEY_STR_MAX];
    char digits[64];
    size_t nd = 0, o = 0;
    rb_i128 v = m->units < 0 ? -m->units : m->units;

    do {
        digits[nd++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    while (nd <= (size_t)m->scale) /* at least one digit before the point */
        digits[nd++] = '0';
    if (m->units < 0)
        tmp[o++] = '-';
    for (size_t i = nd; i-- > 0;) {
        tmp[o++] = digits[i];
        if (i == (size_t)m->scale && m->scale > 0)
            tmp[o++] = '.';
    }
    tmp[o] = '\0';
    if (outlen > 0) {
        strncpy(out, tmp, outlen - 1);
        out[outlen - 1] = '\0';
    }
    return out;
}
