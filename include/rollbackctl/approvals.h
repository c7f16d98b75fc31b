/*
 * approvals.h - the approval records of a run: what `rollbackctl approve` and `deny` drop into
 * state_dir/runs/<id>/approvals/, and what the journal says about a run waiting for them.
 *
 * approve and deny never write the journal (only the engine does): each writes one JSON record,
 * {kind, user, host, at, comment, pid, plan_sha256}, durably (temp file, fsync, rename, fsync of the folder).
 * The waiting run reads the folder, checks each record's owner, and journals what counts.
 */
#ifndef ROLLBACKCTL_APPROVALS_H
#define ROLLBACKCTL_APPROVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/journal.h"

/* The one action of the approve phase; status and approve find a waiting run by it. */
#define RB_APPROVE_ACTION "approve/quorum"

struct rb_approval_rec {
    const char *kind; /* "approve" or "deny"; NULL when the file is not a valid record */
    const char *user;
    const char *host;
    const char *at; /* RFC 3339, UTC, milliseconds */
    const char *comment;
    long pid;
    const char *plan_sha256; /* the plan hash the approver saw (run_started's); NULL: none */
    uid_t owner;         /* the file's owner as the file system says */
    const char *file;    /* its name in approvals/ */
    const char *invalid; /* why it is not a valid record, or NULL */
};

/* The run's approvals folder: run_dir/approvals. Arena-owned. */
const char *rb_approvals_dir(struct rb_arena *a, const char *run_dir);

/*
 * Create the approvals folder (the waiting run does, before it waits): owner-only (0700), or,
 * when the state_dir is group-shared (rb_state_dir_shared), 02770 so the group's approvers can
 * drop records. An existing folder must be a real one of ours; its mode is set again.
 */
int rb_approvals_dir_create(const char *state_dir, const char *run_dir, struct rb_err *err);

/*
 * Write one record durably: a new temp file (O_EXCL, no link followed, mode 0644 whatever the
 * umask: the folder is what keeps others out), fsync, rename to a unique .json name, fsync of the
 * folder. r->owner, file and invalid are ignored. *file_out (may be NULL): the name written.
 */
int rb_approval_write(struct rb_arena *a, const char *run_dir, const struct rb_approval_rec *r,
                      const char **file_out, struct rb_err *err);

/*
 * Every record file (*.json) of the folder, oldest name first (names begin with the time).
 * A missing folder is no records. A file that is not a valid record is returned with kind NULL
 * and invalid set, so that the caller can say why it ignores it. Arena-owned.
 */
int rb_approvals_read(struct rb_arena *a, const char *run_dir, struct rb_approval_rec **recs,
                      size_t *n, struct rb_err *err);

/*
 * Whether the record's file may speak for the user it names: owned by that user's uid, or by
 * root (root may speak for SUDO_USER). false with why (a forged name, an unknown user).
 */
bool rb_approval_owner_ok(const struct rb_approval_rec *r, char *why, size_t len);

/*
 * Whether an approval may count for a run whose plan hash is run_plan: given for that hash, or
 * either side has none (a run or a record of a version before plan hashes). A deny always
 * counts: refusing never needs to know which plan.
 */
bool rb_approval_plan_ok(const struct rb_approval_rec *r, const char *run_plan);

/*
 * What the journal says of the approve action: NULL when the run is not waiting (the action
 * never started, or ended, or the run finished); else {needed, approvals: [{user, host, at,
 * comment, kind}], deadline, deadline_ms} from its latest progress. Caller deletes.
 */
cJSON *rb_approvals_waiting(const struct rb_journal_log *log);

/* Wall-clock milliseconds since the epoch: deadlines that must survive a restart. */
int64_t rb_wall_ms(void);
/* "2026-12-02T00:15:00.123Z" for epoch milliseconds. */
void rb_rfc3339_ms(int64_t epoch_ms, char *out, size_t len);

#endif
