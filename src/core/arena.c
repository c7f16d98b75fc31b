/*
 * arena.c - bump allocator with cleanup callbacks (pgBackRest memContext / nginx pool, reduced).
 */
#include "rollbackctl/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define RB_ARENA_BLOCK 16384

struct rb_block {
    struct rb_block *next;
    size_t used, size;
    max_align_t data[];
};

struct rb_cleanup {
    struct rb_cleanup *next;
    void (*fn)(void *);
    void *ptr;
};

struct rb_arena {
    struct rb_block *blocks;
    struct rb_cleanup *cleanups;
};

static void *rb_xmalloc(size_t n)
{
    void *p = calloc(1, n);

    if (p == NULL) {
        fputs("rollbackctl: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* cJSON's allocator: the aborting one, so no NULL from cJSON can reach strlen() or a tree walk. */
static void *json_malloc(size_t n)
{
    return rb_xmalloc(n == 0 ? 1 : n);
}

void rb_memory_init(void)
{
    cJSON_Hooks hooks = { json_malloc, free };

    cJSON_InitHooks(&hooks);
}

struct rb_arena *rb_arena_new(void)
{
    return rb_xmalloc(sizeof(struct rb_arena));
}

void rb_arena_free(struct rb_arena *a)
{
    if (a == NULL)
        return;
    while (a->cleanups != NULL) {
        struct rb_cleanup *c = a->cleanups;

        a->cleanups = c->next;
        if (c->fn != NULL)
            c->fn(c->ptr);
        free(c);
    }
    while (a->blocks != NULL) {
        struct rb_block *b = a->blocks;

        a->blocks = b->next;
        free(b);
    }
    free(a);
}

void *rb_alloc(struct rb_arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    struct rb_block *b = a->blocks;
    void *p;

    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    if (b == NULL || b->size - b->used < size) {
        size_t bsize = size > RB_ARENA_BLOCK ? size : RB_ARENA_BLOCK;

        b = rb_xmalloc(sizeof(struct rb_block) + bsize);
        b->size = bsize;
        /* A big one-off allocation goes behind the current block so that block keeps serving. */
        if (size > RB_ARENA_BLOCK / 2 && a->blocks != NULL) {
            b->next = a->blocks->next;
            a->blocks->next = b;
        } else {
            b->next = a->blocks;
            a->blocks = b;
        }
    }
    p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *rb_strndup(struct rb_arena *a, const char *s, size_t n)
{
    char *p;

    if (s == NULL)
        return NULL;
    p = rb_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rb_strdup(struct rb_arena *a, const char *s)
{
    return s == NULL ? NULL : rb_strndup(a, s, strlen(s));
}

char *rb_vsprintf(struct rb_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *p;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    p = rb_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *rb_sprintf(struct rb_arena *a, const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = rb_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void *rb_arena_on_free(struct rb_arena *a, void (*fn)(void *), void *ptr)
{
    struct rb_cleanup *c = rb_xmalloc(sizeof(*c));

    c->fn = fn;
    c->ptr = ptr;
    c->next = a->cleanups;
    a->cleanups = c;
    return c;
}

void rb_arena_run_cleanup(struct rb_arena *a, void *handle)
{
    struct rb_cleanup **pp;

    for (pp = &a->cleanups; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == handle) {
            struct rb_cleanup *c = *pp;

            *pp = c->next;
            if (c->fn != NULL)
                c->fn(c->ptr);
            free(c);
            return;
        }
    }
}

void *rb_arena_grow(struct rb_arena *a, void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    void *w;

    if (n < *cap && v != NULL)
        return v;
    *cap = *cap > 0 ? *cap * 2 : first;
    w = rb_alloc(a, *cap * size);
    if (n > 0)
        memcpy(w, v, n * size);
    return w;
}
