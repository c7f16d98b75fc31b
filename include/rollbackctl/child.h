/*
 * child.h - child processes from argv vectors, never a shell, always with a deadline.
 *
 * posix_spawn with stdout/stderr captured through pipes (the last RB_CHILD_TAIL bytes of each
 * kept), stdin from /dev/null, extra environment appended to ours (less the names a caller drops:
 * the runbook's secrets). Past the deadline the child
 * gets SIGTERM, then SIGKILL two seconds later.
 */
#ifndef ROLLBACKCTL_CHILD_H
#define ROLLBACKCTL_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"

#define RB_CHILD_TAIL 4096
/* Used when the caller passes timeout_ms <= 0: nothing runs without a deadline. */
#define RB_CHILD_DEFAULT_TIMEOUT_MS (10 * 60 * 1000)

struct rb_child_result {
    bool exited; /* exited normally (status valid) */
    int status;  /* exit status */
    int signal;  /* killing signal, when !exited */
    bool timed_out;
    int64_t duration_ms;
    char *out_tail; /* arena-owned, NUL-terminated */
    char *err_tail;
    int64_t timeout_ms; /* the deadline it ran under */
    size_t out_len;     /* bytes in out_tail */
    bool out_overflow;  /* rb_child_run_capture: stdout was longer than out_max */
};

/*
 * Run argv (argv[0] searched in PATH) with env_extra ("NAME=value", NULL-terminated, may be NULL).
 * Returns 0 when the child ran (whatever its exit status), -1 when it could not be started.
 */
int rb_child_run(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                 int64_t timeout_ms, struct rb_child_result *res, struct rb_err *err);
/*
 * The same, with the variables named in env_drop (NULL-terminated, may be NULL) removed from the
 * environment the child inherits: the runbook's secrets (rb_runbook_secret_env), less any a step
 * asks for by name.
 */
int rb_child_run_env(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                     const char *const *env_drop, int64_t timeout_ms, struct rb_child_result *res,
                     struct rb_err *err);

/*
 * The same, but stdout kept whole, up to out_max bytes (a program whose answer is its output: an
 * exec credential plugin). Past out_max the rest is read and dropped, res->out_overflow set, and
 * out_tail holds the first out_max bytes; res->out_len is the length kept (the output may hold
 * NUL bytes). stderr keeps its tail as above.
 */
int rb_child_run_capture(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                         const char *const *env_drop, int64_t timeout_ms, size_t out_max,
                         struct rb_child_result *res, struct rb_err *err);

/* "exited with status 3", "killed by signal 9", "timed out after 2m". Arena-owned. */
const char *rb_child_describe(struct rb_arena *a, const struct rb_child_result *res);

/*
 * argv for people: words separated by spaces, a word with spaces or quotes shell-quoted
 * ('a b'), so that plan output shows exactly what will run. Arena-owned.
 */
const char *rb_argv_text(struct rb_arena *a, const char *const *argv);

#endif
