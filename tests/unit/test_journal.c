/*
 * test_journal.c - the journal's hash chain, fsync'd appends, its head, tamper detection (every
 * kind: a line changed, removed or inserted in the middle, the last line changed, the last lines
 * removed, a whole garbage line appended, the chain rewritten, the head removed) and what is not
 * tampering (a torn last line, a crash between an append and its head write).
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
#include <sys/wait.h>
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
    snprintf(cmd, sizeof(cmd), "%s/run1/journal.jsonl.head", tmpdir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/run1/journal.jsonl.head.tmp", tmpdir);
    if (unlink(cmd) < 0)
        rmdir(cmd);
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

static const char *head_file(void)
{
    static char p[340];

    snprintf(p, sizeof(p), "%s/run1/journal.jsonl.head", tmpdir);
    return p;
}

/* The journal as its lines (without newlines), to change as a tamperer would. */
struct lines {
    char *v[32];
    size_t n;
};

static void load_lines(struct lines *l)
{
    struct rb_err err = RB_ERR_INIT;
    size_t len, off = 0;
    char *data = rb_read_file(journal_file(), &len, &err);

    assert_non_null(data);
    l->n = 0;
    while (off < len) {
        char *nl = memchr(data + off, '\n', len - off);

        assert_non_null(nl);
        assert_true(l->n < 32);
        l->v[l->n++] = strndup(data + off, (size_t)(nl - (data + off)));
        off = (size_t)(nl - data) + 1;
    }
    free(data);
}

static void save_lines(struct lines *l)
{
    FILE *f = fopen(journal_file(), "wb");

    assert_non_null(f);
    for (size_t i = 0; i < l->n; i++) {
        fputs(l->v[i], f);
        fputc('\n', f);
        free(l->v[i]);
    }
    assert_int_equal(fclose(f), 0);
    l->n = 0;
}

/* Byte offset of line seq (1-based) in the journal the lines make. */
static size_t offset_of(const struct lines *l, size_t seq)
{
    size_t off = 0;

    for (size_t i = 0; i + 1 < seq; i++)
        off += strlen(l->v[i]) + 1;
    return off;
}

/* Line i (0-based) with a top-level string field set (or removed when value is NULL). */
static void set_field(struct lines *l, size_t i, const char *key, const char *value)
{
    cJSON *o = cJSON_Parse(l->v[i]);

    assert_non_null(o);
    if (value == NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    else
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(value));
    free(l->v[i]);
    l->v[i] = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

/* What a tamperer who knows the format does after an edit: every prev recomputed. */
static void rechain(struct lines *l)
{
    char h[65];

    for (size_t i = 1; i < l->n; i++) {
        rb_sha256_hex(l->v[i - 1], strlen(l->v[i - 1]), h);
        set_field(l, i, "prev", h);
    }
}

static char *forged_line(const struct lines *l, size_t seq)
{
    char h[65];
    char *line = malloc(512);

    rb_sha256_hex(l->v[seq - 2], strlen(l->v[seq - 2]), h);
    snprintf(line, 512,
             "{\"seq\":%zu,\"ts\":\"2026-11-25T00:00:00.000Z\",\"run_id\":\"x\",\"phase\":\"\","
             "\"action\":\"\",\"event\":\"fact\",\"data\":{},\"prev\":\"%s\"}",
             seq, h);
    return line;
}

static void expect_corrupt(const char *where)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_journal_read(journal_file(), &log, &err), -1);
    if (strstr(err.msg, where) == NULL)
        fail_msg("'%s' not in '%s'", where, err.msg);
    assert_non_null(strstr(err.hint, "not resumed"));
    /* resume re-opens the journal: it refuses too, and leaves the file as it is */
    err = (struct rb_err)RB_ERR_INIT;
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), -1);
    if (strstr(err.msg, where) == NULL)
        fail_msg("reopen: '%s' not in '%s'", where, err.msg);
}

static void test_tamper_detected(void **state)
{
    struct lines l;
    char want[128];

    (void)state;
    write_three();
    /* Change the journaled replica count from 3 to 0: the next line's prev no longer matches. */
    replace_in_file("\"replicas\":3", "\"replicas\":0");
    load_lines(&l);
    snprintf(want, sizeof(want), "corrupt at seq 3 (byte offset %zu): hash chain broken",
             offset_of(&l, 3));
    save_lines(&l);
    expect_corrupt(want);
}

static void test_middle_line_deleted(void **state)
{
    struct lines l;
    char want[128];

    (void)state;
    write_three();
    load_lines(&l);
    free(l.v[1]);
    l.v[1] = l.v[2];
    l.n = 2;
    snprintf(want, sizeof(want), "corrupt at seq 2 (byte offset %zu): hash chain broken",
             offset_of(&l, 2));
    save_lines(&l);
    expect_corrupt(want);
}

static void test_middle_line_inserted(void **state)
{
    struct lines l;
    char want[128];

    (void)state;
    write_three();
    load_lines(&l);
    /* a line that chains on from line 1: the line after it no longer does */
    l.v[3] = l.v[2];
    l.v[2] = l.v[1];
    l.v[1] = forged_line(&l, 2);
    l.n = 4;
    snprintf(want, sizeof(want), "corrupt at seq 3 (byte offset %zu): hash chain broken",
             offset_of(&l, 3));
    save_lines(&l);
    expect_corrupt(want);
}

/* The edit of a line with every prev after it recomputed: the chain holds, the head does not. */
static void test_rewritten_chain_detected_by_head(void **state)
{
    struct lines l;
    char want[160];

    (void)state;
    write_three();
    replace_in_file("\"replicas\":3", "\"replicas\":0");
    load_lines(&l);
    rechain(&l);
    snprintf(want, sizeof(want),
             "corrupt at seq 3 (byte offset %zu): the line does not match the journal's head",
             offset_of(&l, 3));
    save_lines(&l);
    expect_corrupt(want);
}

static void test_last_line_changed(void **state)
{
    struct lines l;
    char want[160];

    (void)state;
    write_three();
    load_lines(&l);
    set_field(&l, 2, "event", "failed"); /* the outcome of freeze/1-scale */
    snprintf(want, sizeof(want),
             "corrupt at seq 3 (byte offset %zu): the line does not match the journal's head",
             offset_of(&l, 3));
    save_lines(&l);
    expect_corrupt(want);
}

static void test_last_two_lines_deleted(void **state)
{
    struct lines l;

    (void)state;
    write_three();
    load_lines(&l);
    free(l.v[1]);
    free(l.v[2]);
    l.n = 1;
    save_lines(&l);
    expect_corrupt("corrupt after seq 1 (byte offset 0): its head records 3 lines");
}

/* Removing the last newline makes the last line look torn: the head still counts it. */
static void test_last_line_made_torn(void **state)
{
    struct lines l;
    size_t len;
    char want[128];

    (void)state;
    write_three();
    load_lines(&l);
    len = offset_of(&l, 4) - 1;
    snprintf(want, sizeof(want), "corrupt after seq 2 (byte offset %zu)", offset_of(&l, 2));
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    assert_int_equal(truncate(journal_file(), (off_t)len), 0);
    expect_corrupt(want);
}

static void test_whole_garbage_line_appended(void **state)
{
    struct lines l;
    char want[160];

    (void)state;
    write_three();
    load_lines(&l);
    l.v[3] = strdup("{\"seq\":4,\"ts\":\"2026-11-25T00:00:00.000Z\",\"run_id\":\"x\",\"ph");
    l.n = 4;
    snprintf(want, sizeof(want),
             "corrupt at seq 4 (byte offset %zu): not a JSON object (a whole last line",
             offset_of(&l, 4));
    save_lines(&l);
    expect_corrupt(want);
}

/* Garbage in the middle is never a torn tail: resume would cut every line after it. */
static void test_middle_garbage_line(void **state)
{
    struct lines l;
    char want[128];

    (void)state;
    write_three();
    load_lines(&l);
    free(l.v[1]);
    l.v[1] = strdup("{\"seq\":2,\"ts\":\"2026-11-25T00:00:00.000Z\",\"ph");
    snprintf(want, sizeof(want), "corrupt at seq 2 (byte offset %zu): not a JSON object",
             offset_of(&l, 2));
    save_lines(&l);
    expect_corrupt(want);
}

/* One forged line that chains on is what a crash before the head write leaves; two are not. */
static void test_lines_appended(void **state)
{
    struct lines l;
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;
    char want[160];

    (void)state;
    write_three();
    load_lines(&l);
    l.v[3] = forged_line(&l, 4);
    l.n = 4;
    save_lines(&l);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_BEHIND);
    rb_journal_log_release(&log);

    load_lines(&l);
    l.v[4] = forged_line(&l, 5);
    l.n = 5;
    snprintf(want, sizeof(want),
             "corrupt at seq 4 (byte offset %zu): the lines from here on were added after the "
             "journal's head (seq 3)",
             offset_of(&l, 4));
    save_lines(&l);
    expect_corrupt(want);
}

static void test_head_removed_or_garbage(void **state)
{
    FILE *f;

    (void)state;
    write_three();
    assert_int_equal(unlink(head_file()), 0);
    expect_corrupt("its head '");
    f = fopen(head_file(), "w");
    assert_non_null(f);
    fputs("{\"seq\":3}\n", f);
    fclose(f);
    expect_corrupt("journal head '");
}

/* A journal written before heads (no head, its first line names none) is read and resumed. */
static void test_journal_without_head_is_read(void **state)
{
    struct lines l;
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_three();
    load_lines(&l);
    set_field(&l, 0, "head", NULL);
    rechain(&l);
    save_lines(&l);
    assert_int_equal(unlink(head_file()), 0);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_NONE);
    assert_int_equal(log.n, 3);
    rb_journal_log_release(&log);

    /* re-opened, it gets a head: from here on its tail is protected */
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_NONE);
    rb_journal_log_release(&log);
    assert_int_equal(rb_journal_append(&j, "", "", "resumed", NULL, &err), 0);
    rb_journal_close(&j);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_OK);
    assert_int_equal(log.n, 4);
    rb_journal_log_release(&log);
    load_lines(&l);
    free(l.v[3]);
    l.n = 3;
    save_lines(&l);
    expect_corrupt("corrupt after seq 3");
}

/* The process dies after the journal's fsync, before the head is written: not tampering. */
static void test_crash_between_append_and_head(void **state)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    size_t len;
    char *old_head;
    FILE *f;

    (void)state;
    write_three();
    old_head = rb_read_file(head_file(), &len, &err);
    assert_non_null(old_head);
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), 0);
    rb_journal_log_release(&log);
    assert_int_equal(rb_journal_append(&j, "", "", "run_finished", NULL, &err), 0);
    rb_journal_close(&j);
    f = fopen(head_file(), "wb"); /* the head as it was before that append */
    fwrite(old_head, 1, len, f);
    fclose(f);
    free(old_head);

    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_BEHIND);
    assert_int_equal(log.n, 4);
    rb_journal_log_release(&log);
    /* resume brings the head up to date and goes on */
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), 0);
    rb_journal_log_release(&log);
    assert_int_equal(rb_journal_append(&j, "", "", "resumed", NULL, &err), 0);
    rb_journal_close(&j);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_OK);
    assert_int_equal(log.n, 5);
    rb_journal_log_release(&log);
}

/* A head that cannot be written stops the journal, leaving the state of a crash: readable. */
static void test_head_write_failure_stops_journal(void **state)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    char tmp[400];

    (void)state;
    write_three();
    assert_int_equal(rb_journal_reopen(&j, run_dir(), &log, &err), 0);
    rb_journal_log_release(&log);
    snprintf(tmp, sizeof(tmp), "%s.tmp", head_file());
    assert_int_equal(mkdir(tmp, 0700), 0); /* rb_write_file_atomic cannot remove it */
    assert_int_equal(rb_journal_append(&j, "", "", "fact", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "unable to write the head of journal"));
    err = (struct rb_err)RB_ERR_INIT;
    assert_int_equal(rb_journal_append(&j, "", "", "run_finished", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "journal is not open"));
    rb_journal_close(&j);
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(rb_journal_read(journal_file(), &log, &err), 0);
    assert_int_equal(log.head, RB_JOURNAL_HEAD_BEHIND);
    assert_int_equal(log.n, 4);
    rb_journal_log_release(&log);
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
    assert_int_equal(log.head, RB_JOURNAL_HEAD_OK);
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

/*
 * status, report and approve read the journal of a run that is appending: every read must verify,
 * whichever moment of an append (journal written, head not yet) it falls on.
 */
static void test_read_while_appending(void **state)
{
    int sync_pipe[2];
    pid_t pid;
    char c;
    size_t last_n = 0, reads = 0;
    int status;

    (void)state;
    assert_int_equal(pipe(sync_pipe), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rb_journal j;
        struct rb_err err = RB_ERR_INIT;

        close(sync_pipe[0]);
        if (rb_journal_create(&j, run_dir(), "20261125T000000000Z-abcdef", &err) < 0 ||
            rb_journal_append(&j, "", "", "run_started", NULL, &err) < 0)
            _exit(2);
        if (write(sync_pipe[1], "x", 1) != 1)
            _exit(2);
        for (int i = 0; i < 150; i++)
            if (rb_journal_append(&j, "sync", "sync/t", "progress", NULL, &err) < 0)
                _exit(3);
        rb_journal_close(&j);
        _exit(0);
    }
    close(sync_pipe[1]);
    assert_int_equal(read(sync_pipe[0], &c, 1), 1); /* the journal and its first line exist */
    close(sync_pipe[0]);
    for (;;) {
        struct rb_journal_log log;
        struct rb_err err = RB_ERR_INIT;
        bool done = waitpid(pid, &status, WNOHANG) == pid;

        if (rb_journal_read(journal_file(), &log, &err) < 0)
            fail_msg("read %zu failed: %s", reads, err.msg);
        assert_true(log.n >= last_n);
        last_n = log.n;
        reads++;
        rb_journal_log_release(&log);
        if (done)
            break;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(last_n, 151);
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
        cmocka_unit_test_setup_teardown(test_middle_line_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middle_line_inserted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_chain_detected_by_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_line_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_two_lines_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_line_made_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_garbage_line_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middle_garbage_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_removed_or_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_without_head_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_append_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_write_failure_stops_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_ignored_and_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append_leaves_no_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_while_appending, setup, teardown),
        cmocka_unit_test(test_run_ids_sort_by_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
