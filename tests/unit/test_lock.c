/*
 * test_lock.c - one writer per state_dir; a dead holder's lock is taken over and reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/*
 * `status` peeks with a shared flock for an instant. A writer that tries to lock in that instant
 * must not be refused (exit 4, "locked by run '?' (pid 0)"): the state_dir is free.
 */
static void test_peek_does_not_refuse_writer(void **state)
{
    struct rb_lock l = RB_LOCK_INIT;
    struct rb_err err = RB_ERR_INIT;
    char path[300], c;
    bool took = true;
    int status, fds[2];
    pid_t pid;

    (void)state;
    assert_int_equal(rb_lock_acquire(&l, dir, "run-old", &took, NULL, &err), 0);
    rb_lock_release(&l);
    snprintf(path, sizeof(path), "%s/lock", dir);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDONLY);

        if (fd < 0 || flock(fd, LOCK_SH) < 0)
            _exit(1);
        if (write(fds[1], "x", 1) != 1)
            _exit(1);
        usleep(50000); /* a slow peek: 50 ms */
        _exit(0);
    }
    assert_int_equal(read(fds[0], &c, 1), 1);
    assert_int_equal(rb_lock_acquire(&l, dir, "run-new", &took, NULL, &err), 0);
    assert_false(took);
    rb_lock_release(&l);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_writer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peek_does_not_refuse_writer, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
