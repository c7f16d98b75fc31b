/*
 * arena.h - one arena per run: bump allocation plus cleanup callbacks.
 *
 * Everything a command allocates for its run lives in one arena and dies with it. Non-memory
 * resources (PGconn, CURL handles, yaml parsers, fds) register a closer with rb_arena_on_free()
 * and are released, newest first, by rb_arena_free(). Allocation failure aborts: a rollback
 * tool that runs out of memory cannot continue safely anyway.
 */
#ifndef ROLLBACKCTL_ARENA_H
#define ROLLBACKCTL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct rb_arena;

struct rb_arena *rb_arena_new(void);
/* Runs the cleanup callbacks (newest first) and frees every block. NULL is fine. */
void rb_arena_free(struct rb_arena *a);

/* Zeroed memory owned by the arena. */
void *rb_alloc(struct rb_arena *a, size_t size);
#define rb_new(a, type)          ((type *)rb_alloc((a), sizeof(type)))
#define rb_new_array(a, type, n) ((type *)rb_alloc((a), sizeof(type) * (n)))
char *rb_strdup(struct rb_arena *a, const char *s); /* NULL in, NULL out */
char *rb_strndup(struct rb_arena *a, const char *s, size_t n);
char *rb_sprintf(struct rb_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *rb_vsprintf(struct rb_arena *a, const char *fmt, va_list ap);
/*
 * Room for one more element in an arena array of n elements of size bytes with room for *cap:
 * when full, a copy twice as large (first elements the first time) replaces it. Returns the array
 * to use; the old one stays in the arena. rb_arena_push(a, v, n, cap) for a typed array.
 */
void *rb_arena_grow(struct rb_arena *a, void *v, size_t n, size_t *cap, size_t size, size_t first);
#define rb_arena_push(a, v, n, cap, first)                                                        \
    ((v) = rb_arena_grow((a), (v), (n), &(cap), sizeof(*(v)), (first)))

/* Register fn(ptr) to run when the arena is freed. Returns a handle for rb_arena_run_cleanup(). */
void *rb_arena_on_free(struct rb_arena *a, void (*fn)(void *), void *ptr);
/* Run a registered cleanup now and forget it (e.g. close a connection early). */
void rb_arena_run_cleanup(struct rb_arena *a, void *handle);

/*
 * Process-wide allocation setup, once at start: cJSON allocates through the same aborting
 * allocator as the arena (out of memory ends the process with a message, never a NULL).
 */
void rb_memory_init(void);

#endif
