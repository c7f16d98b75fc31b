/*
 * lock.c - one writer per state_dir: flock(2) plus a record of who holds it.
 *
 * The kernel releases a flock when its holder dies, so "stale lock" needs no guessing: if we get
 * the flock and the file still names another pid, that process died holding it (a crash, SIGKILL)
 * and we report a takeover for the caller to journal. A clean release empties the file.
 */
#include "rollbackctl/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rollbackctl/fsutil.h"

static void copy_field(const cJSON *o, const char *key, char *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    snprintf(out, len, "%s", cJSON_IsString(v) ? v->valuestring : "?");
}

/* Parse the lock file's content; returns 1 when it names a holder. */
static int read_holder(int fd, struct rb_lock_holder *h)
{
    char buf[2048];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    cJSON *o;
    const cJSON *pid;

    memset(h, 0, sizeof(*h));
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    o = cJSON_Parse(buf);
    if (o == NULL)
        return 0;
    pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    h->pid = cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0;
    copy_field(o, "run_id", h->run_id, sizeof(h->run_id));
    copy_field(o, "user", h->user, sizeof(h->user));
    copy_field(o, "host", h->host, sizeof(h->host));
    copy_field(o, "started", h->started, sizeof(h->started));
    cJSON_Delete(o);
    return h->pid > 0;
}

static const char *user_name(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *env = getenv("USER");

    snprintf(buf, len, "%s", pw != NULL ? pw->pw_name : env != NULL ? env : "unknown");
    return buf;
}

static int lock_path(char *out, size_t len, const char *state_dir)
{
    return snprintf(out, len, "%s/lock", state_dir) < (int)len ? 0 : -1;
}

int rb_lock_acquire(struct rb_lock *l, const char *state_dir, const char *run_id, bool *took_over,
                    struct rb_lock_holder *stale, struct rb_err *err)
{
    struct rb_lock_holder h;
    char user[64], host[256], started[40];
    time_t now = time(NULL);
    struct tm tm;
    cJSON *o;
    char *text;
    int fd;

    *took_over = false;
    if (lock_path(l->path, sizeof(l->path), state_dir) < 0)
        return rb_errf(err, RB_E_FAILED, "state_dir path too long: '%s'", state_dir);
    if (rb_mkdir_p(state_dir, 0700, err) < 0)
        return -1;
    fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open lock '%s': %s", l->path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno, tries;

        /*
         * Try again for a moment before refusing: the holder may be a `status` peeking with a
         * shared lock for an instant (the state_dir is free then), or a writer that has not
         * written its record yet (it has by the time we give up).
         */
        for (tries = 0; e == EWOULDBLOCK && tries < 20; tries++) {
            usleep(10000);
            e = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : errno;
        }
        if (e == EWOULDBLOCK) {
            read_holder(fd, &h);
            close(fd);
            rb_errf(
                err, RB_E_LOCKED,
                "state_dir '%s' is locked by run '%s' (pid %ld, user '%s', host '%s', started %s)",
                state_dir, h.run_id[0] ? h.run_id : "?", h.pid, h.user[0] ? h.user : "?",
                h.host[0] ? h.host : "?", h.started[0] ? h.started : "?");
            return rb_err_hint(
                err, "wait for that run to finish, or see it with 'rollbackctl status %s'",
                h.run_id[0] ? h.run_id : "");
        }
        if (e != 0) {
            close(fd);
            return rb_errf(err, RB_E_FAILED, "unable to lock '%s': %s", l->path, strerror(e));
        }
    }
    if (read_holder(fd, &h) && h.pid != (long)getpid()) {
        *took_over = true;
        if (stale != NULL)
            *stale = h;
    }
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    gmtime_r(&now, &tm);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, "user", user_name(user, sizeof(user)));
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddStringToObject(o, "started", started);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL || ftruncate(fd, 0) < 0 ||
        pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text) || fsync(fd) < 0) {
        int e = errno;

        free(text);
        close(fd);
        return rb_errf(err, RB_E_FAILED, "unable to write lock '%s': %s", l->path, strerror(e));
    }
    free(text);
    l->fd = fd;
    return 0;
}

int rb_lock_peek(const char *state_dir, struct rb_lock_holder *holder, struct rb_err *err)
{
    char path[4096];
    int fd, held;

    if (lock_path(path, sizeof(path), state_dir) < 0)
        return rb_errf(err, RB_E_FAILED, "state_dir path too long: '%s'", state_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return rb_errf(err, RB_E_FAILED, "unable to open lock '%s': %s", path, strerror(errno));
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        held = 0;
    } else {
        held = 1;
        read_holder(fd, holder);
    }
    close(fd);
    return held;
}

void rb_lock_release(struct rb_lock *l)
{
    if (l->fd < 0)
        return;
    /* Empty the record first: an empty file after the flock is gone means a clean release. */
    if (ftruncate(l->fd, 0) == 0)
        fsync(l->fd);
    flock(l->fd, LOCK_UN);
    close(l->fd);
    l->fd = -1;
}
