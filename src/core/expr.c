/*
 * expr.c - the expression language of `when:` and `rollback_if:` (grammar in expr.h).
 *
 * A hand-written lexer and recursive-descent parser that records the column of every token, so
 * the loader can point at the exact character of a mistake inside a YAML scalar. Numbers stay
 * decimal text end to end: comparisons work digit by digit (rb_decimal_cmp), so `0.10 > 0.1` is
 * false and a threshold never moves by a binary rounding error.
 */
#include "rollbackctl/expr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum xop {
    X_NUM = 1,
    X_STR,
    X_NAME,
    X_BOOL,
    X_NOT,
    X_AND,
    X_OR,
    X_EQ,
    X_NE,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
};

struct rb_expr {
    enum xop op;
    const char *text; /* NUM: decimal text, STR: unescaped text, NAME: the name */
    bool b;           /* BOOL */
    int col;          /* 1-based column of the token in the source */
    struct rb_expr *l, *r;
};

/* Nesting limit: keeps the recursive parser and evaluator off the end of the stack. */
#define X_MAX_DEPTH 64

enum tok {
    T_END,
    T_NUM,
    T_STR,
    T_NAME,
    T_LP,
    T_RP,
    T_AND,
    T_OR,
    T_NOT,
    T_TRUE,
    T_FALSE,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_MINUS,
    T_BAD,
};

struct parser {
    struct rb_arena *a;
    const char *src;
    size_t pos; /* next unread byte */
    enum tok tok;
    size_t start, len; /* current token */
    const char *text;  /* NUM/STR/NAME value */
    int depth;
    int err_col;
    struct rb_err *err;
    bool failed;
};

static int fail(struct parser *p, size_t at, const char *fmt, const char *arg)
{
    if (!p->failed) {
        p->failed = true;
        p->err_col = (int)at + 1;
        rb_errf(p->err, RB_E_RUNBOOK, fmt, arg);
    }
    return -1;
}

static int lex(struct parser *p)
{
    const char *s = p->src;
    size_t i = p->pos;

    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    p->start = i;
    p->text = NULL;
    if (s[i] == '\0') {
        p->tok = T_END;
        p->len = 0;
        p->pos = i;
        return 0;
    }
    if (isdigit((unsigned char)s[i]) || (s[i] == '.' && isdigit((unsigned char)s[i + 1]))) {
        size_t j = i;

        while (isdigit((unsigned char)s[j]))
            j++;
        if (s[j] == '.') {
            j++;
            if (!isdigit((unsigned char)s[j]))
                return fail(p, j, "expected a digit after the decimal point%s", "");
            while (isdigit((unsigned char)s[j]))
                j++;
        }
        if (isalpha((unsigned char)s[j]) || s[j] == '_')
            return fail(p, j, "unexpected '%.1s' in a number", s + j);
        p->tok = T_NUM;
        p->text = rb_strndup(p->a, s + i, j - i);
        p->len = j - i;
        p->pos = j;
        return 0;
    }
    if (isalpha((unsigned char)s[i]) || s[i] == '_') {
        size_t j = i;

        while (isalnum((unsigned char)s[j]) || s[j] == '_')
            j++;
        p->len = j - i;
        p->pos = j;
        p->text = rb_strndup(p->a, s + i, j - i);
        if (strcmp(p->text, "and") == 0)
            p->tok = T_AND;
        else if (strcmp(p->text, "or") == 0)
            p->tok = T_OR;
        else if (strcmp(p->text, "not") == 0)
            p->tok = T_NOT;
        else if (strcmp(p->text, "true") == 0)
            p->tok = T_TRUE;
        else if (strcmp(p->text, "false") == 0)
            p->tok = T_FALSE;
        else
            p->tok = T_NAME;
        return 0;
    }
    if (s[i] == '"' || s[i] == '\'') {
        char q = s[i];
        size_t j = i + 1, n = 0;
        char *out;

        while (s[j] != q) {
            if (s[j] == '\0')
                return fail(p, i, "unterminated string%s", "");
            if (s[j] == '\\' && s[j + 1] != '\0')
                j++;
            j++;
        }
        out = rb_alloc(p->a, j - i);
        for (size_t k = i + 1; k < j; k++) {
            if (s[k] == '\\')
                k++;
            out[n++] = s[k];
        }
        out[n] = '\0';
        p->tok = T_STR;
        p->text = out;
        p->len = j + 1 - i;
        p->pos = j + 1;
        return 0;
    }
    p->len = 1;
    switch (s[i]) {
    case '(':
        p->tok = T_LP;
        break;
    case ')':
        p->tok = T_RP;
        break;
    case '-':
        p->tok = T_MINUS;
        break;
    case '=':
        if (s[i + 1] != '=')
            return fail(p, i, "unknown operator '='; use '=='%s", "");
        p->tok = T_EQ;
        p->len = 2;
        break;
    case '!':
        if (s[i + 1] != '=')
            return fail(p, i, "unknown operator '!'; use 'not'%s", "");
        p->tok = T_NE;
        p->len = 2;
        break;
    case '<':
        p->tok = s[i + 1] == '=' ? T_LE : T_LT;
        p->len = s[i + 1] == '=' ? 2 : 1;
        break;
    case '>':
        p->tok = s[i + 1] == '=' ? T_GE : T_GT;
        p->len = s[i + 1] == '=' ? 2 : 1;
        break;
    case '&':
        return fail(p, i, "unknown operator '%s'; use 'and'", s[i + 1] == '&' ? "&&" : "&");
    case '|':
        return fail(p, i, "unknown operator '%s'; use 'or'", s[i + 1] == '|' ? "||" : "|");
    default:
        if ((unsigned char)s[i] >= 0x80)
            return fail(p, i, "unexpected character%s", "");
        return fail(p, i, "unexpected character '%.1s'", s + i);
    }
    p->pos = i + p->len;
    return 0;
}

static struct rb_expr *node(struct parser *p, enum xop op, size_t at)
{
    struct rb_expr *e = rb_new(p->a, struct rb_expr);

    e->op = op;
    e->col = (int)at + 1;
    return e;
}

/* What the current token looks like in a message. */
static const char *tok_text(struct parser *p)
{
    if (p->tok == T_END)
        return "end of expression";
    return rb_sprintf(p->a, "'%.*s'", (int)(p->len > 40 ? 40 : p->len), p->src + p->start);
}

static struct rb_expr *parse_or(struct parser *p);

static struct rb_expr *parse_primary(struct parser *p)
{
    struct rb_expr *e;
    size_t at = p->start;

    switch (p->tok) {
    case T_NUM:
    case T_STR:
    case T_NAME:
        e = node(p, p->tok == T_NUM ? X_NUM : p->tok == T_STR ? X_STR : X_NAME, at);
        e->text = p->text;
        return lex(p) < 0 ? NULL : e;
    case T_TRUE:
    case T_FALSE:
        e = node(p, X_BOOL, at);
        e->b = p->tok == T_TRUE;
        return lex(p) < 0 ? NULL : e;
    case T_MINUS:
        if (lex(p) < 0)
            return NULL;
        if (p->tok != T_NUM || p->start != at + 1) {
            fail(p, at, "expected a number after '-'%s", "");
            return NULL;
        }
        e = node(p, X_NUM, at);
        e->text = rb_sprintf(p->a, "-%s", p->text);
        return lex(p) < 0 ? NULL : e;
    case T_LP:
        if (++p->depth > X_MAX_DEPTH) {
            fail(p, at, "expression nested too deeply%s", "");
            return NULL;
        }
        if (lex(p) < 0 || (e = parse_or(p)) == NULL)
            return NULL;
        if (p->tok != T_RP) {
            if (p->tok == T_END)
                fail(p, at, "unclosed '('%s", "");
            else
                fail(p, p->start, "expected ')', found %s", tok_text(p));
            return NULL;
        }
        p->depth--;
        return lex(p) < 0 ? NULL : e;
    default:
        fail(p, p->start, "expected a value, found %s", tok_text(p));
        return NULL;
    }
}

static bool is_cmp(enum tok t)
{
    return t >= T_EQ && t <= T_GE;
}

static struct rb_expr *parse_cmp(struct parser *p)
{
    static const enum xop ops[] = { X_EQ, X_NE, X_LT, X_LE, X_GT, X_GE };
    struct rb_expr *l = parse_primary(p), *e;
    size_t at;

    if (l == NULL || !is_cmp(p->tok))
        return l;
    at = p->start;
    e = node(p, ops[p->tok - T_EQ], at);
    e->l = l;
    if (lex(p) < 0 || (e->r = parse_primary(p)) == NULL)
        return NULL;
    if (is_cmp(p->tok)) {
        fail(p, p->start, "comparisons cannot be chained; join them with 'and'%s", "");
        return NULL;
    }
    return e;
}

static struct rb_expr *parse_not(struct parser *p)
{
    struct rb_expr *e;

    if (p->tok != T_NOT)
        return parse_cmp(p);
    if (++p->depth > X_MAX_DEPTH) {
        fail(p, p->start, "expression nested too deeply%s", "");
        return NULL;
    }
    e = node(p, X_NOT, p->start);
    if (lex(p) < 0 || (e->l = parse_not(p)) == NULL)
        return NULL;
    p->depth--;
    return e;
}

static struct rb_expr *parse_and(struct parser *p)
{
    struct rb_expr *l = parse_not(p);

    while (l != NULL && p->tok == T_AND) {
        struct rb_expr *e = node(p, X_AND, p->start);

        e->l = l;
        if (lex(p) < 0 || (e->r = parse_not(p)) == NULL)
            return NULL;
        l = e;
    }
    return l;
}

static struct rb_expr *parse_or(struct parser *p)
{
    struct rb_expr *l = parse_and(p);

    while (l != NULL && p->tok == T_OR) {
        struct rb_expr *e = node(p, X_OR, p->start);

        e->l = l;
        if (lex(p) < 0 || (e->r = parse_and(p)) == NULL)
            return NULL;
        l = e;
    }
    return l;
}

struct rb_expr *rb_expr_parse(struct rb_arena *a, const char *src, int *err_col, struct rb_err *err)
{
    struct parser p;
    struct rb_expr *e;

    memset(&p, 0, sizeof(p));
    p.a = a;
    p.src = src != NULL ? src : "";
    p.err = err;
    if (err_col != NULL)
        *err_col = 0;
    if (lex(&p) < 0)
        goto failed;
    if (p.tok == T_END) {
        fail(&p, p.start, "empty expression%s", "");
        goto failed;
    }
    e = parse_or(&p);
    if (e == NULL)
        goto failed;
    if (p.tok != T_END) {
        if (p.tok == T_RP)
            fail(&p, p.start, "unmatched ')'%s", "");
        else
            fail(&p, p.start, "expected an operator or end of expression, found %s", tok_text(&p));
        goto failed;
    }
    return e;
failed:
    if (err_col != NULL)
        *err_col = p.err_col;
    return NULL;
}

static void names(const struct rb_expr *e, void (*fn)(void *, const char *, int), void *ctx)
{
    if (e == NULL)
        return;
    if (e->op == X_NAME)
        fn(ctx, e->text, e->col);
    names(e->l, fn, ctx);
    names(e->r, fn, ctx);
}

void rb_expr_names(const struct rb_expr *e, void (*fn)(void *ctx, const char *name, int col),
                   void *ctx)
{
    names(e, fn, ctx);
}

/*
 * A decimal number as sign, significant digits (no leading zeros) and the position of the
 * decimal point relative to the first significant digit. "0.10" and "1e-1" both become
 * (+, "1", 0); comparing two of them needs no arithmetic at all.
 */
struct dec {
    int sign;  /* -1, 0 (zero), 1 */
    char *dig; /* heap; trailing zeros dropped */
    long exp;  /* value = 0.dig * 10^exp */
};

static int dec_parse(const char *s, struct dec *d)
{
    size_t n = strlen(s), k = 0;
    long point = -1, ndig = 0, lead = 0, e = 0;
    bool seen_nonzero = false, any = false;
    int esign = 1;

    d->dig = malloc(n + 1);
    if (d->dig == NULL)
        return -1;
    d->sign = 1;
    if (*s == '-' || *s == '+')
        d->sign = *s++ == '-' ? -1 : 1;
    for (; *s != '\0'; s++) {
        if (*s == '.') {
            if (point >= 0)
                goto bad;
            point = ndig;
            continue;
        }
        if (!isdigit((unsigned char)*s))
            break;
        any = true;
        ndig++;
        if (!seen_nonzero && *s == '0') {
            lead++;
            continue;
        }
        seen_nonzero = true;
        d->dig[k++] = *s;
    }
    if (!any)
        goto bad;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            esign = *s++ == '-' ? -1 : 1;
        if (!isdigit((unsigned char)*s))
            goto bad;
        while (isdigit((unsigned char)*s)) {
            if (e < 100000000)
                e = e * 10 + (*s - '0');
            s++;
        }
    }
    if (*s != '\0')
        goto bad;
    while (k > 0 && d->dig[k - 1] == '0')
        k--;
    d->dig[k] = '\0';
    if (point < 0)
        point = ndig;
    if (k == 0) {
        d->sign = 0;
        d->exp = 0;
    } else {
        d->exp = point - lead + esign * e;
    }
    return 0;
bad:
    free(d->dig);
    d->dig = NULL;
    return -1;
}

int rb_decimal_cmp(const char *a, const char *b, int *out)
{
    struct dec x, y;
    int c;

    if (dec_parse(a, &x) < 0)
        return -1;
    if (dec_parse(b, &y) < 0) {
        free(x.dig);
        return -1;
    }
    if (x.sign != y.sign) {
        c = x.sign < y.sign ? -1 : 1;
    } else if (x.sign == 0) {
        c = 0;
    } else {
        if (x.exp != y.exp)
            c = x.exp < y.exp ? -1 : 1;
        else {
            c = strcmp(x.dig, y.dig);
            c = c < 0 ? -1 : c > 0;
        }
        c *= x.sign;
    }
    free(x.dig);
    free(y.dig);
    *out = c;
    return 0;
}

static bool truthy(const struct rb_value *v)
{
    int c;

    switch (v->type) {
    case RB_VAL_BOOL:
        return v->b;
    case RB_VAL_STRING:
        return v->str != NULL && v->str[0] != '\0';
    case RB_VAL_NUMBER:
        return rb_decimal_cmp(v->str, "0", &c) == 0 && c != 0;
    case RB_VAL_NULL:
        break;
    }
    return false;
}

static const char *type_name(enum rb_value_type t)
{
    switch (t) {
    case RB_VAL_NUMBER:
        return "number";
    case RB_VAL_STRING:
        return "string";
    case RB_VAL_BOOL:
        return "boolean";
    case RB_VAL_NULL:
        break;
    }
    return "null";
}

static const char *op_text(enum xop op)
{
    static const char *const t[] = { "==", "!=", "<", "<=", ">", ">=" };

    return op >= X_EQ && op <= X_GE ? t[op - X_EQ] : "?";
}

static int compare(const struct rb_expr *e, const struct rb_value *l, const struct rb_value *r,
                   bool *res, struct rb_err *err)
{
    int c = 0;
    bool ordered = e->op >= X_LT;

    /* SQL-like: a missing value (NULL signal) makes an ordered comparison false, not an error */
    if (l->type == RB_VAL_NULL || r->type == RB_VAL_NULL) {
        bool both = l->type == r->type;

        *res = e->op == X_EQ ? both : e->op == X_NE ? !both : false;
        return 0;
    }
    if (l->type != r->type) {
        if (ordered)
            return rb_errf(err, RB_E_FAILED, "column %d: cannot compare a %s with a %s using '%s'",
                           e->col, type_name(l->type), type_name(r->type), op_text(e->op));
        *res = e->op == X_NE;
        return 0;
    }
    switch (l->type) {
    case RB_VAL_NUMBER:
        if (rb_decimal_cmp(l->str, r->str, &c) < 0)
            return rb_errf(err, RB_E_FAILED, "column %d: not a number: '%s' or '%s'", e->col,
                           l->str, r->str);
        break;
    case RB_VAL_STRING:
        c = strcmp(l->str, r->str);
        break;
    case RB_VAL_BOOL:
        if (ordered)
            return rb_errf(err, RB_E_FAILED, "column %d: booleans cannot be compared with '%s'",
                           e->col, op_text(e->op));
        c = l->b == r->b ? 0 : 1;
        break;
    case RB_VAL_NULL:
        break;
    }
    switch (e->op) {
    case X_EQ:
        *res = c == 0;
        break;
    case X_NE:
        *res = c != 0;
        break;
    case X_LT:
        *res = c < 0;
        break;
    case X_LE:
        *res = c <= 0;
        break;
    case X_GT:
        *res = c > 0;
        break;
    default:
        *res = c >= 0;
        break;
    }
    return 0;
}

int rb_expr_eval(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx, struct rb_value *out,
                 struct rb_err *err)
{
    struct rb_value l, r;
    bool b;

    memset(out, 0, sizeof(*out));
    if (e == NULL)
        return rb_errf(err, RB_E_FAILED, "no expression");
    switch (e->op) {
    case X_NUM:
        out->type = RB_VAL_NUMBER;
        out->str = e->text;
        return 0;
    case X_STR:
        out->type = RB_VAL_STRING;
        out->str = e->text;
        return 0;
    case X_BOOL:
        out->type = RB_VAL_BOOL;
        out->b = e->b;
        return 0;
    case X_NAME:
        if (lookup == NULL || lookup(ctx, e->text, out) < 0)
            return rb_errf(err, RB_E_FAILED, "unknown name '%s'", e->text);
        if ((out->type == RB_VAL_NUMBER || out->type == RB_VAL_STRING) && out->str == NULL)
            out->type = RB_VAL_NULL;
        if (out->type == RB_VAL_NUMBER && rb_decimal_cmp(out->str, "0", &(int){ 0 }) < 0)
            return rb_errf(err, RB_E_FAILED, "value of '%s' is not a number: '%s'", e->text,
                           out->str);
        return 0;
    case X_NOT:
        if (rb_expr_eval(e->l, lookup, ctx, &l, err) < 0)
            return -1;
        out->type = RB_VAL_BOOL;
        out->b = !truthy(&l);
        return 0;
    case X_AND:
    case X_OR:
        if (rb_expr_eval(e->l, lookup, ctx, &l, err) < 0)
            return -1;
        out->type = RB_VAL_BOOL;
        b = truthy(&l);
        if (b == (e->op == X_OR)) { /* short circuit */
            out->b = b;
            return 0;
        }
        if (rb_expr_eval(e->r, lookup, ctx, &r, err) < 0)
            return -1;
        out->b = truthy(&r);
        return 0;
    default:
        if (rb_expr_eval(e->l, lookup, ctx, &l, err) < 0 ||
            rb_expr_eval(e->r, lookup, ctx, &r, err) < 0)
            return -1;
        out->type = RB_VAL_BOOL;
        return compare(e, &l, &r, &out->b, err);
    }
}

int rb_expr_eval_bool(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx, bool *out,
                      struct rb_err *err)
{
    struct rb_value v;

    if (rb_expr_eval(e, lookup, ctx, &v, err) < 0)
        return -1;
    *out = truthy(&v);
    return 0;
}

/* ---- three-valued evaluation ---------------------------------------------------------------- */

/* A value, or unknown (with the reason in why). */
struct v3 {
    bool unknown;
    struct rb_value v;
};

static struct v3 eval3(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx,
                       struct rb_err *why, int depth);

static struct v3 unknown3(struct rb_err *why, bool have_reason, const char *fmt, const char *arg)
{
    struct v3 r = { .unknown = true };

    /* the first reason found is the one shown: the innermost cause */
    if (!have_reason)
        snprintf(why->msg, sizeof(why->msg), fmt, arg);
    return r;
}

static enum rb_tri tri_of(const struct v3 *x)
{
    if (x->unknown || x->v.type == RB_VAL_NULL)
        return RB_TRI_UNKNOWN;
    return truthy(&x->v) ? RB_TRI_TRUE : RB_TRI_FALSE;
}

static struct v3 bool3(enum rb_tri t)
{
    struct v3 r = { .unknown = t == RB_TRI_UNKNOWN };

    r.v.type = RB_VAL_BOOL;
    r.v.b = t == RB_TRI_TRUE;
    return r;
}

static struct v3 eval3(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx,
                       struct rb_err *why, int depth)
{
    struct v3 l, r, out = { 0 };
    struct rb_err cerr = RB_ERR_INIT;
    enum rb_tri lt, rt;

    if (e == NULL || depth > X_MAX_DEPTH)
        return unknown3(why, why->msg[0] != '\0', "%s", "no expression");
    switch (e->op) {
    case X_NUM:
    case X_STR:
    case X_BOOL:
        /* literals cannot fail: the two-valued evaluator's answer */
        (void)rb_expr_eval(e, NULL, NULL, &out.v, &cerr);
        return out;
    case X_NAME:
        if (lookup == NULL || lookup(ctx, e->text, &out.v) < 0)
            return unknown3(why, why->msg[0] != '\0', "unknown name '%s'", e->text);
        if ((out.v.type == RB_VAL_NUMBER || out.v.type == RB_VAL_STRING) && out.v.str == NULL)
            out.v.type = RB_VAL_NULL;
        if (out.v.type == RB_VAL_NULL)
            return unknown3(why, why->msg[0] != '\0', "'%s' is unknown", e->text);
        if (out.v.type == RB_VAL_NUMBER && rb_decimal_cmp(out.v.str, "0", &(int){ 0 }) < 0) {
            if (why->msg[0] == '\0')
                snprintf(why->msg, sizeof(why->msg), "value of '%s' is not a number: '%s'",
                         e->text, out.v.str);
            return unknown3(why, true, "%s", "");
        }
        return out;
    case X_NOT:
        l = eval3(e->l, lookup, ctx, why, depth + 1);
        lt = tri_of(&l);
        return bool3(lt == RB_TRI_UNKNOWN ? RB_TRI_UNKNOWN
                     : lt == RB_TRI_TRUE  ? RB_TRI_FALSE
                                          : RB_TRI_TRUE);
    case X_AND:
    case X_OR: {
        /* Both sides are evaluated (nothing has side effects): the reason of an unknown is kept
         * only when it decides the result. */
        struct rb_err lwhy = RB_ERR_INIT, rwhy = RB_ERR_INIT;
        bool is_or = e->op == X_OR;
        enum rb_tri res;

        l = eval3(e->l, lookup, ctx, &lwhy, depth + 1);
        r = eval3(e->r, lookup, ctx, &rwhy, depth + 1);
        lt = tri_of(&l);
        rt = tri_of(&r);
        if (l.unknown == false && l.v.type == RB_VAL_NULL && lwhy.msg[0] == '\0')
            snprintf(lwhy.msg, sizeof(lwhy.msg), "a value is unknown");
        if (r.unknown == false && r.v.type == RB_VAL_NULL && rwhy.msg[0] == '\0')
            snprintf(rwhy.msg, sizeof(rwhy.msg), "a value is unknown");
        if (is_or)
            res = lt == RB_TRI_TRUE || rt == RB_TRI_TRUE       ? RB_TRI_TRUE
                  : lt == RB_TRI_FALSE && rt == RB_TRI_FALSE ? RB_TRI_FALSE
                                                             : RB_TRI_UNKNOWN;
        else
            res = lt == RB_TRI_FALSE || rt == RB_TRI_FALSE   ? RB_TRI_FALSE
                  : lt == RB_TRI_TRUE && rt == RB_TRI_TRUE ? RB_TRI_TRUE
                                                           : RB_TRI_UNKNOWN;
        if (res == RB_TRI_UNKNOWN && why->msg[0] == '\0')
            snprintf(why->msg, sizeof(why->msg), "%s",
                     lt == RB_TRI_UNKNOWN ? lwhy.msg : rwhy.msg);
        return bool3(res);
    }
    default:
        l = eval3(e->l, lookup, ctx, why, depth + 1);
        r = eval3(e->r, lookup, ctx, why, depth + 1);
        if (l.unknown || r.unknown)
            return unknown3(why, true, "%s", "");
        out.v.type = RB_VAL_BOOL;
        if (compare(e, &l.v, &r.v, &out.v.b, &cerr) < 0)
            return unknown3(why, why->msg[0] != '\0', "%s", cerr.msg);
        return out;
    }
}

enum rb_tri rb_expr_eval3(const struct rb_expr *e, rb_expr_lookup_fn lookup, void *ctx,
                          struct rb_err *why)
{
    struct v3 r;
    enum rb_tri t;

    why->msg[0] = '\0';
    r = eval3(e, lookup, ctx, why, 0);
    t = tri_of(&r);
    if (t != RB_TRI_UNKNOWN)
        why->msg[0] = '\0';
    else if (why->msg[0] == '\0')
        snprintf(why->msg, sizeof(why->msg), "a value is unknown");
    return t;
}

const char *rb_tri_name(enum rb_tri t)
{
    return t == RB_TRI_TRUE ? "true" : t == RB_TRI_FALSE ? "false" : "unknown";
}
