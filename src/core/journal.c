/*
 * journal.c - the run journal: append-only JSON lines, SHA-256 hash chain, fsync per append.
 *
 * Why a hash chain: the journal is the audit trail of a payroll rollback; a line edited or removed
 * afterwards breaks the chain, and every reader (status, resume, report) checks it.
 */
#include "rollbackctl/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"

#define RB_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void now_rfc3339_ms(char *out, size_t len)
{
    struct timeval tv;
    struct tm tm;
    char base[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.20s.%03dZ", base, (int)(tv.tv_usec / 1000) % 1000);
}

void rb_run_id_new(char out[RB_RUN_ID_MAX])
{
    struct timeval tv;
    struct tm tm;
    unsigned char rnd[3] = { 0, 0, 0 };
    char base[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y%m%dT%H%M%S", &tm);
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rnd[0] = (unsigned char)getpid();
        rnd[1] = (unsigned char)(tv.tv_usec >> 8);
        rnd[2] = (unsigned char)tv.tv_usec;
    }
    /* Milliseconds keep ids sortable within a second; the random part keeps them unique. */
    snprintf(out, RB_RUN_ID_MAX, "%.20s%03dZ-%02x%02x%02x", base, (int)(tv.tv_usec / 1000) % 1000,
             rnd[0], rnd[1], rnd[2]);
}

static char *journal_path(const char *run_dir)
{
    size_t n = strlen(run_dir) + sizeof("/journal.jsonl");
    char *p = malloc(n);

    if (p == NULL)
        abort();
    snprintf(p, n, "%s/journal.jsonl", run_dir);
    return p;
}

/*
 * runs/ and the run's folder must be real folders of ours (rb_mkdir_private): a symbolic link
 * there would put the journal, and everything written beside it, where the link points.
 * create: make what is missing (state_dir/runs/<id>); else only check what is there.
 */
static int check_run_dirs(const char *run_dir, bool create, struct rb_err *err)
{
    char runs[4096], state_dir[4096];
    char *slash;

    snprintf(runs, sizeof(runs), "%s", run_dir);
    slash = strrchr(runs, '/');
    if (slash == NULL || slash == runs)
        return create ? rb_mkdir_private(run_dir, 0700, err) : rb_dir_check_private(run_dir, err);
    *slash = '\0';
    snprintf(state_dir, sizeof(state_dir), "%s", runs);
    slash = strrchr(state_dir, '/');
    if (slash != NULL && slash != state_dir)
        *slash = '\0';
    else
        snprintf(state_dir, sizeof(state_dir), ".");
    if (!create)
        return rb_dir_check_private(runs, err) < 0 ? -1 : rb_dir_check_private(run_dir, err);
    /* the state_dir exists (the lock is in it); in tests it may be anywhere */
    if (rb_mkdir_p(state_dir, 0700, err) < 0 || rb_mkdir_private(runs, 0700, err) < 0 ||
        rb_mkdir_private(run_dir, 0700, err) < 0)
        return -1;
    /* the approvers of a shared state_dir's group read the runs (docs/runbook.md) */
    if (rb_dir_share(runs, state_dir, 02750, err) < 0 ||
        rb_dir_share(run_dir, state_dir, 02750, err) < 0)
        return -1;
    return 0;
}

/* 0640 when the run's state_dir (two folders up) is the approvers' shared one, else 0600. */
static mode_t journal_mode(const char *run_dir)
{
    char state_dir[4096];

    snprintf(state_dir, sizeof(state_dir), "%s", run_dir);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(state_dir, '/');

        if (slash == NULL || slash == state_dir)
            return 0600;
        *slash = '\0';
    }
    return rb_state_dir_shared(state_dir) ? 0640 : 0600;
}

int rb_journal_create(struct rb_journal *j, const char *run_dir, const char *run_id,
                      struct rb_err *err)
{
    char parent[4096];
    char *slash;

    memset(j, 0, sizeof(*j));
    j->fd = -1;
    if (check_run_dirs(run_dir, true, err) < 0)
        return -1;
    /*
     * The new entries must be durable before the first line is: the run folder in runs/, and on a
     * fresh state_dir runs/ itself in the state_dir (fsync of a file does not cover its folders).
     */
    snprintf(parent, sizeof(parent), "%s", run_dir);
    for (int up = 0; up < 2; up++) {
        slash = strrchr(parent, '/');
        if (slash == NULL || slash == parent)
            break;
        *slash = '\0';
        rb_fsync_dir(parent);
    }
    j->path = journal_path(run_dir);
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->fd < 0) {
        rb_errf(err, RB_E_FAILED, "unable to create journal '%s': %s", j->path, strerror(errno));
        free(j->path);
        j->path = NULL;
        return -1;
    }
    /* group-readable for the approvers of a shared state_dir (the umask may say otherwise) */
    if (fchmod(j->fd, journal_mode(run_dir)) < 0 || fsync(j->fd) < 0 || rb_fsync_dir(run_dir) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to sync journal '%s': %s", j->path, strerror(errno));
        rb_journal_close(j);
        return -1;
    }
    snprintf(j->run_id, sizeof(j->run_id), "%s", run_id);
    memcpy(j->prev, RB_ZERO_HASH, 65);
    j->seq = 0;
    return 0;
}

int rb_journal_reopen(struct rb_journal *j, const char *run_dir, struct rb_journal_log *log,
                      struct rb_err *err)
{
    memset(j, 0, sizeof(*j));
    j->fd = -1;
    if (check_run_dirs(run_dir, false, err) < 0)
        return -1;
    j->path = journal_path(run_dir);
    if (rb_journal_read(j->path, log, err) < 0) {
        free(j->path);
        j->path = NULL;
        return -1;
    }
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (j->fd < 0) {
        rb_errf(err, RB_E_FAILED, "unable to open journal '%s': %s", j->path, strerror(errno));
        goto fail;
    }
    /* A torn tail is cut so the next line starts on a line boundary and the chain stays whole. */
    if (log->torn_tail && (ftruncate(j->fd, (off_t)log->good_bytes) < 0 || fsync(j->fd) < 0)) {
        rb_errf(err, RB_E_FAILED, "unable to cut torn tail of journal '%s': %s", j->path,
                strerror(errno));
        goto fail;
    }
    if (log->n == 0) {
        rb_errf(err, RB_E_FAILED, "journal '%s' is empty", j->path);
        goto fail;
    }
    {
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(log->entries[0].line, "run_id");

        snprintf(j->run_id, sizeof(j->run_id), "%s", cJSON_IsString(rid) ? rid->valuestring : "");
    }
    j->seq = log->entries[log->n - 1].seq;
    memcpy(j->prev, log->last_hash, 65);
    return 0;
fail:
    rb_journal_log_release(log);
    rb_journal_close(j);
    return -1;
}

int rb_journal_append(struct rb_journal *j, const char *phase, const char *action,
                      const char *event, const cJSON *data, struct rb_err *err)
{
    cJSON *line = cJSON_CreateObject();
    char ts[40];
    char *text;
    size_t len;
    off_t end;
    int rc = 0;

    if (j->fd < 0) {
        cJSON_Delete(line);
        return rb_errf(err, RB_E_FAILED, "journal is not open");
    }
    now_rfc3339_ms(ts, sizeof(ts));
    cJSON_AddNumberToObject(line, "seq", (double)(j->seq + 1));
    cJSON_AddStringToObject(line, "ts", ts);
    cJSON_AddStringToObject(line, "run_id", j->run_id);
    cJSON_AddStringToObject(line, "phase", phase != NULL ? phase : "");
    cJSON_AddStringToObject(line, "action", action != NULL ? action : "");
    cJSON_AddStringToObject(line, "event", event);
    cJSON_AddItemToObject(line, "data",
                          data != NULL ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(line, "prev", j->prev);
    text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (text == NULL)
        return rb_errf(err, RB_E_FAILED, "out of memory writing journal");
    len = strlen(text);
    /* One write of line + newline, so a crash tears at most this line. */
    text[len] = '\n';
    end = lseek(j->fd, 0, SEEK_END);
    if (end < 0 || rb_write_all(j->fd, text, len + 1) < 0 || fsync(j->fd) < 0) {
        int e = errno;

        rc =
            rb_errf(err, RB_E_FAILED, "unable to append to journal '%s': %s", j->path, strerror(e));
        /*
         * A write cut short (disk full, size limit) may have left part of the line. Cut it off, so
         * that a later append (run_finished, say) starts on a line boundary; if even that fails,
         * stop appending: a torn last line is recoverable, garbage in the middle is not.
         */
        if (end < 0 || ftruncate(j->fd, end) < 0 || fsync(j->fd) < 0) {
            close(j->fd);
            j->fd = -1;
        }
    } else {
        rb_sha256_hex(text, len, j->prev);
        j->seq++;
    }
    free(text);
    return rc;
}

void rb_journal_close(struct rb_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    free(j->path);
    j->path = NULL;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

int rb_journal_read(const char *path, struct rb_journal_log *log, struct rb_err *err)
{
    size_t len = 0, off = 0, cap = 0, lineno = 0;
    char *data = rb_read_file(path, &len, err);
    char prev[65];

    memset(log, 0, sizeof(*log));
    if (data == NULL)
        return -1;
    memcpy(prev, RB_ZERO_HASH, 65);
    while (off < len) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t llen;
        cJSON *line;
        const cJSON *seq;
        struct rb_journal_entry *e;

        lineno++;
        if (nl == NULL) { /* no newline: the write was torn by a crash */
            log->torn_tail = true;
            break;
        }
        llen = (size_t)(nl - (data + off));
        *nl = '\0';
        line = cJSON_ParseWithLength(data + off, llen);
        if (line == NULL || !cJSON_IsObject(line)) {
            cJSON_Delete(line);
            if (nl + 1 == data + len) { /* a bad last line is a torn tail too */
                log->torn_tail = true;
                break;
            }
            rb_errf(err, RB_E_FAILED, "journal '%s' is corrupt at line %zu: not a JSON object",
                    path, lineno);
            goto fail;
        }
        if (strcmp(str_field(line, "prev"), prev) != 0) {
            cJSON_Delete(line);
            rb_errf(err, RB_E_FAILED,
                    "journal '%s' is corrupt at line %zu: hash chain broken "
                    "(the line before it was changed or removed)",
                    path, lineno);
            goto fail;
        }
        seq = cJSON_GetObjectItemCaseSensitive(line, "seq");
        /* compared as doubles: 1.5 is not line 1, and -1 or 1e300 cannot be cast to an integer */
        if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)lineno) {
            cJSON_Delete(line);
            rb_errf(err, RB_E_FAILED,
                    "journal '%s' is corrupt at line %zu: sequence number out of order", path,
                    lineno);
            goto fail;
        }
        if (log->n == cap) {
            struct rb_journal_entry *p;

            cap = cap == 0 ? 64 : cap * 2;
            p = realloc(log->entries, cap * sizeof(*p));
            if (p == NULL) {
                cJSON_Delete(line);
                rb_errf(err, RB_E_FAILED, "out of memory reading journal '%s'", path);
                goto fail;
            }
            log->entries = p;
        }
        e = &log->entries[log->n++];
        e->line = line;
        e->seq = lineno;
        e->ts = str_field(line, "ts");
        e->phase = str_field(line, "phase");
        e->action = str_field(line, "action");
        e->event = str_field(line, "event");
        e->data = cJSON_GetObjectItemCaseSensitive(line, "data");
        if (e->data == NULL) {
            e->data = cJSON_CreateObject();
            cJSON_AddItemToObject(line, "data", e->data);
        }
        rb_sha256_hex(data + off, llen, prev);
        off += llen + 1;
        log->good_bytes = off;
    }
    memcpy(log->last_hash, prev, 65);
    free(data);
    return 0;
fail:
    free(data);
    rb_journal_log_release(log);
    return -1;
}

void rb_journal_log_release(struct rb_journal_log *log)
{
    size_t i;

    for (i = 0; i < log->n; i++)
        cJSON_Delete(log->entries[i].line);
    free(log->entries);
    memset(log, 0, sizeof(*log));
}
