/*
 * child.c - run a child process from an argv vector, with captured output and a deadline.
 *
 * posix_spawnp, never a shell: runbook values can't be interpreted by anything but the program
 * they are handed to. The child gets /dev/null as stdin, pipes for stdout and stderr (we keep the
 * last RB_CHILD_TAIL bytes of each), our environment less the names in env_drop (the runbook's
 * secrets: a `run` step has no business with the database password) plus env_extra (an extra
 * NAME=... replaces ours), default signal dispositions and its own process group, so that on timeout SIGTERM (then
 * SIGKILL two seconds later) reaches whatever it started too.
 *
 * The wait ends when the child exits, not when its pipes close: a command that starts a daemon
 * leaves the daemon holding the pipes, and we must not wait for the daemon.
 */
#include "rollbackctl/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/runbook.h"

extern char **environ;

#define KILL_GRACE_MS 2000
/* Without a pidfd we look for the child's exit this often. */
#define EXIT_TICK_MS 20

static size_t env_name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');

    return eq != NULL ? (size_t)(eq - kv) : strlen(kv);
}

static bool named_in(const char *const *names, const char *kv, size_t len)
{
    for (; names != NULL && *names != NULL; names++)
        if (strlen(*names) == len && strncmp(*names, kv, len) == 0)
            return true;
    return false;
}

/*
 * Our environment minus the names in drop (the runbook's secrets) and the names env_extra sets,
 * then env_extra. Arena-owned vector.
 */
static char **build_env(struct rb_arena *a, const char *const *extra, const char *const *drop)
{
    size_t n_env = 0, n_extra = 0, i, j, k = 0;
    char **envp;

    while (environ != NULL && environ[n_env] != NULL)
        n_env++;
    while (extra != NULL && extra[n_extra] != NULL)
        n_extra++;
    envp = rb_new_array(a, char *, n_env + n_extra + 1);
    for (i = 0; i < n_env; i++) {
        size_t len = env_name_len(environ[i]);
        int replaced = named_in(drop, environ[i], len);

        for (j = 0; j < n_extra && !replaced; j++)
            replaced = env_name_len(extra[j]) == len && strncmp(extra[j], environ[i], len) == 0;
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (j = 0; j < n_extra; j++)
        envp[k++] = (char *)extra[j];
    envp[k] = NULL;
    return envp;
}

/*
 * Where a stream's bytes go: the last RB_CHILD_TAIL of them (max 0), or the first max of them,
 * the rest dropped and counted as overflow.
 */
struct sink {
    struct rb_buf buf;
    size_t max;
    bool overflow;
};

/* Keep only the last RB_CHILD_TAIL bytes, trimming in big steps so appends stay cheap. */
static void tail_add(struct sink *s, const char *data, size_t len)
{
    struct rb_buf *b = &s->buf;

    if (s->max > 0) {
        size_t room = s->max - b->len;

        if (len > room) {
            s->overflow = true;
            len = room;
        }
        rb_buf_add(b, data, len);
        return;
    }
    rb_buf_add(b, data, len);
    if (b->len > 4 * RB_CHILD_TAIL) {
        size_t drop = b->len - RB_CHILD_TAIL;

        memmove(b->data, b->data + drop, b->len - drop);
        b->len -= drop;
        b->data[b->len] = '\0';
    }
}

static char *tail_take(struct rb_arena *a, const struct sink *s, size_t *len)
{
    const struct rb_buf *b = &s->buf;
    size_t off = s->max == 0 && b->len > RB_CHILD_TAIL ? b->len - RB_CHILD_TAIL : 0;

    if (len != NULL)
        *len = b->len - off;
    return rb_strndup(a, b->data + off, b->len - off);
}

/* Read what is there; returns 0 on EOF (fd closed), 1 when more may come. */
static int drain(int *fd, struct sink *tail)
{
    char chunk[8192];

    for (;;) {
        ssize_t n = read(*fd, chunk, sizeof(chunk));

        if (n > 0) {
            tail_add(tail, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        close(*fd);
        *fd = -1;
        return 0;
    }
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

/* pipe2() is a GNU extension; we are single-threaded, so pipe + FD_CLOEXEC is as good. */
static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) < 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static void signal_group(pid_t pid, int sig)
{
    /* The child leads its own group; fall back to the child alone if the group is gone. */
    if (kill(-pid, sig) < 0)
        kill(pid, sig);
}

int rb_child_run(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                 int64_t timeout_ms, struct rb_child_result *res, struct rb_err *err)
{
    return rb_child_run_env(a, argv, env_extra, NULL, timeout_ms, res, err);
}

int rb_child_run_env(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                     const char *const *env_drop, int64_t timeout_ms, struct rb_child_result *res,
                     struct rb_err *err)
{
    return rb_child_run_capture(a, argv, env_extra, env_drop, timeout_ms, 0, res, err);
}

int rb_child_run_capture(struct rb_arena *a, const char *const *argv, const char *const *env_extra,
                         const char *const *env_drop, int64_t timeout_ms, size_t out_max,
                         struct rb_child_result *res, struct rb_err *err)
{
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    struct sink out_tail = { RB_BUF_INIT, out_max, false }, err_tail = { RB_BUF_INIT, 0, false };
    int64_t start, deadline, kill_at = 0;
    int pidfd, wstatus = 0, rc;
    bool reaped = false, chld_ignored;
    struct sigaction old_chld;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0')
        return rb_errf(err, RB_E_FAILED, "unable to run a command: empty argv");
    if (timeout_ms <= 0)
        timeout_ms = RB_CHILD_DEFAULT_TIMEOUT_MS;
    res->timeout_ms = timeout_ms;

    if (cloexec_pipe(out_pipe) < 0 || cloexec_pipe(err_pipe) < 0) {
        rc = errno;
        if (out_pipe[0] >= 0) {
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        return rb_errf(err, RB_E_FAILED, "unable to run '%s': pipe: %s", argv[0], strerror(rc));
    }

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], STDERR_FILENO);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);

    /*
     * SIGCHLD ignored (an ignored signal survives exec, so whatever started us decides) makes the
     * kernel reap our children itself: waitpid would then find no exit status, and a failing
     * command would read as "exited with status 0". Default it while the child runs.
     */
    sigaction(SIGCHLD, NULL, &old_chld);
    chld_ignored = old_chld.sa_handler == SIG_IGN;
    if (chld_ignored) {
        struct sigaction dfl;

        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGCHLD, &dfl, NULL);
    }

    start = rb_now_ms();
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv,
                      build_env(a, env_extra, env_drop));
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        if (chld_ignored)
            sigaction(SIGCHLD, &old_chld, NULL);
        return rb_errf(err, RB_E_FAILED, "unable to run '%s': %s", argv[0], strerror(rc));
    }
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
    pidfd = open_pidfd(pid);
    deadline = start + timeout_ms;

    while (!reaped) {
        struct pollfd pfd[3];
        nfds_t n = 0;
        int64_t now = rb_now_ms(), wait_ms;
        pid_t w;

        w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            reaped = true;
            break;
        }
        if (!res->timed_out && now >= deadline) {
            res->timed_out = true;
            signal_group(pid, SIGTERM);
            kill_at = now + KILL_GRACE_MS;
        } else if (res->timed_out && kill_at != 0 && now >= kill_at) {
            signal_group(pid, SIGKILL);
            kill_at = 0;
        }
        wait_ms = res->timed_out ? (kill_at != 0 ? kill_at - now : 100) : deadline - now;
        if (pidfd < 0 && wait_ms > EXIT_TICK_MS)
            wait_ms = EXIT_TICK_MS;
        if (wait_ms < 0)
            wait_ms = 0;
        if (out_pipe[0] >= 0)
            pfd[n++] = (struct pollfd){ .fd = out_pipe[0], .events = POLLIN };
        if (err_pipe[0] >= 0)
            pfd[n++] = (struct pollfd){ .fd = err_pipe[0], .events = POLLIN };
        if (pidfd >= 0)
            pfd[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        if (poll(pfd, n, (int)wait_ms) < 0 && errno != EINTR)
            break;
        if (out_pipe[0] >= 0)
            drain(&out_pipe[0], &out_tail);
        if (err_pipe[0] >= 0)
            drain(&err_pipe[0], &err_tail);
    }
    if (!reaped) {
        /* poll failed: make sure the child is gone before we return. */
        signal_group(pid, SIGKILL);
        waitpid(pid, &wstatus, 0);
    } else if (res->timed_out) {
        /*
         * The leader may die of the SIGTERM while something it started ignores it: that process
         * still gets the SIGKILL at the end of the grace period. To the group only: the pid itself
         * is reaped (a live group keeps its id from being reused).
         */
        while (kill_at != 0 && rb_now_ms() < kill_at && kill(-pid, 0) == 0) {
            struct timespec tick = { 0, EXIT_TICK_MS * 1000000L };

            nanosleep(&tick, NULL);
        }
        kill(-pid, SIGKILL);
    }
    /* What the child wrote before exiting is in the pipes; take it without waiting for EOF. */
    if (out_pipe[0] >= 0) {
        drain(&out_pipe[0], &out_tail);
        if (out_pipe[0] >= 0)
            close(out_pipe[0]);
    }
    if (err_pipe[0] >= 0) {
        drain(&err_pipe[0], &err_tail);
        if (err_pipe[0] >= 0)
            close(err_pipe[0]);
    }
    if (pidfd >= 0)
        close(pidfd);
    if (chld_ignored)
        sigaction(SIGCHLD, &old_chld, NULL);

    res->duration_ms = rb_now_ms() - start;
    res->exited = WIFEXITED(wstatus);
    res->status = res->exited ? WEXITSTATUS(wstatus) : -1;
    res->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    res->out_tail = tail_take(a, &out_tail, &res->out_len);
    res->out_overflow = out_tail.overflow;
    res->err_tail = tail_take(a, &err_tail, NULL);
    rb_buf_release(&out_tail.buf);
    rb_buf_release(&err_tail.buf);
    return 0;
}

const char *rb_child_describe(struct rb_arena *a, const struct rb_child_result *res)
{
    char dur[32];

    if (res->timed_out) {
        rb_duration_format(res->timeout_ms, dur, sizeof(dur));
        return rb_sprintf(a, "timed out after %s", dur);
    }
    if (res->exited)
        return rb_sprintf(a, "exited with status %d", res->status);
    return rb_sprintf(a, "killed by signal %d (%s)", res->signal, strsignal(res->signal));
}

const char *rb_argv_text(struct rb_arena *a, const char *const *argv)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *res;

    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        const char *w = argv[i];

        if (i > 0)
            rb_buf_addc(&b, ' ');
        if (w[0] != '\0' && strpbrk(w, " \t\n'\"\\$`;&|<>()*?[]{}~#!") == NULL) {
            rb_buf_adds(&b, w);
            continue;
        }
        rb_buf_addc(&b, '\'');
        for (; *w != '\0'; w++) {
            if (*w == '\'')
                rb_buf_adds(&b, "'\\''");
            else
                rb_buf_addc(&b, *w);
        }
        rb_buf_addc(&b, '\'');
    }
    res = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return res;
}
