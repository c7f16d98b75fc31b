/*
 * test_lock.c - one writer per state_dir; a dead holder's lock is taken over and reported; the
 * lock file removed under a holder frees nothing, a link planted at it is not followed, and a
 * state_dir others can write is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollbackctl/lock.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/rb-test-lock-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char p[300];

    (void)state;
    snprintf(p, sizeof(p), "%s/lock", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/victim", dir);
    unlink(p);
    chmod(dir, 0700);
    rmdir(dir);
    return 0;
}

static void test_second_writer_refused(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_err err = RB_ERR_INIT;
    bool took = false;
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), 0);
    assert_false(took);
    pid = fork();
    if (pid == 0) {
        struct rb_lock l2 = RB_LOCK_INIT;
        struct rb_err e2 = RB_ERR_INIT;
        char want[64];
        int ok;

        snprintf(want, sizeof(want), "pid %ld", (long)getppid());
        ok = rb_lock_acquire(&l2, dir, "run-b", &took, NULL, &e2) == -1 && e2.cls == RB_E_LOCKED &&
             strstr(e2.msg, "run 'run-a'") != NULL && strstr(e2.msg, want) != NULL &&
             strstr(e2.msg, "host '") != NULL && strstr(e2.msg, "user '") != NULL;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    rb_lock_release(&l);
}

static void test_dead_holder_taken_over(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_lock_holder stale;
    struct rb_err err = RB_ERR_INIT;
    bool took = false;
    int status;
    pid_t pid;

    (void)state;
    pid = fork();
    if (pid == 0) {
        struct rb_lock l2 = RB_LOCK_INIT;
        struct rb_err e2 = RB_ERR_INIT;
        bool t2;

        /* Take the lock and die without releasing it, as a SIGKILLed run would. */
        _exit(rb_lock_acquire(&l2, dir, "run-dead", &t2, NULL, &e2) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-new", &took, &stale, &err), 0);
    assert_true(took);
    assert_int_equal(stale.pid, (long)pid);
    assert_string_equal(stale.run_id, "run-dead");
    rb_lock_release(&l);

    /* A clean release leaves nothing to take over. */
    assert_int_equal(rb_lock_acquire(&l, dir, "run-next", &took, &stale, &err), 0);
    assert_false(took);
    rb_lock_release(&l);
}

static void test_peek(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_lock_holder h;
    struct rb_err err = RB_ERR_INIT;
    bool took;
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(rb_lock_peek(dir, &h, &err), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-p", &took, NULL, &err), 0);
    pid = fork();
    if (pid == 0) {
        struct rb_lock_holder h2;
        struct rb_err e2 = RB_ERR_INIT;

        _exit(rb_lock_peek(dir, &h2, &e2) == 1 && strcmp(h2.run_id, "run-p") == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    rb_lock_release(&l);
}

/* Is PID asleep in (clock_)nanosleep, i.e. inside the writer's retry pause? Read from
 * /proc/PID/syscall, whose first field is the number of the syscall it is blocked in. */
static bool sleeping_in_retry(pid_t pid)
{
    char path[64];
    long nr = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    if (fscanf(f, "%ld", &nr) != 1)
        nr = -1;
    fclose(f);
    return nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
}

/*
 * `status` peeks with a shared flock for an instant. A writer that tries to lock in that instant
 * must not be refused (exit 4, "locked by run '?' (pid 0)"): the state_dir is free.
 * The handshake: the peeker holds its shared lock until the writer has been refused once and
 * is pausing before it tries again (seen in /proc), then lets go; no sleep decides the order.
 */
static void test_peek_does_not_refuse_writer(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_err err = RB_ERR_INIT;
    char path[300], c;
    bool took = true, saw_pause = false;
    int status, held[2], release[2];
    pid_t peeker, writer;

    (void)state;
    assert_int_equal(rb_lock_acquire(&l, dir, "run-old", &took, NULL, &err), 0);
    rb_lock_release(&l);
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(release), 0);
    peeker = fork();
    if (peeker == 0) {
        int fd = open(path, O_RDONLY);

        if (fd < 0 || flock(fd, LOCK_SH) < 0)
            _exit(1);
        if (write(held[1], "x", 1) != 1)
            _exit(1);
        _exit(read(release[0], &c, 1) == 1 ? 0 : 1); /* the shared lock goes with the process */
    }
    assert_int_equal(read(held[0], &c, 1), 1);
    writer = fork();
    if (writer == 0) {
        struct rb_lock l2 = RB_LOCK_INIT;
        struct rb_err e2 = RB_ERR_INIT;
        bool t2 = true;
        int rc = rb_lock_acquire(&l2, dir, "run-new", &t2, NULL, &e2);

        _exit(rc == 0 && !t2 ? 0 : 1);
    }
    /* Up to 10 s for the writer to reach its pause (a slow sanitizer run is still far inside). */
    for (int i = 0; i < 100000 && !saw_pause; i++) {
        saw_pause = sleeping_in_retry(writer);
        if (!saw_pause)
            usleep(100);
    }
    assert_int_equal(write(release[1], "x", 1), 1);
    assert_int_equal(waitpid(peeker, &status, 0), peeker);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(waitpid(writer, &status, 0), writer);
    assert_true(saw_pause);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < 2; i++) {
        close(held[i]);
        close(release[i]);
    }
}

/* The red-team bypass: rm STATE/lock while a run holds it, then a second writer. */
static void test_removed_lock_file_still_locked(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_lock_holder h;
    struct rb_err err = RB_ERR_INIT;
    char path[300];
    bool took = false;
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_equal(unlink(path), 0);
    pid = fork();
    if (pid == 0) {
        struct rb_lock l2 = RB_LOCK_INIT;
        struct rb_lock_holder h2;
        struct rb_err e2 = RB_ERR_INIT;
        bool t2;
        int ok = rb_lock_acquire(&l2, dir, "run-b", &t2, NULL, &e2) == -1 &&
                 e2.cls == RB_E_LOCKED && strstr(e2.msg, "missing or empty") != NULL;

        /* status sees it held too */
        ok = ok && rb_lock_peek(dir, &h2, &e2) == 1;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    rb_lock_release(&l);
    assert_int_equal(rb_lock_peek(dir, &h, &err), 0);
    /* released, the next writer gets it (and makes a new lock file) */
    assert_int_equal(rb_lock_acquire(&l, dir, "run-c", &took, NULL, &err), 0);
    assert_int_equal(access(path, F_OK), 0);
    rb_lock_release(&l);
}

static void test_symlinked_lock_not_followed(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_err err = RB_ERR_INIT;
    char path[300], victim[300], buf[64] = "";
    bool took = false;
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/lock", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious payroll data\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, path), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), -1);
    assert_int_equal(err.cls, RB_E_FAILED);
    assert_int_equal(err.kind, RB_K_REFUSED);
    assert_non_null(strstr(err.msg, "is a symbolic link"));
    assert_non_null(strstr(err.hint, "rm '"));
    f = fopen(victim, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious payroll data\n");
    unlink(path);

    /* a hard link would be emptied on release the same way: refused too */
    assert_int_equal(link(victim, path), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "single name"));
    unlink(path);
}

static void test_state_dir_others_can_write(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_err err = RB_ERR_INIT;
    char path[300];
    bool took = false;

    (void)state;
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), -1);
    assert_int_equal(err.kind, RB_K_REFUSED);
    assert_non_null(strstr(err.msg, "writable by every user (mode 0777)"));
    assert_non_null(strstr(err.hint, "chmod 700"));
    assert_int_equal(access(path, F_OK), -1); /* nothing made in it */

    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "writable by its group"));
    assert_non_null(strstr(err.hint, "chmod 2770"));

    /* the shared operators' group: setgid, our own group */
    assert_int_equal(chown(dir, (uid_t)-1, getegid()), 0);
    assert_int_equal(chmod(dir, 02770), 0);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-a", &took, NULL, &err), 0);
    rb_lock_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_writer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peek_does_not_refuse_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_lock_file_still_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinked_lock_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_dir_others_can_write, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
