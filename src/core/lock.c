/*
 * lock.c - one writer per state_dir: flock(2) plus a record of who holds it.
 *
 * The kernel releases a flock when its holder dies, so "stale lock" needs no guessing: if we get
 * the flock and the file still names another pid, that process died holding it (a crash, SIGKILL)
 * and we report a takeover for the caller to journal. A clean release empties the file.
 *
 * The flock is taken twice: on the state_dir folder (so that removing the lock file does not
 * free the state_dir) and on the lock file (the record, and what `status` peeks at). The file is
 * opened without following links, and after the flock we check that the path still names the
 * file we locked.
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
#include <sys/statvfs.h>
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

/*
 * Non-blocking flock, tried again for a moment before giving up: the holder may be a `status`
 * peeking with a shared lock for an instant (the state_dir is free then), or a writer that has
 * not written its record yet (it has by the time we give up). 0, or the errno of the last try.
 */
static int flock_briefly(int fd)
{
    int e = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : errno;

    for (int tries = 0; e == EWOULDBLOCK && tries < 20; tries++) {
        usleep(10000);
        e = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : errno;
    }
    return e;
}

static int locked_by(struct rb_err *err, const char *state_dir, int fd)
{
    struct rb_lock_holder h;

    if (fd < 0 || !read_holder(fd, &h)) {
        rb_errf(err, RB_E_LOCKED,
                "state_dir '%s' is locked by another rollbackctl process, and its lock record "
                "'%s/lock' is missing or empty",
                state_dir, state_dir);
        return rb_err_hint(err, "wait for that run to finish (see 'rollbackctl status'); do not "
                                "remove the lock file to get past it");
    }
    rb_errf(err, RB_E_LOCKED,
            "state_dir '%s' is locked by run '%s' (pid %ld, user '%s', host '%s', started %s)",
            state_dir, h.run_id[0] ? h.run_id : "?", h.pid, h.user[0] ? h.user : "?",
            h.host[0] ? h.host : "?", h.started[0] ? h.started : "?");
    return rb_err_hint(err, "wait for that run to finish, or see it with 'rollbackctl status %s'",
                       h.run_id[0] ? h.run_id : "");
}

static int refuse_lock_file(struct rb_err *err, const char *path, const char *what)
{
    rb_errf(err, RB_E_FAILED, "lock '%s' %s; refusing to use it", path, what);
    rb_err_kind(err, RB_K_REFUSED);
    return rb_err_hint(err, "rollbackctl creates its lock file itself: remove it (rm '%s') when "
                            "no run is going, and run again",
                       path);
}

/*
 * Open state_dir/lock without following a link and flock it; then make sure the path still
 * names the file we locked (it may have been removed or replaced while we waited), else start
 * over. Returns the fd, or -1 with err (RB_E_LOCKED when another process holds it).
 */
static int open_lock_file(const char *path, const char *state_dir, struct rb_err *err)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct stat fst, pst;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        int e;

        if (fd < 0 && errno == ELOOP)
            return refuse_lock_file(err, path, "is a symbolic link");
        if (fd < 0)
            return rb_errf(err, RB_E_FAILED, "unable to open lock '%s': %s", path,
                           strerror(errno));
        /* a hard link or a fifo planted there would be emptied or block: only our own file */
        if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_nlink != 1 ||
            fst.st_uid != geteuid()) {
            close(fd);
            return refuse_lock_file(err, path,
                                    "is not a plain file of this user with a single name");
        }
        e = flock_briefly(fd);
        if (e == EWOULDBLOCK) {
            locked_by(err, state_dir, fd);
            close(fd);
            return -1;
        }
        if (e != 0) {
            close(fd);
            return rb_errf(err, RB_E_FAILED, "unable to lock '%s': %s", path, strerror(e));
        }
        if (lstat(path, &pst) == 0 && pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
            return fd;
        close(fd); /* removed or replaced after we opened it: the lock is on the new one */
    }
    rb_errf(err, RB_E_LOCKED, "lock '%s' keeps being replaced while we take it", path);
    return rb_err_hint(err, "something else is changing the state_dir '%s'; find it and stop it",
                       state_dir);
}

/*
 * A state_dir (or, when it does not exist yet, the folder it would be made in) on a read-only
 * file system: the bare EROFS of whichever call failed first tells an operator little, so the
 * failure is said again as what it is, with what to do. Returns -1 when it was, 0 otherwise.
 */
static int read_only_state_dir(const char *state_dir, struct rb_err *err)
{
    char path[4096];
    struct statvfs vfs;
    char *slash;

    /* only a failure that was the file system's refusal to write (not a lock file refused) */
    if (err == NULL || strstr(err->msg, strerror(EROFS)) == NULL ||
        snprintf(path, sizeof(path), "%s", state_dir) >= (int)sizeof(path))
        return 0;
    while (statvfs(path, &vfs) < 0) {
        if (errno != ENOENT || (slash = strrchr(path, '/')) == NULL || slash == path)
            return 0;
        *slash = '\0';
    }
    if ((vfs.f_flag & ST_RDONLY) == 0)
        return 0;
    rb_errf(err, RB_E_FAILED,
            "state_dir '%s' is on a read-only file system ('%s'): a run cannot lock it or write "
            "its journal",
            state_dir, path);
    return rb_err_hint(err, "remount it read-write (mount -o remount,rw), or set the runbook's "
                            "state_dir to a writable folder; status and report can still read it");
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
    int fd, dfd, e;

    *took_over = false;
    if (lock_path(l->path, sizeof(l->path), state_dir) < 0)
        return rb_errf(err, RB_E_FAILED, "state_dir path too long: '%s'", state_dir);
    if (rb_mkdir_p(state_dir, 0700, err) < 0) {
        read_only_state_dir(state_dir, err);
        return -1;
    }
    if (rb_check_state_dir(state_dir, err) < 0)
        return -1;
    /*
     * The state_dir folder itself is locked first: removing the lock file while a run holds it
     * must not let a second run in, and the folder cannot be swapped under a run the way a file
     * can. A file system that cannot flock a folder (some network ones) leaves the file lock.
     */
    dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open state_dir '%s': %s", state_dir,
                       strerror(errno));
    e = flock_briefly(dfd);
    if (e == EWOULDBLOCK) {
        fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        locked_by(err, state_dir, fd);
        if (fd >= 0)
            close(fd);
        close(dfd);
        return -1;
    }
    if (e != 0) {
        close(dfd);
        dfd = -1;
    }
    fd = open_lock_file(l->path, state_dir, err);
    if (fd < 0) {
        read_only_state_dir(state_dir, err);
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    /* approvers of a shared state_dir's group may see who holds it (status); best effort */
    (void)fchmod(fd, rb_state_dir_shared(state_dir) ? 0640 : 0600);
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
        e = errno;
        free(text);
        close(fd);
        if (dfd >= 0)
            close(dfd);
        return rb_errf(err, RB_E_FAILED, "unable to write lock '%s': %s", l->path, strerror(e));
    }
    free(text);
    l->fd = fd;
    l->dir_fd = dfd;
    return 0;
}

/* 1 when another process holds an exclusive flock on fd (we could not get a shared one). */
static int held_elsewhere(int fd)
{
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        return 0;
    }
    return errno == EWOULDBLOCK;
}

int rb_lock_peek(const char *state_dir, struct rb_lock_holder *holder, struct rb_err *err)
{
    char path[4096];
    int fd, dfd, held = 0;

    if (lock_path(path, sizeof(path), state_dir) < 0)
        return rb_errf(err, RB_E_FAILED, "state_dir path too long: '%s'", state_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT)
        return rb_errf(err, RB_E_FAILED, "unable to open lock '%s': %s", path, strerror(errno));
    if (fd >= 0 && held_elsewhere(fd))
        held = 1;
    /* the folder's flock says it too when the file was removed under a running holder */
    dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!held && dfd >= 0 && held_elsewhere(dfd))
        held = 1;
    if (held && fd >= 0)
        read_holder(fd, holder);
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0)
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
    if (l->dir_fd >= 0) {
        flock(l->dir_fd, LOCK_UN);
        close(l->dir_fd);
        l->dir_fd = -1;
    }
}
