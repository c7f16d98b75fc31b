/*
 * journal.c - the run journal: append-only JSON lines, SHA-256 hash chain, fsync per append.
 *
 * Why a hash chain: the journal is the audit trail of a payroll rollback; a line edited or removed
 * afterwards breaks the chain, and every reader (status, resume, report) checks it. Why a head
 * beside it: nothing follows the last line, so only a record kept elsewhere shows it changed or
 * the lines after it removed (journal.h has the rules).
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
#define RB_HEAD_SUFFIX ".head"
/* Reads of a journal that a run appends to meanwhile, before one sees the head stand still. */
#define RB_JOURNAL_READ_TRIES 5

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

static char *head_path_of(const char *journal)
{
    size_t n = strlen(journal) + sizeof(RB_HEAD_SUFFIX);
    char *p = malloc(n);

    if (p == NULL)
        abort();
    snprintf(p, n, "%s%s", journal, RB_HEAD_SUFFIX);
    return p;
}

/* The head as written after each append: {seq, hash, lines, bytes}, one line. */
static int write_head(struct rb_journal *j, struct rb_err *err)
{
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "{\"seq\":%llu,\"hash\":\"%s\",\"lines\":%llu,\"bytes\":%zu}\n",
                     (unsigned long long)j->seq, j->prev, (unsigned long long)j->seq, j->bytes);

    if (rb_write_file_atomic(j->head_path, text, (size_t)n, j->mode, err) < 0)
        return rb_err_wrap(err, "unable to write the head of journal '%s'", j->path);
    return 0;
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
    j->head_path = head_path_of(j->path);
    j->mode = journal_mode(run_dir);
    /* group-readable for the approvers of a shared state_dir (the umask may say otherwise) */
    if (fchmod(j->fd, j->mode) < 0 || fsync(j->fd) < 0 || rb_fsync_dir(run_dir) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to sync journal '%s': %s", j->path, strerror(errno));
        rb_journal_close(j);
        return -1;
    }
    snprintf(j->run_id, sizeof(j->run_id), "%s", run_id);
    memcpy(j->prev, RB_ZERO_HASH, 65);
    j->seq = 0;
    j->bytes = 0;
    /* the head of the empty chain, before the first line names it */
    if (write_head(j, err) < 0) {
        unlink(j->path); /* empty: the run folder can go with it (rb_run_begin) */
        rb_journal_close(j);
        return -1;
    }
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
    j->bytes = log->good_bytes;
    j->head_path = head_path_of(j->path);
    j->mode = journal_mode(run_dir);
    if (write_head(j, err) < 0)
        goto fail;
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
    /* the first line says the chain has a head, so that removing the head file is noticed */
    if (j->seq == 0)
        cJSON_AddStringToObject(line, "head", "journal.jsonl" RB_HEAD_SUFFIX);
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
        j->bytes = (size_t)end + len + 1;
        /*
         * The line is durable; a crash before the head is written leaves the head one behind,
         * which readers accept. A head that cannot be written must stop the journal: the next
         * line would put the head two behind, which no crash explains.
         */
        if (j->head_path != NULL && (rc = write_head(j, err)) < 0) {
            close(j->fd);
            j->fd = -1;
        }
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
    free(j->head_path);
    j->head_path = NULL;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * Corruption of line seq (or the place after it), whose first byte is at offset: the message
 * names both, the hint where to look. Returns -1.
 */
static int corrupt_from(struct rb_err *err, const char *path, const char *where, uint64_t seq,
                        size_t offset, const char *what, size_t look_from)
{
    rb_errf(err, RB_E_FAILED, "journal '%s' is corrupt %s seq %llu (byte offset %zu): %s", path,
            where, (unsigned long long)seq, offset, what);
    return rb_err_hint(err,
                       "the journal was changed or damaged after it was written: inspect it from "
                       "there ('tail -c +%zu %s | head -n 3'); a run whose journal does not "
                       "verify is not resumed",
                       look_from + 1, path);
}

static int corrupt(struct rb_err *err, const char *path, const char *where, uint64_t seq,
                   size_t offset, const char *what)
{
    return corrupt_from(err, path, where, seq, offset, what, offset);
}

/* The head file as read: absent, or its four fields. */
struct head {
    bool present;
    uint64_t seq, lines;
    size_t bytes;
    char hash[65];
};

static bool same_head(const struct head *a, const struct head *b)
{
    return a->present == b->present && a->seq == b->seq && a->lines == b->lines &&
           a->bytes == b->bytes && strcmp(a->hash, b->hash) == 0;
}

static bool whole_number(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9007199254740992.0 &&
           v->valuedouble == (double)(uint64_t)v->valuedouble;
}

/* Absent is not an error (a journal from before heads); unreadable or not a head is. */
static int read_head(const char *hpath, struct head *h, struct rb_err *err)
{
    char buf[512];
    size_t len = 0;
    ssize_t got;
    cJSON *o;
    const cJSON *seq, *hash, *lines, *bytes;
    int fd = open(hpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    memset(h, 0, sizeof(*h));
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return rb_errf(err, RB_E_FAILED, "unable to read journal head '%s': %s", hpath,
                       strerror(errno));
    }
    while (len < sizeof(buf) - 1 && (got = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;

            close(fd);
            return rb_errf(err, RB_E_FAILED, "unable to read journal head '%s': %s", hpath,
                           strerror(e));
        }
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    o = cJSON_ParseWithLength(buf, len);
    seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
    hash = cJSON_GetObjectItemCaseSensitive(o, "hash");
    lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
    bytes = cJSON_GetObjectItemCaseSensitive(o, "bytes");
    if (len == sizeof(buf) - 1 || !whole_number(seq) || !whole_number(lines) ||
        !whole_number(bytes) || !cJSON_IsString(hash) || strlen(hash->valuestring) != 64 ||
        seq->valuedouble != lines->valuedouble) {
        cJSON_Delete(o);
        rb_errf(err, RB_E_FAILED, "journal head '%s' is corrupt: not {seq, hash, lines, bytes}",
                hpath);
        return rb_err_hint(err, "it is written whole after each line of the journal beside it; "
                                "a run whose journal does not verify is not resumed");
    }
    h->present = true;
    h->seq = (uint64_t)seq->valuedouble;
    h->lines = (uint64_t)lines->valuedouble;
    h->bytes = (size_t)bytes->valuedouble;
    memcpy(h->hash, hash->valuestring, 65);
    cJSON_Delete(o);
    return 0;
}

/* Every whole line, each checked against the chain; a last line without its newline is torn. */
static int read_chain(const char *path, struct rb_journal_log *log, struct rb_err *err)
{
    size_t len = 0, off = 0, cap = 0, prev_off = 0;
    uint64_t lineno = 0;
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
            /* One write() puts the newline last: a line that has it was written whole. */
            corrupt(err, path, "at", lineno, off,
                    nl + 1 == data + len
                        ? "not a JSON object (a whole last line, so not one torn by a crash)"
                        : "not a JSON object");
            goto fail;
        }
        if (strcmp(str_field(line, "prev"), prev) != 0) {
            char what[256];

            cJSON_Delete(line);
            /* the line before is where to look: changed, or lines removed after it */
            if (lineno == 1)
                snprintf(what, sizeof(what),
                         "hash chain broken (the first line's prev is not 64 zeros: lines "
                         "before it were removed)");
            else
                snprintf(what, sizeof(what),
                         "hash chain broken (the line before it, seq %llu at byte offset %zu, "
                         "was changed, or lines were removed or inserted between them)",
                         (unsigned long long)(lineno - 1), prev_off);
            corrupt_from(err, path, "at", lineno, off, what, prev_off);
            goto fail;
        }
        seq = cJSON_GetObjectItemCaseSensitive(line, "seq");
        /* compared as doubles: 1.5 is not line 1, and -1 or 1e300 cannot be cast to an integer */
        if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)lineno) {
            cJSON_Delete(line);
            corrupt(err, path, "at", lineno, off,
                    "sequence number out of order (a line was removed or inserted)");
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
        e->offset = off;
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
        prev_off = off;
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

/*
 * The chain's end against its head (journal.h): the head must name a place in the chain (the
 * hash and end of line `lines`), and that place is the last line, or the one before it when the
 * process died between the journal's fsync and the head's write (never with a torn line after
 * it: the next append starts only once the head is written).
 */
static int check_head(const char *path, const char *hpath, struct rb_journal_log *log,
                      const struct head *h, const struct head *after, struct rb_err *err)
{
    uint64_t n = log->n, k = h->lines;
    const char *hash_at;
    size_t end_at, start_of_k;
    /*
     * Heads that kept changing while we read (a big journal, a run appending fast): the journal
     * was read between the two, so it holds the place the first names and at most one line past
     * the second.
     */
    bool moving = h->present && after->present && !same_head(h, after) && n <= after->lines + 1;

    if (!h->present) {
        if (n > 0 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(log->entries[0].line,
                                                                     "head"))) {
            rb_errf(err, RB_E_FAILED,
                    "journal '%s' is corrupt: its head '%s' is missing (the first line names "
                    "it), so its last lines cannot be checked",
                    path, hpath);
            return rb_err_hint(err, "inspect the run's folder (the head is written beside the "
                                    "journal after each line); a run whose journal does not "
                                    "verify is not resumed");
        }
        log->head = RB_JOURNAL_HEAD_NONE;
        return 0;
    }
    if (k > n) {
        char what[256];

        snprintf(what, sizeof(what),
                 "its head records %llu lines (%zu bytes): the lines after this one were "
                 "removed",
                 (unsigned long long)k, h->bytes);
        return corrupt(err, path, "after", n, n > 0 ? log->entries[n - 1].offset : 0, what);
    }
    hash_at = k == 0 ? RB_ZERO_HASH
                     : k == n ? log->last_hash
                              : str_field(log->entries[k].line, "prev");
    end_at = k == n ? log->good_bytes : log->entries[k].offset;
    start_of_k = k > 0 ? log->entries[k - 1].offset : 0;
    if (strcmp(hash_at, h->hash) != 0 || end_at != h->bytes)
        return corrupt(err, path, "at", k, start_of_k,
                       "the line does not match the journal's head (it was changed after it "
                       "was written)");
    if (k == n || moving) {
        log->head = RB_JOURNAL_HEAD_OK;
        return 0;
    }
    if (k + 1 == n && !log->torn_tail) {
        log->head = RB_JOURNAL_HEAD_BEHIND;
        return 0;
    }
    {
        char what[256];

        snprintf(what, sizeof(what),
                 "the lines from here on were added after the journal's head (seq %llu) was "
                 "written",
                 (unsigned long long)k);
        return corrupt(err, path, "at", k + 1, end_at, what);
    }
}

int rb_journal_read(const char *path, struct rb_journal_log *log, struct rb_err *err)
{
    char *hpath = head_path_of(path);
    struct head before, after;
    int rc = -1;

    memset(log, 0, sizeof(*log));
    /*
     * A run may append while we read: the head read before and after the journal must agree,
     * else the journal may hold lines the first head does not know yet. Appends are far apart
     * (each has its fsyncs), so a second try is nearly always enough; after the last, the check
     * allows for the lines appended in between (check_head).
     */
    for (int tries = 1;; tries++) {
        if (read_head(hpath, &before, err) < 0 || read_chain(path, log, err) < 0)
            goto out;
        if (read_head(hpath, &after, err) < 0) {
            rb_journal_log_release(log);
            goto out;
        }
        if (same_head(&before, &after) || tries == RB_JOURNAL_READ_TRIES)
            break;
        rb_journal_log_release(log);
    }
    rc = check_head(path, hpath, log, &before, &after, err);
    if (rc < 0)
        rb_journal_log_release(log);
out:
    free(hpath);
    return rc;
}

void rb_journal_log_release(struct rb_journal_log *log)
{
    size_t i;

    for (i = 0; i < log->n; i++)
        cJSON_Delete(log->entries[i].line);
    free(log->entries);
    memset(log, 0, sizeof(*log));
}
