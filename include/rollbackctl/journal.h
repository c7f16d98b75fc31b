/*
 * journal.h - the append-only, hash-chained, fsync'd record of a run.
 *
 * state_dir/runs/<run-id>/journal.jsonl holds one JSON object per line:
 *   {"seq":N,"ts":"...","run_id":"...","phase":"...","action":"...","event":"...","data":{...},"prev":"<sha256>"}
 * where prev is the SHA-256 (hex) of the previous line's bytes (without its newline); the first
 * line's prev is 64 zeros, and the first line also says where the chain's head is kept
 * ("head":"journal.jsonl.head"). Each append is one write() of a whole line followed by fsync(),
 * so a crash leaves at most one torn last line (no newline), which readers ignore.
 *
 * A chain alone cannot show that its last lines were changed or removed, so after each append
 * the head {seq, hash, lines, bytes} of the chain is written durably beside the journal
 * (journal.jsonl.head, rb_write_file_atomic). The journal is fsync'd before its head is written,
 * so the head is never ahead of the journal, and at most one line behind it (a crash between the
 * two writes): a head one line behind, at the place where the journal's last line chains on, is
 * that crash; anything else that does not match is corruption. Corruption is an error naming the
 * line (seq, byte offset of its first byte): a line that is not a JSON object, even the last
 * one when it ends with its newline (a crash cannot write the newline without the line); a
 * broken chain; a sequence number out of order; a head that does not match. A journal without a
 * head whose first line does not name one was written by a version before heads: it is read,
 * and the log says its tail is unprotected (RB_JOURNAL_HEAD_NONE).
 */
#ifndef ROLLBACKCTL_JOURNAL_H
#define ROLLBACKCTL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "rollbackctl/err.h"

#define RB_RUN_ID_MAX 64

struct rb_journal {
    int fd;
    char *path;
    char *head_path; /* path + ".head" */
    mode_t mode;     /* of the journal, and so of its head */
    char run_id[RB_RUN_ID_MAX];
    uint64_t seq;  /* seq of the last line written */
    char prev[65]; /* hash of the last line written */
    size_t bytes;  /* journal size after the last line written */
};

struct rb_journal_entry {
    uint64_t seq;
    const char *ts;
    const char *phase;  /* "" for run-level events */
    const char *action; /* "" for phase- and run-level events */
    const char *event;
    cJSON *data; /* borrowed from line; never NULL (empty object) */
    cJSON *line; /* the parsed line (owned by the log) */
    size_t offset; /* byte offset of the line's first byte in the file */
};

/* What the journal's head file says of its tail. */
enum rb_journal_head {
    RB_JOURNAL_HEAD_OK = 0, /* the head matches the last line */
    RB_JOURNAL_HEAD_BEHIND, /* one line behind: a crash between an append and its head write */
    RB_JOURNAL_HEAD_NONE,   /* no head (a journal from before heads): the tail is unprotected */
};

struct rb_journal_log {
    struct rb_journal_entry *entries;
    size_t n;
    bool torn_tail;    /* a torn last line was found and ignored */
    size_t good_bytes; /* file size up to the end of the last good line */
    char last_hash[65];
    enum rb_journal_head head;
};

/* New run id, sortable by time: "20261125T183012Z-3fa9c1". */
void rb_run_id_new(char out[RB_RUN_ID_MAX]);

/* Create the run folder (0700, fsync'd with its parent) and an empty journal. */
int rb_journal_create(struct rb_journal *j, const char *run_dir, const char *run_id,
                      struct rb_err *err);
/*
 * Re-open an existing journal for appending: verifies the chain and its head, cuts a torn tail,
 * and writes the head afresh (so a journal from before heads, or one a crash left a line ahead of
 * its head, is protected again from here on).
 */
int rb_journal_reopen(struct rb_journal *j, const char *run_dir, struct rb_journal_log *log,
                      struct rb_err *err);
/*
 * Append one line, fsync it, then write the head. data may be NULL; it is not consumed. When the
 * head cannot be written the line stays (the head one behind is a crash's state) and the journal
 * is closed: one more line would put it two ahead, which readers take for tampering.
 */
int rb_journal_append(struct rb_journal *j, const char *phase, const char *action,
                      const char *event, const cJSON *data, struct rb_err *err);
void rb_journal_close(struct rb_journal *j);

/*
 * Read and verify a journal file and its head (see above). The caller frees log with
 * rb_journal_log_release(). A corrupt journal is -1 with err naming the line and a hint to inspect
 * it there. Safe while a run appends: the head is read before and after the journal, and the
 * journal again when another line came in between (docs/architecture.md, The journal).
 */
int rb_journal_read(const char *path, struct rb_journal_log *log, struct rb_err *err);
void rb_journal_log_release(struct rb_journal_log *log);

#endif
