/*
 * fuzz_journal.c - a journal file as found on disk after a crash, a full disk or tampering: any
 * bytes, read and verified by rb_journal_read(), then re-opened for appending as resume does
 * (rb_journal_reopen, which cuts a torn tail). Whatever the bytes: an error, or a log whose
 * entries are in sequence and whose good part is within the file; never a crash.
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

static char base[64], runs[96], run_dir[128], path[160];

static void remove_dirs(void)
{
    unlink(path);
    rmdir(run_dir);
    rmdir(runs);
    rmdir(base);
}

static void write_journal(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
        abort();
}

static void check_log(const struct rb_journal_log *log, size_t size)
{
    if (log->good_bytes > size)
        abort();
    for (size_t i = 0; i < log->n; i++) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(log->entries[i].line, "seq");

        /* line i+1 says seq i+1, exactly (not 1.5, read as 1) */
        if (log->entries[i].event == NULL || log->entries[i].data == NULL ||
            log->entries[i].seq != i + 1 || !cJSON_IsNumber(seq) ||
            seq->valuedouble != (double)(i + 1))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_journal_log log;
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;

    if (base[0] == '\0') {
        /* state_dir/runs/<id>/journal.jsonl, private folders, as rb_journal_reopen() requires */
        const char *tmp = getenv("TMPDIR");

        snprintf(base, sizeof(base), "%s/rb-fuzz-journal-XXXXXX",
                 tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
        if (mkdtemp(base) == NULL)
            abort();
        snprintf(runs, sizeof(runs), "%s/runs", base);
        snprintf(run_dir, sizeof(run_dir), "%s/20261202T000000Z-f00f00", runs);
        snprintf(path, sizeof(path), "%s/journal.jsonl", run_dir);
        if (mkdir(runs, 0700) != 0 || mkdir(run_dir, 0700) != 0)
            abort();
        atexit(remove_dirs);
    }
    write_journal(data, size);
    memset(&log, 0, sizeof(log));
    if (rb_journal_read(path, &log, &err) == 0)
        check_log(&log, size);
    else if (err.msg[0] == '\0')
        abort();
    rb_journal_log_release(&log);

    memset(&log, 0, sizeof(log));
    err = (struct rb_err)RB_ERR_INIT;
    if (rb_journal_reopen(&j, run_dir, &log, &err) == 0) {
        struct stat st;

        check_log(&log, size);
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
