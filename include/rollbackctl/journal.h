/*
 * journal.h - the append-only, hash-chained, fsync'd record of a run.
 *
 * state_dir/runs/<run-id>/journal.jsonl holds one JSON object per line:
 *   {"seq":N,"ts":"...","run_id":"...","phase":"...","action":"...","event":"...","data":{...},"prev":"<sha256>"}
 * where prev is the SHA-256 (hex) of the previous line's bytes (without its newline); the first
 * line's prev is 64 zeros. Each append is one write() of a whole line followed by fsync(), so a
 * crash leaves at most one torn last line, which readers detect (no newline / bad JSON) and ignore.
 * A line whose prev does not match is tampering or corruption and is an error.
 */
#ifndef ROLLBACKCTL_JOURNAL_H
#define ROLLBACKCTL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rollbackctl/err.h"

#define RB_RUN_ID_MAX 64

struct rb_journal {
    int fd;
    char *path;
    char run_id[RB_RUN_ID_MAX];
    uint64_t seq;  /* seq of the last line written */
    char prev[65]; /* hash of the last line written */
};

struct rb_journal_entry {
    uint64_t seq;
    const char *ts;
    const char *phase;  /* "" for run-level events */
    const char *action; /* "" for phase- and run-level events */
    const char *event;
    cJSON *data; /* borrowed from line; never NULL (empty object) */
    cJSON *line; /* the parsed line (owned by the log) */
};

struct rb_journal_log {
    struct rb_journal_entry *entries;
    size_t n;
    bool torn_tail;    /* a torn last line was found and ignored */
    size_t good_bytes; /* file size up to the end of the last good line */
    char last_hash[65];
};

/* New run id, sortable by time: "20261125T183012Z-3fa9c1". */
void rb_run_id_new(char out[RB_RUN_ID_MAX]);

/* Create the run folder (0700, fsync'd with its parent) and an empty journal. */
int rb_journal_create(struct rb_journal *j, const char *run_dir, const char *run_id,
                      struct rb_err *err);
/* Re-open an existing journal for appending: verifies the chain, cuts a torn tail. */
int rb_journal_reopen(struct rb_journal *j, const char *run_dir, struct rb_journal_log *log,
                      struct rb_err *err);
/* Append one line and fsync it. data may be NULL; it is not consumed. */
int rb_journal_append(struct rb_journal *j, const char *phase, const char *action,
                      const char *event, const cJSON *data, struct rb_err *err);
void rb_journal_close(struct rb_journal *j);

/* Read and verify a journal file. The caller frees log with rb_journal_log_release(). */
int rb_journal_read(const char *path, struct rb_journal_log *log, struct rb_err *err);
void rb_journal_log_release(struct rb_journal_log *log);

#endif
