/*
 * prepare_priv.h - what prepare's backup and assets checks share (src/phases/ only): running the
 * database driver's own client programs (pg_restore, pg_dump) as children, and sizes for people.
 */
#ifndef ROLLBACKCTL_PREPARE_PRIV_H
#define ROLLBACKCTL_PREPARE_PRIV_H

#include <stdint.h>

#include "rollbackctl/child.h"
#include "rollbackctl/db.h"
#include "rollbackctl/prepare.h"

/*
 * The deadline of one pg_dump or pg_restore: a nightly job on a payroll database; generous, but
 * nothing runs without one (a hung NFS mount must not hang CI forever).
 */
#define RB_PREPARE_PG_TIMEOUT_MS (60 * 60 * 1000)

/*
 * Run prog (found in PATH: a clear error when it is not) with args (NULL-terminated), under a
 * deadline, the runbook's secrets dropped from its environment and client's password (may be
 * NULL) in a private password file (client->passfile_var names it), removed after: never argv,
 * never the child's environment. 0 only when it exited with status 0;
 * otherwise -1 with err saying how it ended and the last line it wrote to stderr. res (may be
 * NULL) gets the child's result either way.
 */
int rb_prepare_run_client(struct rb_run *run, const char *prog, const char *const *args,
                          const struct rb_db_client *client, int64_t timeout_ms,
                          struct rb_child_result *res, struct rb_err *err);

/* An error as one reason line: its message, then its hint when it has one ("msg (hint)"). */
const char *rb_prepare_err_text(struct rb_arena *a, const struct rb_err *err);

/* "512 bytes", "31 KB", "1.4 MB", "2.0 GB" (integer arithmetic), arena-owned. */
const char *rb_prepare_size_text(struct rb_arena *a, int64_t bytes);

#endif
