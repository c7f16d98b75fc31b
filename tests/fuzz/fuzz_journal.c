/*
 * fuzz_journal.c - libFuzzer target for the journal reader (rb_journal_read): the chain, the head
 * beside it, torn tail against corruption. The input is the head file, a NUL byte, then the
 * journal (no NUL: no head file). Whatever the bytes, a read that succeeds must describe them: its
 * lines are numbered 1..n, each starting where the one before ended, the good bytes end on a
 * newline, and only a torn tail (bytes without a newline) may follow them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char jpath[128], hpath[160];
    const uint8_t *nul = memchr(data, '\0', size);
    const uint8_t *journal = nul != NULL ? nul + 1 : data;
    size_t jlen = size - (size_t)(journal - data);
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;

    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/rb-fuzz-journal-XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    snprintf(jpath, sizeof(jpath), "%s/journal.jsonl", dir);
    snprintf(hpath, sizeof(hpath), "%s/journal.jsonl.head", dir);
    put(jpath, journal, jlen);
    unlink(hpath);
    if (nul != NULL)
        put(hpath, data, (size_t)(nul - data));

    if (rb_journal_read(jpath, &log, &err) < 0) {
        if (err.msg[0] == '\0' || strstr(err.msg, "journal") == NULL)
            abort(); /* every failure names the journal or its head */
        return 0;
    }
    if (log.good_bytes > jlen || (log.good_bytes > 0 && journal[log.good_bytes - 1] != '\n'))
        abort();
    if (log.torn_tail != (log.good_bytes < jlen))
        abort();
    if (log.torn_tail && memchr(journal + log.good_bytes, '\n', jlen - log.good_bytes) != NULL)
        abort(); /* a whole line after the good ones is never a torn tail */
    for (size_t i = 0; i < log.n; i++) {
        size_t end = i + 1 < log.n ? log.entries[i + 1].offset : log.good_bytes;

        if (log.entries[i].seq != i + 1 || log.entries[i].offset >= end ||
            journal[end - 1] != '\n' || (i == 0 && log.entries[i].offset != 0))
            abort();
    }
    if (nul == NULL && log.n > 0 && log.head != RB_JOURNAL_HEAD_NONE)
        abort();
    rb_journal_log_release(&log);
    return 0;
}
