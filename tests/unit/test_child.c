/*
 * test_child.c - child processes: exit status, captured tails, env, deadline, no shell.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <signal.h>
#include <time.h>
#include <dirent.h>
#include <stdio.h>

#include "rollbackctl/child.h"

static int setup(void **state)
{
    *state = rb_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rb_arena_free(*state);
    return 0;
}

static void test_exit_status_and_output(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 5000, &res, &err), 0);
    assert_true(res.exited);
    assert_int_equal(res.status, 3);
    assert_false(res.timed_out);
    assert_string_equal(res.out_tail, "out\n");
    assert_string_equal(res.err_tail, "err\n");
    assert_string_equal(rb_child_describe(a, &res), "exited with status 3");
}

static void test_argv_is_not_a_shell(void **state)
{
    struct rb_arena *a = *state;
    /* Shell metacharacters in an argument reach the program untouched. */
    const char *argv[] = { "printf", "%s", "$(id); rm -rf /nonexistent", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 5000, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.out_tail, "$(id); rm -rf /nonexistent");
}

static void test_env_extra_overrides(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "sh", "-c", "printf '%s/%s' \"$RB_T_A\" \"$HOME\"", NULL };
    const char *env[] = { "RB_T_A=one", "HOME=/nowhere", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, env, 5000, &res, &err), 0);
    assert_string_equal(res.out_tail, "one//nowhere");
}

/* the runbook's secrets are dropped; a name the step sets itself still gets its value */
static void test_env_drop(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "sh", "-c",
                           "printf '%s/%s/%s/%s' \"${RB_T_SECRET-unset}\" \"${RB_T_OTHER-unset}\" "
                           "\"$RB_T_SET\" \"$RB_T_PLAIN\"",
                           NULL };
    const char *env[] = { "RB_T_SET=mine", NULL };
    const char *drop[] = { "RB_T_SECRET", "RB_T_OTHER", "RB_T_SET", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    setenv("RB_T_SECRET", "s3cret", 1);
    setenv("RB_T_OTHER", "0ther", 1);
    setenv("RB_T_SET", "ours", 1);
    setenv("RB_T_PLAIN", "plain", 1);
    assert_int_equal(rb_child_run_env(a, argv, env, drop, 5000, &res, &err), 0);
    assert_string_equal(res.out_tail, "unset/unset/mine/plain");
    unsetenv("RB_T_SECRET");
    unsetenv("RB_T_OTHER");
    unsetenv("RB_T_SET");
    unsetenv("RB_T_PLAIN");
}

static void test_stdin_is_dev_null(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "cat", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 5000, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_false(res.timed_out);
    assert_string_equal(res.out_tail, "");
}

static void test_tail_keeps_the_end(void **state)
{
    struct rb_arena *a = *state;
    /* 100000 lines of output: only the last RB_CHILD_TAIL bytes are kept, up to the end. */
    const char *argv[] = { "seq", "1", "100000", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;
    size_t len;

    assert_int_equal(rb_child_run(a, argv, NULL, 10000, &res, &err), 0);
    len = strlen(res.out_tail);
    assert_int_equal(len, RB_CHILD_TAIL);
    assert_string_equal(res.out_tail + len - 7, "100000\n");
}

static void test_timeout_kills_the_group(void **state)
{
    struct rb_arena *a = *state;
    /* The grandchild sleeps too: killing the process group must end it as well. */
    const char *argv[] = { "sh", "-c", "sleep 30 & sleep 30; echo never", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 300, &res, &err), 0);
    assert_true(res.timed_out);
    assert_false(res.exited);
    assert_true(res.duration_ms < 5000);
    assert_string_equal(res.out_tail, "");
    assert_string_equal(rb_child_describe(a, &res), "timed out after 300ms");
}

/*
 * Whether a process of group g is still running. Zombies do not count: an orphan is reaped by
 * whatever adopted it, and some containers' init reaps late.
 */
static int group_running(pid_t g)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;

    assert_non_null(d);
    while (!found && (e = readdir(d)) != NULL) {
        char path[300], line[512], state;
        const char *close;
        long pgrp = 0;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(line, sizeof(line), f) != NULL && (close = strrchr(line, ')')) != NULL &&
            sscanf(close + 1, " %c %*d %ld", &state, &pgrp) == 2)
            found = pgrp == (long)g && state != 'Z' && state != 'X';
        fclose(f);
    }
    closedir(d);
    return found;
}

static void test_timeout_kills_survivors_of_term(void **state)
{
    struct rb_arena *a = *state;
    /* The leader dies of SIGTERM; its background child ignores TERM and must get the SIGKILL. */
    const char *argv[] = { "sh", "-c", "echo $$; (trap '' TERM; exec sleep 30) & wait", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;
    struct timespec tick = { 0, 50 * 1000000L };
    pid_t group;
    int alive = 1;

    assert_int_equal(rb_child_run(a, argv, NULL, 300, &res, &err), 0);
    assert_true(res.timed_out);
    group = (pid_t)atoi(res.out_tail);
    assert_true(group > 1);
    /* Give the kernel a moment to deliver the SIGKILL, no more than the test needs. */
    for (int i = 0; i < 20 && alive; i++) {
        alive = group_running(group);
        if (alive)
            nanosleep(&tick, NULL);
    }
    if (alive)
        kill(-group, SIGKILL); /* do not leave it behind, whatever the outcome */
    assert_false(alive);
    assert_true(res.duration_ms < 6000);
}

static void test_term_ignored_then_kill(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 200, &res, &err), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.signal, 9);
    assert_true(res.duration_ms >= 2000);
    assert_true(res.duration_ms < 6000);
}

static void test_daemon_holding_pipes_does_not_block(void **state)
{
    struct rb_arena *a = *state;
    /* A command that starts a background process keeping stdout open returns when it exits. */
    const char *argv[] = { "sh", "-c", "echo started; sleep 3 & exit 0", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 10000, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_false(res.timed_out);
    assert_true(res.duration_ms < 2000);
    assert_string_equal(res.out_tail, "started\n");
}

static void test_exit_status_kept_when_sigchld_ignored(void **state)
{
    struct rb_arena *a = *state;
    /* SIGCHLD ignored (inherited through exec from whatever started us) auto-reaps children:
       their exit status must not be lost, and a failing command must not read as success. */
    const char *argv[] = { "sh", "-c", "sleep 0.1; exit 3", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;
    struct sigaction ign, old, after;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &ign, &old);
    assert_int_equal(rb_child_run(a, argv, NULL, 10000, &res, &err), 0);
    sigaction(SIGCHLD, &old, &after);
    assert_true(after.sa_handler == SIG_IGN); /* given back as it was */
    assert_true(res.exited);
    assert_int_equal(res.status, 3);
}

static void test_missing_program(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "/nonexistent/rb-no-such-program", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 5000, &res, &err), -1);
    assert_non_null(strstr(err.msg, "unable to run '/nonexistent/rb-no-such-program'"));
    assert_non_null(strstr(err.msg, "No such file"));
}

static void test_killed_by_signal(void **state)
{
    struct rb_arena *a = *state;
    const char *argv[] = { "sh", "-c", "kill -9 $$", NULL };
    struct rb_child_result res;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_child_run(a, argv, NULL, 5000, &res, &err), 0);
    assert_false(res.exited);
    assert_int_equal(res.signal, 9);
    assert_non_null(strstr(rb_child_describe(a, &res), "killed by signal 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_status_and_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_is_not_a_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_extra_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_is_dev_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_keeps_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_survivors_of_term, setup, teardown),
        cmocka_unit_test_setup_teardown(test_term_ignored_then_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_holding_pipes_does_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_status_kept_when_sigchld_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
    };

    return cmocka_run_group_tests_name("child", tests, NULL, NULL);
}
