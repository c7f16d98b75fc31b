/*
 * lock.h - one writer per state_dir.
 *
 * flock(2) on the state_dir folder and on state_dir/lock, whose content says who holds it:
 *   {"pid":N,"run_id":"...","user":"...","host":"...","started":"..."}
 * The kernel drops a flock when its process dies, so a lock file whose recorded process is gone
 * is simply taken; the caller journals the takeover (rb_lock_acquire reports it).
 */
#ifndef ROLLBACKCTL_LOCK_H
#define ROLLBACKCTL_LOCK_H

#include <stdbool.h>

#include "rollbackctl/err.h"

struct rb_lock_holder {
    long pid;
    char run_id[64];
    char user[64];
    char host[256];
    char started[40];
};

struct rb_lock {
    int fd;
    char path[4096];
    int dir_fd; /* the state_dir folder, flocked too (-1 where the file system cannot) */
};

#define RB_LOCK_INIT                                                                               \
    {                                                                                              \
        -1, "", -1                                                                                 \
    }

/*
 * Take the lock for run_id. If another live process holds it: RB_E_LOCKED naming pid, user, host,
 * run id and start time. If the file named a holder that is gone, *took_over is set and *stale
 * describes it.
 */
int rb_lock_acquire(struct rb_lock *l, const char *state_dir, const char *run_id, bool *took_over,
                    struct rb_lock_holder *stale, struct rb_err *err);
/* Read who holds the lock now, without taking it; returns 1 if held, 0 if free, -1 on error. */
int rb_lock_peek(const char *state_dir, struct rb_lock_holder *holder, struct rb_err *err);
void rb_lock_release(struct rb_lock *l);

#endif
