/*
 * buf.h - a growable byte buffer (git's strbuf, reduced).
 *
 * Heap-owned, not arena-owned, because buffers grow in loops (COPY, JSON, messages) and should not
 * leave a trail of dead copies in the run arena. Always NUL-terminated.
 */
#ifndef ROLLBACKCTL_BUF_H
#define ROLLBACKCTL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct rb_buf {
    char *data; /* never NULL after init: points at "" until something is added */
    size_t len;
    size_t cap;
};

extern char rb_buf_empty[];
#define RB_BUF_INIT                                                                                \
    {                                                                                              \
        rb_buf_empty, 0, 0                                                                         \
    }

void rb_buf_init(struct rb_buf *b);
void rb_buf_release(struct rb_buf *b);
/* Hand the data to the caller (free() it); the buffer is re-initialised. */
char *rb_buf_detach(struct rb_buf *b);
/* A value as reports and messages show it: 'x' with each ' doubled (so 'x ' and '' are visible
   as such), or NULL for NULL. */
void rb_buf_add_quoted_value(struct rb_buf *b, const char *v);
void rb_buf_reset(struct rb_buf *b);
void rb_buf_grow(struct rb_buf *b, size_t extra);
void rb_buf_add(struct rb_buf *b, const void *data, size_t len);
void rb_buf_adds(struct rb_buf *b, const char *s);
void rb_buf_addc(struct rb_buf *b, char c);
void rb_buf_addf(struct rb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rb_buf_vaddf(struct rb_buf *b, const char *fmt, va_list ap);

#endif
