/*
 * fuzz_journal.c - a journal as found on disk after a crash, a full disk or tampering: the chain,
 * the head kept beside it, torn tail against corruption. The input is the head file, a NUL byte,
 * then the journal (no NUL: no head file, a journal from before heads). It is read and verified by
 * rb_journal_read(), then re-opened for appending as resume does (rb_journal_reopen, which cuts a
 * torn tail). Whatever the bytes: an error naming the journal, or a log that describes them:
 * lines numbered 1..n (seq exactly, not 1.5 read as 1), each starting where the one before
 * ended, the good bytes ending on a newline, only a torn tail (no newline) after them; never a
 * crash.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], runs[96], run_dir[128], path[160], head[176];

static void remove_dirs(void)
{
    unlink(path);
    unlink(head);
    rmdir(run_dir);
    rmdir(runs);
    rmdir(base);
}

static void put(const char *p, const uint8_t *bytes, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (n > 0 && write(fd, bytes, n) != (ssize_t)n) || close(fd) != 0)
        abort();
}

static void check_log(const struct rb_journal_log *log, const uint8_t *journal, size_t jlen,
                      bool has_head)
{
    if (log->good_bytes > jlen || (log->good_bytes > 0 && journal[log->good_bytes - 1] != '\n'))
        abort();
    if (log->torn_tail != (log->good_bytes < jlen))
        abort();
    if (log->torn_tail && memchr(journal + log->good_bytes, '\n', jlen - log->good_bytes) != NULL)
        abort(); /* a whole line after the good ones is never a torn tail */
    for (size_t i = 0; i < log->n; i++) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(log->entries[i].line, "seq");
        size_t end = i + 1 < log->n ? log->entries[i + 1].offset : log->good_bytes;

        if (log->entries[i].event == NULL || log->entries[i].data == NULL ||
            log->entries[i].seq != i + 1 || !cJSON_IsNumber(seq) ||
            seq->valuedouble != (double)(i + 1) || log->entries[i].offset >= end ||
            journal[end - 1] != '\n' || (i == 0 && log->entries[i].offset != 0))
            abort();
    }
    if (!has_head && log->n > 0 && log->head != RB_JOURNAL_HEAD_NONE)
        abort();
}

static void setup(void)
{
    /* state_dir/runs/<id>/journal.jsonl, private folders, as rb_journal_reopen() requires */
    const char *tmp = getenv("TMPDIR");

    snprintf(base, sizeof(base), "%s/rb-fuzz-journal-XXXXXX",
             tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
    if (mkdtemp(base) == NULL)
        abort();
    snprintf(runs, sizeof(runs), "%s/runs", base);
    snprintf(run_dir, sizeof(run_dir), "%s/20261202T000000Z-f00f00", runs);
    snprintf(path, sizeof(path), "%s/journal.jsonl", run_dir);
    snprintf(head, sizeof(head), "%s/journal.jsonl.head", run_dir);
    if (mkdir(runs, 0700) != 0 || mkdir(run_dir, 0700) != 0)
        abort();
    atexit(remove_dirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    const uint8_t *journal = nul != NULL ? nul + 1 : data;
    size_t jlen = size - (size_t)(journal - data);
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;

    if (base[0] == '\0')
        setup();
    put(path, journal, jlen);
    unlink(head);
    if (nul != NULL)
        put(head, data, (size_t)(nul - data));

    memset(&log, 0, sizeof(log));
    if (rb_journal_read(path, &log, &err) == 0)
        check_log(&log, journal, jlen, nul != NULL);
    else if (err.msg[0] == '\0' || strstr(err.msg, "journal") == NULL)
        abort(); /* every failure names the journal or its head */
    rb_journal_log_release(&log);

    memset(&log, 0, sizeof(log));
    err = (struct rb_err)RB_ERR_INIT;
    if (rb_journal_reopen(&j, run_dir, &log, &err) == 0) {
        struct stat st;

        /* reopen starts keeping a head for a journal without one: its log may say so */
        check_log(&log, journal, jlen, true);
        /* what resume appends to: exactly the good lines, the torn tail gone */
        if (fstat(j.fd, &st) != 0 || (size_t)st.st_size != log.good_bytes)
            abort();
        rb_journal_close(&j);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    rb_journal_log_release(&log);
    return 0;
}
