/*
 * fuzz_expr.c - libFuzzer target for the expression parser and evaluator. Names evaluate to a
 * number derived from their length, a string or NULL, so every comparison path is reachable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(void *ctx, const char *name, struct rb_value *v)
{
    static const char *const nums[] = {
        "0", "0.10", "-3", "1e-05", "150", "99999999999999999999.5"
    };
    size_t n = strlen(name);

    (void)ctx;
    if (name[0] == 'z')
        return -1;
    if (name[0] == 's') {
        v->type = RB_VAL_STRING;
        v->str = name;
    } else if (name[0] == 'n') {
        v->type = RB_VAL_NULL;
    } else {
        v->type = RB_VAL_NUMBER;
        v->str = nums[n % (sizeof(nums) / sizeof(nums[0]))];
    }
    return 0;
}

static void on_name(void *ctx, const char *name, int col)
{
    size_t len = *(size_t *)ctx;

    if (col < 1 || (size_t)col > len || name[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    char *src = rb_strndup(a, (const char *)data, size); /* stops at an embedded NUL */
    size_t len = strlen(src);
    struct rb_expr *e;
    bool b;
    int col = 0;

    e = rb_expr_parse(a, src, &col, &err);
    if (e == NULL) {
        if (col < 1 || (size_t)col > len + 1 || err.msg[0] == '\0')
            abort();
    } else {
        rb_expr_names(e, on_name, &len);
        rb_expr_eval_bool(e, lookup, NULL, &b, &err);
    }
    if (size >= 2) {
        int c;
        size_t half = size / 2;
        char *x = rb_strndup(a, (const char *)data, half),
             *y = rb_strndup(a, (const char *)data + half, size - half);

        rb_decimal_cmp(x, y, &c);
    }
    rb_arena_free(a);
    return 0;
}
