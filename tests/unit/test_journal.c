/*
 * test_journal.c - the journal's hash chain, fsync'd appends, tamper detection and torn tails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"
#include "rollbackctl/journal.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rb-test-journal-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "%s/run1/journal.jsonl", tmpdir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/run1", tmpdir);
    rmdir(cmd);
    rmdir(tmpdir);
    return 0;
}

static const char *run_dir(void)
{
    static char p[300];

    snprintf(p, sizeof(p), "%s/run1", tmpdir);
    return p;
}

static const char *journal_file(void)
{
    static char p[320];

    snprintf(p, sizeof(p), "%s/run1/journal.jsonl", tmpdir);
    return p;
}

static void write_three(void)
{
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    cJSON *d = cJSON_CreateObject();

    assert_int_equal(rb_journal_create(&j, run_dir(), "20261125T000000000Z-abcdef", &err), 0);
    cJSON_AddNumberToObject(d, "replicas", 3);
    assert_int_equal(rb_journal_append(&j, "", "", "run_started", NULL, &err), 0);
    assert_int_equal(rb_journal_append(&j, "freeze", "freeze/1-scale", "progress", d, &err), 0);
    assert_int_equal(rb_journal_append(&j, "freeze", "freeze/1-scale", "done", NULL, &err), 0);
    rb_journal_close(&j);
    cJSON_Delete(d);
}

static void test_chain_verifies(void **state)
{
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_three();
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.n, 3);
    assert_false(log.torn_tail);
    assert_string_equal(log.entries[1].event, "progress");
    assert_string_equal(log.entries[1].action, "freeze/1-scale");
    assert_int_equal(cJSON_GetObjectItem(log.entries[1].data, "replicas")->valueint, 3);
    assert_int_equal(log.entries[2].seq, 3);
    rb_journal_log_release(&log);
}

static void test_create_refuses_existing(void **state)
{
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_three();
    assert_int_equal(rb_journal_create(&j, run_dir(), "x", &err), -1);
    assert_non_null(strstr(err.msg, "unable to create journal"));
}

static void replace_in_file(const char *from, const char *to)
{
    size_t len;
    struct rb_err err = RB_ERR_INIT;
    char *data = rb_read_file(journal_file(), &len, &err);
    char *p;
    FILE *f;

    assert_non_null(data);
    p = strstr(data, from);
    assert_non_null(p);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(p, to, strlen(to));
    f = fopen(journal_file(), "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    free(data);
}

static void test_tamper_detected(void **state)
{
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_three();
    /* Change the journaled replica count from 3 to 0: the next line's prev no longer matches. */
    replace_in_file("\"replicas\":3", "\"replicas\":0");
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), -1);
    assert_non_null(strstr(err.msg, "hash chain broken"));
    assert_non_null(strstr(err.msg, "line 3"));
}

static void test_torn_tail_ignored_and_cut(void **state)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    const char torn[] = "{\"seq\":4,\"ts\":\"2026-11-25T00:00:00.000Z\",\"run_id\":\"x\",\"ph";
    int fd;

    (void)state;
    write_three();
    fd = open(journal_file(), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, torn, sizeof(torn) - 1), (ssize_t)(sizeof(torn) - 1));
    close(fd);

    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_true(log.torn_tail);
    assert_int_equal(log.n, 3);
    rb_journal_log_release(&log);

    /* Reopening cuts the torn bytes; the next append continues the chain. */
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), 0);
    assert_true(log.torn_tail);
    rb_journal_log_release(&log);
    assert_int_equal(rb_journal_append(&j, "", "", "resumed", NULL, &err), 0);
    rb_journal_close(&j);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_false(log.torn_tail);
    assert_int_equal(log.n, 4);
    assert_string_equal(log.entries[3].event, "resumed");
    assert_string_equal(cJSON_GetObjectItem(log.entries[3].line, "run_id")->valuestring,
                        "20261125T000000000Z-abcdef");
    rb_journal_log_release(&log);
}

/*
 * An append that the file system cuts short (disk full, file size limit) must not leave its
 * partial bytes in front of the next line: that would turn a torn line into a corrupt one in the
 * middle of the journal, and the run could never be read, resumed or reported again.
 */
static void test_failed_append_leaves_no_partial_line(void **state)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    struct rlimit old, lim;
    struct stat st;
    cJSON *big = cJSON_CreateObject();
    char filler[600];

    (void)state;
    memset(filler, 'x', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    cJSON_AddStringToObject(big, "output", filler);
    assert_int_equal(rb_journal_create(&j, run_dir(), "20261125T000000000Z-abcdef", &err), 0);
    assert_int_equal(rb_journal_append(&j, "", "", "run_started", NULL, &err), 0);
    assert_int_equal(stat(journal_file(), &st), 0);

    /* Room for part of the big line only: write() stores some bytes, then fails with EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(rb_journal_append(&j, "restore", "restore/x", "done", big, &err), -1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);

    /* The space is back: the next line follows the last good one and the chain holds. */
    assert_int_equal(rb_journal_append(&j, "", "", "run_finished", NULL, &err), 0);
    rb_journal_close(&j);
    cJSON_Delete(big);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_false(log.torn_tail);
    assert_int_equal(log.n, 2);
    assert_string_equal(log.entries[1].event, "run_finished");
    assert_int_equal(log.entries[1].seq, 2);
    rb_journal_log_release(&log);
}

static void test_run_ids_sort_by_time(void **state)
{
    char a[RB_RUN_ID_MAX], b[RB_RUN_ID_MAX];

    (void)state;
    rb_run_id_new(a);
    usleep(2000);
    rb_run_id_new(b);
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(strlen(a), strlen("20261125T183012123Z-3fa9c1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_ignored_and_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append_leaves_no_partial_line, setup, teardown),
        cmocka_unit_test(test_run_ids_sort_by_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
