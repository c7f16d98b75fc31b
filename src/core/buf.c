/*
 * buf.c - growable, NUL-terminated byte buffer.
 */
#include "rollbackctl/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char rb_buf_empty[1];

void rb_buf_init(struct rb_buf *b)
{
    b->data = rb_buf_empty;
    b->len = 0;
    b->cap = 0;
}

void rb_buf_release(struct rb_buf *b)
{
    if (b->cap != 0)
        free(b->data);
    rb_buf_init(b);
}

char *rb_buf_detach(struct rb_buf *b)
{
    char *p = b->cap != 0 ? b->data : strdup("");

    if (p == NULL)
        abort();
    rb_buf_init(b);
    return p;
}

void rb_buf_reset(struct rb_buf *b)
{
    b->len = 0;
    if (b->cap != 0)
        b->data[0] = '\0';
}

void rb_buf_grow(struct rb_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;
    char *p;

    if (need <= b->cap)
        return;
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap *= 2;
    p = realloc(b->cap != 0 ? b->data : NULL, cap);
    if (p == NULL) {
        fputs("rollbackctl: out of memory\n", stderr);
        abort();
    }
    if (b->cap == 0)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
}

void rb_buf_add(struct rb_buf *b, const void *data, size_t len)
{
    rb_buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void rb_buf_adds(struct rb_buf *b, const char *s)
{
    rb_buf_add(b, s, strlen(s));
}

void rb_buf_addc(struct rb_buf *b, char c)
{
    rb_buf_add(b, &c, 1);
}

void rb_buf_vaddf(struct rb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0)
        return;
    rb_buf_grow(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void rb_buf_addf(struct rb_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rb_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void rb_buf_add_quoted_value(struct rb_buf *b, const char *v)
{
    if (v == NULL) {
        rb_buf_adds(b, "NULL");
        return;
    }
    rb_buf_addc(b, '\'');
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\'')
            rb_buf_addc(b, '\'');
        rb_buf_addc(b, *p);
    }
    rb_buf_addc(b, '\'');
}
